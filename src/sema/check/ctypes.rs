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
use crate::artifact::types::{CType, EnumLayout, EnumTy, Field, StructLayout, StructTy, Sym, Type, SYNTHETIC_INT};

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

/// Added to a synthetic integer's id once per `*`: `int32 *` as a pointee (`int32 **`).
pub(super) const SYNTHETIC_DEPTH: u32 = 1 << 16;

fn synthetic(name: &str, bits: u8, signed: bool) -> CType {
    CType { id: SYNTHETIC_INT | u32::from(signed) << 8 | u32::from(bits), name: Sym::new(name) }
}

pub(super) fn int_expr(n: u64, span: Span) -> hir::Expr {
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

/// `addr + offset`, the offset an expression (a kernel fact), typed `ty`.
fn add_offset(addr: hir::Expr, off: hir::Expr, ty: Type, span: Span) -> hir::Expr {
    if let hir::ExprKind::Int(n) = off.kind {
        return offset(addr, n, ty, span);
    }
    hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::Add, lhs: Box::new(addr.retyped(Type::U64)), rhs: Box::new(off) }, ty, span }
}

impl<'k> Checker<'k> {
    /// The byte offset of member `name` of record `rid`: a kernel fact for a named kernel
    /// struct or union (relocated to the running kernel's layout when the program loads),
    /// the number itself for the script's own types and anonymous ones.
    #[expect(clippy::too_many_arguments, reason = "the member as BTF describes it")]
    fn member_offset(&mut self, btf: &Btf, rid: u32, name: &str, bit_offset: u32, bitfield_size: u32, mty: u32, span: Span) -> hir::Expr {
        let byte = u64::from(bit_offset / 8);
        let record = btf.name(rid);
        if record.is_empty() || btf.is_local(rid) {
            return int_expr(byte, span);
        }
        let union = matches!(btf.kind(rid), Kind::Union { .. });
        let size = if bitfield_size > 0 { 0 } else { btf.size_of(mty).unwrap_or(0) };
        let what = crate::artifact::FactKind::MemberOffset { record: record.to_string(), union, member: name.to_string(), size, bit: (bit_offset % 8) as u8 };
        self.fact(what, byte, span)
    }

    /// The value of a kernel fact (`artifact::facts`), `compiled` on this kernel: each fact
    /// once, however often the script uses it.
    pub(super) fn fact(&mut self, what: crate::artifact::FactKind, compiled: u64, span: Span) -> hir::Expr {
        let index = super::add_fact(&mut self.facts, what, compiled, false);
        hir::Expr { kind: hir::ExprKind::Fact(index as u32), ty: Type::U64, span }
    }

