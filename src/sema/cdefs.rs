//! A script's C definitions (`struct`, `union`, `enum`, `typedef`) as BTF types appended to
//! the kernel's: `lay_out` gives every member its offset by the C ABI of x86_64 (and BPF,
//! which shares it), bit fields included, and `Btf::extended` adds the types after the
//! kernel's, where name lookups find them first. Everything that reads C types (casts,
//! `->`, `sizeof`, `offsetof`, struct values, `curtask`) then works on them unchanged, and
//! a definition may use the kernel's types (`struct foo { struct task_struct t; }`) or
//! replace one for the script (`struct task_struct { int x; }`, as in bpftrace).
//!
//! `with_definitions` wraps the `KernelInfo` so that its `btf()` is the extended BTF; sema
//! builds it once per script, and only when the script has definitions.

use std::collections::HashMap;

use super::error::SemaError;
use super::KernelInfo;
use crate::btf::{Btf, Kind, Namespace, NewMember, NewType, TypeId};
use crate::diagnostics::did_you_mean;
use crate::parser::ast::{self, BinOp, CConst, CConstKind, CDeclarator, CDefKind, CTypeSpec, UnaryOp};
use crate::parser::Span;

/// The kernel, with the script's C definitions added to its BTF.
pub struct WithDefinitions<'k> {
    kernel: &'k dyn KernelInfo,
    btf: Btf,
}

/// The kernel as sema sees it when the script defines C types.
pub fn with_definitions<'k>(defs: &[ast::CDef], kernel: &'k dyn KernelInfo) -> Result<WithDefinitions<'k>, Vec<SemaError>> {
    let base = kernel.btf();
    let empty;
    let base = match base {
        Some(b) => b,
        None => {
            empty = Btf::empty();
            &empty
        }
    };
    let mut b = Builder::new(base);
    b.declare_tags(defs);
    for d in defs {
        b.definition(d);
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    Ok(WithDefinitions { kernel, btf: base.extended(&b.types) })
}

impl KernelInfo for WithDefinitions<'_> {
    fn tracepoint_format(&self, category: &str, event: &str) -> Option<String> {
        self.kernel.tracepoint_format(category, event)
    }
    fn tracepoints(&self) -> Vec<(String, String)> {
        self.kernel.tracepoints()
    }
    fn has(&self, feature: crate::features::Feature) -> bool {
        self.kernel.has(feature)
    }
    fn kprobes_available(&self) -> bool {
        self.kernel.kprobes_available()
    }
    fn kernel_functions(&self) -> Option<&[String]> {
        self.kernel.kernel_functions()
    }
    fn btf(&self) -> Option<&Btf> {
        Some(&self.btf)
    }
    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        self.kernel.kernel_symbol(name)
    }
    fn kernel_symbols(&self, names: &[&str]) -> Vec<Option<u64>> {
        self.kernel.kernel_symbols(names)
    }
    fn lists_data_symbols(&self) -> bool {
        self.kernel.lists_data_symbols()
    }
    fn pid_namespace(&self) -> Option<super::PidNamespace> {
        self.kernel.pid_namespace()
    }
    fn cgroup_id(&self, path: &str) -> Option<u64> {
        self.kernel.cgroup_id(path)
    }
    fn uprobe_targets(&self, binary: &str, symbol: &str) -> Result<Vec<super::UprobeTarget>, String> {
        self.kernel.uprobe_targets(binary, symbol)
    }
    fn user_symbol(&self, path: &str, name: &str) -> Result<(u64, bool), String> {
        self.kernel.user_symbol(path, name)
    }
    fn usdt_probes(&self, binary: &str) -> Result<Vec<super::UsdtProbe>, String> {
        self.kernel.usdt_probes(binary)
    }
    fn process_binaries(&self, pid: u32) -> Vec<String> {
        self.kernel.process_binaries(pid)
    }
    fn user_symbol_size(&self, path: &str, name: &str) -> Option<u64> {
        self.kernel.user_symbol_size(path, name)
    }
}

