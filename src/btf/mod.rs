//! A reader for BTF, the kernel's type format (`/sys/kernel/btf/vmlinux`, or the `.BTF`
//! section of an object file). Pure: it takes bytes. Parsing indexes where each type starts
//! in one pass and decodes nothing else; names, members and prototypes are read on demand, so
//! a script that needs three types pays for three. Only little-endian BTF is read (x86_64).
//!
//! Written here rather than taken from a crate: btf-rs is LGPL, aya-obj exposes no member
//! offsets, and what sema needs (find a type by name, walk members, strip qualifiers) is small.

use std::fmt;

pub type TypeId = u32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    #[error("not BTF data (bad magic)")]
    BadMagic,
    #[error("BTF data is truncated or malformed at byte {0}")]
    Truncated(usize),
    #[error("BTF type kind {0} is unknown to rtrace")]
    UnknownKind(u32),
}

/// A type's kind with the fields sema uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int { size: u32, signed: bool, char: bool, bool: bool },
    Ptr(TypeId),
    Array { elem: TypeId, len: u32 },
    Struct { size: u32 },
    Union { size: u32 },
    Enum { size: u32, signed: bool },
    Fwd,
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func { proto: TypeId },
    FuncProto { ret: TypeId },
    Var(TypeId),
    Datasec,
    Float { size: u32 },
    DeclTag(TypeId),
    TypeTag(TypeId),
}

/// A struct or union member. `bit_offset` is from the start of the enclosing record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    pub name: &'a str,
    pub ty: TypeId,
    pub bit_offset: u32,
    /// Non-zero for a bitfield: its width in bits.
    pub bitfield_size: u32,
}

/// Which named types `find` looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Struct,
    Union,
    Enum,
    Typedef,
    Func,
    /// Variables (the per-CPU ones vmlinux BTF describes).
    Var,
    /// Ints, floats and typedefs: what a bare C type name can be.
    Plain,
}

pub struct Btf {
    data: Vec<u8>,
    strings: usize,
    strings_len: usize,
    /// Byte offset (into `data`) of each type; index 0 (void) is unused.
    offsets: Vec<u32>,
    /// The first id `extended` appended (a script's C definitions), which `find` prefers;
    /// `offsets.len()` when none were.
    local_from: u32,
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

impl Btf {
    pub fn parse(data: Vec<u8>) -> Result<Btf, BtfError> {
        let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        if u16_at(0) != Some(0xeb9f) {
            return Err(BtfError::BadMagic);
        }
        let word = |o: usize| -> Result<usize, BtfError> { read_u32(&data, o).map(|v| v as usize).ok_or(BtfError::Truncated(o)) };
        let hdr_len = word(4)?;
        let (type_off, type_len, str_off, str_len) = (word(8)?, word(12)?, word(16)?, word(20)?);
        let types = hdr_len + type_off;
        let strings = hdr_len + str_off;
        if types + type_len > data.len() || strings + str_len > data.len() {
            return Err(BtfError::Truncated(data.len()));
        }
        let mut offsets = vec![0u32];
        let mut pos = types;
        while pos < types + type_len {
            offsets.push(pos as u32);
            let info = word(pos + 4)? as u32;
            let vlen = (info & 0xffff) as usize;
            let extra = match (info >> 24) & 0x1f {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
                k => return Err(BtfError::UnknownKind(k)),
            };
            pos += 12 + extra;
        }
        let local_from = offsets.len() as u32;
        Ok(Btf { data, strings, strings_len: str_len, offsets, local_from })
    }

    /// Number of type ids, counting void (id 0).
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.len() <= 1
    }

    fn u32_at(&self, o: usize) -> u32 {
        read_u32(&self.data, o).unwrap_or(0)
    }

    fn header(&self, id: TypeId) -> Option<(usize, u32, u32, u32)> {
        let o = *self.offsets.get(id as usize).filter(|_| id != 0)? as usize;
        Some((o, self.u32_at(o), self.u32_at(o + 4), self.u32_at(o + 8)))
    }

