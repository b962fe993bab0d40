//! Attach points: split the text the parser kept whole, resolve provider aliases, check the
//! target exists on this kernel (through `KernelInfo`), and give it a canonical name.

use super::error::SemaError;
use super::hir::{AttachKind, AttachPoint, PerfEventKind, PerfSample};
use super::tracepoint_format::TracepointFormat;
use super::KernelInfo;
use crate::system::glob_match;
use crate::btf::{Kind, Namespace};
use crate::diagnostics::did_you_mean;
use crate::parser::ast;

/// A named perf event of `software:` or `hardware:`: name, alias, perf config, and the
/// default sample period (bpftrace's).
pub struct NamedEvent {
    pub name: &'static str,
    pub alias: &'static str,
    pub config: u64,
    pub default_period: u64,
}

const fn ev(name: &'static str, alias: &'static str, config: u64, default_period: u64) -> NamedEvent {
    NamedEvent { name, alias, config, default_period }
}

pub const PERF_TYPE_HARDWARE: u32 = 0;
pub const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;

/// `software:` events (PERF_COUNT_SW_*).
pub const SOFTWARE_EVENTS: &[NamedEvent] = &[
    ev("alignment-faults", "", 7, 1),
    ev("bpf-output", "", 10, 1),
    ev("context-switches", "cs", 3, 1000),
    ev("cpu-clock", "cpu", 0, 1_000_000),
    ev("cpu-migrations", "", 4, 1),
    ev("dummy", "", 9, 1),
    ev("emulation-faults", "", 8, 1),
    ev("major-faults", "", 6, 1),
    ev("minor-faults", "", 5, 100),
    ev("page-faults", "faults", 2, 100),
    ev("task-clock", "", 1, 1),
];

/// `hardware:` events (PERF_COUNT_HW_*).
pub const HARDWARE_EVENTS: &[NamedEvent] = &[
    ev("backend-stalls", "", 8, 1_000_000),
    ev("branch-instructions", "branches", 4, 100_000),
    ev("branch-misses", "", 5, 100_000),
    ev("bus-cycles", "", 6, 100_000),
    ev("cache-misses", "", 3, 1_000_000),
    ev("cache-references", "", 2, 1_000_000),
    ev("cpu-cycles", "cycles", 0, 1_000_000),
    ev("frontend-stalls", "", 7, 1_000_000),
    ev("instructions", "", 1, 1_000_000),
    ev("ref-cycles", "", 9, 1_000_000),
];

