//! Runtime failures. Each says what failed and what to do; the verifier log is kept short
//! unless `-v` asks for all of it.

use codespan_reporting::diagnostic::Diagnostic;

use crate::artifact::ProgramMeta;
use crate::diagnostics::{primary, Diag, ToDiagnostic};
use crate::span::Span;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// What the process lacks to trace (`privileges::missing`).
    #[error("{message}")]
    Privileges { message: String },
    #[error("could not load the BPF object: {message}")]
    Load { message: String },
    #[error("the kernel's verifier rejected {probe}: {reason}")]
    Verifier { probe: String, span: Span, reason: String, log: String, verbose: bool },
    #[error("could not attach {probe}: {message}")]
    Attach { probe: String, span: Span, message: String },
    /// Every attach point failed, though `missing_probes` let each be skipped.
    #[error("none of the {count} attach points could be attached")]
    NothingAttached { count: usize, probe: String, span: Span, message: String },
    /// Something rtrace needs to run could not be set up; the message says what and why.
    #[error("{message}")]
    Setup { message: String },
    #[error("internal error: the object has no {what}")]
    MissingObject { what: String },
    #[error("cannot write the output to {}: {error}", path.display())]
    Output { path: std::path::PathBuf, error: std::io::Error },
    /// The output failed while tracing (a full disk): the trace ended there.
    #[error("cannot write the output to {}: {error}; the trace ended there, and {lines} lines of output were not written", path.display())]
    OutputLost { path: std::path::PathBuf, error: std::io::Error, lines: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl RuntimeError {
    /// A rejected program: the verifier's own reason is a line we can explain, or else the
    /// last non-empty line of its log before the statistics.
    pub fn verifier(p: &ProgramMeta, error: &std::io::Error, log: &str, verbose: bool) -> RuntimeError {
        let known = log.lines().find(|l| explain_verifier(l).is_some());
        let reason = known
            .or_else(|| {
                log.lines().rev().find(|l| {
                    let l = l.trim();
                    !l.is_empty() && !["processed ", "verification time", "stack depth"].iter().any(|p| l.starts_with(p))
                })
            })
            .unwrap_or("")
            .to_string();
        let reason = if reason.is_empty() { error.to_string() } else { reason };
        RuntimeError::Verifier { probe: p.probe_name.clone(), span: p.span, reason, log: log.to_string(), verbose }
    }
}

/// What a verifier reason usually means in a script, for the reasons a script can cause.
fn explain_verifier(reason: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        (
            "too complex",
            "a loop the verifier cannot prove to end, or one with too many iterations: bound it with a counter (`while ($i < 100)`) or use `unroll(N)`",
        ),
        ("infinite loop detected", "a loop that does not change its condition never ends: make each iteration move towards the exit"),
        ("back-edge", "this kernel does not allow loops in BPF programs: use `unroll(N)`"),
        ("BPF program is too large", "the program has too many instructions: fewer `unroll` repetitions or smaller loops help"),
        (
            "cannot be patched due to 16-bit range",
            "the probe is too long: the kernel expands some calls in place, and then a jump reaches past the 32767 instructions BPF allows; split it into smaller probes",
        ),
        ("unknown func bpf_loop", "this kernel has no bpf_loop (5.17 or newer has): `globmatch` needs it"),
        ("combined stack size", "the probe needs more than 512 bytes of stack: fewer or shorter strings in one probe help"),
        ("unknown func bpf_override_return", "this kernel cannot inject return values: `override` needs a kernel built with CONFIG_BPF_KPROBE_OVERRIDE"),
        (
            "helper call is not allowed in probe",
            "`path` (bpf_d_path) runs only in iterators and in fentry/fexit probes of the functions the kernel lists for it (such as vfs_open, vfs_truncate, dentry_open, filp_close, security_file_open)",
        ),
        (
            "failed to find the address for kernel symbol",
            "the kernel cannot give the address of this variable: its kallsyms lists no data symbols (a kernel built without CONFIG_KALLSYMS_ALL), so `percpu_kaddr` cannot work here",
        ),
        ("unknown func bpf_for_each_map_elem", "this kernel cannot iterate maps from BPF (5.13 or newer can): `for ($kv : @map)` and `len(@m)` need it"),
    ];
    KNOWN.iter().find(|(k, _)| reason.contains(k)).map(|(_, h)| *h)
}

impl ToDiagnostic for RuntimeError {
    fn to_diagnostic(&self) -> Diag {
        match self {
            RuntimeError::Verifier { probe, span, reason, log, verbose } => {
                let mut notes = vec![format!("verifier: {reason}")];
                if let Some(help) = explain_verifier(reason) {
                    notes.push(format!("help: {help}"));
                }
                if *verbose {
                    notes.push(format!("full verifier log:\n{log}"));
                } else {
                    notes.push("help: run with -v to see the full verifier log".into());
                }
                Diagnostic::error()
                    .with_code("E0401")
                    .with_message(format!("the kernel's BPF verifier rejected the program for `{probe}`"))
                    .with_labels(vec![primary(*span, "in this probe")])
                    .with_notes(notes)
            }
            RuntimeError::Attach { probe, span, message } => Diagnostic::error()
                .with_code("E0402")
                .with_message(format!("could not attach `{probe}`"))
                .with_labels(vec![primary(*span, "this probe")])
                .with_notes(vec![message.clone()]),
            RuntimeError::NothingAttached { count, probe, span, message } => Diagnostic::error()
                .with_code("E0403")
                .with_message(format!("none of the {count} attach points could be attached"))
                .with_labels(vec![primary(*span, format!("the last was `{probe}`"))])
                .with_notes(vec![message.clone(), "help: `missing_probes` skips attach points that fail, but that leaves nothing to trace".into()]),
            other => Diagnostic::error().with_message(other.to_string()),
        }
    }
}