/// Integer names every definition may use without a header: C's, bpftrace's, `<stdint.h>`'s
/// and the kernel's short ones, as (name, bytes, signed).
const FIXED_INTS: &[(&str, u32, bool)] = &[
    ("int8", 1, true),
    ("int16", 2, true),
    ("int32", 4, true),
    ("int64", 8, true),
    ("uint8", 1, false),
    ("uint16", 2, false),
    ("uint32", 4, false),
    ("uint64", 8, false),
    ("int8_t", 1, true),
    ("int16_t", 2, true),
    ("int32_t", 4, true),
    ("int64_t", 8, true),
    ("uint8_t", 1, false),
    ("uint16_t", 2, false),
    ("uint32_t", 4, false),
    ("uint64_t", 8, false),
    ("__s8", 1, true),
    ("__s16", 2, true),
    ("__s32", 4, true),
    ("__s64", 8, true),
    ("__u8", 1, false),
    ("__u16", 2, false),
    ("__u32", 4, false),
    ("__u64", 8, false),
    ("s8", 1, true),
    ("s16", 2, true),
    ("s32", 4, true),
    ("s64", 8, true),
    ("u8", 1, false),
    ("u16", 2, false),
    ("u32", 4, false),
    ("u64", 8, false),
    ("size_t", 8, false),
    ("ssize_t", 8, true),
    ("uintptr_t", 8, false),
    ("intptr_t", 8, true),
    ("ptrdiff_t", 8, true),
];

/// A tag (`struct Foo`) or typedef the script defines: its id, where, and whether its
/// members have been laid out.
#[derive(Clone, Copy)]
struct Defined {
    id: TypeId,
    span: Span,
    complete: bool,
    union: bool,
}

struct Builder<'b> {
    base: &'b Btf,
    /// The id the first appended type gets.
    first: TypeId,
    types: Vec<NewType>,
    /// Size and alignment of every complete appended type.
    layout: HashMap<TypeId, (u64, u64)>,
    tags: HashMap<String, Defined>,
    enums: HashMap<String, Defined>,
    typedefs: HashMap<String, Defined>,
    enumerators: HashMap<String, (i64, Span)>,
    ints: HashMap<String, TypeId>,
    errors: Vec<SemaError>,
}

/// An error already recorded in `Builder::errors`.
struct Reported;

type Built<T> = Result<T, Reported>;

fn align_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to.max(1)) * to.max(1)
}

impl<'b> Builder<'b> {
    fn new(base: &'b Btf) -> Self {
        Builder {
            base,
            first: base.len() as TypeId,
            types: Vec::new(),
            layout: HashMap::new(),
            tags: HashMap::new(),
            enums: HashMap::new(),
            typedefs: HashMap::new(),
            enumerators: HashMap::new(),
            ints: HashMap::new(),
            errors: Vec::new(),
        }
    }

    fn error(&mut self, e: SemaError) -> Reported {
        self.errors.push(e);
        Reported
    }

    fn push(&mut self, t: NewType, layout: Option<(u64, u64)>) -> TypeId {
        let id = self.first + self.types.len() as TypeId;
        self.types.push(t);
        if let Some(l) = layout {
            self.layout.insert(id, l);
        }
        id
    }

    fn local(&self, id: TypeId) -> Option<&NewType> {
        id.checked_sub(self.first).and_then(|i| self.types.get(i as usize))
    }

    /// Every struct and union the script defines, anywhere, gets its id before any is laid
    /// out, so members can point at a struct defined later (or at their own).
    fn declare_tags(&mut self, defs: &[ast::CDef]) {
        fn walk(b: &mut Builder<'_>, t: &CTypeSpec) {
            let CTypeSpec::Record(r) = t else { return };
            if let Some(members) = &r.members {
                if let Some(name) = &r.name {
                    if !b.tags.contains_key(&name.name) {
                        let id = b.push(NewType::Fwd { name: name.name.clone(), union: r.union }, None);
                        b.tags.insert(name.name.clone(), Defined { id, span: name.span, complete: false, union: r.union });
                    }
                }
                for m in members {
                    walk(b, &m.ty);
                }
            }
        }
        for d in defs {
            match &d.kind {
                CDefKind::Type(t) | CDefKind::Typedef { ty: t, .. } => walk(self, t),
            }
        }
    }

