//! C types from the kernel's BTF: casts to pointers, `->`/`.` through pointers and embedded
//! structs, `[i]`, `*p`, `sizeof`, `offsetof` and `curtask`. Each read becomes a
//! `hir::ExprKind::Load` of a fixed size at an address sema has computed, so codegen never
//! sees BTF. A struct or array expression is the address of one, which a further `.field` or
//! `[i]` reads from; a struct used as a value (stored, printed, a key) is copied whole, as a
//! `Type::Struct` whose layout userspace prints it by.

use super::{Checked, Checker};
use crate::btf::{Btf, Kind, Namespace, TypeId};
use crate::diagnostics::did_you_mean;
use crate::parser::ast;
use crate::parser::ast::BinOp;
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{self, AttachKind, Builtin};
use crate::sema::types::{CType, EnumLayout, EnumTy, Field, StructLayout, StructTy, Sym, Type, SYNTHETIC_INT};

const INT_NAMES: &[(&str, u8, bool)] = &[
    ("int8", 8, true),
    ("int16", 16, true),
    ("int32", 32, true),
    ("int64", 64, true),
    ("uint8", 8, false),
    ("uint16", 16, false),
    ("uint32", 32, false),
    ("uint64", 64, false),
    ("char", 8, true),
    ("short", 16, true),
    ("int", 32, true),
    ("long", 64, true),
    ("bool", 8, false),
];

/// rtrace's own integer types, by name (`uint32`, and the C names bpftrace accepts).
pub(super) fn builtin_int(name: &str) -> Option<Type> {
    INT_NAMES.iter().find(|(n, ..)| *n == name).map(|&(_, bits, signed)| Type::Int { bits, signed })
}

fn synthetic(name: &str, bits: u8, signed: bool) -> CType {
    CType { id: SYNTHETIC_INT | u32::from(signed) << 8 | u32::from(bits), name: Sym::new(name) }
}

fn int_expr(n: u64, span: Span) -> hir::Expr {
    hir::Expr { kind: hir::ExprKind::Int(n), ty: Type::U64, span }
}

/// `addr + offset`, typed `ty` (the address of what is there).
fn offset(addr: hir::Expr, off: u64, ty: Type, span: Span) -> hir::Expr {
    if off == 0 {
        return addr.retyped(ty);
    }
    let sum = hir::ExprKind::Binary { op: BinOp::Add, lhs: Box::new(addr.retyped(Type::U64)), rhs: Box::new(int_expr(off, span)) };
    hir::Expr { kind: sum, ty, span }
}

