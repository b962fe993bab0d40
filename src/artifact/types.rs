//! The types sema assigns. Integers keep their width and signedness (for loads, printing and
//! sorting); arithmetic happens in 64 bits as in bpftrace. C types from BTF are named by their
//! BTF id plus their C spelling (interned, so `Type` stays `Copy`).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// An interned string: the C spelling of a type, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sym(&'static str);

impl Sym {
    pub fn new(s: &str) -> Sym {
        static TABLE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut table = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&known) = table.get(s) {
            return Sym(known);
        }
        let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
        table.insert(leaked);
        Sym(leaked)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl serde::Serialize for Sym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Sym {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sym, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Sym::new(&s))
    }
}

/// The element types of a tuple, and for a record (`(a = 1, b = "x")`) the name of each,
/// interned like `Sym` so that `Type` stays `Copy`. A record is a tuple whose elements also
/// have names: it is laid out, stored and compared as one, and printed with its names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TupleTy(&'static TupleShape);

#[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct TupleShape {
    items: Vec<Type>,
    names: Option<Vec<String>>,
    /// Laid out as a C struct (every tuple rtrace makes now); false only in compiled
    /// scripts from before, whose elements were each 8-byte aligned.
    #[serde(default)]
    packed: bool,
}

impl TupleTy {
    pub fn new(items: &[Type]) -> TupleTy {
        Self::intern(TupleShape { items: items.to_vec(), names: None, packed: true })
    }

    /// A record: `names[i]` names `items[i]`.
    pub fn record(items: &[Type], names: &[String]) -> TupleTy {
        Self::intern(TupleShape { items: items.to_vec(), names: Some(names.to_vec()), packed: true })
    }

    fn intern(shape: TupleShape) -> TupleTy {
        static TABLE: OnceLock<Mutex<HashSet<&'static TupleShape>>> = OnceLock::new();
        let mut table = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&known) = table.get(&shape) {
            return TupleTy(known);
        }
        let leaked: &'static TupleShape = Box::leak(Box::new(shape));
        table.insert(leaked);
        TupleTy(leaked)
    }

    pub fn items(self) -> &'static [Type] {
        &self.0.items
    }

    /// The elements' names, for a record.
    pub fn names(self) -> Option<&'static [String]> {
        self.0.names.as_deref()
    }

    /// The same kind of tuple (record names kept) with other element types.
    pub fn with_items(self, items: &[Type]) -> TupleTy {
        match self.names() {
            Some(names) => Self::record(items, names),
            None => Self::new(items),
        }
    }

    /// Byte offset of each element: as a C struct lays its members out (each at a multiple
    /// of its alignment, integers at their own width), as bpftrace does. (Compiled scripts
    /// from before had every element 8-byte aligned.)
    pub fn offsets(self) -> Vec<usize> {
        let mut at = 0usize;
        self.items()
            .iter()
            .map(|t| {
                let (size, align) = if self.0.packed { (t.packed_size(), t.align()) } else { (t.size().div_ceil(8) * 8, 8) };
                let here = at.next_multiple_of(align);
                at = here + size;
                here
            })
            .collect()
    }

    /// Bytes the tuple takes: its last element's end, padded to its alignment.
    pub fn size(self) -> usize {
        if !self.0.packed {
            return self.items().iter().map(|i| i.size().div_ceil(8) * 8).sum();
        }
        let end = self.offsets().last().zip(self.items().last()).map_or(0, |(off, t)| off + t.packed_size());
        end.next_multiple_of(self.align())
    }

    /// The largest alignment of its elements.
    pub fn align(self) -> usize {
        if !self.0.packed {
            return 8;
        }
        self.items().iter().map(|t| t.align()).max().unwrap_or(1)
    }
}

impl serde::Serialize for TupleTy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for TupleTy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TupleTy, D::Error> {
        Ok(TupleTy::intern(TupleShape::deserialize(d)?))
    }
}