    fn definition(&mut self, d: &ast::CDef) {
        match &d.kind {
            CDefKind::Type(t) => {
                let _ = self.type_spec(t);
            }
            CDefKind::Typedef { ty, names } => {
                let Ok(base) = self.type_spec(ty) else { return };
                for decl in names {
                    let Some(name) = &decl.name else { continue };
                    let Ok(target) = self.declarator(base, decl) else { continue };
                    if let Some(first) = self.typedefs.get(&name.name) {
                        let first = first.span;
                        self.error(SemaError::DefinedTwice { span: name.span, first, what: format!("typedef `{}`", name.name) });
                        continue;
                    }
                    let layout = self.size_align(target);
                    let id = self.push(NewType::Typedef { name: name.name.clone(), ty: target }, layout);
                    self.typedefs.insert(name.name.clone(), Defined { id, span: name.span, complete: true, union: false });
                }
            }
        }
    }

    fn int(&mut self, name: &str, size: u32, signed: bool) -> TypeId {
        if let Some(&id) = self.ints.get(name) {
            return id;
        }
        let (char, bool) = (name.contains("char"), name == "_Bool" || name == "bool");
        let id = self.push(NewType::Int { name: name.into(), size, signed, char, bool }, Some((u64::from(size), u64::from(size))));
        self.ints.insert(name.into(), id);
        id
    }

    /// The type a declaration's specifier names.
    fn type_spec(&mut self, t: &CTypeSpec) -> Built<TypeId> {
        match t {
            CTypeSpec::Named { words, span } => self.named(words, *span),
            CTypeSpec::Record(r) => {
                let kw = if r.union { "union" } else { "struct" };
                let Some(members) = &r.members else {
                    let name = r.name.as_ref().map(|n| n.name.as_str()).unwrap_or_default();
                    if let Some(d) = self.tags.get(name) {
                        return Ok(d.id);
                    }
                    let ns = if r.union { Namespace::Union } else { Namespace::Struct };
                    if let Some(id) = self.base.find(ns, name) {
                        return Ok(id);
                    }
                    // Declared only: usable behind a pointer.
                    let id = self.push(NewType::Fwd { name: name.into(), union: r.union }, None);
                    let span = r.name.as_ref().map_or(r.span, |n| n.span);
                    self.tags.insert(name.into(), Defined { id, span, complete: false, union: r.union });
                    return Ok(id);
                };
                let id = match &r.name {
                    Some(name) => {
                        let Some(d) = self.tags.get(&name.name).copied() else { return Err(Reported) };
                        if d.complete || d.span != name.span {
                            let what = format!("`{kw} {}`", name.name);
                            return Err(self.error(SemaError::DefinedTwice { span: name.span, first: d.span, what }));
                        }
                        if d.union != r.union {
                            let what = format!("`{}`", name.name);
                            return Err(self.error(SemaError::DefinedTwice { span: name.span, first: d.span, what }));
                        }
                        d.id
                    }
                    None => self.push(NewType::Fwd { name: String::new(), union: r.union }, None),
                };
                let (record, layout) = self.record(r, members)?;
                self.types[(id - self.first) as usize] = record;
                self.layout.insert(id, layout);
                // For casts to `struct Foo **`.
                if r.name.is_some() {
                    self.push(NewType::Ptr(id), Some((8, 8)));
                }
                if let Some(name) = &r.name {
                    if let Some(d) = self.tags.get_mut(&name.name) {
                        d.complete = true;
                    }
                }
                Ok(id)
            }
            CTypeSpec::Enum { name, body, span } => {
                let Some(body) = body else {
                    let name = name.as_ref().map(|n| n.name.as_str()).unwrap_or_default();
                    if let Some(d) = self.enums.get(name) {
                        return Ok(d.id);
                    }
                    if let Some(id) = self.base.find(Namespace::Enum, name) {
                        return Ok(id);
                    }
                    let candidates = did_you_mean(name, self.enums.keys().map(String::as_str)).into_iter().map(|c| format!("enum {c}")).collect();
                    return Err(self.error(SemaError::UnknownType { span: *span, name: format!("enum {name}"), candidates }));
                };
                if let Some(n) = name {
                    if let Some(d) = self.enums.get(&n.name) {
                        let first = d.span;
                        return Err(self.error(SemaError::DefinedTwice { span: n.span, first, what: format!("`enum {}`", n.name) }));
                    }
                }
                let mut values = Vec::new();
                let mut next = 0i64;
                for e in body {
                    let value = match &e.value {
                        Some(c) => self.constant(c)?,
                        None => next,
                    };
                    if let Some((_, first)) = self.enumerators.get(&e.name.name) {
                        let first = *first;
                        self.error(SemaError::DefinedTwice { span: e.name.span, first, what: format!("enumerator `{}`", e.name.name) });
                    }
                    self.enumerators.insert(e.name.name.clone(), (value, e.name.span));
                    values.push((e.name.name.clone(), value));
                    next = value.wrapping_add(1);
                }
                // C's choice (gcc's): `unsigned int` when every value fits, `int` with a
                // negative one, 8 bytes past 32 bits.
                let signed = values.iter().any(|(_, v)| *v < 0);
                let fits = values.iter().all(|(_, v)| if signed { i32::try_from(*v).is_ok() } else { u32::try_from(*v).is_ok() });
                let size = if fits { 4 } else { 8 };
                let enum_name = name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
                let id = self.push(NewType::Enum { name: enum_name.clone(), size, signed, values }, Some((u64::from(size), u64::from(size))));
                if let Some(n) = name {
                    self.enums.insert(enum_name, Defined { id, span: n.span, complete: true, union: false });
                }
                Ok(id)
            }
        }
    }

