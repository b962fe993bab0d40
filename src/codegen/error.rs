//! Codegen failures. Most scripts that pass sema compile; what remains is LLVM refusing
//! something (e.g. the 512-byte BPF stack), reported with the probe it happened in.

use codespan_reporting::diagnostic::Diagnostic;

use crate::diagnostics::{primary, Diag, ToDiagnostic};
use crate::parser::Span;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodegenError {
    #[error("LLVM could not compile the probe: {}", messages.join("; "))]
    Backend { span: Option<Span>, messages: Vec<String> },
    #[error("internal code generation error: {message}")]
    Internal { message: String },
}

impl CodegenError {
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
}
