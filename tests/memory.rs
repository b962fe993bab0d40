//! rtrace with too little memory (`ulimit -v`) ends with a message and status 1, wherever
//! the memory runs out: a Rust allocation, LLVM's `operator new` or its own allocator, or
//! mapping the event ring buffer. It never aborts (status 134).
//!
//! Needs root, like tests/e2e.rs (RTRACE_SKIP_E2E=1 skips it).

use std::process::Command;

mod common;

/// Runs a small script compiled afresh under an address-space limit of `kib`.
fn run_limited(kib: u64) -> (Option<i32>, String) {
    let script = r#"ulimit -v "$1" && exec "$2" -e 'BEGIN { printf("hi\n"); exit(); }'"#;
    let o = Command::new("sh").args(["-c", script, "sh", &kib.to_string(), env!("CARGO_BIN_EXE_rtrace")]).env("RTRACE_CACHE", "0").output().expect("sh runs");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Whether rtrace never started: the shell's `exec` of it failed (status 127: the kernel or
/// the dynamic loader could not map it or its libraries, said as "error while loading shared
/// libraries" or a bare "out of memory"; rtrace itself never exits 127 here), or Rust's
/// start-up (before `main`) could not map the signal stack. Nothing rtrace does can help.
fn never_started(status: Option<i32>, stderr: &str) -> bool {
    status == Some(127) || stderr.contains("failed to allocate an alternative stack")
}

#[test]
fn too_little_memory_is_an_error_not_an_abort() {
    if !common::can_run_bpf() {
        return;
    }
    // The smallest limit rtrace starts with (bisected, to 64 KiB), below one that
    // surely runs.
    let (mut low, mut floor) = (0, 400_000);
    assert_eq!(run_limited(floor).0, Some(0), "rtrace runs with {floor} KiB");
    while floor - low > 64 {
        let mid = (low + floor) / 2;
        let (status, stderr) = run_limited(mid);
        if never_started(status, &stderr) {
            low = mid;
        } else {
            floor = mid;
        }
    }
    // Just above it, rtrace runs out of memory somewhere different at each step.
    let mut seen = Vec::new();
    for kib in (floor.saturating_sub(1024)..floor + 8 * 1024).step_by(64) {
        let (status, stderr) = run_limited(kib);
        if never_started(status, &stderr) {
            continue;
        }
        assert!(matches!(status, Some(0 | 1)), "ulimit -v {kib}: status {status:?}\n{stderr}");
        if status == Some(1) {
            assert!(stderr.starts_with("error: ") && stderr.contains("memory"), "ulimit -v {kib}: {stderr}");
            assert!(stderr.contains(&format!("limited to {kib} KiB")), "ulimit -v {kib}: the limit is named: {stderr}");
            seen.push(stderr.lines().next().unwrap_or_default().to_string());
        }
    }
    assert!(!seen.is_empty(), "some limit made rtrace run out of memory");
}
