//! Codegen failures. Most scripts that pass sema compile; what remains is LLVM refusing
//! something (e.g. the 512-byte BPF stack), reported with the probe it happened in.

use codespan_reporting::diagnostic::Diagnostic;

use crate::diagnostics::{primary, Diag, ToDiagnostic};
use crate::parser::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodegenError {
    #[error("LLVM could not compile the probe: {}", messages.join("; "))]
    Backend { span: Option<Span>, messages: Vec<String> },
    /// E0303: one of a function's large values (a string, tuple, map key or printf record)
    /// needs a bigger scratch element than a per-CPU map value can be.
    #[error("a value of the probe needs {bytes} bytes of per-CPU scratch space, more than the kernel's {MAX_SCRATCH_BYTES} in one piece")]
    ScratchTooLarge { span: Option<Span>, bytes: u64 },
    #[error("internal code generation error: {message}")]
    Internal { message: String },
}

/// The largest value of a per-CPU map (the kernel's `PCPU_MIN_UNIT_SIZE`, the same on every
/// kernel): the most scratch space one value of a function can have (a function has as many
/// scratch maps as its values need).
pub const MAX_SCRATCH_BYTES: u64 = 32 << 10;

impl CodegenError {
    /// The error, located in the probe at `span` if it is not located yet.
    pub fn in_probe(self, span: Span) -> Self {
        match self {
            CodegenError::ScratchTooLarge { span: None, bytes } => CodegenError::ScratchTooLarge { span: Some(span), bytes },
            other => other,
        }
    }

    /// LLVM found a function using more than the BPF stack's 512 bytes.
    pub fn is_stack_overflow(&self) -> bool {
        matches!(self, CodegenError::Backend { messages, .. } if messages.iter().any(|m| m.contains("stack limit")))
    }
}

impl From<inkwell::builder::BuilderError> for CodegenError {
    fn from(e: inkwell::builder::BuilderError) -> Self {
        CodegenError::Internal { message: e.to_string() }
    }
}

impl ToDiagnostic for CodegenError {
    fn to_diagnostic(&self) -> Diag {
        match self {
            CodegenError::Backend { span, messages } => {
                let stack = messages.iter().any(|m| m.contains("stack limit"));
                let mut d = Diagnostic::error().with_code("E0301").with_message(if stack {
                    "the probe needs more than the 512 bytes of stack BPF allows".to_string()
                } else {
                    "LLVM could not compile the probe".to_string()
                });
                if let Some(span) = span {
                    d = d.with_labels(vec![primary(*span, "in this probe")]);
                }
                let mut notes: Vec<String> = messages.iter().map(|m| format!("llvm: {m}")).collect();
                if stack {
                    notes.push("help: even with its strings and other large values in a per-CPU scratch map, the probe's integers and temporaries do not fit: split it into several probes".into());
                }
                d.with_notes(notes)
            }
            CodegenError::ScratchTooLarge { span, bytes } => {
                let d = Diagnostic::error()
                    .with_code("E0303")
                    .with_message(format!("a value of the probe needs {bytes} bytes of per-CPU scratch space, more than the kernel's {MAX_SCRATCH_BYTES} in one piece"))
                    .with_notes(vec![
                        "help: what does not fit the 512-byte BPF stack (strings, buffers, tuples) lives in per-CPU map values, each at most 32 KiB: use shorter strings (`config = { max_strlen = N }`) or fewer of them in one tuple, map key or printf".into(),
                    ]);
                match span {
                    Some(span) => d.with_labels(vec![primary(*span, "in this probe")]),
                    None => d,
                }
            }
            CodegenError::Internal { message } => Diagnostic::bug()
                .with_code("E0399")
                .with_message(format!("internal code generation error: {message}"))
                .with_notes(vec!["this is a bug in rtrace: please report it with the script".into()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_overflow_is_recognised_and_explained() {
        let e = CodegenError::Backend { span: None, messages: vec!["Looks like the BPF stack limit is exceeded in function f".into()] };
        assert!(e.is_stack_overflow());
        let d = e.to_diagnostic();
        assert!(d.message.contains("512 bytes"), "{}", d.message);
        assert!(d.notes.iter().any(|n| n.contains("split it into several probes")), "{:?}", d.notes);
        assert!(!CodegenError::Backend { span: None, messages: vec!["other".into()] }.is_stack_overflow());
    }

    #[test]
    fn scratch_space_past_the_per_cpu_limit_is_refused_when_compiling() {
        // A map key of `strings` strings of 1024 bytes, each in the probe's scratch space.
        let compile = |strings: usize| {
            let keys = ", str(args.filename)".repeat(strings);
            let src = format!("config = {{ max_strlen = 1024 }} tracepoint:syscalls:sys_enter_openat {{ @[comm{keys}] = count(); }}");
            let script = crate::parser::parse(&src, 0).expect("parses");
            let tracefs = crate::runtime::LiveKernel::at(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracefs"));
            let program = crate::sema::analyse(&script, &tracefs).expect("checks");
            crate::codegen::compile(&program, &Default::default())
        };
        assert!(compile(20).is_ok(), "20 KiB of scratch fits");
        match compile(40) {
            Err(CodegenError::ScratchTooLarge { span: Some(_), bytes }) => assert!(bytes > MAX_SCRATCH_BYTES, "{bytes}"),
            other => panic!("40 KiB of scratch: {other:?}"),
        }
    }
}
