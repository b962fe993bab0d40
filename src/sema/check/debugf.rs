//! `debugf(fmt, args...)`: bpftrace's debugging printf, written by the kernel's
//! `bpf_trace_printk` to its trace buffer (`/sys/kernel/tracing/trace_pipe`), not to rtrace's
//! output. The helper takes at most three arguments, integers or strings.

use super::{Checked, Checker};
use crate::parser::ast::{self, ExprKind};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::printf;
use crate::sema::{hir, Type};

/// `bpf_trace_printk`'s limit.
const MAX_ARGS: usize = 3;

impl Checker<'_> {
    pub(super) fn debugf(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Stmt> {
        let Some((fmt, rest)) = args.split_first() else {
            return Err(self.arg_count(span, "debugf", "a format string and at most 3 arguments", 0));
        };
        let ExprKind::Str(text) = &fmt.kind else {
            return Err(self.error(SemaError::TypeMismatch {
                span: fmt.span,
                message: "debugf's first argument must be a string literal".into(),
                label: "not a string literal".into(),
            }));
        };
        if rest.len() > MAX_ARGS {
            return Err(self.error(SemaError::TypeMismatch {
                span,
                message: format!("debugf takes at most {MAX_ARGS} arguments after its format (bpf_trace_printk's limit), not {}", rest.len()),
                label: "too many arguments".into(),
            }));
        }
        let format = printf::parse(text).map_err(|message| self.error(SemaError::PrintfFormat { span: fmt.span, message }))?;
        if let Some(message) = format.count_mismatch(rest.len()) {
            return Err(self.error(SemaError::PrintfFormat { span: fmt.span, message }));
        }
        let specs: Vec<printf::Spec> = format.specs().cloned().collect();
        let mut out = Vec::new();
        for (arg, spec) in rest.iter().zip(&specs) {
            let e = self.expr(arg)?;
            let e = self.value(e)?;
            let ok = match e.ty {
                Type::Str(_) => spec.conv.wants_string(),
                t => t.is_int() && !spec.conv.wants_string(),
            };
            if !ok {
                let want = if spec.conv.wants_string() { "a string" } else { "an integer" };
                return Err(self.error(SemaError::TypeMismatch {
                    span: e.span,
                    message: format!("debugf conversion expects {want}, but this is {}", e.ty),
                    label: "debugf prints integers and strings".into(),
                }));
            }
            out.push(e);
        }
        Ok(hir::Stmt::Debugf { format: text.clone(), args: out })
    }
}