impl<'k> Checker<'k> {
    fn btf(&mut self, span: Span, what: &str) -> Checked<&'k Btf> {
        match self.kernel.and_then(|k| k.btf()) {
            Some(b) => Ok(b),
            None => Err(self.error(SemaError::NoBtf { span, what: what.into() })),
        }
    }

    fn c_type(btf: &Btf, id: TypeId) -> CType {
        CType { id, name: Sym::new(&btf.c_name(id)) }
    }

    /// Whether pointers made by casts in this probe point into user memory (uprobes).
    /// Uprobes and USDT probes, and syscall tracepoints, whose pointer arguments are the
    /// caller's.
    pub(super) fn user_probe(&self) -> bool {
        let user = |a: &hir::AttachPoint| match &a.kind {
            AttachKind::Uprobe { .. } | AttachKind::Usdt { .. } => true,
            AttachKind::Tracepoint { category, .. } => category == "syscalls",
            _ => false,
        };
        !self.attach.is_empty() && self.attach.iter().all(user)
    }

    /// A type named in a cast, `let` or `sizeof`: `uint32`, `struct task_struct *`.
    pub(super) fn type_spec(&mut self, t: &ast::TypeSpec) -> Checked<Type> {
        let user = self.user_probe();
        if t.name == "bool" && t.pointers == 0 {
            return Ok(Type::Bool);
        }
        if let Some(int) = builtin_int(&t.name) {
            let Type::Int { bits, signed } = int else {
                return Ok(int);
            };
            return Ok(match t.pointers {
                0 => int,
                1 => Type::Ptr { to: synthetic(&t.name, bits, signed), user },
                _ => {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: t.span,
                        message: "pointers to pointers are not supported".into(),
                        label: "cast to `uint64 *` and read twice".into(),
                    }))
                }
            });
        }
        if t.name == "void" && t.pointers == 1 {
            return Ok(Type::Ptr { to: CType { id: 0, name: Sym::new("void") }, user });
        }
        let (ns, name) = match t.name.split_once(' ') {
            Some(("struct", n)) => (Namespace::Struct, n),
            Some(("union", n)) => (Namespace::Union, n),
            Some(("enum", n)) => (Namespace::Enum, n),
            // A typedef of the script's (`typedef struct Foo Bar;` then `(Bar *)p`).
            None if self.kernel.and_then(|k| k.btf()).is_some_and(|b| b.find(Namespace::Typedef, &t.name).is_some_and(|id| b.is_local(id))) => {
                (Namespace::Typedef, t.name.as_str())
            }
            _ => {
                let names = INT_NAMES.iter().map(|(n, ..)| *n);
                let candidates = did_you_mean(&t.name, names);
                return Err(self.error(SemaError::UnknownType { span: t.span, name: t.to_string(), candidates }));
            }
        };
        let btf = self.btf(t.span, &format!("`{}`", t.name))?;
        let Some(id) = btf.find(ns, name) else {
            let candidates = did_you_mean(name, btf.names(ns)).into_iter().map(|c| format!("{} {c}", t.name.split(' ').next().unwrap_or(""))).collect();
            return Err(self.error(SemaError::UnknownType { span: t.span, name: t.name.clone(), candidates }));
        };
        let ty = Self::c_type(btf, id);
        let target = btf.strip(id);
        match (t.pointers, btf.kind(target)) {
            (0, Kind::Int { size: size @ (1 | 2 | 4 | 8), signed, .. }) => return Ok(Type::Int { bits: (size * 8) as u8, signed }),
            (0, Kind::Ptr(to)) => return Ok(Type::Ptr { to: Self::c_type(btf, to), user }),
            _ => {}
        }
        // `struct Foo **`: a pointer to BTF's `struct Foo *`, where it has one.
        let pointer = if t.pointers == 2 { btf.pointer_to(id) } else { None };
        match t.pointers {
            0 if matches!(btf.kind(target), Kind::Enum { .. }) => Ok(Type::Enum(enum_ty(btf, target))),
            0 => Err(self.error(SemaError::TypeMismatch {
                span: t.span,
                message: format!("a value cannot be cast to `{}`", t.name),
                label: format!("cast to a pointer instead: `({} *)`", t.name),
            })),
            1 => Ok(Type::Ptr { to: ty, user }),
            2 if pointer.is_some() => Ok(Type::Ptr { to: Self::c_type(btf, pointer.unwrap_or(0)), user }),
            _ => Err(self.error(SemaError::TypeMismatch {
                span: t.span,
                message: "pointers to pointers are not supported".into(),
                label: "one `*` only".into(),
            })),
        }
    }

    /// `(enum E)x`: the integer, printed as `E`'s enumerator. A constant must be one of
    /// `E`'s values (bpftrace refuses others too).
    pub(super) fn enum_cast(&mut self, inner: hir::Expr, e: EnumTy, ty_span: Span, span: Span) -> Checked<hir::Expr> {
        if let Some(v) = super::comptime::fold(&inner) {
            let layout = e.layout();
            if !layout.values.iter().any(|(value, _)| *value == v as i64) {
                let enumerators = layout.values.iter().map(|(v, n)| format!("{} = {v}", n.as_str())).collect();
                let value = if inner.ty.is_signed() { v as i64 } else { v.min(i64::MAX as u64) as i64 };
                return Err(self.error(SemaError::NotAnEnumerator { span: inner.span.to(ty_span), value, ty: layout.name.as_str().into(), enumerators }));
            }
        }
        Ok(hir::Expr { span, ..inner.retyped(Type::Enum(e)) })
    }

    /// `curtask`: the current `struct task_struct *`.
    pub(super) fn curtask(&mut self, span: Span) -> Checked<hir::Expr> {
        let btf = self.btf(span, "`curtask`")?;
        let Some(id) = btf.find(Namespace::Struct, "task_struct") else {
            return Err(self.error(SemaError::NoBtf { span, what: "`curtask` (no `struct task_struct`)".into() }));
        };
        let ty = Type::Ptr { to: Self::c_type(btf, id), user: false };
        Ok(hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Curtask), ty, span })
    }

    /// `ctx` in an iterator: a pointer to its `struct bpf_iter__TARGET`.
    pub(super) fn iter_ctx(&mut self, span: Span) -> Checked<hir::Expr> {
        let targets: Vec<String> =
            self.attach.iter().filter_map(|a| if let AttachKind::Iter { target, .. } = &a.kind { Some(target.clone()) } else { None }).collect();
        // Elsewhere, as in bpftrace: the address of the program's context (`struct pt_regs`,
        // the perf sample, the tracepoint record), to cast and read.
        if targets.is_empty() {
            self.context_in_map_loop("ctx", span)?;
            return Ok(hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Ctx), ty: Type::U64, span });
        }
        let [target] = targets.as_slice() else {
            return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: "ctx".into() }));
        };
        let btf = self.btf(span, "`ctx`")?;
        let Some(id) = btf.find(Namespace::Struct, &format!("bpf_iter__{target}")) else {
            return Err(self.error(SemaError::NoBtf { span, what: format!("`ctx` (no `struct bpf_iter__{target}`)") }));
        };
        let ty = Type::Ptr { to: Self::c_type(btf, id), user: false };
        Ok(hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Ctx), ty, span })
    }

    /// The value of C type `id` at `addr`: a load for integers, pointers and char arrays; the
    /// address itself, retyped, for structs and other arrays.
    fn value_at(&mut self, addr: hir::Expr, id: TypeId, user: bool, span: Span) -> Checked<hir::Expr> {
        if id >= SYNTHETIC_INT {
            let ty = Type::Int { bits: (id & 0xff) as u8, signed: id & 0x100 != 0 };
            return Ok(hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr), user }, ty, span });
        }
        let btf = self.btf(span, "C types")?;
        let sid = btf.strip(id);
        let load = |ty: Type| hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr.clone()), user }, ty, span };
        let what = Self::c_type(btf, id);
        Ok(match btf.kind(sid) {
            Kind::Int { size: size @ (1 | 2 | 4 | 8), signed, .. } | Kind::Enum { size: size @ (1 | 2 | 4 | 8), signed } => {
                load(Type::Int { bits: (size * 8) as u8, signed })
            }
            Kind::Ptr(to) => load(Type::Ptr { to: Self::c_type(btf, to), user }),
            Kind::Struct { .. } | Kind::Union { .. } => hir::Expr { span, ..addr.retyped(Type::Record { ty: Self::c_type(btf, sid), user }) },
            Kind::Array { elem, len } => match btf.kind(btf.strip(elem)) {
                Kind::Int { size: 1, .. } => load(Type::Str(len as usize)),
                _ => hir::Expr { span, ..addr.retyped(Type::Array { elem: Self::c_type(btf, elem), len, user }) },
            },
            Kind::Fwd => {
                return Err(self.error(SemaError::TypeMismatch {
                    span,
                    message: format!("`{}` is only declared in the kernel's BTF, its fields are unknown", what.name.as_str()),
                    label: "incomplete type".into(),
                }))
            }
            _ => {
                return Err(self.error(SemaError::TypeMismatch {
                    span,
                    message: format!("rtrace cannot read a `{}`", what.name.as_str()),
                    label: "unsupported C type".into(),
                }))
            }
        })
    }

    /// A tracepoint field declared `struct NAME *` (or a union's): a pointer typed from BTF,
    /// so that `args.rqtp->tv_nsec` and `*args.rqtp` read through it as in bpftrace. None
    /// for other fields, or when BTF lacks the type (the field stays an integer).
    pub(super) fn tracepoint_pointer(&mut self, field: &str) -> Option<Type> {
        let decl = self.attach.iter().find_map(|a| match &a.kind {
            AttachKind::Tracepoint { format, .. } => format.field(field).map(|f| f.decl.replace('*', " * ")),
            _ => None,
        })?;
        let words: Vec<&str> = decl.split_whitespace().filter(|w| !matches!(*w, "const" | "volatile" | "__user")).collect();
        let [kw @ ("struct" | "union"), name, "*", _field] = words.as_slice() else { return None };
        let btf = self.kernel.and_then(|k| k.btf())?;
        let id = btf.find(if *kw == "struct" { Namespace::Struct } else { Namespace::Union }, name)?;
        Some(Type::Ptr { to: Self::c_type(btf, id), user: self.user_probe() })
    }

    /// `percpu_kaddr("name" [, cpu])`: the address of a per-CPU kernel variable, by its VAR in
    /// the kernel's BTF (the loader has the kernel resolve it).
    pub(super) fn percpu_kaddr(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (name, cpu) = match args {
            [n] => (n, None),
            [n, c] => (n, Some(c)),
            _ => return Err(self.arg_count(span, "percpu_kaddr", "a variable name, then optionally a CPU", args.len())),
        };
        self.require(crate::features::Feature::BtfPercpuVars, span, "`percpu_kaddr`")?;
        let ast::ExprKind::Str(var) = &name.kind else {
            return Err(self.error(SemaError::TypeMismatch {
                span: name.span,
                message: "`percpu_kaddr` takes the variable's name as a string literal".into(),
                label: "not a string literal".into(),
            }));
        };
        let btf = self.btf(span, "`percpu_kaddr`")?;
        let Some(btf_id) = btf.find(Namespace::Var, var) else {
            let candidates = did_you_mean(var, btf.names(Namespace::Var));
            return Err(self.error(SemaError::UnknownPercpuVariable { span: name.span, name: var.clone(), candidates }));
        };
        let cpu = match cpu {
            Some(c) => {
                let c = self.expr(c)?;
                self.expect_int(&c, "a CPU number is an integer")?;
                Some(Box::new(c))
            }
            None => None,
        };
        Ok(hir::Expr { kind: hir::ExprKind::PercpuAddr { btf_id, cpu }, ty: Type::U64, span })
    }

    /// A struct in memory used as a value: a copy of its bytes, typed with its layout.
    pub(super) fn struct_value(&mut self, addr: hir::Expr, ty: CType, user: bool) -> Checked<hir::Expr> {
        let span = addr.span;
        let btf = self.btf(span, "struct values")?;
        let value = Type::Struct(struct_ty(btf, btf.strip(ty.id)));
        Ok(hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr.retyped(Type::U64)), user }, ty: value, span })
    }

    /// An array in memory used as a value: a copy of its elements, typed as an array-shaped
    /// struct layout (printed `[1,2,3]`, indexed by constants).
    pub(super) fn array_value(&mut self, addr: hir::Expr, elem: CType, len: u32, user: bool) -> Checked<hir::Expr> {
        let span = addr.span;
        let btf = self.btf(span, "array values")?;
        let st = array_ty(btf, elem.id, len);
        if st.layout().size == 0 {
            return Err(self.error(SemaError::NotAValue { span, what: format!("an array of no elements (`{}`)", addr.ty) }));
        }
        Ok(hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr.retyped(Type::U64)), user }, ty: Type::Struct(st), span })
    }

    /// `a == b`, `a != b` of two arrays of one type: their bytes compared.
    pub(super) fn array_compare(&mut self, op: BinOp, l: hir::Expr, r: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let (l, r) = (self.value(l), self.value(r));
        let (l, r) = (l?, r?);
        if l.ty != r.ty {
            return Err(self.error(SemaError::TypeMismatch {
                span,
                message: format!("`{}` compares arrays of one type, not {} and {}", op.symbol(), l.ty, r.ty),
                label: format!("{} {} {}", l.ty, op.symbol(), r.ty),
            }));
        }
        self.require(crate::features::Feature::Loop, span, "comparing arrays")?;
        let n = int_expr(l.ty.size() as u64, span);
        let cmp = hir::Expr { kind: hir::ExprKind::MemCmp { a: Box::new(l), b: Box::new(r), n: Box::new(n) }, ty: Type::I64, span };
        Ok(hir::Expr { kind: hir::ExprKind::Binary { op, lhs: Box::new(cmp), rhs: Box::new(hir::Expr { ty: Type::I64, ..int_expr(0, span) }) }, ty: Type::Bool, span })
    }

    /// `value[i]` of an array value: element `i`, a constant within its length.
    fn array_element(&mut self, base: hir::Expr, st: StructTy, index: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let len = st.layout().fields.len();
        let Some(i) = super::comptime::fold(&index).filter(|i| *i < len as u64) else {
            return Err(self.error(SemaError::TypeMismatch {
                span: index.span,
                message: format!("an array value of {len} elements is indexed by a constant from 0 to {}", len.saturating_sub(1)),
                label: "not a constant in range".into(),
            }));
        };
        let ty = st.layout().fields[i as usize].ty;
        Ok(hir::Expr { kind: hir::ExprKind::StructField { base: Box::new(base), field: i as usize }, ty, span })
    }

    /// `value.field` on a struct value (a variable or map value holding a copy).
    fn struct_field(&mut self, base: hir::Expr, st: StructTy, field: &ast::Ident) -> Checked<hir::Expr> {
        let span = base.span.to(field.span);
        let Some((index, f)) = st.field(&field.name) else {
            let candidates = did_you_mean(&field.name, st.layout().fields.iter().map(|f| f.name.as_str()));
            return Err(self.error(SemaError::UnknownMember { span: field.span, field: field.name.clone(), ty: st.layout().name.as_str().into(), candidates }));
        };
        if f.count > 0 {
            return Err(self.error(SemaError::TypeMismatch {
                span,
                message: format!("`{}` is an array: a copied struct's arrays can be printed, not indexed", field.name),
                label: "index it through a pointer to the struct instead".into(),
            }));
        }
        Ok(hir::Expr { kind: hir::ExprKind::StructField { base: Box::new(base), field: index }, ty: f.ty, span })
    }

    /// `base->field` or `base.field` on a pointer to a struct, or on a struct.
    pub(super) fn member_access(&mut self, base: hir::Expr, field: &ast::Ident) -> Checked<hir::Expr> {
        let span = base.span.to(field.span);
        if let Type::Struct(st) = base.ty {
            return self.struct_field(base, st, field);
        }
        let (record, user) = match base.ty {
            Type::Ptr { to, user } => (to, user),
            Type::Record { ty, user } => (ty, user),
            other => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: base.span,
                    message: format!("`{}` needs a struct or a pointer to one, not {other}", field.name),
                    label: format!("this is {other}"),
                }))
            }
        };
        let btf = self.btf(span, "struct fields")?;
        let mut rid = btf.strip(record.id);
        // A forward declaration: the full struct is elsewhere in BTF, under the same name.
        if btf.kind(rid) == Kind::Fwd {
            let full = btf.find(Namespace::Struct, btf.name(rid)).or_else(|| btf.find(Namespace::Union, btf.name(rid)));
            match full {
                Some(id) => rid = id,
                None => {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: base.span,
                        message: format!("`{}` is only declared in the kernel's BTF, its fields are unknown", record.name.as_str()),
                        label: "incomplete type".into(),
                    }))
                }
            }
        }
        if !matches!(btf.kind(rid), Kind::Struct { .. } | Kind::Union { .. }) || record.id >= SYNTHETIC_INT {
            return Err(self.error(SemaError::TypeMismatch {
                span: base.span,
                message: format!("`{}` has no fields", record.name.as_str()),
                label: format!("this is {}", base.ty),
            }));
        }
        let Some(m) = btf.member(rid, &field.name) else {
            let candidates = did_you_mean(&field.name, btf.member_names(rid));
            return Err(self.error(SemaError::UnknownMember { span: field.span, field: field.name.clone(), ty: record.name.as_str().into(), candidates }));
        };
        let (bit_offset, bitfield_size, mty) = (m.bit_offset, m.bitfield_size, m.ty);
        if bitfield_size == 0 {
            let addr = offset(base, u64::from(bit_offset / 8), Type::U64, span);
            return self.value_at(addr, mty, user, span);
        }
        // A bitfield: load the 8 bytes holding it, then shift and mask.
        let addr = offset(base, u64::from(bit_offset / 8), Type::U64, span);
        let word = hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr), user }, ty: Type::U64, span };
        let shifted = hir::Expr {
            kind: hir::ExprKind::Binary { op: BinOp::Shr, lhs: Box::new(word), rhs: Box::new(int_expr(u64::from(bit_offset % 8), span)) },
            ty: Type::U64,
            span,
        };
        let mask = if bitfield_size >= 64 { u64::MAX } else { (1u64 << bitfield_size) - 1 };
        Ok(hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::BitAnd, lhs: Box::new(shifted), rhs: Box::new(int_expr(mask, span)) }, ty: Type::U64, span })
    }

    /// `base[index]` on an array or a pointer.
    pub(super) fn index(&mut self, base: hir::Expr, index: hir::Expr, span: Span) -> Checked<hir::Expr> {
        if let Type::Struct(st) = base.ty {
            if st.layout().array {
                return self.array_element(base, st, index, span);
            }
        }
        if let Type::Inet(bytes) = base.ty {
            return self.address_byte(base, bytes, index, span);
        }
        if let (Type::Str(len), false) = (base.ty, matches!(base.kind, hir::ExprKind::Load { .. })) {
            return self.string_byte(base, len, index, span);
        }
        // A char array reads as a string, but indexing it reads one char from memory.
        let base = match (base.ty, base.kind) {
            (Type::Str(len), hir::ExprKind::Load { addr, user }) => {
                let ty = Type::Array { elem: synthetic("int8", 8, true), len: len as u32, user };
                addr.retyped(ty)
            }
            (ty, kind) => hir::Expr { ty, kind, ..base },
        };
        let (elem, len, user) = match base.ty {
            Type::Array { elem, len, user } => (elem, Some(len), user),
            Type::Ptr { to, user } => (to, None, user),
            other => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: base.span,
                    message: format!("only arrays and pointers can be indexed, not {other}"),
                    label: format!("this is {other}"),
                }))
            }
        };
        self.expect_int(&index, "an index must be an integer")?;
        // A flexible array (`int y[0]`, `int y[]`) has as many elements as were allocated.
        if let (Some(len @ 1..), hir::ExprKind::Int(i)) = (len, &index.kind) {
            if *i >= u64::from(len) {
                return Err(self.error(SemaError::TypeMismatch {
                    span: index.span,
                    message: format!("index {i} is out of bounds"),
                    label: format!("the array has {len} elements"),
                }));
            }
        }
        let size = self.size_of_ctype(elem, span)?;
        let scaled = hir::Expr {
            kind: hir::ExprKind::Binary { op: BinOp::Mul, lhs: Box::new(index.retyped(Type::U64)), rhs: Box::new(int_expr(size, span)) },
            ty: Type::U64,
            span,
        };
        let addr =
            hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::Add, lhs: Box::new(base.retyped(Type::U64)), rhs: Box::new(scaled) }, ty: Type::U64, span };
        self.value_at(addr, elem.id, user, span)
    }

    /// `s[i]` of a string value: its byte `i` as an int8, as in bpftrace (`$path[0] == "/"[0]`);
    /// `i` a constant up to the terminating NUL.
    fn string_byte(&mut self, base: hir::Expr, len: usize, index: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let Some(i) = super::comptime::fold(&index).filter(|i| *i < len as u64) else {
            return Err(self.error(SemaError::TypeMismatch {
                span: index.span,
                message: format!("a string of {len} bytes is indexed by a constant from 0 to {}", len.saturating_sub(1)),
                label: "not a constant in range".into(),
            }));
        };
        Ok(hir::Expr { kind: hir::ExprKind::ByteAt { buf: Box::new(base), offset: i as usize }, ty: Type::Int { bits: 8, signed: true }, span })
    }

    /// `addr[i]` of an address value (`pton`, `ntop`): byte `i` of its `bytes` (4 for an IPv4
    /// `pton`, else 16), `i` a constant.
    fn address_byte(&mut self, base: hir::Expr, bytes: u8, index: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let i = match index.kind {
            hir::ExprKind::Int(i) if i < u64::from(bytes) => i,
            _ => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: index.span,
                    message: format!("an address of {bytes} bytes is indexed by a constant from 0 to {}", bytes - 1),
                    label: "not a constant in range".into(),
                }))
            }
        };
        // The value is the family (8 bytes), then the address.
        Ok(hir::Expr { kind: hir::ExprKind::ByteAt { buf: Box::new(base), offset: 8 + i as usize }, ty: Type::Int { bits: 8, signed: false }, span })
    }

    /// `*ptr`
    pub(super) fn deref(&mut self, ptr: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let Type::Ptr { to, user } = ptr.ty else {
            return Err(self.error(SemaError::TypeMismatch {
                span: ptr.span,
                message: format!("only pointers can be dereferenced, not {}", ptr.ty),
                label: "cast it first, e.g. `*(uint64 *)addr`".into(),
            }));
        };
        if to.id == 0 {
            return Err(self.error(SemaError::TypeMismatch {
                span,
                message: "a `void *` cannot be dereferenced".into(),
                label: "cast it to a typed pointer first".into(),
            }));
        }
        self.value_at(ptr.retyped(Type::U64), to.id, user, span)
    }

    /// `container_of(ptr, typeof(struct x), member)`: the `struct x *` whose `member` is at
    /// `ptr` (in the same address space), as bpftrace's macro computes it.
    pub(super) fn container_of(&mut self, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let (Some(fields), [ptr, ast::Expr { kind: ast::ExprKind::TypeOf(ty), .. }, _]) = (args.get(2).and_then(field_path), args) else {
            return Err(self.arg_count(span, "container_of", "a pointer, `typeof(struct x)` and the member's name", args.len()));
        };
        let ptr = self.expr(ptr)?;
        self.expect_int(&ptr, "`container_of` takes a pointer to the member")?;
        let off = self.offset_of(&ast::OffsetofBase::Type(ty.clone()), &fields)?;
        let Type::Ptr { to, .. } = self.type_spec(&ast::TypeSpec { pointers: ty.pointers + 1, ..ty.clone() })? else {
            return Err(super::Reported);
        };
        let user = matches!(ptr.ty, Type::Ptr { user: true, .. });
        let sub = hir::ExprKind::Binary { op: BinOp::Sub, lhs: Box::new(ptr.retyped(Type::U64)), rhs: Box::new(int_expr(off, span)) };
        Ok(hir::Expr { kind: sub, ty: Type::Ptr { to, user }, span })
    }

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

    fn size_of_ctype(&mut self, t: CType, span: Span) -> Checked<u64> {
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
        if t.pointers > 0 {
            return Ok(8);
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
    fn record_spec(&mut self, t: &ast::TypeSpec) -> Checked<Type> {
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

    /// The BTF prototype behind a probe whose context is an array of u64 arguments: the
    /// function's own for fentry/fexit; for a raw tracepoint, `__bpf_trace_NAME`'s without
    /// its first (`void *__data`) parameter. None: no such prototype.
    fn prototype(&self, ap: &hir::AttachPoint) -> Option<(Vec<(String, TypeId)>, TypeId)> {
        let btf = self.kernel.and_then(|k| k.btf())?;
        let (func, skip) = match &ap.kind {
            AttachKind::Fentry { btf_id, .. } => (*btf_id, 0),
            AttachKind::RawTracepoint { name } => (btf.find(Namespace::Func, &format!("__bpf_trace_{}", name.rsplit(':').next().unwrap_or(name)))?, 1),
            _ => return None,
        };
        let Kind::Func { proto } = btf.kind(func) else { return None };
        let Kind::FuncProto { ret } = btf.kind(proto) else { return None };
        let params = btf.params(proto).into_iter().skip(skip).map(|(n, t)| (n.to_string(), t)).collect();
        Some((params, ret))
    }

    /// The rtrace type of an argument or return value of C type `id`, as held in a u64.
    fn register_type(&mut self, id: TypeId, span: Span) -> Checked<Type> {
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
            Ok((index, checker.register_type(params[index].1, field.span)?))
        })
    }

    /// `retval` in fexit: after the arguments in the context, typed by the prototype.
    pub(super) fn typed_retval(&mut self, span: Span) -> Checked<hir::Expr> {
        self.prototype_slot("retval", span, span, |checker, _, params, ret| {
            Ok((params.len(), if ret == 0 { Type::U64 } else { checker.register_type(ret, span)? }))
        })
    }

    /// A value at a context slot that every attach point's BTF prototype places (`locate`
    /// says where, and its type), checked to agree between the attach points; read as the
    /// raw `argN` and retyped.
    fn prototype_slot(
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
        let raw = hir::Expr { kind: hir::ExprKind::Builtin(Builtin::Arg(index as u8)), ty: Type::U64, span };
        Ok(raw.retyped(ty))
    }
}

