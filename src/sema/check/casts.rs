//! Types written in the script beyond a name and `*`s, and the casts and pointers they allow:
//! `typeof(expr)` and `typeof(type)` (in `let`, `sizeof` and a macro's type arguments), kernel
//! typedefs (`size_t`, `uint64_t`), arrays (`int8[4]`, `uint8[]`, `struct W[10]`), casts
//! between an integer and an array of the same size (its bytes), and `&$var`.
//!
//! An array type is the same array value as a C array copied from memory (`Type::Struct` with
//! an array layout), so printing, maps and `[i]` need nothing new. `&$var` is the address of
//! the variable's stack slot: a pointer whose pointee is the variable's own type, kept in a
//! small table here (`SYNTHETIC_VALUE` ids), so `*p` reads it back with
//! `bpf_probe_read_kernel` as any other pointer.

use std::sync::{Mutex, OnceLock};

use super::{Checked, Checker};
use crate::artifact::types::{CType, Field, StructLayout, StructTy, Sym, Type, SYNTHETIC_INT};
use crate::btf::Namespace;
use crate::parser::ast::{self, ExprKind};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir;

/// The first id of pointees that are rtrace values (what `&$var` points at), below rtrace's
/// integer ids and above any BTF id.
pub(super) const SYNTHETIC_VALUE: u32 = 0xfe00_0000;

fn value_table() -> &'static Mutex<Vec<Type>> {
    static TABLE: OnceLock<Mutex<Vec<Type>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// The C type standing for an rtrace value type as a pointee.
fn value_pointee(ty: Type) -> CType {
    if let Type::Int { bits, signed } = ty {
        let name = ty.to_string();
        return CType { id: SYNTHETIC_INT | u32::from(signed) << 8 | u32::from(bits), name: Sym::new(&name) };
    }
    let mut table = value_table().lock().unwrap_or_else(|p| p.into_inner());
    let index = match table.iter().position(|t| *t == ty) {
        Some(i) => i,
        None => {
            table.push(ty);
            table.len() - 1
        }
    };
    CType { id: SYNTHETIC_VALUE | index as u32, name: Sym::new(&ty.to_string()) }
}

/// The rtrace value type a `SYNTHETIC_VALUE` pointee stands for.
pub(super) fn pointee_value(id: u32) -> Option<Type> {
    if !(SYNTHETIC_VALUE..SYNTHETIC_INT).contains(&id) {
        return None;
    }
    value_table().lock().unwrap_or_else(|p| p.into_inner()).get((id - SYNTHETIC_VALUE) as usize).copied()
}

/// Bytes of an integer-like value (what an array cast reinterprets).
fn int_width(ty: Type) -> Option<u64> {
    match ty {
        Type::Int { bits, .. } => Some(u64::from(bits / 8)),
        Type::Bool => Some(1),
        Type::Ptr { .. } | Type::Enum(_) => Some(8),
        _ => None,
    }
}

/// An array value of `len` elements of the scalar `elem`.
fn scalar_array(elem: Type, len: u64) -> Option<Type> {
    let size = int_width(elem)?;
    let fields = (0..len)
        .map(|i| Field { name: Sym::new(&i.to_string()), bit_offset: (i * size * 8) as u32, bitfield_size: 0, ty: elem, count: 0 })
        .collect();
    let name = Sym::new(&format!("{elem}[{len}]"));
    Some(Type::Struct(StructTy::new(StructLayout { name, size: (size * len) as usize, fields, array: true })))
}

