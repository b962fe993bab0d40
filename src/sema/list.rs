//! `-l [GLOB]`: the attach points of this kernel, in bpftrace's listing format, and with
//! `-v` (`-lv`) their arguments: tracepoint fields from tracefs, fentry/fexit and raw
//! tracepoint arguments from BTF prototypes.

use super::attach::{HARDWARE_EVENTS, SOFTWARE_EVENTS};
use crate::system::glob_match;
use super::tracepoint_format::TracepointFormat;
use super::KernelInfo;
use crate::btf::{Btf, Kind, Namespace};

/// Every attach point whose full name matches the glob `pattern`, in order: tracepoints, raw
/// tracepoints, kprobes (where the kernel has them), fentry/fexit and iterators (where it has BTF), software and
/// hardware events; or, for `uprobe:BINARY:GLOB`, that binary's functions, and for
/// `usdt:BINARY:GLOB` its USDT probes. With `verbose`, each is followed by its arguments,
/// indented.
pub fn list_probes(kernel: &dyn KernelInfo, pattern: &str, verbose: bool) -> Vec<String> {
    // `-lv 'kprobe:vfs_read,struct file'`: several patterns, listed in turn.
    if pattern.contains(',') {
        return pattern.split(',').flat_map(|p| list_probes(kernel, p.trim(), verbose)).collect();
    }
    // `-l 'struct task_struct'`: the type's definition, from the kernel's BTF.
    if let Some((keyword, name)) = pattern.split_once(' ').filter(|(k, _)| matches!(*k, "struct" | "union" | "enum")) {
        return kernel.btf().map(|b| definition(b, keyword, name.trim())).unwrap_or_default();
    }
    // `*:BINARY:GLOB`: the uprobes and USDT probes of that binary.
    if let [kind, binary, rest] = pattern.splitn(3, ':').collect::<Vec<_>>()[..] {
        if kind.contains(['*', '?', '[']) && binary.contains('/') {
            return ["uprobe", "usdt"].iter().filter(|k| glob_match(kind, k)).flat_map(|k| list_probes(kernel, &format!("{k}:{binary}:{rest}"), verbose)).collect();
        }
    }
    // `uprobe:BINARY:GLOB` lists that binary's functions.
    if let [kind @ ("uprobe" | "uretprobe"), binary, symbols] = pattern.splitn(3, ':').collect::<Vec<_>>()[..] {
        return kernel
            .uprobe_targets(binary, symbols)
            .map(|ts| ts.into_iter().map(|t| format!("{kind}:{}:{}", as_written(binary, &t.path), t.name)).collect())
            .unwrap_or_default();
    }
    // `usdt:BINARY:GLOB` lists that binary's USDT probes (each once, however many sites).
    if let ["usdt" | "U", binary, wanted] = pattern.splitn(3, ':').collect::<Vec<_>>()[..] {
        let mut out: Vec<String> = Vec::new();
        let mut probes = kernel.usdt_probes(binary).unwrap_or_default();
        probes.sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
        for p in probes {
            let name = p.probe_name().replacen(&p.path, &as_written(binary, &p.path), 1);
            let matches = glob_match(wanted, &format!("{}:{}", p.provider, p.name)) || glob_match(wanted, &p.name);
            if !matches || out.contains(&name) {
                continue;
            }
            out.push(name);
            if verbose {
                out.extend(p.args.iter().enumerate().map(|(i, a)| format!("    {}int{} arg{i} ({})", if a.signed { "" } else { "u" }, a.size * 8, a.spec)));
            }
        }
        return out;
    }
    let tracepoints = kernel.tracepoints();
    let mut raw: Vec<&str> = tracepoints.iter().map(|(_, e)| e.as_str()).collect();
    raw.sort_unstable();
    raw.dedup();
    // BTF (~2 ms) only when the pattern can match what it lists: `fentry:`, `fexit:`, `iter:`, and the
    // arguments of raw tracepoints.
    let provider = pattern.split(':').next().unwrap_or_default();
    let wants = |p: &str| !pattern.contains(':') || glob_match(provider, p);
    let btf = (wants("fentry") || wants("fexit") || wants("iter") || (verbose && wants("rawtracepoint"))).then(|| kernel.btf()).flatten();
    let mut functions: Vec<&str> = btf.map(|b| b.names(Namespace::Func).collect()).unwrap_or_default();
    functions.sort_unstable();
    functions.dedup();
    // Iterator targets: `struct bpf_iter__TARGET` beside FUNC `bpf_iter_TARGET`.
    let mut iterators: Vec<&str> = btf
        .map(|b| {
            b.names(Namespace::Struct)
                .filter_map(|n| n.strip_prefix("bpf_iter__"))
                .filter(|t| b.find(Namespace::Func, &format!("bpf_iter_{t}")).is_some())
                .collect()
        })
        .unwrap_or_default();
    iterators.sort_unstable();
    iterators.dedup();
    let names = tracepoints
        .iter()
        .map(|(c, e)| format!("tracepoint:{c}:{e}"))
        .chain(raw.iter().map(|e| format!("rawtracepoint:{e}")))
        .chain(kernel.kprobes_available().then(|| kernel.kernel_functions()).flatten().unwrap_or_default().iter().map(|f| format!("kprobe:{f}")))
        .chain(functions.iter().map(|f| format!("fentry:{f}")))
        .chain(functions.iter().map(|f| format!("fexit:{f}")))
        .chain(iterators.iter().map(|t| format!("iter:{t}")))
        // Timers by unit (`interval:ms:`); a perf event by its name, then its alias
        // (`software:cpu-clock:`, `software:cpu:`), as bpftrace lists them.
        .chain(["interval", "profile"].iter().flat_map(|p| TIMER_UNITS.iter().map(move |u| format!("{p}:{u}:"))))
        .chain(SOFTWARE_EVENTS.iter().flat_map(|e| event_names("software", e)))
        .chain(HARDWARE_EVENTS.iter().flat_map(|e| event_names("hardware", e)))
        .filter(|name| glob_match(pattern, name));
    let funcs = if verbose { btf.map(|b| b.index(Namespace::Func)).unwrap_or_default() } else { Default::default() };
    let mut out = Vec::new();
    for name in names {
        let details = if verbose { arguments(kernel, btf.map(|b| (b, &funcs)), &name) } else { Vec::new() };
        out.push(name);
        out.extend(details.into_iter().map(|d| format!("    {d}")));
    }
    out
}

