//! What rtrace needs of its process before it can load anything: the capabilities to load
//! BPF programs and open perf events, and read access to tracefs. Asked first, so a user
//! without them is told what is missing, not that a tracepoint "does not exist" (tracefs is
//! unreadable to them) after a failed `mount`.

/// Capability numbers (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Why this process cannot trace, in one message naming what is missing; None when it can.
pub fn missing() -> Option<String> {
    let effective = effective_capabilities();
    let has = |cap: u32| effective.is_some_and(|bits| bits & (1u64 << cap) != 0);
    let mut missing = Vec::new();
    // CAP_SYS_ADMIN covers both on every kernel (and is all kernels before 5.8 accept).
    if !has(CAP_SYS_ADMIN) {
        missing.extend([(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")].into_iter().filter(|(c, _)| !has(*c)).map(|(_, n)| n.to_string()));
    }
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    let readable = tracefs.iter().any(|t| std::fs::read_dir(format!("{t}/events")).is_ok());
    let mountable = has(CAP_SYS_ADMIN) && !std::path::Path::new("/sys/kernel/tracing/events").exists();
    if !readable && !mountable {
        missing.push("read access to tracefs (/sys/kernel/tracing)".into());
    }
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "rtrace cannot trace here: this process lacks {}\nhelp: run it as root (sudo rtrace ...), or give it CAP_BPF, CAP_PERFMON and read access to tracefs; `--dry-run` checks a script without them",
        missing.join(", ")
    ))
}

/// The effective capability set, from /proc/self/status (`CapEff:` in hex).
fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}