    fn string(&self, off: u32) -> &str {
        let start = self.strings + off as usize;
        let end = self.strings + self.strings_len;
        let Some(bytes) = self.data.get(start..end) else {
            return "";
        };
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[..len]).unwrap_or("")
    }

    /// The type's own name ("" for anonymous types, pointers, void).
    pub fn name(&self, id: TypeId) -> &str {
        self.header(id).map_or("", |(_, name, _, _)| self.string(name))
    }

    pub fn kind(&self, id: TypeId) -> Kind {
        let Some((o, _, info, size_or_type)) = self.header(id) else {
            return Kind::Void;
        };
        let kind_flag = info >> 31 != 0;
        match (info >> 24) & 0x1f {
            KIND_INT => {
                let enc = self.u32_at(o + 12) >> 24;
                Kind::Int { size: size_or_type, signed: enc & 1 != 0, char: enc & 2 != 0, bool: enc & 4 != 0 }
            }
            KIND_PTR => Kind::Ptr(size_or_type),
            KIND_ARRAY => Kind::Array { elem: self.u32_at(o + 12), len: self.u32_at(o + 20) },
            KIND_STRUCT => Kind::Struct { size: size_or_type },
            KIND_UNION => Kind::Union { size: size_or_type },
            KIND_ENUM | KIND_ENUM64 => Kind::Enum { size: size_or_type, signed: kind_flag },
            KIND_FWD => Kind::Fwd,
            KIND_TYPEDEF => Kind::Typedef(size_or_type),
            KIND_VOLATILE => Kind::Volatile(size_or_type),
            KIND_CONST => Kind::Const(size_or_type),
            KIND_RESTRICT => Kind::Restrict(size_or_type),
            KIND_FUNC => Kind::Func { proto: size_or_type },
            KIND_FUNC_PROTO => Kind::FuncProto { ret: size_or_type },
            KIND_VAR => Kind::Var(size_or_type),
            KIND_DATASEC => Kind::Datasec,
            KIND_FLOAT => Kind::Float { size: size_or_type },
            KIND_DECL_TAG => Kind::DeclTag(size_or_type),
            KIND_TYPE_TAG => Kind::TypeTag(size_or_type),
            _ => Kind::Void,
        }
    }

    /// The value of enumerator `name` (`TCP_ESTABLISHED`), from whichever enum declares it,
    /// and whether that enum is signed. A scan of every type: for the rare identifier that is
    /// nothing else.
    pub fn enum_value(&self, name: &str) -> Option<(i64, bool)> {
        self.enumerator(name).map(|(_, value, signed)| (value, signed))
    }

    /// The enum declaring enumerator `name`, its value and whether the enum is signed; the
    /// script's own enums first.
    pub fn enumerator(&self, name: &str) -> Option<(TypeId, i64, bool)> {
        for id in self.search_order() {
            let Some((o, _, info, _)) = self.header(id) else { continue };
            let kind = (info >> 24) & 0x1f;
            let (stride, wide) = match kind {
                KIND_ENUM => (8, false),
                KIND_ENUM64 => (12, true),
                _ => continue,
            };
            let signed = info >> 31 != 0;
            for i in 0..(info & 0xffff) as usize {
                let m = o + 12 + stride * i;
                if self.string(self.u32_at(m)) != name {
                    continue;
                }
                let lo = self.u32_at(m + 4);
                let value = match (wide, signed) {
                    (true, _) => (u64::from(self.u32_at(m + 8)) << 32 | u64::from(lo)) as i64,
                    (false, true) => i64::from(lo as i32),
                    (false, false) => i64::from(lo),
                };
                return Some((id, value, signed));
            }
        }
        None
    }

    /// The enumerators of enum `id` as (name, value).
    pub fn enumerators(&self, id: TypeId) -> Vec<(&str, i64)> {
        let Some((o, _, info, _)) = self.header(id) else { return Vec::new() };
        let signed = info >> 31 != 0;
        let (stride, wide) = match (info >> 24) & 0x1f {
            KIND_ENUM => (8, false),
            KIND_ENUM64 => (12, true),
            _ => return Vec::new(),
        };
        (0..(info & 0xffff) as usize)
            .map(|i| {
                let m = o + 12 + stride * i;
                let lo = self.u32_at(m + 4);
                let value = match (wide, signed) {
                    (true, _) => (u64::from(self.u32_at(m + 8)) << 32 | u64::from(lo)) as i64,
                    (false, true) => i64::from(lo as i32),
                    (false, false) => i64::from(lo),
                };
                (self.string(self.u32_at(m)), value)
            })
            .collect()
    }

    /// Every type id, the appended (script) types first.
    fn search_order(&self) -> impl Iterator<Item = TypeId> {
        (self.local_from..self.offsets.len() as TypeId).chain(1..self.local_from.min(self.offsets.len() as TypeId))
    }

    /// A pointer type to `id` (`struct foo *`), the appended types' first.
    pub fn pointer_to(&self, id: TypeId) -> Option<TypeId> {
        self.search_order().find(|&p| self.kind(p) == Kind::Ptr(id))
    }

    /// Whether `id` is one of the types `extended` appended.
    pub fn is_local(&self, id: TypeId) -> bool {
        id >= self.local_from && (id as usize) < self.offsets.len()
    }

    /// Skips typedefs and qualifiers (const, volatile, restrict, type tags).
    pub fn strip(&self, mut id: TypeId) -> TypeId {
        for _ in 0..32 {
            match self.kind(id) {
                Kind::Typedef(t) | Kind::Volatile(t) | Kind::Const(t) | Kind::Restrict(t) | Kind::TypeTag(t) => id = t,
                _ => break,
            }
        }
        id
    }

    /// Size in bytes of a value of this type; None for void, functions and forward decls.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        let id = self.strip(id);
        match self.kind(id) {
            Kind::Int { size, .. } | Kind::Struct { size } | Kind::Union { size } | Kind::Enum { size, .. } | Kind::Float { size } => Some(size as u64),
            Kind::Ptr(_) => Some(8),
            Kind::Array { elem, len } => self.size_of(elem).map(|s| s * len as u64),
            _ => None,
        }
    }

    /// The members of a struct or union, in order; empty for other kinds.
    pub fn members(&self, id: TypeId) -> Vec<Member<'_>> {
        let Some((o, _, info, _)) = self.header(id) else {
            return Vec::new();
        };
        if !matches!((info >> 24) & 0x1f, KIND_STRUCT | KIND_UNION) {
            return Vec::new();
        }
        let kind_flag = info >> 31 != 0;
        (0..(info & 0xffff) as usize)
            .map(|i| {
                let m = o + 12 + 12 * i;
                let offset = self.u32_at(m + 8);
                let (bit_offset, bitfield_size) = if kind_flag { (offset & 0xff_ffff, offset >> 24) } else { (offset, 0) };
                Member { name: self.string(self.u32_at(m)), ty: self.u32_at(m + 4), bit_offset, bitfield_size }
            })
            .collect()
    }

    /// A member by name, looking through anonymous struct and union members as C does; the
    /// bit offset is from the start of `id`.
    pub fn member(&self, id: TypeId, name: &str) -> Option<Member<'_>> {
        for m in self.members(self.strip(id)) {
            if m.name == name {
                return Some(m);
            }
            if m.name.is_empty() {
                if let Some(inner) = self.member(m.ty, name) {
                    return Some(Member { bit_offset: m.bit_offset + inner.bit_offset, ..inner });
                }
            }
        }
        None
    }

    /// Every member name reachable from `id` (through anonymous members): for suggestions.
    pub fn member_names(&self, id: TypeId) -> Vec<&str> {
        let mut out = Vec::new();
        for m in self.members(self.strip(id)) {
            if m.name.is_empty() {
                out.extend(self.member_names(m.ty));
            } else {
                out.push(m.name);
            }
        }
        out
    }

    /// A function prototype's parameters as (name, type).
    pub fn params(&self, proto: TypeId) -> Vec<(&str, TypeId)> {
        let Some((o, _, info, _)) = self.header(proto) else {
            return Vec::new();
        };
        if (info >> 24) & 0x1f != KIND_FUNC_PROTO {
            return Vec::new();
        }
        (0..(info & 0xffff) as usize)
            .map(|i| {
                let p = o + 12 + 8 * i;
                (self.string(self.u32_at(p)), self.u32_at(p + 4))
            })
            .collect()
    }

    fn in_namespace(&self, id: TypeId, ns: Namespace) -> bool {
        let Some((_, _, info, _)) = self.header(id) else {
            return false;
        };
        let kind = (info >> 24) & 0x1f;
        match ns {
            Namespace::Struct => kind == KIND_STRUCT,
            Namespace::Union => kind == KIND_UNION,
            Namespace::Enum => kind == KIND_ENUM || kind == KIND_ENUM64,
            Namespace::Typedef => kind == KIND_TYPEDEF,
            Namespace::Func => kind == KIND_FUNC,
            Namespace::Var => kind == KIND_VAR,
            Namespace::Plain => matches!(kind, KIND_INT | KIND_FLOAT | KIND_TYPEDEF),
        }
    }

    /// The first type named `name` in `ns`. A linear scan: a script looks up few names.
    pub fn find(&self, ns: Namespace, name: &str) -> Option<TypeId> {
        self.search_order().find(|&id| self.in_namespace(id, ns) && self.name(id) == name)
    }

    /// Every name in `ns`: for suggestions and listings.
    pub fn names(&self, ns: Namespace) -> impl Iterator<Item = &str> + '_ {
        (1..self.offsets.len() as TypeId).filter(move |&id| self.in_namespace(id, ns)).map(|id| self.name(id)).filter(|n| !n.is_empty())
    }

    /// Every type in `ns` by name (the first of a name): for many lookups, where `find`'s
    /// scan would be quadratic (`-lv 'fentry:*'`).
    pub fn index(&self, ns: Namespace) -> std::collections::HashMap<&str, TypeId> {
        let mut index = std::collections::HashMap::new();
        for id in (1..self.offsets.len() as TypeId).filter(|&id| self.in_namespace(id, ns)) {
            index.entry(self.name(id)).or_insert(id);
        }
        index
    }

    /// The C spelling of a type: `struct task_struct *`, `unsigned int`, `char[16]`.
    pub fn c_name(&self, id: TypeId) -> String {
        CName(self, id).to_string()
    }
}