/// The `:`-separated parts of an attach point; a part in double quotes may hold colons
/// (`uprobe:/bin/app:"ns::f(int)"`) and, escaped, quotes (`usdt:app:test:"\"probe1\""`, a
/// probe named `"probe1"`), and loses its own quotes.
pub fn split_attach_point(raw: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => parts.last_mut().expect("never empty").extend(chars.next()),
            ':' if !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

/// Resolves one attach point as written; a wildcard expands to every match, in the kernel's
/// order.
/// `target`: the executable of the -p/-c process, for attach points inside it.
/// `pid`: the -p process, whose binaries an attach point without one stands for.
pub fn resolve(ap: &ast::AttachPoint, kernel: &dyn KernelInfo, target: Option<&str>, pid: Option<u32>) -> Result<Vec<AttachPoint>, SemaError> {
    let parts = split_attach_point(&ap.raw);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    if let [kind @ ("kprobe" | "k" | "kretprobe" | "kr"), .., function] = parts[..] {
        if parts.len() <= 3 {
            return kprobes(ap, kind.starts_with("kr") || kind == "kretprobe", function, kernel);
        }
    }
    if let [kind @ ("fentry" | "f" | "kfunc" | "fexit" | "fr" | "kretfunc"), .., function] = parts[..] {
        if parts.len() <= 3 {
            return fentries(ap, matches!(kind, "fexit" | "fr" | "kretfunc"), function, kernel);
        }
    }
    if let [kind @ ("uprobe" | "u" | "uretprobe" | "ur"), binary, symbol] = parts[..] {
        return super::process::each_binary(ap, binary, kernel, pid, |b| uprobes(ap, kind.starts_with("ur"), b, symbol, kernel));
    }
    if let ["usdt" | "U", binary, ref probe @ ..] = parts[..] {
        // An empty provider (`usdt:BIN::name`) is any provider.
        if let [provider, name] = probe[..] {
            let provider = if provider.is_empty() { "*" } else { provider };
            return super::process::each_binary(ap, binary, kernel, pid, |b| usdts(ap, b, provider, name, kernel));
        }
        if let [name] = probe[..] {
            return super::process::each_binary(ap, binary, kernel, pid, |b| usdts(ap, b, "*", name, kernel));
        }
    }
    if let ["tracepoint" | "t", category, event] = parts[..] {
        if is_glob(category) || is_glob(event) {
            return expand_tracepoints(ap, category, event, kernel);
        }
    }
    if let ["rawtracepoint" | "rt", .., name] = parts[..] {
        if parts.len() <= 3 && is_glob(name) {
            return expand_raw_tracepoints(ap, name, kernel, target);
        }
    }
    resolve_one(ap, kernel, target).map(|a| vec![a])
}

/// `kprobe:FUNCTION`, `kprobe:FUNCTION+OFFSET`, `kprobe:MODULE:FUNCTION`, with wildcards.
fn kprobes(ap: &ast::AttachPoint, ret: bool, function: &str, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let kind = if ret { "kretprobe" } else { "kprobe" };
    let (name, offset) = match function.split_once('+') {
        Some((n, o)) => {
            let off = o.strip_prefix("0x").map_or_else(|| o.parse().ok(), |h| u64::from_str_radix(h, 16).ok());
            (
                n,
                off.ok_or_else(|| SemaError::BadAttachPoint {
                    span: ap.span,
                    message: format!("`{o}` is not an offset"),
                    help: format!("write `{kind}:FUNCTION+N`"),
                })?,
            )
        }
        None => (function, 0),
    };
    if !kernel.kprobes_available() {
        return Err(SemaError::KprobesUnavailable { span: ap.span, name: ap.raw.clone(), alternatives: tracepoint_alternatives(name, ret, kernel) });
    }
    let functions = kernel.kernel_functions();
    let names: Vec<String> = match &functions {
        Some(all) if is_glob(name) => all.iter().filter(|f| glob_match(name, f)).cloned().collect(),
        Some(all) if !all.iter().any(|f| f == name) => {
            let candidates = did_you_mean(name, all.iter().map(String::as_str)).into_iter().map(|c| format!("{kind}:{c}")).collect();
            return Err(SemaError::UnknownKernelFunction {
                span: ap.span,
                name: name.to_string(),
                candidates,
                alternatives: tracepoint_alternatives(name, ret, kernel),
            });
        }
        _ => vec![name.to_string()],
    };
    if names.is_empty() {
        return Err(SemaError::MissingAttachPoint {
            span: ap.span,
            message: format!("no kernel function matches `{name}`"),
            help: "list them with `rtrace -l 'kprobe:PATTERN'`".into(),
        });
    }
    let mut unique = names;
    unique.dedup();
    Ok(unique
        .into_iter()
        .map(|f| AttachPoint {
            name: if offset > 0 { format!("{kind}:{f}+{offset}") } else { format!("{kind}:{f}") },
            kind: AttachKind::Kprobe { function: f, offset, ret, address: None },
            span: ap.span,
        })
        .collect())
}

/// Tracepoints that see the same event as a kernel function, by its syscall name
/// (`do_execve`, `__x64_sys_execve` -> `syscalls:sys_enter_execve`), plus a few well-known ones.
fn tracepoint_alternatives(function: &str, ret: bool, kernel: &dyn KernelInfo) -> Vec<String> {
    let mut stem = function.split('.').next().unwrap_or(function);
    for prefix in ["__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "ksys_", "sys_", "do_"] {
        if let Some(s) = stem.strip_prefix(prefix) {
            stem = s;
            break;
        }
    }
    let stem = stem.trim_end_matches("_common");
    let dir = if ret { "exit" } else { "enter" };
    let mut wanted = vec![("syscalls".to_string(), format!("sys_{dir}_{stem}"))];
    if stem.starts_with("execve") {
        wanted.push(("sched".into(), "sched_process_exec".into()));
    }
    let all = kernel.tracepoints();
    wanted.into_iter().filter(|w| all.contains(w)).map(|(c, e)| format!("tracepoint:{c}:{e}")).collect()
}

/// `uprobe:BINARY:SYMBOL` (a function, `FUNCTION+OFFSET`, `0xADDRESS`, or a glob over the
/// binary's function names, mangled or demangled).
fn uprobes(ap: &ast::AttachPoint, ret: bool, binary: &str, symbol: &str, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let kind = if ret { "uretprobe" } else { "uprobe" };
    let targets = kernel.uprobe_targets(binary, symbol).map_err(|message| SemaError::MissingAttachPoint {
        span: ap.span,
        message,
        help: format!("`{kind}:BINARY:FUNCTION` takes a function of that binary's symbol table, `FUNCTION+OFFSET`, `0xADDRESS`, or a wildcard"),
    })?;
    Ok(targets
        .into_iter()
        .map(|t| AttachPoint {
            // As bpftrace, `probe` names the binary as the script did (`./prog`).
            name: format!("{kind}:{}:{}", super::list::as_written(binary, &t.path), t.name),
            kind: AttachKind::Uprobe { path: t.path, offset: t.offset, address: t.address, ret },
            span: ap.span,
        })
        .collect())
}

/// `usdt:BINARY:[PROVIDER:]NAME`, with wildcards in both: every site of every matching
/// probe (a probe inlined in two places fires from both).
fn usdts(ap: &ast::AttachPoint, binary: &str, provider: &str, name: &str, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let bad = |message: String| SemaError::MissingAttachPoint {
        span: ap.span,
        message,
        help: "`usdt:BINARY:[PROVIDER:]NAME` takes a probe of that binary's USDT notes (list them with `rtrace -l 'usdt:BINARY:*'`)".to_string(),
    };
    let probes = kernel.usdt_probes(binary).map_err(bad)?;
    let matching: Vec<AttachPoint> = probes
        .iter()
        .filter(|p| glob_match(provider, &p.provider) && glob_match(name, &p.name))
        .map(|p| AttachPoint {
            name: p.probe_name().replacen(&p.path, &super::list::as_written(binary, &p.path), 1),
            kind: AttachKind::Usdt { probe: p.clone() },
            span: ap.span,
        })
        .collect();
    if matching.is_empty() {
        let wanted = if provider == "*" { name.to_string() } else { format!("{provider}:{name}") };
        let names: Vec<String> = probes.iter().map(|p| if provider == "*" { p.name.clone() } else { format!("{}:{}", p.provider, p.name) }).collect();
        let close = did_you_mean(&wanted, names.iter().map(String::as_str));
        let message = match (probes.is_empty(), close.first()) {
            (true, _) => format!("{binary} has no USDT probes"),
            (false, Some(c)) => format!("{binary} has no USDT probe `{wanted}`; did you mean `{c}`?"),
            (false, None) => format!("{binary} has no USDT probe `{wanted}`"),
        };
        return Err(bad(message));
    }
    Ok(matching)
}

/// `fentry:FUNCTION` / `fexit:FUNCTION` (and `MODULE:FUNCTION`), with wildcards: kernel
/// functions that have a BTF prototype, which types `args` and `retval`.
fn fentries(ap: &ast::AttachPoint, ret: bool, function: &str, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let kind = if ret { "fexit" } else { "fentry" };
    let Some(btf) = kernel.btf() else {
        return Err(SemaError::NoBtf { span: ap.span, what: format!("`{kind}`") });
    };
    let ids: Vec<u32> = if is_glob(function) {
        (1..btf.len() as u32).filter(|&id| matches!(btf.kind(id), Kind::Func { .. }) && glob_match(function, btf.name(id))).collect()
    } else {
        btf.find(Namespace::Func, function).into_iter().collect()
    };
    if ids.is_empty() {
        let candidates: Vec<String> = if is_glob(function) { Vec::new() } else { did_you_mean(function, btf.names(Namespace::Func)) };
        let help = match candidates.as_slice() {
            [] => format!("list them with `rtrace -l '{kind}:PATTERN'`"),
            c => format!("did you mean {}?", crate::diagnostics::one_of(&c.iter().map(|n| format!("{kind}:{n}")).collect::<Vec<_>>())),
        };
        return Err(SemaError::MissingAttachPoint { span: ap.span, message: format!("no kernel function `{function}` with a BTF prototype"), help });
    }
    let mut seen = std::collections::HashSet::new();
    Ok(ids
        .into_iter()
        .filter(|id| seen.insert(btf.name(*id).to_string()))
        .map(|id| {
            let f = btf.name(id).to_string();
            AttachPoint { name: format!("{kind}:{f}"), kind: AttachKind::Fentry { function: f, btf_id: id, ret, address: None }, span: ap.span }
        })
        .collect())
}

/// `iter:TARGET`: a BPF iterator over kernel objects. The kernel registers each target as a
/// FUNC `bpf_iter_TARGET` (the program's attach BTF id) whose context is
/// `struct bpf_iter__TARGET` (what `ctx` points to).
fn iterator(target: &str, span: crate::parser::Span, kernel: &dyn KernelInfo) -> Result<AttachKind, SemaError> {
    let Some(btf) = kernel.btf() else {
        return Err(SemaError::NoBtf { span, what: "`iter`".into() });
    };
    let func = btf.find(Namespace::Func, &format!("bpf_iter_{target}"));
    let context = btf.find(Namespace::Struct, &format!("bpf_iter__{target}"));
    let (Some(btf_id), Some(_)) = (func, context) else {
        let targets: Vec<&str> = btf.names(Namespace::Struct).filter_map(|n| n.strip_prefix("bpf_iter__")).collect();
        let help = match did_you_mean(target, targets.iter().copied()).as_slice() {
            [] => format!("this kernel's iterators: {}", targets.iter().map(|t| format!("iter:{t}")).collect::<Vec<_>>().join(", ")),
            c => format!("did you mean {}?", crate::diagnostics::one_of(&c.iter().map(|n| format!("iter:{n}")).collect::<Vec<_>>())),
        };
        return Err(SemaError::MissingAttachPoint { span, message: format!("this kernel has no BPF iterator `{target}`"), help });
    };
    Ok(AttachKind::Iter { target: target.to_string(), btf_id })
}

/// An iterator run is one pass over the kernel's objects, and the trace ends with it: so a
/// script has at most one iterator, beside BEGIN and END only (as in bpftrace).
pub fn iterators_alone<'a>(attach: impl Iterator<Item = &'a AttachPoint>) -> Vec<SemaError> {
    let all: Vec<&AttachPoint> = attach.collect();
    let Some(first) = all.iter().find(|a| matches!(a.kind, AttachKind::Iter { .. })) else {
        return Vec::new();
    };
    all.iter()
        .filter(|a| !matches!(a.kind, AttachKind::Begin | AttachKind::End) && a.span != first.span)
        .map(|a| SemaError::BadAttachPoint {
            span: a.span,
            message: format!("`{}` cannot run beside `{}`", a.name, first.name),
            help: "an iterator is one pass over kernel objects that ends the trace: a script holds one iterator probe, with BEGIN and END only".into(),
        })
        .collect()
}