/// A C struct or union held as a value (`*p`, `p->embedded` stored, printed or used as a
/// key): its bytes, copied from memory, and the layout printing and `.field` read them by.
/// Interned like `TupleTy`, so `Type` stays `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StructTy(&'static StructLayout);

#[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StructLayout {
    /// The C spelling, `struct path`.
    pub name: Sym,
    pub size: usize,
    /// In order, with the members of anonymous structs and unions in their place, as C
    /// reaches them. A union's fields all start at 0.
    pub fields: Vec<Field>,
    /// A C array held as a value (`$a = p->arr`): its elements are the fields `0`, `1`...,
    /// printed `[1,2]` (an element may be an array of its own).
    #[serde(default)]
    pub array: bool,
}

/// One field of a struct value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Field {
    pub name: Sym,
    pub bit_offset: u32,
    /// Nonzero for a bitfield: its width in bits.
    pub bitfield_size: u8,
    /// An integer, a pointer (printed as an address), a string (char array) or a struct.
    pub ty: Type,
    /// An array of `count` elements of `ty`; 0 for a single value.
    pub count: u32,
}

impl Field {
    pub fn offset(&self) -> usize {
        (self.bit_offset / 8) as usize
    }
}

impl StructTy {
    pub fn new(layout: StructLayout) -> StructTy {
        static TABLE: OnceLock<Mutex<HashSet<&'static StructLayout>>> = OnceLock::new();
        let mut table = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&known) = table.get(&layout) {
            return StructTy(known);
        }
        let leaked: &'static StructLayout = Box::leak(Box::new(layout));
        table.insert(leaked);
        StructTy(leaked)
    }

    pub fn layout(self) -> &'static StructLayout {
        self.0
    }

    pub fn field(self, name: &str) -> Option<(usize, Field)> {
        self.0.fields.iter().enumerate().find(|(_, f)| f.name.as_str() == name).map(|(i, f)| (i, *f))
    }
}

impl serde::Serialize for StructTy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for StructTy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StructTy, D::Error> {
        Ok(StructTy::new(StructLayout::deserialize(d)?))
    }
}

/// A C enum's enumerators, for printing its values by name (`print((enum E)1)` is `ONE`).
/// Interned like `StructTy`, so `Type` stays `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnumTy(&'static EnumLayout);

#[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EnumLayout {
    /// The C spelling, `enum E`.
    pub name: Sym,
    pub signed: bool,
    /// (value, enumerator), in the order defined.
    pub values: Vec<(i64, Sym)>,
}

impl EnumTy {
    pub fn new(layout: EnumLayout) -> EnumTy {
        static TABLE: OnceLock<Mutex<HashSet<&'static EnumLayout>>> = OnceLock::new();
        let mut table = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&known) = table.get(&layout) {
            return EnumTy(known);
        }
        let leaked: &'static EnumLayout = Box::leak(Box::new(layout));
        table.insert(leaked);
        EnumTy(leaked)
    }

    pub fn layout(self) -> &'static EnumLayout {
        self.0
    }

    /// The enumerator of value `raw` (a 64-bit word), or the number when none is, as
    /// bpftrace prints it.
    pub fn text(self, raw: u64) -> String {
        let v = raw as i64;
        match self.0.values.iter().find(|(value, _)| *value == v) {
            Some((_, name)) => name.as_str().to_string(),
            None if self.0.signed => v.to_string(),
            None => raw.to_string(),
        }
    }
}

impl serde::Serialize for EnumTy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for EnumTy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EnumTy, D::Error> {
        Ok(EnumTy::new(EnumLayout::deserialize(d)?))
    }
}

/// A C type: its BTF id (ids from `SYNTHETIC_INT` up are rtrace's own integer types, for
/// casts such as `(uint32 *)p`) and its C spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CType {
    pub id: u32,
    pub name: Sym,
}

/// How a stack prints (bpftrace's `kstack(mode, limit)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct StackSpec {
    pub user: bool,
    pub mode: StackMode,
    /// At most this many frames.
    pub limit: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StackMode {
    /// `    function+offset` per frame.
    Bpftrace,
    /// `\taddress function+offset` per frame, as perf prints.
    Perf,
    /// Addresses only.
    Raw,
    /// `BUILDID 0xOFFSET` per frame: the ELF build id of the file the address is in and the
    /// offset in that file (user stacks only), for symbolizing elsewhere.
    BuildId,
}

