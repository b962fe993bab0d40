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

pub fn resolve(ap: &ast::AttachPoint, kernel: &dyn KernelInfo) -> Result<AttachPoint, SemaError> {
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
            if category.contains(['*', '?']) || event.contains(['*', '?']) {
                return Err(bad(
                    "tracepoint wildcards are not supported yet".into(),
                    "name one tracepoint, e.g. `tracepoint:syscalls:sys_enter_openat`",
                ));
            }
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