/// The units a timer probe takes, as `-l` lists them.
const TIMER_UNITS: [&str; 4] = ["hz", "us", "ms", "s"];

/// `KIND:NAME:` and, where the event has one, `KIND:ALIAS:`.
fn event_names(kind: &str, e: &super::attach::NamedEvent) -> Vec<String> {
    std::iter::once(e.name).chain(Some(e.alias).filter(|a| !a.is_empty())).map(|n| format!("{kind}:{n}:")).collect()
}

/// `vmlinux: struct NAME {`, a line per member (`type name;`, an enum's `NAME = value,`),
/// then `};`, as bpftrace lists a type; nothing for a type BTF does not have.
fn definition(btf: &Btf, keyword: &str, name: &str) -> Vec<String> {
    let ns = match keyword {
        "struct" => Namespace::Struct,
        "union" => Namespace::Union,
        _ => Namespace::Enum,
    };
    let Some(id) = btf.find(ns, name) else { return Vec::new() };
    let mut out = vec![format!("vmlinux: {keyword} {name} {{")];
    if keyword == "enum" {
        out.extend(btf.enumerators(id).into_iter().map(|(n, v)| format!("    {n} = {v},")));
    } else {
        out.extend(btf.members(id).iter().map(|m| {
            let bits = if m.bitfield_size > 0 { format!(":{}", m.bitfield_size) } else { String::new() };
            format!("    {} {}{bits};", btf.c_name(m.ty), m.name)
        }));
    }
    out.push("};".into());
    out
}

/// The arguments of one attach point, as C declarations.
/// A binary's path as the pattern wrote it: relative (`./testprogs/x`, `testprogs/x`) when
/// the pattern was, as bpftrace lists it; absolute otherwise (a name found on PATH, an
/// absolute pattern).
/// `-l [PATTERN] -p PID`: the uprobes and USDT probes of every binary the process maps, as
/// `-l 'uprobe:BINARY:*'` and `-l 'usdt:BINARY:*'` list them. PATTERN (`usdt:*:provider:*`)
/// picks the kind, the binaries and the probes.
pub fn list_process_probes(kernel: &dyn KernelInfo, pid: u32, pattern: &str, verbose: bool) -> Vec<String> {
    let mut parts = pattern.splitn(3, ':');
    let (kind, binary, rest) = (parts.next().unwrap_or("*"), parts.next().unwrap_or("*"), parts.next().unwrap_or("*"));
    let mut out = Vec::new();
    for b in super::process::matching_binaries(binary, kernel, pid) {
        for k in ["uprobe", "usdt"].iter().filter(|k| glob_match(kind, k)) {
            out.extend(list_probes(kernel, &format!("{k}:{b}:{rest}"), verbose));
        }
    }
    out
}