impl StackMode {
    const NAMES: [(&'static str, StackMode); 4] =
        [("bpftrace", StackMode::Bpftrace), ("perf", StackMode::Perf), ("raw", StackMode::Raw), ("build_id", StackMode::BuildId)];

    /// The mode a script or setting names: `bpftrace`, `perf`, `raw` or `build_id`.
    pub fn parse(name: &str) -> Option<StackMode> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, m)| *m == self).map_or("raw", |(n, _)| n)
    }
}

/// The most frames a stack keeps (the kernel's default `perf_event_max_stack`).
pub const MAX_STACK_FRAMES: u8 = 127;

/// The first id of rtrace's own integer types: `SYNTHETIC_INT | signed << 8 | bits`.
pub const SYNTHETIC_INT: u32 = 0xff00_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Type {
    Int {
        bits: u8,
        signed: bool,
    },
    /// `true`, `false`, comparisons, `!`, `&&`, `||` and the functions that answer yes or no:
    /// an integer (0 or 1 when made so) printed as `true`/`false`, as in current bpftrace.
    Bool,
    /// A NUL-padded string buffer of this many bytes.
    Str(usize),
    /// Statements and functions that produce nothing.
    Void,
    /// `args` in a tracepoint probe: only its fields can be used.
    TracepointArgs,
    /// A pointer into kernel memory, or user memory if `user`; `to` is what it points at.
    Ptr {
        to: CType,
        user: bool,
    },
    /// A struct or union in memory, reached through a pointer: the expression is its address.
    Record {
        ty: CType,
        user: bool,
    },
    /// A stack trace: in BPF a stack id (and, for user stacks, the pid in the high half),
    /// symbolized in userspace when printed.
    Stack(StackSpec),
    /// A kernel address printed as its symbol (`ksym(addr)`).
    Ksym,
    /// `usym(addr)`: a user address and the pid whose mappings resolve it (16 bytes).
    Usym,
    /// `ntop([af,] addr)`, `pton("addr")`: the address family and 16 bytes of address (24
    /// bytes), of which the first `.0` (4 for an IPv4 `pton`, else 16) can be set.
    Inet(u8),
    /// `macaddr(addr)`: the 6 bytes of a MAC address (in 8).
    Mac,
    /// `buf(p, n)`: the length read, then up to `.0` bytes.
    Buf(usize),
    /// `(a, b, ...)`: the elements side by side, each 8-byte aligned.
    Tuple(TupleTy),
    /// `strftime(fmt, nsecs)`: boot-clock nanoseconds, printed as wall-clock time in the
    /// program's strftime format number `.0`.
    Timestamp(u32),
    /// `username`: a uid printed as the user's name.
    Username,
    /// `strerror(n)`: an errno printed as its message.
    Errno,
    /// `syscall_name(nr)`: a syscall number, printed as the syscall's name.
    SyscallName,
    /// `signal_name(n)`: a signal number, printed as strsignal(3) describes it (`Interrupt`).
    SignalName,
    /// `cgroup_path(id)`: a cgroup id printed as its path under /sys/fs/cgroup.
    CgroupPath,
    /// A struct or union as a value: its bytes.
    Struct(StructTy),
    /// A value of a C enum (an enumerator, `(enum E)x`): a 64-bit integer, printed as its
    /// enumerator's name by `print`, maps and printf's `%s`, as a number by `%d`.
    Enum(EnumTy),
    /// An array in memory (not of char, which reads as a string): the expression is its
    /// address.
    Array {
        elem: CType,
        len: u32,
        user: bool,
    },
}

impl Type {
    pub const I64: Type = Type::Int { bits: 64, signed: true };
    pub const U64: Type = Type::Int { bits: 64, signed: false };
    pub const U32: Type = Type::Int { bits: 32, signed: false };