    /// `unsigned long`, `int32_t`, a typedef of the script's or the kernel's.
    fn named(&mut self, words: &[String], span: Span) -> Built<TypeId> {
        if let [word] = words {
            if let Some(&(_, size, signed)) = FIXED_INTS.iter().find(|(n, ..)| n == word) {
                let target = self.int(if signed { SIGNED[size.trailing_zeros() as usize] } else { UNSIGNED[size.trailing_zeros() as usize] }, size, signed);
                let key = format!("typedef {word}");
                if let Some(&id) = self.ints.get(&key) {
                    return Ok(id);
                }
                let id = self.push(NewType::Typedef { name: word.clone(), ty: target }, Some((u64::from(size), u64::from(size))));
                self.ints.insert(key, id);
                return Ok(id);
            }
            if let Some(d) = self.typedefs.get(word) {
                return Ok(d.id);
            }
        }
        if let Some(id) = self.c_int(words) {
            return id;
        }
        if let [word] = words {
            if let Some(id) = self.base.find(Namespace::Plain, word) {
                return Ok(id);
            }
        }
        let name = words.join(" ");
        let c_words = ["char", "short", "int", "long", "unsigned", "signed", "bool", "void"];
        let known = c_words.into_iter().chain(FIXED_INTS.iter().map(|(n, ..)| *n)).chain(self.typedefs.keys().map(String::as_str));
        let candidates = did_you_mean(&name, known);
        Err(self.error(SemaError::UnknownType { span, name, candidates }))
    }

    /// C's integer (and floating) types by their words; None if the words are not one.
    fn c_int(&mut self, words: &[String]) -> Option<Built<TypeId>> {
        let count = |w: &str| words.iter().filter(|x| *x == w).count();
        if words
            .iter()
            .any(|w| !matches!(w.as_str(), "unsigned" | "signed" | "char" | "short" | "int" | "long" | "void" | "bool" | "_Bool" | "float" | "double"))
        {
            return None;
        }
        let unsigned = count("unsigned") > 0;
        let longs = count("long");
        Some(Ok(match () {
            _ if count("void") > 0 => 0,
            _ if count("bool") + count("_Bool") > 0 => self.int("_Bool", 1, false),
            _ if count("float") > 0 => self.int("float", 4, false),
            _ if count("double") > 0 => self.int(if longs > 0 { "long double" } else { "double" }, if longs > 0 { 16 } else { 8 }, false),
            _ if count("char") > 0 => match (unsigned, count("signed") > 0) {
                (true, _) => self.int("unsigned char", 1, false),
                (false, true) => self.int("signed char", 1, true),
                (false, false) => self.int("char", 1, true),
            },
            _ if count("short") > 0 => self.int(if unsigned { "unsigned short" } else { "short" }, 2, !unsigned),
            _ if longs >= 2 => self.int(if unsigned { "unsigned long long" } else { "long long" }, 8, !unsigned),
            _ if longs == 1 => self.int(if unsigned { "unsigned long" } else { "long" }, 8, !unsigned),
            _ => self.int(if unsigned { "unsigned int" } else { "int" }, 4, !unsigned),
        }))
    }

