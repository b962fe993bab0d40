//! Attach points: split the text the parser kept whole, resolve provider aliases, check the
//! target exists on this kernel (through `KernelInfo`), and give it a canonical name.

use super::error::SemaError;
use super::hir::{AttachKind, AttachPoint};
use super::tracepoint_format::TracepointFormat;
use super::KernelInfo;
use crate::diagnostics::did_you_mean;
use crate::parser::ast;

/// Providers with their aliases; the first name is canonical.
const PROVIDERS: &[&[&str]] = &[
    &["BEGIN", "begin"],
    &["END", "end"],
    &["tracepoint", "t"],
    &["interval", "i"],
];

/// bpftrace providers that a later version of rtrace will support.
const PLANNED: &[&str] = &[
    "kprobe", "k", "kretprobe", "kr", "uprobe", "u", "uretprobe", "ur", "usdt", "U", "profile", "p",
    "software", "s", "hardware", "h", "watchpoint", "w", "rawtracepoint", "rt", "fentry", "f",
    "fexit", "fr", "kfunc", "kretfunc", "iter", "it",
];

/// Resolves one attach point as written; a wildcard expands to every match, in the kernel's
/// order.
pub fn resolve(ap: &ast::AttachPoint, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let parts: Vec<&str> = ap.raw.split(':').collect();
    if let ["tracepoint" | "t", category, event] = parts[..] {
        if is_glob(category) || is_glob(event) {
            return expand_tracepoints(ap, category, event, kernel);
        }
    }
    resolve_one(ap, kernel).map(|a| vec![a])
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn expand_tracepoints(ap: &ast::AttachPoint, category: &str, event: &str, kernel: &dyn KernelInfo) -> Result<Vec<AttachPoint>, SemaError> {
    let mut out = Vec::new();
    for (c, e) in kernel.tracepoints() {
        if !glob_match(category, &c) || !glob_match(event, &e) {
            continue;
        }
        // A tracepoint listed but without a readable format (e.g. removed meanwhile) is skipped.
        let Some(text) = kernel.tracepoint_format(&c, &e) else { continue };
        let name = format!("tracepoint:{c}:{e}");
        out.push(AttachPoint { kind: AttachKind::Tracepoint { category: c, event: e, format: TracepointFormat::parse(&text) }, name, span: ap.span });
    }
    if out.is_empty() {
        return Err(SemaError::BadAttachPoint {
            span: ap.span,
            message: format!("no tracepoint matches `{}`", ap.raw),
            help: "list tracepoints with `ls /sys/kernel/tracing/events/CATEGORY`".into(),
        });
    }
    Ok(out)
}

/// Shell-style matching of `*` (any run), `?` (one character) and `[...]` classes, as
/// bpftrace matches attach points.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it matched up to).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_match(&p[pi..], t[ti]).map(|len| pi + len),
            Some(c) if *c == t[ti] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ti += 1;
            }
            (None, Some((sp, st))) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class at the start of `p` (`[abc]`, `[a-z]`, `[!x]`); returns the
/// class's length in the pattern when it matches.
fn class_match(p: &[char], c: char) -> Option<usize> {
    let end = p.iter().skip(1).position(|x| *x == ']')? + 1;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negate).then_some(end + 1)
}

fn resolve_one(ap: &ast::AttachPoint, kernel: &dyn KernelInfo) -> Result<AttachPoint, SemaError> {
    let span = ap.span;
    let parts: Vec<&str> = ap.raw.split(':').collect();
    let provider = parts[0];
    let canonical = PROVIDERS.iter().find(|names| names.contains(&provider)).map(|names| names[0]);
    let bad = |message: String, help: &str| SemaError::BadAttachPoint { span, message, help: help.to_string() };
    let kind = match canonical {
        Some("BEGIN") | Some("END") => {
            if parts.len() > 1 {
                return Err(bad(format!("`{provider}` takes no arguments"), "write just `BEGIN` or `END`"));
            }
            if provider.starts_with('B') || provider == "begin" { AttachKind::Begin } else { AttachKind::End }
        }
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
                let names: Vec<String> = all.iter().map(|(c, e)| format!("{c}:{e}")).collect();
                let candidates = did_you_mean(&name, names.iter().map(|s| s.as_str()))
                    .into_iter()
                    .map(|c| format!("tracepoint:{c}"))
                    .collect();
                return Err(SemaError::UnknownTracepoint { span, name: format!("tracepoint:{name}"), candidates });
            };
            AttachKind::Tracepoint {
                category: category.to_string(),
                event: event.to_string(),
                format: TracepointFormat::parse(&text),
            }
        }
        Some("interval") => AttachKind::Interval { period_ns: interval_period(&parts[1..]).ok_or_else(|| {
            bad(
                format!("`{}` is not a valid interval", ap.raw),
                "write `interval:s:N`, `interval:ms:N`, `interval:us:N` or `interval:hz:N` with N > 0",
            )
        })? },
        _ if PLANNED.contains(&provider) => {
            return Err(SemaError::UnsupportedProbeType { span, provider: provider.to_string() })
        }
        _ => {
            let names = PROVIDERS.iter().flat_map(|n| n.iter()).chain(PLANNED.iter()).copied();
            let candidates = did_you_mean(provider, names.filter(|n| n.len() > 2));
            return Err(SemaError::UnknownProbeType { span, provider: provider.to_string(), candidates });
        }
    };
    let name = match &kind {
        AttachKind::Begin => "BEGIN".to_string(),
        AttachKind::End => "END".to_string(),
        AttachKind::Tracepoint { category, event, .. } => format!("tracepoint:{category}:{event}"),
        AttachKind::Interval { .. } => format!("interval:{}", parts[1..].join(":")),
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