    /// A value held in a byte buffer (copied, not loaded): strings and tuples.
    pub fn is_buffer(self) -> bool {
        matches!(self, Type::Str(_) | Type::Tuple(_) | Type::Usym | Type::Inet(_) | Type::Mac | Type::Buf(_) | Type::Struct(_))
    }

    /// Printed as text (a printf `%s` argument): strings, buffers, and the words userspace
    /// resolves (stacks, symbols, times, names).
    pub fn prints_as_text(self) -> bool {
        self.is_buffer()
            || matches!(self, Type::Stack(_) | Type::Ksym | Type::Timestamp(_) | Type::Username | Type::Errno | Type::SyscallName | Type::SignalName | Type::CgroupPath)
    }

    /// An integer, or a pointer (an address is an integer in arithmetic and tests).
    pub fn is_int(self) -> bool {
        matches!(self, Type::Int { .. } | Type::Ptr { .. } | Type::Bool | Type::Enum(_))
    }

    /// A C array, in memory or as a value.
    pub fn is_array(self) -> bool {
        matches!(self, Type::Array { .. }) || matches!(self, Type::Struct(s) if s.layout().array)
    }

    /// A word printed as text by `%s` and as a number by `%d`: bools and enums.
    pub fn symbolic(self) -> bool {
        matches!(self, Type::Bool | Type::Enum(_))
    }

    /// The integer a value of this type is in arithmetic: pointers are uint64; a bool is a
    /// small signed integer, so it leaves the other operand's signedness alone.
    pub fn as_int(self) -> Type {
        match self {
            Type::Ptr { .. } => Type::U64,
            Type::Bool => Type::Int { bits: 8, signed: true },
            Type::Enum(e) => Type::Int { bits: 64, signed: e.layout().signed },
            t => t,
        }
    }

    /// A 64-bit address: a pointer, a struct reached through one, or a uint64/int64. A cast
    /// between two of these is a retyping, with no code.
    pub fn is_address(self) -> bool {
        matches!(self, Type::Ptr { .. } | Type::Record { .. } | Type::Int { bits: 64, .. })
    }

    pub fn is_signed(self) -> bool {
        matches!(self, Type::Int { signed: true, .. }) || matches!(self, Type::Enum(e) if e.layout().signed)
    }

    /// Bytes this type occupies as a map key, map value or event field.
    pub fn size(self) -> usize {
        match self {
            Type::Int { .. }
            | Type::Bool
            | Type::Enum(_)
            | Type::Ptr { .. }
            | Type::Stack(_)
            | Type::Ksym
            | Type::Timestamp(_)
            | Type::Username
            | Type::Errno
            | Type::SyscallName
            | Type::SignalName
            | Type::CgroupPath => 8,
            Type::Str(n) => n,
            Type::Tuple(t) => t.size(),
            Type::Usym => 16,
            Type::Inet(_) => 24,
            Type::Mac => 8,
            Type::Buf(n) => 8 + n,
            Type::Struct(t) => t.layout().size,
            Type::Void | Type::TracepointArgs | Type::Record { .. } | Type::Array { .. } => 0,
        }
    }

    /// Where a value of this type starts in a tuple (C's alignment): integers at their
    /// width, strings and byte arrays anywhere, structs and tuples as their widest member;
    /// the words rtrace keeps (pointers, stacks, bools, buffers' lengths) at 8.
    pub fn align(self) -> usize {
        match self {
            Type::Int { bits, .. } => usize::from(bits / 8).max(1),
            Type::Str(_) | Type::Mac => 1,
            Type::Tuple(t) => t.align(),
            // A packed struct's size is no multiple of its members' alignment: it has none.
            Type::Struct(s) => {
                let widest = s.layout().fields.iter().map(|f| f.ty.align()).max().unwrap_or(1);
                if s.layout().size % widest == 0 {
                    widest
                } else {
                    1
                }
            }
            _ => 8,
        }
    }