    /// `base` with a declarator's pointers, function and array parts applied.
    fn declarator(&mut self, base: TypeId, d: &CDeclarator) -> Built<TypeId> {
        let mut id = base;
        if d.function {
            let proto = self.push(NewType::FuncProto, None);
            id = self.push(NewType::Ptr(proto), Some((8, 8)));
        } else {
            for _ in 0..d.pointers {
                id = self.push(NewType::Ptr(id), Some((8, 8)));
            }
        }
        let mut lens = Vec::new();
        for a in &d.arrays {
            lens.push(match a {
                Some(c) => {
                    let n = self.constant(c)?;
                    u32::try_from(n).map_err(|_| {
                        self.error(SemaError::BadConstant { span: c.span, message: format!("an array cannot have {n} elements"), label: "not a length".into() })
                    })?
                }
                None => 0,
            });
        }
        if !lens.is_empty() {
            let index = self.int("unsigned int", 4, false);
            for len in lens.into_iter().rev() {
                let Some((size, align)) = self.size_align(id) else {
                    return Err(self.incomplete(id, d.span));
                };
                id = self.push(NewType::Array { elem: id, index, len }, Some((size * u64::from(len), align)));
            }
        }
        Ok(id)
    }

    fn incomplete(&mut self, id: TypeId, span: Span) -> Reported {
        let name = self.name_of(id);
        self.error(SemaError::IncompleteType { span, name })
    }

    fn name_of(&self, id: TypeId) -> String {
        match self.local(id) {
            Some(NewType::Fwd { name, union }) | Some(NewType::Record { name, union, .. }) => {
                format!("{} {}", if *union { "union" } else { "struct" }, if name.is_empty() { "(anonymous)" } else { name })
            }
            Some(NewType::Int { name, .. } | NewType::Typedef { name, .. }) => name.clone(),
            Some(NewType::Enum { name, .. }) => format!("enum {name}"),
            Some(NewType::Ptr(to)) => match self.local(*to) {
                Some(NewType::FuncProto) => "function pointer".into(),
                _ => format!("{} *", self.name_of(*to)),
            },
            Some(NewType::Array { elem, len, .. }) => format!("{}[{len}]", self.name_of(*elem)),
            Some(NewType::FuncProto) => "function".into(),
            None if id == 0 => "void".into(),
            None => self.base.c_name(id),
        }
    }

    /// Size and alignment in bytes; None for an incomplete type (or void, or a function).
    fn size_align(&self, id: TypeId) -> Option<(u64, u64)> {
        if id >= self.first {
            return match self.local(id)? {
                NewType::Typedef { ty, .. } => self.size_align(*ty),
                _ => self.layout.get(&id).copied(),
            };
        }
        let size = self.base.size_of(id)?;
        Some((size, kernel_align(self.base, id, 0)))
    }

    fn is_integer(&self, id: TypeId) -> bool {
        match self.local(id) {
            Some(NewType::Int { name, .. }) => !matches!(name.as_str(), "float" | "double" | "long double"),
            Some(NewType::Enum { .. }) => true,
            Some(NewType::Typedef { ty, .. }) => self.is_integer(*ty),
            Some(_) => false,
            None => matches!(self.base.kind(self.base.strip(id)), Kind::Int { .. } | Kind::Enum { .. }),
        }
    }