/// The enumerators of enum `id`, for printing its values by name.
pub(super) fn enum_ty(btf: &Btf, id: TypeId) -> EnumTy {
    let signed = matches!(btf.kind(id), Kind::Enum { signed: true, .. });
    let values = btf.enumerators(id).into_iter().map(|(n, v)| (v, Sym::new(n))).collect();
    EnumTy::new(EnumLayout { name: Sym::new(&btf.c_name(id)), signed, values })
}

/// The value layout of struct or union `id` (stripped of typedefs and qualifiers).
fn struct_ty(btf: &Btf, id: TypeId) -> StructTy {
    let mut fields = Vec::new();
    collect_fields(btf, id, 0, &mut fields);
    let size = btf.size_of(id).unwrap_or(0) as usize;
    StructTy::new(StructLayout { name: Sym::new(&btf.c_name(id)), size, fields, array: false })
}

/// The value layout of an array of `len` elements of `elem` (not chars, which are strings):
/// fields `0`, `1`..., each an element value; an array of arrays nests.
fn array_ty(btf: &Btf, elem: TypeId, len: u32) -> StructTy {
    let (ty, size) = if elem >= SYNTHETIC_INT {
        let bits = (elem & 0xff) as u8;
        (Type::Int { bits, signed: elem & 0x100 != 0 }, u64::from(bits / 8))
    } else {
        let elem = btf.strip(elem);
        let size = btf.size_of(elem).unwrap_or(0);
        match btf.kind(elem) {
            Kind::Array { elem: inner, len: n } if !matches!(btf.kind(btf.strip(inner)), Kind::Int { size: 1, .. }) => (Type::Struct(array_ty(btf, inner, n)), size),
            _ => (field_type(btf, elem).0, size),
        }
    };
    let fields = (0..len).map(|i| Field { name: Sym::new(&i.to_string()), bit_offset: (u64::from(i) * size * 8) as u32, bitfield_size: 0, ty, count: 0 }).collect();
    // C's spelling: the outer length first (`int[2][3]` is two arrays of three).
    let elem_name = if elem >= SYNTHETIC_INT { ty.to_string() } else { btf.c_name(elem) };
    let name = match elem_name.find('[') {
        Some(i) => format!("{}[{len}]{}", &elem_name[..i], &elem_name[i..]),
        None => format!("{elem_name}[{len}]"),
    };
    StructTy::new(StructLayout { name: Sym::new(&name), size: (size * u64::from(len)) as usize, fields, array: true })
}