    pub(super) fn btf(&mut self, span: Span, what: &str) -> Checked<&'k Btf> {
        match self.kernel.and_then(|k| k.btf()) {
            Some(b) => Ok(b),
            None => Err(self.error(SemaError::NoBtf { span, what: what.into() })),
        }
    }

    pub(super) fn c_type(btf: &Btf, id: TypeId) -> CType {
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

    /// A type named in a cast, `let` or `sizeof`: `uint32`, `struct task_struct *`, a
    /// typedef of the kernel's (`size_t`).
    pub(super) fn named_type(&mut self, t: &ast::TypeSpec) -> Checked<Type> {
        let user = self.user_probe();
        if t.name == "bool" && t.pointers == 0 {
            return Ok(Type::Bool);
        }
        if let Some(int) = builtin_int(&t.name) {
            let Type::Int { bits, signed } = int else {
                return Ok(int);
            };
            // `char **`: a pointer to BTF's own `char *`, where it has one (`args.argv[1]`).
            let pointer = match t.pointers {
                2 => self.kernel.and_then(|k| k.btf()).and_then(|b| b.find(Namespace::Plain, &t.name).and_then(|id| b.pointer_to(id)).map(|p| Self::c_type(b, p))),
                _ => None,
            };
            return Ok(match t.pointers {
                0 => int,
                1 => Type::Ptr { to: synthetic(&t.name, bits, signed), user },
                2 if pointer.is_some() => Type::Ptr { to: pointer.unwrap_or(CType { id: 0, name: Sym::new("void") }), user },
                // `int32 **`: a pointer to rtrace's own `int32 *` (`SYNTHETIC_DEPTH`).
                n => {
                    let mut to = synthetic(&t.name, bits, signed);
                    for depth in 1..u32::from(n) {
                        to = CType { id: to.id + SYNTHETIC_DEPTH, name: Sym::new(&format!("{} {}", t.name, "*".repeat(depth as usize))) };
                    }
                    Type::Ptr { to, user }
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
            // A typedef of the script's (`typedef struct Foo Bar;` then `(Bar *)p`) or the
            // kernel's (`size_t`, `uint64_t`).
            None if self.kernel.and_then(|k| k.btf()).is_some_and(|b| b.find(Namespace::Typedef, &t.name).is_some()) => {
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
    pub(super) fn value_at(&mut self, addr: hir::Expr, id: TypeId, user: bool, span: Span) -> Checked<hir::Expr> {
        // What `&$var` points at: the variable's own type, read back whole.
        if let Some(ty) = super::casts::pointee_value(id) {
            return Ok(hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr), user }, ty, span });
        }
        if id >= SYNTHETIC_INT && id & 0xff_0000 != 0 {
            // A pointer to one of rtrace's integers, one `*` less.
            let name = what_pointer_name(id);
            let ty = Type::Ptr { to: CType { id: id - SYNTHETIC_DEPTH, name: Sym::new(&name) }, user };
            return Ok(hir::Expr { kind: hir::ExprKind::Load { addr: Box::new(addr), user }, ty, span });
        }
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
                // A `char` array of the script's own C definitions is read with one byte
                // more, as bpftrace does (its C parser's `char[N]` is a string of N + 1), so
                // a full array (`char s[5]` holding "hello") prints whole when a NUL follows
                // it; the kernel's char arrays print `str_trunc_trailer` when full, and
                // `uint8_t` arrays are bytes.
                Kind::Int { size: 1, .. } if btf.is_local(sid) && btf.c_name(elem) == "char" => load(Type::Str(len as usize + 1)),
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
    /// so that `args.rqtp->tv_nsec` and `*args.rqtp` read through it as in bpftrace; one
    /// declared `enum NAME`: the kernel's enum, whose values print by name. None for other
    /// fields, or when BTF lacks the type (the field stays an integer).
    pub(super) fn tracepoint_pointer(&mut self, field: &str) -> Option<Type> {
        let decl = self.attach.iter().find_map(|a| match &a.kind {
            AttachKind::Tracepoint { format, .. } => format.field(field).map(|f| f.decl.replace('*', " * ")),
            _ => None,
        })?;
        let words: Vec<&str> = decl.split_whitespace().filter(|w| !matches!(*w, "const" | "volatile" | "__user")).collect();
        // A pointer to pointers (`const char *const * argv`): typed as a cast to it would be,
        // so `args.argv[1]` is a `char *` that `str()` reads. A type rtrace cannot name stays
        // an integer, quietly.
        if let [base @ .., "*", "*", _field] = words.as_slice() {
            let spec = ast::TypeSpec { name: base.join(" "), pointers: 2, ..Default::default() };
            let errors = self.errors.len();
            return match self.type_spec(&spec) {
                Ok(ty) => Some(ty),
                Err(_) => {
                    self.errors.truncate(errors);
                    None
                }
            };
        }
        // `enum skb_drop_reason reason`: the kernel's enum, so `%s` and `print` name the value.
        if let ["enum", name, _field] = words.as_slice() {
            let btf = self.kernel.and_then(|k| k.btf())?;
            return btf.find(Namespace::Enum, name).map(|id| Type::Enum(enum_ty(btf, id)));
        }
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
        // The kernel finds the variable's address in kallsyms, which lists variables only
        // with CONFIG_KALLSYMS_ALL: without them the verifier would refuse the program.
        let to = match btf.kind(btf_id) {
            crate::btf::Kind::Var(ty) => Some(Self::c_type(btf, ty)),
            _ => None,
        };
        self.require(crate::features::Feature::KallsymsAll, span, "`percpu_kaddr`")?;
        let cpu = match cpu {
            Some(c) => {
                let c = self.expr(c)?;
                self.expect_int(&c, "a CPU number is an integer")?;
                Some(Box::new(c))
            }
            None => None,
        };
        // The BTF id is the loader's handle on the variable: checked again when a compiled
        // script runs on another kernel (where it is another id, the script is refused).
        super::add_fact(&mut self.facts, crate::artifact::FactKind::KernelVariable { name: var.clone() }, u64::from(btf_id), true);
        // A pointer to the variable's type, as in bpftrace (`*percpu_kaddr("process_counts")`).
        let ty = to.map_or(Type::U64, |to| Type::Ptr { to, user: false });
        Ok(hir::Expr { kind: hir::ExprKind::PercpuAddr { btf_id, cpu }, ty, span })
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
        let byte = self.member_offset(btf, rid, &field.name, bit_offset, bitfield_size, mty, span);
        if bitfield_size == 0 {
            let addr = add_offset(base, byte, Type::U64, span);
            return self.value_at(addr, mty, user, span);
        }
        // A bitfield: load the 8 bytes holding it, then shift and mask.
        let addr = add_offset(base, byte, Type::U64, span);
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
        // `$t[i]` of a tuple: element `i`, `i` a constant (as `$t.i`, in bpftrace's
        // array-style spelling).
        if let Type::Tuple(t) = base.ty {
            let n = t.items().len();
            let Some(i) = super::comptime::fold(&index).map(|i| i as usize).filter(|i| *i < n) else {
                return Err(self.error(SemaError::TypeMismatch {
                    span: index.span,
                    message: format!("a tuple of {n} elements is indexed by a constant from 0 to {}", n.saturating_sub(1)),
                    label: "not a constant in range".into(),
                }));
            };
            return Ok(hir::Expr { kind: hir::ExprKind::TupleField { tuple: Box::new(base), index: i }, ty: t.items()[i], span });
        }
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
        // An index known only while tracing is told when it is past the end.
        let index = match (len, &index.kind) {
            (Some(len @ 1..), kind) if !matches!(kind, hir::ExprKind::Int(_)) => {
                let warn = self.site_warning(span, hir::SiteWarning::ArrayOutOfBounds);
                hir::Expr { ty: index.ty, span: index.span, kind: hir::ExprKind::BoundsChecked { index: Box::new(index), len: u64::from(len), warn } }
            }
            _ => index,
        };
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
    /// a constant `i` up to the terminating NUL, or an index known at run time, past the end
    /// of which the byte reads as 0.
    fn string_byte(&mut self, base: hir::Expr, len: usize, index: hir::Expr, span: Span) -> Checked<hir::Expr> {
        let folded = super::comptime::fold(&index);
        if folded.is_none() && index.ty.is_int() {
            let kind = hir::ExprKind::ByteIndexed { buf: Box::new(base), index: Box::new(index), len };
            return Ok(hir::Expr { kind, ty: Type::Int { bits: 8, signed: true }, span });
        }
        let Some(i) = folded.filter(|i| *i < len as u64) else {
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

    /// `*ptr`; `*n` of an integer reads an integer of n's own width at address n (in the
    /// probe's address space), as bpftrace does (`*kaddr("avenrun")`, loads.bt).
    pub(super) fn deref(&mut self, ptr: hir::Expr, span: Span) -> Checked<hir::Expr> {
        // Not of a literal: `2 ** 3` (a power, in other languages) would read address 3.
        if let (Type::Int { bits: bits @ (8 | 16 | 32 | 64), signed }, false) = (ptr.ty, matches!(ptr.kind, hir::ExprKind::Int(_))) {
            let user = self.user_probe();
            return self.value_at(ptr.retyped(Type::U64), synthetic("", bits, signed).id, user, span);
        }
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

}

/// The spelling of what a synthetic pointer pointee (`SYNTHETIC_DEPTH` > 0) points at.
fn what_pointer_name(id: u32) -> String {
    let (bits, signed, depth) = (id & 0xff, id & 0x100 != 0, (id >> 16) & 0xff);
    let base = format!("{}int{bits}", if signed { "" } else { "u" });
    match depth - 1 {
        0 => base,
        n => format!("{base} {}", "*".repeat(n as usize)),
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
pub(super) fn array_ty(btf: &Btf, elem: TypeId, len: u32) -> StructTy {
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