/// `MODULE` of `rawtracepoint:MODULE:NAME`: `vmlinux` or a loaded module (a wildcard is
/// not checked here).
fn check_module(ap: &ast::AttachPoint, module: &str, kernel: &dyn KernelInfo) -> Result<(), SemaError> {
    let Some(modules) = kernel.kernel_modules() else { return Ok(()) };
    if module == "vmlinux" || is_glob(module) || modules.iter().any(|m| m == module) {
        return Ok(());
    }
    Err(SemaError::MissingAttachPoint {
        span: ap.span,
        message: format!("no kernel module `{module}` is loaded"),
        help: format!("write `rawtracepoint:vmlinux:NAME` or `rawtracepoint:NAME` for the kernel's own; loaded modules: {}", if modules.is_empty() { "none".to_string() } else { modules.join(", ") }),
    })
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The BTF functions whose prototype names a raw tracepoint's arguments (after a first
/// `void *__data`), the first the kernel has: `__probestub_NAME` (Linux 6.5),
/// `__traceiter_NAME` (5.10), `__bpf_trace_NAME` (named after the tracepoint's class, so the
/// event's own only when it is its class), as bpftrace reads them. The per-event typedef
/// `btf_trace_NAME` has no parameter names.
pub(crate) const RAW_TRACEPOINT_PROTOTYPES: [&str; 3] = ["__probestub_", "__traceiter_", "__bpf_trace_"];

/// The event of raw tracepoint attach point `name` (`rawtracepoint:module:EVENT` or
/// `rawtracepoint:EVENT`): what its BTF names (`btf_trace_EVENT`, the prototypes) end in.
pub(crate) fn raw_tracepoint_event(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// `rawtracepoint:GLOB`: every raw tracepoint whose name matches, in name order. With BTF,
/// only the events that are real tracepoints (a `btf_trace_NAME` typedef: the syscall
/// events of tracefs are not), as bpftrace lists them.
fn expand_raw_tracepoints(ap: &ast::AttachPoint, glob: &str, kernel: &dyn KernelInfo, target: Option<&str>) -> Result<Vec<AttachPoint>, SemaError> {
    // One pass over BTF's typedefs (a lookup per event would scan them each time).
    let traced: Option<std::collections::HashSet<&str>> = kernel.btf().map(|b| b.names(Namespace::Typedef).filter_map(|n| n.strip_prefix("btf_trace_")).collect());
    let mut names: Vec<String> = kernel
        .tracepoints()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| glob_match(glob, e))
        .filter(|e| traced.as_ref().is_none_or(|t| t.contains(e.as_str())))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(SemaError::MissingAttachPoint {
            span: ap.span,
            message: format!("no raw tracepoint matches `{}`", ap.raw),
            help: "list them with `rtrace -l 'rawtracepoint:*'`".into(),
        });
    }
    names.iter().map(|n| resolve_one(&ast::AttachPoint { raw: format!("rawtracepoint:{n}"), span: ap.span }, kernel, target)).collect()
}