impl<'k> Checker<'k> {
    /// A type as written: a name with `*`s (`ctypes::named_type`), the type of an expression,
    /// and an array of either.
    pub(super) fn type_spec(&mut self, t: &ast::TypeSpec) -> Checked<Type> {
        if let Some(len) = t.array {
            let Some(len) = len else {
                return Err(self.error(SemaError::TypeMismatch {
                    span: t.span,
                    message: format!("`{t}` takes its length from the value it casts"),
                    label: "give the length here".into(),
                }));
            };
            return self.array_type(t, len);
        }
        let Some(of) = &t.of else {
            return self.named_type(t);
        };
        if let Some(spec) = self.as_type(of) {
            let spec = ast::TypeSpec { pointers: spec.pointers + t.pointers, span: t.span, ..spec };
            return self.type_spec(&spec);
        }
        let ty = self.expr(of)?.ty;
        match (t.pointers, ty) {
            (0, ty) => Ok(ty),
            (1, ty) => Ok(Type::Ptr { to: value_pointee(ty), user: false }),
            _ => Err(self.error(SemaError::TypeMismatch {
                span: t.span,
                message: "pointers to pointers are not supported".into(),
                label: "one `*` only".into(),
            })),
        }
    }

    /// `T[len]`: an array value of `len` elements of `T` (an integer, bool, pointer or
    /// struct).
    fn array_type(&mut self, t: &ast::TypeSpec, len: u64) -> Checked<Type> {
        let elem_spec = ast::TypeSpec { array: None, ..t.clone() };
        if t.pointers == 0 && t.of.is_none() && (t.name.starts_with("struct ") || t.name.starts_with("union ")) {
            let (ns, name) = t.name.split_once(' ').map_or((Namespace::Struct, ""), |(k, n)| (if k == "union" { Namespace::Union } else { Namespace::Struct }, n));
            let btf = self.btf(t.span, &format!("`{}`", t.name))?;
            if let Some(id) = btf.find(ns, name) {
                return Ok(Type::Struct(super::ctypes::array_ty(btf, id, len as u32)));
            }
        }
        let elem = if t.name == "bool" && t.pointers == 0 && t.of.is_none() { Type::Bool } else { self.type_spec(&elem_spec)? };
        match scalar_array(elem, len) {
            Some(ty) if len > 0 => Ok(ty),
            _ => Err(self.error(SemaError::TypeMismatch {
                span: t.span,
                message: format!("an array of {elem} is not a value rtrace can hold"),
                label: "arrays hold integers, bools, pointers or structs".into(),
            })),
        }
    }

    /// The type an expression names, if it names one: `typeof(T)`, a type's name (`size_t`,
    /// `uint64`, when it is no variable's or builtin's), `T[n]` (a macro's `a[2]`).
    pub(super) fn as_type(&mut self, e: &ast::Expr) -> Option<ast::TypeSpec> {
        match &e.kind {
            ExprKind::TypeOf(t) => match &t.of {
                Some(inner) => match self.as_type(inner) {
                    Some(s) => Some(ast::TypeSpec { pointers: s.pointers + t.pointers, ..s }),
                    // The type of a value: `type_spec` checks the expression for it.
                    None => Some(t.clone()),
                },
                None => Some(t.clone()),
            },
            ExprKind::Ident(name) if !crate::sema::reference::builtin_names().any(|b| b == name) && self.is_type_name(name) => {
                Some(ast::TypeSpec { name: name.clone(), span: e.span, ..Default::default() })
            }
            ExprKind::Index { base, index } => {
                let ExprKind::Int(n) = index.kind else { return None };
                let spec = self.as_type(base)?;
                spec.array.is_none().then_some(ast::TypeSpec { array: Some(Some(n)), ..spec })
            }
            _ => None,
        }
    }

    /// Whether `name` is one of rtrace's integer types or a typedef the kernel's (or the
    /// script's) BTF has.
    fn is_type_name(&self, name: &str) -> bool {
        super::ctypes::builtin_int(name).is_some() || self.kernel.and_then(|k| k.btf()).is_some_and(|b| b.find(Namespace::Typedef, name).is_some())
    }

    /// `sizeof(x)` where `x` names a type rather than a value.
    pub(super) fn size_of_named(&mut self, e: &ast::Expr) -> Option<Checked<u64>> {
        let spec = self.as_type(e)?;
        Some(self.size_of_spec(&spec))
    }