/// The fields of `id` at `base` bits, the members of anonymous structs and unions inlined.
fn collect_fields(btf: &Btf, id: TypeId, base: u32, out: &mut Vec<Field>) {
    for m in btf.members(id) {
        let bit_offset = base + m.bit_offset;
        let mty = btf.strip(m.ty);
        if m.name.is_empty() {
            if matches!(btf.kind(mty), Kind::Struct { .. } | Kind::Union { .. }) {
                collect_fields(btf, mty, bit_offset, out);
            }
            continue;
        }
        let (ty, count) = field_type(btf, mty);
        out.push(Field { name: Sym::new(m.name), bit_offset, bitfield_size: m.bitfield_size as u8, ty, count });
    }
}

/// A field's value type and array length (0: not an array). Char arrays are strings, other
/// arrays array values; floats print as their bits.
fn field_type(btf: &Btf, id: TypeId) -> (Type, u32) {
    match btf.kind(id) {
        Kind::Int { size: size @ (1 | 2 | 4 | 8), signed, .. } | Kind::Enum { size: size @ (1 | 2 | 4 | 8), signed } => {
            (Type::Int { bits: (size * 8) as u8, signed }, 0)
        }
        Kind::Float { size: size @ (4 | 8) } => (Type::Int { bits: (size * 8) as u8, signed: false }, 0),
        Kind::Ptr(to) => (Type::Ptr { to: CType { id: to, name: Sym::new(&btf.c_name(to)) }, user: false }, 0),
        Kind::Struct { .. } | Kind::Union { .. } => (Type::Struct(struct_ty(btf, id)), 0),
        Kind::Array { elem, len } => {
            let elem = btf.strip(elem);
            match btf.kind(elem) {
                Kind::Int { size: 1, .. } => (Type::Str(len as usize), 0),
                // An array value of its own, so `$s.arr[1]` reads it and `[[1,2],[3,4]]`
                // prints nested, as bpftrace does.
                _ => (Type::Struct(array_ty(btf, elem, len)), 0),
            }
        }
        // 128-bit integers and anything else: its bytes as 64-bit words.
        _ => (Type::U64, (btf.size_of(id).unwrap_or(8) / 8) as u32),
    }
}

/// `a.b.c` written as an expression (a member path), outermost first.
fn field_path(e: &ast::Expr) -> Option<Vec<ast::Ident>> {
    match &e.kind {
        ast::ExprKind::Ident(name) => Some(vec![ast::Ident { name: name.clone(), span: e.span }]),
        ast::ExprKind::Field { base, field, arrow: false } => {
            let mut path = field_path(base)?;
            path.push(field.clone());
            Some(path)
        }
        _ => None,
    }
}