fn expand_tracepoints(ap: &ast::AttachPoint, category: &str, event: &str, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let mut out = Vec::new();
    for (c, e) in kernel.tracepoints() {
        if !glob_match(category, &c) || !glob_match(event, &e) {
            continue;
        }
        // A tracepoint listed but without a readable format (e.g. removed meanwhile) is skipped.
        let Some(text) = kernel.tracepoint_format(&c, &e) else {
            continue;
        };
        let name = format!("tracepoint:{c}:{e}");
        out.push(AttachPoint { kind: AttachKind::Tracepoint { category: c, event: e, format: TracepointFormat::parse(&text) }, name, span: ap.span });
    }
    if out.is_empty() {
        return Err(SemaError::MissingAttachPoint {
            span: ap.span,
            message: format!("no tracepoint matches `{}`", ap.raw),
            help: "list tracepoints with `ls /sys/kernel/tracing/events/CATEGORY`".into(),
        });
    }
    Ok(out)
}


fn resolve_one(ap: &ast::AttachPoint, kernel: &dyn KernelInfo, target: Option<&str>) -> Result<AttachPoint, SemaError> {
    let span = ap.span;
    let parts = split_attach_point(&ap.raw);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let provider = parts[0];
    let canonical = super::reference::provider(provider);
    let bad = |message: String, help: &str| SemaError::BadAttachPoint { span, message, help: help.to_string() };
    let kind = match canonical {
        Some("BEGIN") | Some("END") => {
            if parts.len() > 1 {
                return Err(bad(format!("`{provider}` takes no arguments"), "write just `BEGIN` or `END`"));
            }
            if provider.starts_with('B') || provider == "begin" {
                AttachKind::Begin
            } else {
                AttachKind::End
            }
        }
        Some("self") => match parts[..] {
            [_, "signal", name] if crate::signals::number(name) == crate::signals::number("SIGUSR1") => AttachKind::SelfSignal { signal: 10 },
            _ => return Err(bad(format!("`{}` is not a self probe rtrace has", ap.raw), "the one self probe is `self:signal:SIGUSR1`, run each time rtrace receives SIGUSR1")),
        },
        Some("bench") => match parts[..] {
            [_, name] if !name.is_empty() => AttachKind::Bench { name: name.to_string() },
            _ => return Err(bad(format!("`{}` is not a benchmark", ap.raw), "benchmarks are written `bench:NAME` and run under `--bench`")),
        },
        Some("tracepoint") => {
            let [_, category, event] = parts[..] else {
                return Err(bad(
                    format!("`{}` is not a tracepoint", ap.raw),
                    "tracepoints are written `tracepoint:CATEGORY:EVENT`, e.g. `tracepoint:syscalls:sys_enter_openat`",
                ));
            };
            let Some(text) = kernel.tracepoint_format(category, event) else {
                let name = format!("{category}:{event}");
                let all = kernel.tracepoints();
                // No tracepoint at all: tracefs is not there or not readable (not root).
                if all.is_empty() {
                    return Err(SemaError::NoTracefs { span });
                }
                let names: Vec<String> = all.iter().map(|(c, e)| format!("{c}:{e}")).collect();
                let candidates = did_you_mean(&name, names.iter().map(|s| s.as_str())).into_iter().map(|c| format!("tracepoint:{c}")).collect();
                return Err(SemaError::UnknownTracepoint { span, name: format!("tracepoint:{name}"), candidates });
            };
            AttachKind::Tracepoint { category: category.to_string(), event: event.to_string(), format: TracepointFormat::parse(&text) }
        }
        Some("interval") => AttachKind::Interval {
            period_ns: interval_period(&parts[1..]).ok_or_else(|| {
                bad(format!("`{}` is not a valid interval", ap.raw), "write `interval:s:N`, `interval:ms:N`, `interval:us:N` or `interval:hz:N` with N > 0")
            })?,
        },
        Some("profile") => {
            let bad_rate =
                || bad(format!("`{}` is not a valid profile rate", ap.raw), "write `profile:hz:N`, `profile:s:N`, `profile:ms:N` or `profile:us:N` with N > 0");
            let sample = match parts[1..] {
                ["hz", n] => PerfSample::Frequency(n.parse().ok().filter(|n| *n > 0).ok_or_else(bad_rate)?),
                _ => PerfSample::Period(interval_period(&parts[1..]).ok_or_else(bad_rate)?),
            };
            AttachKind::PerfEvent { event: PerfEventKind { perf_type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_CPU_CLOCK }, sample }
        }
        Some(kind @ ("software" | "hardware")) => {
            let (table, perf_type) = if kind == "software" { (SOFTWARE_EVENTS, PERF_TYPE_SOFTWARE) } else { (HARDWARE_EVENTS, PERF_TYPE_HARDWARE) };
            let (name, count) = match parts[1..] {
                [name] => (name, None),
                [name, count] => (name, Some(count)),
                _ => return Err(bad(format!("`{}` is not a {kind} event", ap.raw), &format!("write `{kind}:EVENT` or `{kind}:EVENT:COUNT`"))),
            };
            let Some(e) = table.iter().find(|e| e.name == name || (!e.alias.is_empty() && e.alias == name)) else {
                let names = table.iter().flat_map(|e| [e.name, e.alias]).filter(|n| !n.is_empty());
                let candidates = did_you_mean(name, names).into_iter().map(|c| format!("{kind}:{c}")).collect();
                return Err(SemaError::UnknownEvent { span, name: format!("{kind}:{name}"), candidates });
            };
            let period = match count {
                None => e.default_period,
                // Any integer literal (`1e6`, `100_000`), as bpftrace takes it.
                Some(c) => crate::parser::int_literal(c)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("`{c}` is not a positive count"), &format!("write `{kind}:{name}:N`, N > 0")))?,
            };
            AttachKind::PerfEvent { event: PerfEventKind { perf_type, config: e.config }, sample: PerfSample::Period(period) }
        }
        Some(kind @ ("uprobe" | "uretprobe")) => {
            return Err(bad(
                format!("`{}` is not a {kind}", ap.raw),
                &format!("write `{kind}:BINARY:FUNCTION`, e.g. `{kind}:/bin/bash:readline` or `{kind}:libc:malloc`"),
            ));
        }
        Some("iter") => {
            let [_, target] = parts[..] else {
                return Err(bad(format!("`{}` is not an iterator", ap.raw), "write `iter:TARGET`, e.g. `iter:task`, `iter:task_file` or `iter:task_vma`"));
            };
            iterator(target, span, kernel)?
        }
        Some("usdt") => {
            return Err(bad(
                format!("`{}` is not a USDT probe", ap.raw),
                "write `usdt:BINARY:[PROVIDER:]NAME`, e.g. `usdt:/usr/bin/python3:python:function__entry`",
            ));
        }
        Some(provider @ ("watchpoint" | "asyncwatchpoint")) => {
            // `watchpoint:ADDRESS:LENGTH:MODE`, MODE from r, w, x; or `watchpoint:FUNC+argN:...`.
            let [_, addr, len, mode] = parts[..] else {
                return Err(bad(
                    format!("`{}` is not a watchpoint", ap.raw),
                    "write `watchpoint:ADDRESS:LENGTH:MODE`, e.g. `watchpoint:0x10000000:8:w`: a user address with -p PID or -c CMD, a kernel address without; or `watchpoint:FUNCTION+argN:LENGTH:MODE`",
                ));
            };
            let armed = match addr.split_once("+arg") {
                Some((func, n)) => {
                    let arg: u8 = n.parse().ok().filter(|n| *n < 6).ok_or_else(|| bad(format!("`{n}` is not an argument number"), "arg0 to arg5"))?;
                    let Some(path) = target else {
                        return Err(bad(
                            format!("`{}` watches what a function of the traced process receives", ap.raw),
                            "give the process with -p PID or -c CMD",
                        ));
                    };
                    let site = kernel
                        .uprobe_targets(path, func)
                        .map_err(|why| bad(format!("cannot watch `{func}`'s argument: {why}"), "name a function of the traced program"))?;
                    let Some(site) = site.into_iter().next() else {
                        return Err(bad(format!("`{path}` has no function `{func}`"), "name a function of the traced program"));
                    };
                    Some((site.path, site.offset, arg))
                }
                None => None,
            };
            let addr = if armed.is_some() { "0" } else { addr };
            let addr = addr
                .strip_prefix("0x")
                .map_or_else(|| addr.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("`{addr}` is not an address"), "give it in hex, e.g. 0x601040"))?;
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| [1, 2, 4, 8].contains(l))
                .ok_or_else(|| bad(format!("`{len}` is not a watchpoint length"), "a watchpoint covers 1, 2, 4 or 8 bytes"))?;
            // The debug registers watch naturally aligned words only.
            if addr % u64::from(len) != 0 {
                return Err(bad(format!("{addr:#x} is not aligned to the watchpoint's {len} bytes"), "watch the aligned word holding it, or fewer bytes"));
            }
            let mut bits = 0u8;
            for c in mode.chars() {
                bits |= match c {
                    'r' => 1,
                    'w' => 2,
                    'x' => 4,
                    _ => 0xff,
                };
            }
            // Execute watches stand alone; read without write is not a hardware mode on x86.
            if !matches!(bits, 2 | 3 | 4) {
                return Err(bad(format!("`{mode}` is not a watchpoint mode"), "use `w`, `rw` or `x`"));
            }
            match armed {
                Some((path, offset, arg)) => AttachKind::ArgWatchpoint { path, offset, arg, len, mode: bits, stop: provider == "watchpoint" },
                None => AttachKind::Watchpoint { addr, len, mode: bits },
            }
        }
        Some("rawtracepoint") => {
            // `rawtracepoint:NAME`, or `rawtracepoint:MODULE:NAME` as newer bpftrace writes it.
            let name = match parts[1..] {
                [name] => name,
                [module, name] => {
                    check_module(ap, module, kernel)?;
                    name
                }
                _ => return Err(bad(format!("`{}` is not a raw tracepoint", ap.raw), "write `rawtracepoint:NAME`, e.g. `rawtracepoint:sched_switch`")),
            };
            let all = kernel.tracepoints();
            if !all.iter().any(|(_, e)| e == name) {
                let candidates = did_you_mean(name, all.iter().map(|(_, e)| e.as_str())).into_iter().map(|c| format!("rawtracepoint:{c}")).collect();
                return Err(SemaError::UnknownEvent { span, name: format!("rawtracepoint:{name}"), candidates });
            }
            AttachKind::RawTracepoint { name: name.to_string(), btf_id: None }
        }
        _ => {
            let names = super::reference::PROVIDERS.iter().flat_map(|p| p.names.iter()).copied();
            let candidates = did_you_mean(provider, names.filter(|n| n.len() > 2));
            return Err(SemaError::UnknownProbeType { span, provider: provider.to_string(), candidates });
        }
    };
    let name = match &kind {
        AttachKind::Begin => "begin".to_string(),
        AttachKind::SelfSignal { .. } => "self:signal:SIGUSR1".to_string(),
        AttachKind::Bench { name } => format!("bench:{name}"),
        AttachKind::End => "end".to_string(),
        AttachKind::Tracepoint { category, event, .. } => format!("tracepoint:{category}:{event}"),
        AttachKind::Interval { .. } => format!("interval:{}", parts[1..].join(":")),
        AttachKind::RawTracepoint { name, .. } => format!("rawtracepoint:{name}"),
        AttachKind::Kprobe { function, ret, .. } | AttachKind::Fentry { function, ret, .. } => {
            let base = if matches!(kind, AttachKind::Fentry { .. }) { ["fentry", "fexit"] } else { ["kprobe", "kretprobe"] };
            format!("{}:{function}", base[usize::from(*ret)])
        }
        AttachKind::Uprobe { path, ret, .. } => format!("{}:{path}:{}", if *ret { "uretprobe" } else { "uprobe" }, parts[2]),
        AttachKind::PerfEvent { .. } => {
            format!("{}:{}", canonical.unwrap_or(provider), parts[1..].join(":"))
        }
        AttachKind::Watchpoint { addr, len, .. } => format!("{}:{addr:#x}:{len}:{}", canonical.unwrap_or(provider), parts[3]),
        AttachKind::ArgWatchpoint { .. } => format!("{}:{}", canonical.unwrap_or(provider), parts[1..].join(":")),
        AttachKind::Iter { target, .. } => format!("iter:{target}"),
        AttachKind::Usdt { probe } => probe.probe_name(),
    };
    Ok(AttachPoint { kind, name, span })
}