/// A type to append to a BTF (`Btf::extended`): a script's own C definitions.
#[derive(Debug, Clone, PartialEq)]
pub enum NewType {
    Int {
        name: String,
        size: u32,
        signed: bool,
        char: bool,
        bool: bool,
    },
    Ptr(TypeId),
    Array {
        elem: TypeId,
        index: TypeId,
        len: u32,
    },
    Record {
        union: bool,
        name: String,
        size: u32,
        members: Vec<NewMember>,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
    },
    Fwd {
        name: String,
        union: bool,
    },
    Typedef {
        name: String,
        ty: TypeId,
    },
    /// A function's prototype (what a function pointer points at), without parameters.
    FuncProto,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMember {
    pub name: String,
    pub ty: TypeId,
    pub bit_offset: u32,
    pub bitfield_size: u32,
}

impl Btf {
    /// A BTF with no types (for a script's definitions where the kernel has none).
    pub fn empty() -> Btf {
        let mut data = Vec::with_capacity(25);
        data.extend_from_slice(&0xeb9fu16.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for word in [24u32, 0, 0, 0, 1] {
            data.extend_from_slice(&word.to_le_bytes());
        }
        data.push(0);
        Btf { data, strings: 24, strings_len: 1, offsets: vec![0], local_from: 1 }
    }

    /// This BTF with `types` appended, the first at id `self.len()` (references between them
    /// use those ids). `find` and `enumerator` look at the appended types first, so a
    /// script's `struct task_struct` is the one its casts and `curtask` read.
    pub fn extended(&self, types: &[NewType]) -> Btf {
        let word = |o: usize| read_u32(&self.data, o).unwrap_or(0) as usize;
        let hdr_len = word(4);
        let (type_off, type_len) = (hdr_len + word(8), word(12));
        let base_strings = &self.data[self.strings..self.strings + self.strings_len];
        let mut strings: Vec<u8> = base_strings.to_vec();
        let mut name = |s: &str| -> u32 {
            if s.is_empty() {
                return 0;
            }
            let at = strings.len() as u32;
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            at
        };
        let mut out: Vec<u8> = Vec::new();
        let put = |out: &mut Vec<u8>, words: &[u32]| words.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
        let info = |kind: u32, vlen: usize, flag: bool| (u32::from(flag) << 31) | (kind << 24) | (vlen as u32 & 0xffff);
        for t in types {
            match t {
                NewType::Int { name: n, size, signed, char, bool } => {
                    let enc = u32::from(*signed) | u32::from(*char) << 1 | u32::from(*bool) << 2;
                    let n = name(n);
                    put(&mut out, &[n, info(KIND_INT, 0, false), *size, (enc << 24) | (size * 8)]);
                }
                NewType::Ptr(to) => put(&mut out, &[0, info(KIND_PTR, 0, false), *to]),
                NewType::Array { elem, index, len } => put(&mut out, &[0, info(KIND_ARRAY, 0, false), 0, *elem, *index, *len]),
                NewType::Record { union, name: n, size, members } => {
                    let bitfields = members.iter().any(|m| m.bitfield_size > 0);
                    let n = name(n);
                    put(&mut out, &[n, info(if *union { KIND_UNION } else { KIND_STRUCT }, members.len(), bitfields), *size]);
                    for m in members {
                        let offset = if bitfields { m.bitfield_size << 24 | m.bit_offset } else { m.bit_offset };
                        let mn = name(&m.name);
                        put(&mut out, &[mn, m.ty, offset]);
                    }
                }
                NewType::Enum { name: n, size, signed, values } => {
                    let wide = *size > 4;
                    let n = name(n);
                    put(&mut out, &[n, info(if wide { KIND_ENUM64 } else { KIND_ENUM }, values.len(), *signed), *size]);
                    for (vn, v) in values {
                        let vn = name(vn);
                        if wide {
                            put(&mut out, &[vn, *v as u64 as u32, (*v as u64 >> 32) as u32]);
                        } else {
                            put(&mut out, &[vn, *v as u32]);
                        }
                    }
                }
                NewType::Fwd { name: n, union } => {
                    let n = name(n);
                    put(&mut out, &[n, info(KIND_FWD, 0, *union), 0]);
                }
                NewType::Typedef { name: n, ty } => {
                    let n = name(n);
                    put(&mut out, &[n, info(KIND_TYPEDEF, 0, false), *ty]);
                }
                NewType::FuncProto => put(&mut out, &[0, info(KIND_FUNC_PROTO, 0, false), 0]),
            }
        }
        let all_types = type_len + out.len();
        let mut data = Vec::with_capacity(24 + all_types + strings.len());
        data.extend_from_slice(&0xeb9fu16.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for w in [24u32, 0, all_types as u32, all_types as u32, strings.len() as u32] {
            data.extend_from_slice(&w.to_le_bytes());
        }
        data.extend_from_slice(&self.data[type_off..type_off + type_len]);
        data.extend_from_slice(&out);
        data.extend_from_slice(&strings);
        // Both halves were well-formed, so the whole is; an error here is rtrace's bug.
        let local_from = self.len() as u32;
        match Btf::parse(data) {
            Ok(btf) => Btf { local_from, ..btf },
            Err(_) => Btf::empty(),
        }
    }
}

struct CName<'a>(&'a Btf, TypeId);

impl fmt::Display for CName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CName(btf, id) = *self;
        let name = btf.name(id);
        let named = |f: &mut fmt::Formatter<'_>, tag: &str| {
            if name.is_empty() {
                write!(f, "{tag} (anonymous)")
            } else {
                write!(f, "{tag} {name}")
            }
        };
        match btf.kind(id) {
            Kind::Void => write!(f, "void"),
            Kind::Struct { .. } => named(f, "struct"),
            Kind::Union { .. } => named(f, "union"),
            Kind::Enum { .. } => named(f, "enum"),
            Kind::Fwd => named(f, "struct"),
            Kind::Ptr(to) => match btf.kind(to) {
                Kind::FuncProto { .. } => write!(f, "function pointer"),
                _ => write!(f, "{} *", CName(btf, to)),
            },
            Kind::Array { elem, len } => write!(f, "{}[{len}]", CName(btf, elem)),
            Kind::Const(t) => write!(f, "const {}", CName(btf, t)),
            Kind::Volatile(t) => write!(f, "volatile {}", CName(btf, t)),
            Kind::Restrict(t) | Kind::TypeTag(t) | Kind::DeclTag(t) | Kind::Var(t) => {
                write!(f, "{}", CName(btf, t))
            }
            Kind::FuncProto { .. } => write!(f, "function"),
            _ => write!(f, "{name}"),
        }
    }
}

fn read_u32(data: &[u8], o: usize) -> Option<u32> {
    data.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests;
