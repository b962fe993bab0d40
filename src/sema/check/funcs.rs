//! Value functions whose result userspace renders: `kstack`/`ustack` (also as bare builtins)
//! and `ksym`.

use super::{Checked, Checker};
use crate::parser::ast::{self, ExprKind};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir;
use crate::sema::types::{StackMode, StackSpec, Type, MAX_STACK_FRAMES};

impl Checker<'_> {
    /// `kstack`, `kstack(limit)`, `kstack(mode)`, `kstack(mode, limit)`; the same for ustack.
    pub(super) fn stack(&mut self, user: bool, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let func = if user { "ustack" } else { "kstack" };
        let mut spec = StackSpec { user, mode: StackMode::Bpftrace, limit: MAX_STACK_FRAMES };
        if args.len() > 2 {
            return Err(self.arg_count(span, func, "an optional mode and an optional frame limit", args.len()));
        }
        for (i, a) in args.iter().enumerate() {
            match &a.kind {
                ExprKind::Ident(m) if i == 0 => {
                    spec.mode = match m.as_str() {
                        "bpftrace" => StackMode::Bpftrace,
                        "perf" => StackMode::Perf,
                        "raw" => StackMode::Raw,
                        _ => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: a.span,
                                message: format!("unknown stack mode `{m}`"),
                                label: "one of bpftrace, perf, raw".into(),
                            }))
                        }
                    }
                }
                ExprKind::Int(n) if (1..=u64::from(MAX_STACK_FRAMES)).contains(n) => spec.limit = *n as u8,
                _ => {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: a.span,
                        message: format!("`{func}` takes a mode (bpftrace, perf, raw) and a frame limit from 1 to {MAX_STACK_FRAMES}"),
                        label: "not a mode or a limit".into(),
                    }))
                }
            }
        }
        self.uses_stacks = true;
        Ok(hir::Expr { kind: hir::ExprKind::Stack(spec), ty: Type::Stack(spec), span })
    }

    /// `ksym(addr)`: the address, printed as the kernel symbol it is in.
    pub(super) fn ksym(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let [addr] = args else {
            return Err(self.arg_count(span, "ksym", "one address", args.len()));
        };
        let addr = self.expr(addr)?;
        self.expect_int(&addr, "`ksym` takes a kernel address")?;
        Ok(hir::Expr { span, ..addr.retyped(Type::Ksym) })
    }
}
