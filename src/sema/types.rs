//! The types sema assigns. Integers keep their width and signedness (for loads, printing and
//! sorting); arithmetic happens in 64 bits as in bpftrace.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Type {
    Int { bits: u8, signed: bool },
    /// A NUL-padded string buffer of this many bytes.
    Str(usize),
    /// Statements and functions that produce nothing.
    Void,
    /// `args` in a tracepoint probe: only its fields can be used.
    TracepointArgs,
}

impl Type {
    pub const I64: Type = Type::Int { bits: 64, signed: true };
    pub const U64: Type = Type::Int { bits: 64, signed: false };
    pub const U32: Type = Type::Int { bits: 32, signed: false };

    pub fn is_int(self) -> bool {
        matches!(self, Type::Int { .. })
    }

    pub fn is_signed(self) -> bool {
        matches!(self, Type::Int { signed: true, .. })
    }

    /// Bytes this type occupies as a map key, map value or event field.
    pub fn size(self) -> usize {
        match self {
            Type::Int { .. } => 8,
            Type::Str(n) => n,
            Type::Void | Type::TracepointArgs => 0,
        }
    }

    /// Two types are the same kind of value (strings of any size, integers of any width).
    pub fn same_kind(self, other: Type) -> bool {
        matches!((self, other), (Type::Int { .. }, Type::Int { .. }) | (Type::Str(_), Type::Str(_)))
            || self == other
    }

    /// The type of a value stored in a map, variable or event: integers widen to 64 bits.
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
            Type::Str(n) => write!(f, "string[{n}]"),
            Type::Void => write!(f, "none"),
            Type::TracepointArgs => write!(f, "args"),
        }
    }
}
