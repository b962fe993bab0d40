//! Struct values as bpftrace prints them: `{ .a = 1, .b = { .c = str }, .arr = [1,2] }`.
//! Fields are read at their C width and offset from the copy the probe made; pointers print
//! as addresses (bpftrace 0.17 prints them as signed decimals).

use super::{u64_at, value_text, Resolve};
use crate::sema::types::StructTy;
use crate::sema::Type;

/// A struct as bpftrace prints one: `{ .a = 1, .b = { .c = str }, .arr = [1,2] }`, with
/// pointers as addresses.
pub(super) fn struct_text(st: StructTy, bytes: &[u8], resolve: &dyn Resolve) -> String {
    let fields: Vec<String> = st
        .layout()
        .fields
        .iter()
        .map(|f| {
            let at = bytes.get(f.offset()..).unwrap_or_default();
            let text = if f.bitfield_size > 0 {
                let mut word = [0u8; 16];
                let n = at.len().min(16);
                word[..n].copy_from_slice(&at[..n]);
                let bits = u128::from_le_bytes(word) >> (f.bit_offset % 8);
                (bits & ((1u128 << f.bitfield_size) - 1)).to_string()
            } else if f.count > 0 {
                let size = field_size(f.ty);
                let items: Vec<String> = (0..f.count as usize).map(|i| field_text(f.ty, at.get(i * size..).unwrap_or_default(), resolve)).collect();
                format!("[{}]", items.join(","))
            } else {
                field_text(f.ty, at, resolve)
            };
            format!(".{} = {text}", f.name.as_str())
        })
        .collect();
    if fields.is_empty() {
        return "{}".into();
    }
    format!("{{ {} }}", fields.join(", "))
}

/// Bytes one struct field of type `ty` takes (integers at their own width).
fn field_size(ty: Type) -> usize {
    match ty {
        Type::Int { bits, .. } => usize::from(bits / 8),
        t => t.size(),
    }
}

/// A struct field at the start of `bytes`: integers at their own width, pointers in hex.
fn field_text(ty: Type, bytes: &[u8], resolve: &dyn Resolve) -> String {
    match ty {
        Type::Int { bits, signed } => {
            let n = usize::from(bits / 8).min(bytes.len());
            let mut word = [0u8; 8];
            word[..n].copy_from_slice(&bytes[..n]);
            let raw = u64::from_le_bytes(word);
            if signed && bits < 64 {
                let shift = 64 - u32::from(bits);
                (((raw << shift) as i64) >> shift).to_string()
            } else if signed {
                (raw as i64).to_string()
            } else {
                raw.to_string()
            }
        }
        Type::Ptr { .. } => format!("{:#x}", u64_at(bytes, 0)),
        t => value_text(t, bytes, resolve),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::types::{CType, Field, StackSpec, StructLayout, Sym};

    struct NoSymbols;
    impl Resolve for NoSymbols {
        fn stack(&self, _: StackSpec, _: u64) -> String {
            String::new()
        }
        fn ksym(&self, _: u64) -> String {
            String::new()
        }
        fn usym(&self, _: u64, _: u32) -> String {
            String::new()
        }
        fn timestamp(&self, _: u32, _: u64) -> String {
            String::new()
        }
    }

    fn field(name: &str, bit_offset: u32, ty: Type) -> Field {
        Field { name: Sym::new(name), bit_offset, bitfield_size: 0, ty, count: 0 }
    }

    #[test]
    fn fields_print_at_their_width_offset_and_kind() {
        let inner = StructTy::new(StructLayout { name: Sym::new("struct inner"), size: 4, fields: vec![field("x", 0, Type::Int { bits: 16, signed: false })] });
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
    }
}
