//! `sizeof`, `offsetof` and pointer arithmetic: the sizes and offsets of C types from BTF (a
//! kernel struct's member offsets in expressions are facts, `ctypes::member_offset`; these are
//! the numbers the script itself asks for).

use super::{Checked, Checker};
use super::ctypes::{builtin_int, int_expr};
use crate::artifact::types::{CType, Type, SYNTHETIC_INT};
use crate::btf::{Kind, Namespace};
use crate::diagnostics::did_you_mean;
use crate::parser::ast;
use crate::parser::ast::BinOp;
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir;

impl<'k> Checker<'k> {
    /// How far `+ 1` moves a value of type `ty`: a pointer's by the size of what it points
    /// at (1 for `void *`), as in C and bpftrace; anything else by 1.
    pub(super) fn step_of(&mut self, ty: Type, span: Span) -> Checked<u64> {
        match ty {
            Type::Ptr { to, .. } if to.id != 0 => Ok(self.size_of_ctype(to, span)?.max(1)),
            _ => Ok(1),
        }
    }

    /// `ptr + n`, `n + ptr`, `ptr - n`: the address moved by `n` of what `ptr` points at,
    /// typed as `ptr`.
    pub(super) fn pointer_arithmetic(&mut self, op: BinOp, ptr: hir::Expr, n: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let ty = ptr.ty;
        let step = self.step_of(ty, span)?;
        let n = match step {
            1 => n.retyped(Type::U64),
            _ => hir::Expr {
                kind: hir::ExprKind::Binary { op: BinOp::Mul, lhs: Box::new(n.retyped(Type::U64)), rhs: Box::new(int_expr(step, span)) },
                ty: Type::U64,
                span,
            },
        };
        Ok(hir::Expr { kind: hir::ExprKind::Binary { op, lhs: Box::new(ptr.retyped(Type::U64)), rhs: Box::new(n) }, ty, span })
    }

    pub(super) fn size_of_ctype(&mut self, t: CType, span: Span) -> Checked<u64> {
        if let Some(ty) = super::casts::pointee_value(t.id) {
            return self.size_of(ty, span);
        }
        if t.id >= SYNTHETIC_INT && t.id & 0xff_0000 != 0 {
            return Ok(8);
        }
        if t.id >= SYNTHETIC_INT {
            return Ok(u64::from(t.id & 0xff) / 8);
        }
        let btf = self.btf(span, "C types")?;
        match btf.size_of(t.id) {
            Some(n) => Ok(n),
            None => Err(self.error(SemaError::TypeMismatch { span, message: format!("`{}` has no size", t.name.as_str()), label: "incomplete type".into() })),
        }
    }

    /// `sizeof(type)` and `sizeof(expr)`.
    pub(super) fn size_of(&mut self, ty: Type, span: Span) -> Checked<u64> {
        match ty {
            Type::Int { bits, .. } => Ok(u64::from(bits) / 8),
            Type::Bool => Ok(1),
            Type::Enum(_) => Ok(8),
            Type::Ptr { .. } | Type::Stack(_) | Type::Ksym | Type::Timestamp(_) | Type::Username | Type::Errno | Type::SyscallName | Type::SignalName | Type::CgroupPath => Ok(8),
            Type::Str(n) => Ok(n as u64),
            Type::Tuple(_) | Type::Usym | Type::Inet(_) | Type::Mac | Type::Buf(_) | Type::Struct(_) => Ok(ty.size() as u64),
            Type::Record { ty, .. } => self.size_of_ctype(ty, span),
            Type::Array { elem, len, .. } => Ok(self.size_of_ctype(elem, span)? * u64::from(len)),
            Type::Void | Type::TracepointArgs => Err(self.error(SemaError::NotAValue { span, what: "this".into() })),
        }
    }

    /// `sizeof(struct x)`: unlike a cast, a struct type without `*` is fine here.
    pub(super) fn size_of_spec(&mut self, t: &ast::TypeSpec) -> Checked<u64> {
        if t.pointers > 0 && t.array.is_none() {
            return Ok(8);
        }
        if t.array.is_some() || t.of.is_some() {
            let ty = self.type_spec(t)?;
            return self.size_of(ty, t.span);
        }
        if let Some(int) = builtin_int(&t.name) {
            return self.size_of(int, t.span);
        }
        // An enum's own size (4 unless its values need 8), not its values' word.
        if let Some(name) = t.name.strip_prefix("enum ") {
            let btf = self.btf(t.span, &format!("`{}`", t.name))?;
            if let Some(size) = btf.find(Namespace::Enum, name).and_then(|id| btf.size_of(id)) {
                return Ok(size);
            }
        }
        let record = self.record_spec(t)?;
        self.size_of(record, t.span)
    }

    /// `struct x` (no `*`) as a record type, for sizeof and offsetof.
    pub(super) fn record_spec(&mut self, t: &ast::TypeSpec) -> Checked<Type> {
        let as_pointer = ast::TypeSpec { pointers: 1, ..t.clone() };
        match self.type_spec(&as_pointer)? {
            Type::Ptr { to, user } => Ok(Type::Record { ty: to, user }),
            other => Ok(other),
        }
    }

    /// `offsetof(struct x, a.b.c)`, `offsetof(expr, a.b)`: the byte offset of the last field
    /// from the start of the struct. The expression is not evaluated; a pointer to a struct
    /// stands for the struct.
    pub(super) fn offset_of(&mut self, of: &ast::OffsetofBase, fields: &[ast::Ident]) -> Checked<u64> {
        let (record, span) = match of {
            ast::OffsetofBase::Type(t) => (self.record_spec(t)?, t.span),
            ast::OffsetofBase::Expr(e) => {
                let e = self.expr(e)?;
                match e.ty {
                    Type::Ptr { to, user } => (Type::Record { ty: to, user }, e.span),
                    ty => (ty, e.span),
                }
            }
        };
        let btf = self.btf(span, "offsetof")?;
        let Type::Record { ty, .. } = record else {
            return Err(self.error(SemaError::TypeMismatch { span, message: "offsetof needs a struct or union".into(), label: format!("this is {record}") }));
        };
        let (mut id, mut name) = (ty.id, ty.name.as_str().to_string());
        let mut bits = 0u64;
        for (i, field) in fields.iter().enumerate() {
            let Some(m) = btf.member(btf.strip(id), &field.name) else {
                let candidates = did_you_mean(&field.name, btf.member_names(btf.strip(id)));
                return Err(self.error(SemaError::UnknownMember { span: field.span, field: field.name.clone(), ty: name, candidates }));
            };
            if m.bitfield_size > 0 {
                return Err(self.error(SemaError::TypeMismatch {
                    span: field.span,
                    message: format!("`{}` is a bit field, which has no byte offset", field.name),
                    label: "a bit field".into(),
                }));
            }
            bits += u64::from(m.bit_offset);
            (id, name) = (m.ty, btf.c_name(m.ty));
            if i + 1 < fields.len() && !matches!(btf.kind(btf.strip(id)), Kind::Struct { .. } | Kind::Union { .. }) {
                let next = &fields[i + 1];
                return Err(self.error(SemaError::TypeMismatch {
                    span: field.span.to(next.span),
                    message: format!("`{}` is {name}, which has no fields", field.name),
                    label: format!("no `.{}` here", next.name),
                }));
            }
        }
        Ok(bits / 8)
    }
}