    /// The members of a struct or union and its (size, alignment), by the x86_64 System V
    /// rules: each member at the next multiple of its alignment (1 when packed); a bit field
    /// in the next bits unless that would cross a unit of its type's size; the size rounded
    /// up to the largest alignment.
    fn record(&mut self, r: &ast::CRecord, members: &[ast::CMember]) -> Built<(NewType, (u64, u64))> {
        let mut out = Vec::new();
        let mut bit = 0u64;
        let mut end = 0u64;
        let mut max_align = 1u64;
        let mut failed = false;
        for m in members {
            let Ok(base) = self.type_spec(&m.ty) else {
                failed = true;
                continue;
            };
            // An anonymous struct or union: its members are reached as this one's.
            let anonymous = [CDeclarator { name: None, pointers: 0, arrays: Vec::new(), function: false, bits: None, aligned: None, span: m.span }];
            let declarators = if m.declarators.is_empty() { &anonymous[..] } else { &m.declarators[..] };
            for d in declarators {
                let Ok(ty) = self.declarator(base, d) else {
                    failed = true;
                    continue;
                };
                let Some((size, natural)) = self.size_align(ty) else {
                    self.incomplete(ty, d.span);
                    failed = true;
                    continue;
                };
                let mut align = natural.max(d.aligned.unwrap_or(1));
                if r.packed && d.aligned.is_none() {
                    align = 1;
                }
                let name = d.name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
                if let Some(width) = &d.bits {
                    let Ok(width) = self.constant(width) else {
                        failed = true;
                        continue;
                    };
                    if !self.is_integer(ty) || width < 0 || width as u64 > size * 8 || (width == 0 && d.name.is_some()) {
                        let message = if !self.is_integer(ty) {
                            format!("a bit field of `{}`, which is not an integer", self.name_of(ty))
                        } else {
                            format!("a bit field of {width} bits in a {}-bit `{}`", size * 8, self.name_of(ty))
                        };
                        self.error(SemaError::BadBitfield { span: d.span, message });
                        failed = true;
                        continue;
                    }
                    let width = width as u64;
                    let unit = size * 8;
                    let at = if r.union {
                        0
                    } else if width == 0 {
                        // `int : 0` ends the unit: the next field starts a new one.
                        bit = align_up(bit, natural * 8);
                        continue;
                    } else if !r.packed && bit / unit != (bit + width - 1) / unit {
                        align_up(bit, unit)
                    } else {
                        bit
                    };
                    bit = at + width;
                    end = end.max(at + width);
                    if d.name.is_some() {
                        max_align = max_align.max(align);
                    }
                    out.push(NewMember { name, ty, bit_offset: at as u32, bitfield_size: width as u32 });
                    continue;
                }
                let at = if r.union { 0 } else { align_up(bit, align * 8) };
                bit = at + size * 8;
                end = end.max(bit);
                max_align = max_align.max(align);
                out.push(NewMember { name, ty, bit_offset: at as u32, bitfield_size: 0 });
            }
        }
        if failed {
            return Err(Reported);
        }
        let align = max_align.max(r.aligned.unwrap_or(1));
        let size = align_up(end.div_ceil(8), align);
        let name = r.name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
        Ok((NewType::Record { union: r.union, name, size: size as u32, members: out }, (size, align)))
    }

    /// The value of a constant expression: integers, enumerators (the script's, then the
    /// kernel's) and C's operators, in 64-bit wrapping arithmetic.
    fn constant(&mut self, c: &CConst) -> Built<i64> {
        Ok(match &c.kind {
            CConstKind::Int(n) => *n as i64,
            CConstKind::Name(name) => match self.enumerators.get(name) {
                Some((v, _)) => *v,
                None => match self.base.enum_value(name) {
                    Some((v, _)) => v,
                    None => {
                        let candidates = did_you_mean(name, self.enumerators.keys().map(String::as_str));
                        let label = match candidates.first() {
                            Some(c) => format!("not an enumerator defined before it; did you mean `{c}`?"),
                            None => "not an enumerator defined before it".into(),
                        };
                        return Err(self.error(SemaError::BadConstant { span: c.span, message: format!("`{name}` is not a constant"), label }));
                    }
                },
            },
            CConstKind::Unary(op, e) => {
                let v = self.constant(e)?;
                match op {
                    UnaryOp::Neg => v.wrapping_neg(),
                    UnaryOp::BitNot => !v,
                    UnaryOp::Not => i64::from(v == 0),
                }
            }
            CConstKind::Binary(op, a, b) => {
                let (a, b) = (self.constant(a)?, self.constant(b)?);
                match op {
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Mul => a.wrapping_mul(b),
                    BinOp::Div | BinOp::Mod if b == 0 => {
                        return Err(self.error(SemaError::BadConstant {
                            span: c.span,
                            message: "division by zero in a constant".into(),
                            label: "divides by 0".into(),
                        }))
                    }
                    BinOp::Div => a.wrapping_div(b),
                    BinOp::Mod => a.wrapping_rem(b),
                    BinOp::Shl => a.wrapping_shl(b as u32),
                    BinOp::Shr => a.wrapping_shr(b as u32),
                    BinOp::BitAnd => a & b,
                    BinOp::BitOr => a | b,
                    BinOp::BitXor => a ^ b,
                    _ => 0,
                }
            }
        })
    }
}