    /// `(T[N])x`, `(T[])x` and `(intN)x` of an array: an integer's bytes as an array of the
    /// same size, a string's bytes as an integer array, or an array's (or address's) bytes
    /// as an integer. None when the cast is not between an array and something else.
    pub(super) fn array_cast(&mut self, ty: &ast::TypeSpec, inner: &hir::Expr, span: Span) -> Option<Checked<hir::Expr>> {
        let data = |t: Type| -> Option<(u64, usize)> {
            match t {
                Type::Str(n) => Some((n as u64, 0)),
                Type::Struct(s) if s.layout().array => Some((s.layout().size as u64, 0)),
                Type::Inet(n) => Some((u64::from(n), 8)),
                _ => None,
            }
        };
        if ty.array.is_none() {
            // An array's bytes as an integer: `(uint32)pton("1.2.3.4")`.
            let (bytes, offset) = data(inner.ty)?;
            if ty.pointers > 0 || ty.of.is_some() {
                return None;
            }
            let target = super::ctypes::builtin_int(&ty.name)?;
            let width = int_width(target)?;
            if width != bytes {
                return Some(Err(self.cast_size_mismatch(inner, bytes, target, width, span)));
            }
            let read = match &inner.kind {
                // A char array in memory: read the integer there instead.
                hir::ExprKind::Load { addr, user } => hir::ExprKind::Load { addr: addr.clone(), user: *user },
                _ => hir::ExprKind::ByteAt { buf: Box::new(inner.clone()), offset },
            };
            return Some(Ok(hir::Expr { kind: read, ty: target, span }));
        }
        let elem = ast::TypeSpec { array: None, ..ty.clone() };
        let elem_ty = if elem.name == "bool" && elem.pointers == 0 && elem.of.is_none() { Type::Bool } else { self.type_spec(&elem).ok()? };
        let elem_width = int_width(elem_ty)?;
        let have = int_width(inner.ty).or_else(|| data(inner.ty).filter(|(_, off)| *off == 0).map(|(n, _)| n));
        let Some(have) = have else {
            return Some(Err(self.error(SemaError::TypeMismatch {
                span: inner.span,
                message: format!("only integers and arrays can be cast to `{ty}`"),
                label: format!("this is {}", inner.ty),
            })));
        };
        let len = match ty.array {
            Some(Some(n)) => n,
            _ => have / elem_width,
        };
        let target = match scalar_array(elem_ty, len) {
            Some(t) => t,
            None => return Some(Err(self.error(SemaError::TypeMismatch { span, message: format!("`{ty}` is not an array rtrace can hold"), label: "here".into() }))),
        };
        if len * elem_width != have || len == 0 {
            return Some(Err(self.cast_size_mismatch(inner, have, target, len * elem_width, span)));
        }
        Some(Ok(match int_width(inner.ty) {
            Some(_) => hir::Expr { kind: hir::ExprKind::Bytes(Box::new(inner.clone())), ty: target, span },
            None => hir::Expr { span, ..inner.clone().retyped(target) },
        }))
    }

    fn cast_size_mismatch(&mut self, inner: &hir::Expr, have: u64, target: Type, want: u64, span: Span) -> super::Reported {
        self.error(SemaError::TypeMismatch {
            span,
            message: format!("a cast between an array and another type keeps the size: {} has {have} bytes, {target} {want}", inner.ty),
            label: "sizes differ".into(),
        })
    }

    /// `&$var`: the address of the variable's storage, a pointer to its type.
    pub(super) fn address_of(&mut self, target: &ast::Expr, span: Span) -> Checked<hir::Expr> {
        let ExprKind::Var(_) = target.kind else {
            return Err(self.error(SemaError::TypeMismatch {
                span: target.span,
                message: "`&` takes the address of a variable".into(),
                label: "not a variable".into(),
            }));
        };
        let var = self.expr(target)?;
        let hir::ExprKind::Var(id) = var.kind else { return Err(super::Reported) };
        let to = value_pointee(var.ty);
        Ok(hir::Expr { kind: hir::ExprKind::AddrOf(id), ty: Type::Ptr { to, user: false }, span })
    }
}