/// `path` (absolute) as `pattern` spelled it: relative to the working directory when the
/// pattern was (`./testprogs/x`), else whole.
pub(super) fn as_written(pattern: &str, path: &str) -> String {
    let relative = pattern.contains('/') && !pattern.starts_with('/');
    let cwd = std::env::current_dir().ok();
    match cwd.as_deref().and_then(|d| std::path::Path::new(path).strip_prefix(d).ok()).filter(|_| relative) {
        Some(rest) if pattern.starts_with("./") => format!("./{}", rest.display()),
        Some(rest) => rest.display().to_string(),
        None => path.to_string(),
    }
}

fn arguments(kernel: &dyn KernelInfo, btf: Option<(&Btf, &Functions<'_>)>, name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split(':').collect();
    match parts[..] {
        ["tracepoint", c, e] => kernel
            .tracepoint_format(c, e)
            .map(|t| TracepointFormat::parse(&t).fields.into_iter().filter(|f| !f.name.starts_with("common_")).map(|f| f.decl).collect())
            .unwrap_or_default(),
        ["rawtracepoint", e] => btf
            .and_then(|(b, fs)| {
                let func = super::attach::RAW_TRACEPOINT_PROTOTYPES.iter().map(|p| format!("{p}{e}")).find(|f| fs.get(f.as_str()).is_some())?;
                Some(prototype(b, fs, &func, 1, false))
            })
            .unwrap_or_default(),
        ["fentry" | "fexit", f] => btf.map(|(b, fs)| prototype(b, fs, f, 0, true)).unwrap_or_default(),
        // What `ctx->` reaches.
        ["iter", t] => btf
            .map(|(b, _)| b)
            .and_then(|b| Some((b, b.find(Namespace::Struct, &format!("bpf_iter__{t}"))?)))
            .map(|(b, id)| {
                // Pointers are declared `__bpf_md_ptr(type, name)`: an anonymous union of the
                // pointer and a u64, shown as the pointer.
                let shown = |m: &crate::btf::Member<'_>| match m.name {
                    "" => b.members(b.strip(m.ty)).first().map(|p| (p.ty, p.name.to_string())).unwrap_or((m.ty, String::new())),
                    _ => (m.ty, m.name.to_string()),
                };
                b.members(id).iter().skip(1).map(shown).map(|(ty, name)| format!("{} ctx->{name}", b.c_name(ty))).collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The kernel's functions by name.
type Functions<'a> = std::collections::HashMap<&'a str, crate::btf::TypeId>;

/// `type name` per parameter of FUNC `func` (after `skip` of them), then `type retval`.
fn prototype(btf: &Btf, funcs: &Functions<'_>, func: &str, skip: usize, retval: bool) -> Vec<String> {
    let Some(&id) = funcs.get(func) else { return Vec::new() };
    let Kind::Func { proto } = btf.kind(id) else { return Vec::new() };
    let mut out: Vec<String> = btf.params(proto).into_iter().skip(skip).map(|(n, t)| format!("{} {n}", btf.c_name(t))).collect();
    // A void function has no retval.
    if let (true, Kind::FuncProto { ret: ret @ 1.. }) = (retval, btf.kind(proto)) {
        out.push(format!("{} retval", btf.c_name(ret)));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn listed_paths_keep_the_patterns_form() {
        let cwd = std::env::current_dir().expect("a working directory");
        let abs = cwd.join("testprogs/prog").display().to_string();
        assert_eq!(super::as_written("./testprogs/pro*", &abs), "./testprogs/prog");
        assert_eq!(super::as_written("testprogs/prog", &abs), "testprogs/prog");
        assert_eq!(super::as_written("prog", "/usr/bin/prog"), "/usr/bin/prog");
        assert_eq!(super::as_written("/usr/bin/prog", "/usr/bin/prog"), "/usr/bin/prog");
    }
}
