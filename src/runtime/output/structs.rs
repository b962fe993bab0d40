//! Struct values as bpftrace prints them: `{ .a = 1, .b = { .c = str }, .arr = [1,2] }`,
//! and as JSON objects. Fields are read at their C width and offset from the copy the probe
//! made; pointers print as addresses (bpftrace 0.17 prints them as signed decimals).

use serde_json::Value;

use super::{u64_at, value_text, Resolve};
use crate::artifact::types::StructTy;
use crate::artifact::Type;

/// One field's value, decoded once for both renderings.
enum Decoded {
    Int(i128),
    Bool(bool),
    Ptr(u64),
    Text(String),
    Array(Vec<Decoded>),
    Struct(Vec<(&'static str, Decoded)>),
}

fn decode(st: StructTy, bytes: &[u8], resolve: &dyn Resolve) -> Vec<(&'static str, Decoded)> {
    st.layout()
        .fields
        .iter()
        .map(|f| {
            let at = bytes.get(f.offset()..).unwrap_or_default();
            let value = if f.bitfield_size > 0 {
                let mut word = [0u8; 16];
                let n = at.len().min(16);
                word[..n].copy_from_slice(&at[..n]);
                let bits = u128::from_le_bytes(word) >> (f.bit_offset % 8);
                Decoded::Int((bits & ((1u128 << f.bitfield_size) - 1)) as i128)
            } else if f.count > 0 {
                let size = field_size(f.ty);
                Decoded::Array((0..f.count as usize).map(|i| decode_one(f.ty, at.get(i * size..).unwrap_or_default(), resolve)).collect())
            } else {
                decode_one(f.ty, at, resolve)
            };
            (f.name.as_str(), value)
        })
        .collect()
}

/// Bytes one struct field of type `ty` takes (integers at their own width).
fn field_size(ty: Type) -> usize {
    match ty {
        Type::Int { bits, .. } => usize::from(bits / 8),
        t => t.size(),
    }
}

/// A field at the start of `bytes`: integers at their own width.
fn decode_one(ty: Type, bytes: &[u8], resolve: &dyn Resolve) -> Decoded {
    match ty {
        Type::Int { bits, signed } => {
            let n = usize::from(bits / 8).min(bytes.len());
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(&bytes[..n]);
            let raw = u64::from_le_bytes(word);
            let shift = 64 - u32::from(bits.clamp(8, 64));
            Decoded::Int(if signed { i128::from(((raw << shift) as i64) >> shift) } else { i128::from(raw) })
        }
        Type::Ptr { .. } => Decoded::Ptr(u64_at(bytes, 0)),
        // A C bool (an array of them, `(bool[4])x`): one byte.
        Type::Bool => Decoded::Bool(bytes.first().is_some_and(|b| *b != 0)),
        Type::Struct(inner) if inner.layout().array => Decoded::Array(decode(inner, bytes, resolve).into_iter().map(|(_, v)| v).collect()),
        Type::Struct(inner) => Decoded::Struct(decode(inner, bytes, resolve)),
        t => Decoded::Text(value_text(t, bytes, resolve)),
    }
}

/// `{ .a = 1, .b = { .c = str }, .arr = [1,2] }`, pointers as addresses.
pub(super) fn struct_text(st: StructTy, bytes: &[u8], resolve: &dyn Resolve) -> String {
    text(&decode_one(Type::Struct(st), bytes, resolve))
}

fn text(d: &Decoded) -> String {
    match d {
        Decoded::Int(n) => n.to_string(),
        Decoded::Ptr(p) => format!("{p:#x}"),
        Decoded::Text(t) => t.clone(),
        Decoded::Bool(b) => b.to_string(),
        Decoded::Array(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(",")),
        Decoded::Struct(fields) if fields.is_empty() => "{}".into(),
        Decoded::Struct(fields) => {
            let parts: Vec<String> = fields.iter().map(|(name, v)| format!(".{name} = {}", text(v))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// The struct as a JSON object, as bpftrace's `-f json` writes one: fields by name, arrays
/// as arrays, pointers as numbers.
pub(super) fn struct_json(st: StructTy, bytes: &[u8], resolve: &dyn Resolve) -> Value {
    json(&decode_one(Type::Struct(st), bytes, resolve))
}

fn json(d: &Decoded) -> Value {
    match d {
        Decoded::Int(n) => super::json::json_int(*n),
        Decoded::Ptr(p) => super::json::json_int(i128::from(*p)),
        Decoded::Text(t) => Value::from(t.as_str()),
        Decoded::Bool(b) => Value::Bool(*b),
        Decoded::Array(items) => Value::Array(items.iter().map(json).collect()),
        Decoded::Struct(fields) => Value::Object(fields.iter().map(|(name, v)| (name.to_string(), json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::NoSymbols;
    use crate::artifact::types::{CType, Field, StructLayout, Sym};


    fn field(name: &str, bit_offset: u32, ty: Type) -> Field {
        Field { name: Sym::new(name), bit_offset, bitfield_size: 0, ty, count: 0 }
    }

    #[test]
    fn fields_print_at_their_width_offset_and_kind() {
        let inner = StructTy::new(StructLayout {
            name: Sym::new("struct inner"),
            size: 4,
            fields: vec![field("x", 0, Type::Int { bits: 16, signed: false })],
            array: false,
        });
        let void = CType { id: 0, name: Sym::new("void") };
        let outer = StructTy::new(StructLayout {
            name: Sym::new("struct outer"),
            size: 40,
            fields: vec![
                field("neg", 0, Type::Int { bits: 32, signed: true }),
                Field { name: Sym::new("flag"), bit_offset: 32 + 3, bitfield_size: 2, ty: Type::U32, count: 0 },
                field("p", 64, Type::Ptr { to: void, user: false }),
                field("name", 128, Type::Str(4)),
                Field { name: Sym::new("arr"), bit_offset: 160, bitfield_size: 0, ty: Type::Int { bits: 16, signed: false }, count: 3 },
                field("in", 224, Type::Struct(inner)),
            ],
            array: false,
        });
        let mut bytes = vec![0u8; 40];
        bytes[..4].copy_from_slice(&(-5i32).to_le_bytes());
        bytes[4] = 0b0001_1000; // flag = 0b11
        bytes[8..16].copy_from_slice(&0xffff_8881_0000_1000u64.to_le_bytes());
        bytes[16..19].copy_from_slice(b"abc");
        for (i, v) in [1u16, 2, 300].iter().enumerate() {
            bytes[20 + 2 * i..22 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        bytes[28..30].copy_from_slice(&7u16.to_le_bytes());
        bytes[30] = 0xff; // past `x`: not part of the field
        assert_eq!(
            value_text(Type::Struct(outer), &bytes, &NoSymbols),
            "{ .neg = -5, .flag = 3, .p = 0xffff888100001000, .name = abc, .arr = [1,2,300], .in = { .x = 7 } }"
        );
        assert_eq!(
            struct_json(outer, &bytes, &NoSymbols).to_string(),
            r#"{"neg":-5,"flag":3,"p":18446612686365003776,"name":"abc","arr":[1,2,300],"in":{"x":7}}"#
        );
    }
}
