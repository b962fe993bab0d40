//! Typed `args` and `retval` of the probes whose context is an array of u64 arguments: fentry
//! and fexit (the function's BTF prototype) and raw tracepoints (`__bpf_trace_NAME`'s).

use super::{Checked, Checker};
use crate::artifact::types::Type;
use crate::btf::{Kind, Namespace, TypeId};
use crate::diagnostics::did_you_mean;
use crate::parser::ast;
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{self, AttachKind, Builtin};

impl<'k> Checker<'k> {
    /// The BTF prototype behind a probe whose context is an array of u64 arguments: the
    /// function's own for fentry/fexit; for a raw tracepoint, that of the first of its
    /// functions the kernel has (`RAW_TRACEPOINT_PROTOTYPES`), without its first
    /// (`void *__data`) parameter. None: no such prototype.
    pub(super) fn prototype(&self, ap: &hir::AttachPoint) -> Option<(Vec<(String, TypeId)>, TypeId)> {
        // The kernel's BTF (5 MB) is read only for the probes that have a prototype.
        let btf = || self.kernel.and_then(|k| k.btf());
        let (btf, func, skip) = match &ap.kind {
            AttachKind::Fentry { btf_id, .. } => (btf()?, *btf_id, 0),
            AttachKind::RawTracepoint { name, .. } => {
                let btf = btf()?;
                let event = crate::sema::attach::raw_tracepoint_event(name);
                let func = crate::sema::attach::RAW_TRACEPOINT_PROTOTYPES.iter().find_map(|p| btf.find(Namespace::Func, &format!("{p}{event}")))?;
                (btf, func, 1)
            }
            _ => return None,
        };
        let Kind::Func { proto } = btf.kind(func) else { return None };
        let Kind::FuncProto { ret } = btf.kind(proto) else { return None };
        let params = btf.params(proto).into_iter().skip(skip).map(|(n, t)| (n.to_string(), t)).collect();
        Some((params, ret))
    }

    /// The rtrace type of an argument or return value of C type `id`, as held in a u64.
    pub(super) fn register_type(&mut self, id: TypeId, span: Span) -> Checked<Type> {
        let btf = self.btf(span, "typed arguments")?;
        let sid = btf.strip(id);
        Ok(match btf.kind(sid) {
            Kind::Int { size: size @ (1 | 2 | 4 | 8), signed, .. } | Kind::Enum { size: size @ (1 | 2 | 4 | 8), signed } => {
                Type::Int { bits: (size * 8) as u8, signed }
            }
            Kind::Ptr(to) => Type::Ptr { to: Self::c_type(btf, to), user: false },
            _ => {
                return Err(self.error(SemaError::TypeMismatch {
                    span,
                    message: format!("rtrace cannot read an argument of type `{}`", btf.c_name(id)),
                    label: "unsupported C type".into(),
                }))
            }
        })
    }

    /// `args.NAME` in fentry/fexit and raw tracepoint probes: argument register NAME of the
    /// prototype, which must be at the same position with one type in every attach point.
    pub(super) fn typed_arg(&mut self, field: &ast::Ident, span: Span) -> Checked<hir::Expr> {
        self.prototype_slot(&format!("args.{}", field.name), span, field.span, |checker, ap, params, _| {
            let Some(index) = params.iter().position(|(n, _)| *n == field.name) else {
                let candidates = did_you_mean(&field.name, params.iter().map(|(n, _)| n.as_str()));
                return Err(checker.error(SemaError::UnknownField { span: field.span, field: field.name.clone(), tracepoint: ap.name.clone(), candidates }));
            };
            Ok((checker.slot(params, index), checker.register_type(params[index].1, field.span)?))
        })
    }

    /// Whether BTF type `id` (modifiers and typedefs skipped) is a struct or union.
    fn points_at_record(&self, id: TypeId) -> bool {
        let Some(btf) = self.kernel.and_then(|k| k.btf()) else { return true };
        matches!(btf.kind(btf.strip(id)), Kind::Struct { .. } | Kind::Union { .. })
    }

    /// The context word (u64) where parameter `index` of `params` starts: a struct passed by
    /// value takes as many words as it has (up to two, `bpfptr_t` in `__sys_bpf`), so the
    /// parameters after it, and `retval`, are further on, as bpftrace counts them.
    pub(super) fn slot(&self, params: &[(String, TypeId)], index: usize) -> usize {
        let btf = self.kernel.and_then(|k| k.btf());
        let words = |t: TypeId| btf.and_then(|b| b.size_of(t)).map_or(1, |n| (n as usize).div_ceil(8).max(1));
        params.iter().take(index).map(|(_, t)| words(*t)).sum()
    }

    /// `retval` in fexit: after the arguments in the context, typed by the prototype.
    pub(super) fn typed_retval(&mut self, span: Span) -> Checked<hir::Expr> {
        self.prototype_slot("retval", span, span, |checker, _, params, ret| {
            Ok((checker.slot(params, params.len()), if ret == 0 { Type::U64 } else { checker.register_type(ret, span)? }))
        })
    }

    /// A value at a context slot that every attach point's BTF prototype places (`locate`
    /// says where, and its type), checked to agree between the attach points; read as the
    /// raw `argN` and retyped.
    pub(super) fn prototype_slot(
        &mut self,
        what: &str,
        span: Span,
        at: Span,
        locate: impl Fn(&mut Self, &hir::AttachPoint, &[(String, TypeId)], TypeId) -> Checked<(usize, Type)>,
    ) -> Checked<hir::Expr> {
        let mut found: Option<(usize, Type)> = None;
        for ap in self.attach.clone() {
            let Some((params, ret)) = self.prototype(&ap) else {
                return Err(self.error(SemaError::NoBtf { span, what: format!("`{what}` in `{}`", ap.name) }));
            };
            let (index, ty) = locate(self, &ap, &params, ret)?;
            if found.is_some_and(|(i, t)| i != index || !t.same_kind(ty)) {
                return Err(self.error(SemaError::TypeMismatch {
                    span: at,
                    message: format!("`{what}` differs between this probe's attach points"),
                    label: format!("{ty} in {}", ap.name),
                }));
            }
            found = Some((index, ty));
        }
        let (index, ty) = found.ok_or_else(|| self.error(SemaError::ArgsOutsideTracepoint { span }))?;
        let word = matches!(ty, Type::Ptr { to, .. } if !self.points_at_record(to.id));
        let b = if word { Builtin::ArgWord(index as u8) } else { Builtin::Arg(index as u8) };
        let raw = hir::Expr { kind: hir::ExprKind::Builtin(b), ty: Type::U64, span };
        Ok(raw.retyped(ty))
    }
}