    /// Bytes a value of this type takes inside a tuple or struct: integers at their width.
    pub fn packed_size(self) -> usize {
        match self {
            Type::Int { bits, .. } => usize::from(bits / 8).max(1),
            t => t.size(),
        }
    }

    /// A record's field names.
    pub fn tuple_names(self) -> Option<&'static [String]> {
        match self {
            Type::Tuple(t) => t.names(),
            _ => None,
        }
    }

    /// Two types are the same kind of value (strings of any size, integers of any width).
    pub fn same_kind(self, other: Type) -> bool {
        (self.is_int() && other.is_int()) || self.join(other).is_some()
    }

    /// The type a variable or map holding both `self` and `other` has: strings widen to the
    /// longer, tuples element by element; otherwise `self` if they are the same kind.
    pub fn join(self, other: Type) -> Option<Type> {
        match (self, other) {
            (Type::Str(a), Type::Str(b)) => Some(Type::Str(a.max(b))),
            (Type::Inet(a), Type::Inet(b)) => Some(Type::Inet(a.max(b))),
            (Type::Tuple(a), Type::Tuple(b)) if a.items().len() == b.items().len() && a.names() == b.names() => {
                let items: Option<Vec<Type>> = a.items().iter().zip(b.items()).map(|(x, y)| x.join(*y)).collect();
                items.map(|i| Type::Tuple(a.with_items(&i)))
            }
            // Integers meet at the wider width, signed if either is (`@[(uint8)5]` and
            // `@[-1]` print -1, as in bpftrace).
            (Type::Int { bits: a, signed: x }, Type::Int { bits: b, signed: y }) => Some(Type::Int { bits: a.max(b), signed: x || y }),
            (a, b) if a.is_int() && b.is_int() => Some(a),
            (a, b) => (a == b).then_some(a),
        }
    }

    /// The type of a value stored in a map or event: integers widen to 64 bits; pointers
    /// keep what they point at (`@skb[tid] = args.skb; ... @skb[tid]->len`), as in bpftrace.
    pub fn stored(self) -> Type {
        match self {
            Type::Int { signed, .. } => Type::Int { bits: 64, signed },
            t => t,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int { bits, signed: true } => write!(f, "int{bits}"),
            Type::Int { bits, signed: false } => write!(f, "uint{bits}"),
            Type::Bool => write!(f, "bool"),
            Type::Enum(e) => write!(f, "{}", e.layout().name.as_str()),
            Type::Str(n) => write!(f, "string[{n}]"),
            Type::Void => write!(f, "none"),
            Type::TracepointArgs => write!(f, "args"),
            Type::Ptr { to, .. } => write!(f, "{} *", to.name.as_str()),
            Type::Record { ty, .. } => write!(f, "{}", ty.name.as_str()),
            Type::Struct(t) => write!(f, "{}", t.layout().name.as_str()),
            Type::Array { elem, len, .. } => write!(f, "{}[{len}]", elem.name.as_str()),
            Type::Stack(s) => write!(f, "{}", if s.user { "ustack" } else { "kstack" }),
            Type::Ksym => write!(f, "ksym"),
            Type::Timestamp(_) => write!(f, "timestamp"),
            Type::Username => write!(f, "username"),
            Type::Errno => write!(f, "errno"),
            Type::SyscallName => write!(f, "syscall_name"),
            Type::SignalName => write!(f, "signal_name"),
            Type::CgroupPath => write!(f, "cgroup_path"),
            Type::Usym => write!(f, "usym"),
            Type::Inet(_) => write!(f, "inet"),
            Type::Mac => write!(f, "macaddr"),
            Type::Buf(n) => write!(f, "buffer[{n}]"),
            Type::Tuple(t) => match t.names() {
                Some(names) => {
                    let items: Vec<String> = names.iter().zip(t.items()).map(|(n, i)| format!("{n}={i}")).collect();
                    write!(f, "({})", items.join(", "))
                }
                None => {
                    let items: Vec<String> = t.items().iter().map(|i| i.to_string()).collect();
                    write!(f, "({})", items.join(", "))
                }
            },
        }
    }
}