const SIGNED: [&str; 4] = ["signed char", "short", "int", "long"];
const UNSIGNED: [&str; 4] = ["unsigned char", "unsigned short", "unsigned int", "unsigned long"];

/// The alignment of a kernel type: its largest member's for records (1 if BTF shows it
/// packed: a member off its alignment, or a size that is not a multiple of it).
fn kernel_align(btf: &Btf, id: TypeId, depth: u32) -> u64 {
    let id = btf.strip(id);
    if depth > 16 {
        return 8;
    }
    match btf.kind(id) {
        Kind::Int { size, .. } | Kind::Enum { size, .. } | Kind::Float { size } => u64::from(size).clamp(1, 16),
        Kind::Ptr(_) => 8,
        Kind::Array { elem, .. } => kernel_align(btf, elem, depth + 1),
        Kind::Struct { size } | Kind::Union { size } => {
            let mut align = 1;
            for m in btf.members(id) {
                let a = kernel_align(btf, m.ty, depth + 1);
                if m.bitfield_size == 0 && u64::from(m.bit_offset) % (a * 8) != 0 {
                    return 1;
                }
                align = align.max(a);
            }
            if u64::from(size) % align != 0 {
                1
            } else {
                align
            }
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No kernel at all: the definitions stand alone.
    struct NoKernel;

    impl KernelInfo for NoKernel {
        fn tracepoint_format(&self, _: &str, _: &str) -> Option<String> {
            None
        }
        fn tracepoints(&self) -> Vec<(String, String)> {
            Vec::new()
        }
    }

    fn btf_of(src: &str) -> Btf {
        let script = crate::parser::parse(&format!("{src} BEGIN {{ }}"), 0).expect("parses");
        match with_definitions(&script.c_defs, &NoKernel) {
            Ok(k) => k.btf,
            Err(e) => panic!("{src}: {e:?}"),
        }
    }

    /// `struct NAME`'s size and its members as (name, byte offset, bit offset, bits).
    fn layout(btf: &Btf, ns: Namespace, name: &str) -> (u64, Vec<(String, u32, u32)>) {
        let id = btf.find(ns, name).expect("defined");
        let members = btf.members(id).iter().map(|m| (m.name.to_string(), m.bit_offset, m.bitfield_size)).collect();
        (btf.size_of(id).expect("complete"), members)
    }

    fn m(name: &str, bit: u32, bits: u32) -> (String, u32, u32) {
        (name.into(), bit, bits)
    }

    #[test]
    fn members_are_aligned_and_the_size_rounded_up() {
        let btf = btf_of("struct Foo { char c; int i; char d; long l; char e; }");
        assert_eq!(layout(&btf, Namespace::Struct, "Foo"), (32, vec![m("c", 0, 0), m("i", 32, 0), m("d", 64, 0), m("l", 128, 0), m("e", 192, 0)]));
        let btf = btf_of("struct A { int32_t a; int32_t b; char c[28] }");
        assert_eq!(layout(&btf, Namespace::Struct, "A").0, 36);
    }

    #[test]
    fn packed_and_aligned_attributes() {
        let btf = btf_of("struct foo { int x; char y; int z; } struct bar { int x; char y; int z; } __attribute__((packed)) struct baz { char c; } __attribute__((aligned(8)))");
        assert_eq!(layout(&btf, Namespace::Struct, "foo").0, 12);
        assert_eq!(layout(&btf, Namespace::Struct, "bar"), (9, vec![m("x", 0, 0), m("y", 32, 0), m("z", 40, 0)]));
        assert_eq!(layout(&btf, Namespace::Struct, "baz").0, 8);
    }

    #[test]
    fn bitfields_fill_units_of_their_type() {
        let btf = btf_of("struct Foo { unsigned int a:4, b:8, c:3, d:1, e:16; }");
        assert_eq!(layout(&btf, Namespace::Struct, "Foo"), (4, vec![m("a", 0, 4), m("b", 4, 8), m("c", 12, 3), m("d", 15, 1), m("e", 16, 16)]));
        // A field that would cross a unit of its type starts the next one.
        let btf = btf_of("struct Bar { short a:4, b:8, c:3, d:1; int e:9, f:15, g:1, h:2, i:5 }");
        let (size, members) = layout(&btf, Namespace::Struct, "Bar");
        assert_eq!(size, 8);
        assert_eq!(members[4..], [m("e", 16, 9), m("f", 32, 15), m("g", 47, 1), m("h", 48, 2), m("i", 50, 5)]);
        let btf = btf_of("struct Z { char a:3; int :0; char b; }");
        assert_eq!(layout(&btf, Namespace::Struct, "Z"), (5, vec![m("a", 0, 3), m("b", 32, 0)]));
    }

    #[test]
    fn unions_nested_and_anonymous_records() {
        let btf = btf_of("union N { int i; char c[6]; long l; }; struct Foo { int m; struct Bar { char x; } bar; union { int u; short s; }; union N n; }");
        assert_eq!(layout(&btf, Namespace::Union, "N"), (8, vec![m("i", 0, 0), m("c", 0, 0), m("l", 0, 0)]));
        assert_eq!(layout(&btf, Namespace::Struct, "Bar").0, 1);
        let (size, members) = layout(&btf, Namespace::Struct, "Foo");
        assert_eq!((size, members.iter().map(|(n, b, _)| (n.as_str(), *b)).collect::<Vec<_>>()), (24, vec![("m", 0), ("bar", 32), ("", 64), ("n", 128)]));
        assert!(btf.member(btf.find(Namespace::Struct, "Foo").expect("Foo"), "s").is_some(), "anonymous members are reached through");
    }

    #[test]
    fn arrays_pointers_and_forward_declarations() {
        let btf = btf_of("struct L; struct Foo { int y[2][3]; struct L *l; struct Foo *next; void (*cb)(int); char z[]; }");
        assert_eq!(layout(&btf, Namespace::Struct, "Foo"), (48, vec![m("y", 0, 0), m("l", 192, 0), m("next", 256, 0), m("cb", 320, 0), m("z", 384, 0)]));
    }

    #[test]
    fn enums_count_on_and_pick_their_size() {
        let btf = btf_of("enum E { A = 1, B, C = B << 3, D } enum Big { X = 0x100000000 } enum Neg { M = -1 }");
        let e = btf.find(Namespace::Enum, "E").expect("E");
        assert_eq!(btf.enumerators(e), vec![("A", 1), ("B", 2), ("C", 16), ("D", 17)]);
        assert_eq!(btf.size_of(e), Some(4));
        assert_eq!(btf.size_of(btf.find(Namespace::Enum, "Big").expect("Big")), Some(8));
        assert!(matches!(btf.kind(btf.find(Namespace::Enum, "Neg").expect("Neg")), Kind::Enum { signed: true, .. }));
    }

    #[test]
    fn typedefs_name_any_type() {
        let btf =
            btf_of("struct Foo { int a; } typedef struct Foo Bar, *BarP; typedef unsigned long long u64x; struct S { Bar b; BarP p; u64x n; uint8_t k; }");
        assert_eq!(layout(&btf, Namespace::Struct, "S").0, 32);
        let bar = btf.find(Namespace::Typedef, "Bar").expect("Bar");
        assert_eq!(btf.c_name(btf.strip(bar)), "struct Foo");
    }
}