/// `s:N`, `ms:N`, `us:N`, `hz:N`, or a single `Ns` / `Nms` / `Nus` / `Nhz`.
fn interval_period(args: &[&str]) -> Option<u64> {
    let (unit, n) = match args {
        [unit, n] => (*unit, n.parse::<u64>().ok()?),
        [one] => {
            let split = one.find(|c: char| !c.is_ascii_digit())?;
            (&one[split..], one[..split].parse::<u64>().ok()?)
        }
        _ => return None,
    };
    if n == 0 {
        return None;
    }
    match unit {
        "s" => n.checked_mul(1_000_000_000),
        "ms" => n.checked_mul(1_000_000),
        "us" => n.checked_mul(1_000),
        "hz" => Some(1_000_000_000 / n).filter(|p| *p > 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;
    use crate::runtime::LiveKernel;
    use crate::sema::list_probes;

    #[test]
    fn listing_filters_every_provider_by_glob() {
        let kernel = LiveKernel::at(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracefs"));
        assert_eq!(list_probes(&kernel, "*execve*", false), vec!["tracepoint:syscalls:sys_enter_execve", "rawtracepoint:sys_enter_execve"]);
        assert_eq!(
            list_probes(&kernel, "software:*faults:", false),
            vec!["software:alignment-faults:", "software:emulation-faults:", "software:major-faults:", "software:minor-faults:", "software:page-faults:", "software:faults:"]
        );
        assert!(list_probes(&kernel, "*", false).len() > 20);
        assert!(list_probes(&kernel, "kprobe:*", false).is_empty());
        assert_eq!(list_probes(&kernel, "profile:*", false), vec!["profile:hz:", "profile:us:", "profile:ms:", "profile:s:"]);
    }

    #[test]
    fn quoted_parts_keep_colons_and_escaped_quotes() {
        assert_eq!(super::split_attach_point(r#"uprobe:/bin/app:"ns::f(int)""#), vec!["uprobe", "/bin/app", "ns::f(int)"]);
        assert_eq!(super::split_attach_point(r#"usdt:./app:test:"\"probe1\"""#), vec!["usdt", "./app", "test", "\"probe1\""]);
    }

    #[test]
    fn glob_matches_like_a_shell() {
        assert!(glob_match("sys_enter_*", "sys_enter_openat"));
        assert!(glob_match("*", ""));
        assert!(glob_match("sys_*_open*", "sys_exit_openat2"));
        assert!(glob_match("sys_enter_read?", "sys_enter_readv"));
        assert!(!glob_match("sys_enter_read?", "sys_enter_read"));
        assert!(glob_match("sched_[sw]*", "sched_wakeup"));
        assert!(!glob_match("sched_[!sw]*", "sched_wakeup"));
        assert!(glob_match("*a*b*c", "xxaxxbxxbxc"));
        assert!(!glob_match("sys_enter_*", "sys_exit_openat"));
        assert!(glob_match("s*s*s", "sss"));
    }
}
