//! Formats printf events in userspace with the specs sema parsed at compile time.

use std::fmt::Write;

use crate::printf::{Conv, Format, Segment, Spec};

pub enum Arg<'a> {
    Int { bits: u64, signed: bool },
    Str(&'a [u8]),
}

pub fn format(fmt: &Format, args: &[Arg<'_>], out: &mut String) {
    let mut args = args.iter();
    for seg in &fmt.segments {
        match seg {
            Segment::Lit(s) => out.push_str(s),
            Segment::Spec(spec) => {
                if let Some(a) = args.next() {
                    format_one(spec, a, out);
                }
            }
        }
    }
}

fn format_one(spec: &Spec, arg: &Arg<'_>, out: &mut String) {
    // A number is its prefix (sign, `0x`), then its digits: precision pads the digits, and
    // the `0` flag (without a precision) pads between the two, as C's printf does.
    let (prefix, body, numeric) = match (spec.conv, arg) {
        (Conv::Str | Conv::BufHex | Conv::BufHexSpaced, Arg::Str(b)) => {
            let s = c_str(b);
            let s = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            (String::new(), s, false)
        }
        (Conv::Char, Arg::Int { bits, .. }) => (String::new(), (*bits as u8 as char).to_string(), false),
        (conv, Arg::Int { bits, signed: _ }) => {
            // `%hhd` of 300 is 44, `%hx` of -1 is ffff: the value at the length's width,
            // sign-extended for the signed conversion.
            let narrowed = match spec.narrow {
                Some(n) if conv == Conv::Signed => (((*bits << (64 - n)) as i64) >> (64 - n)) as u64,
                Some(n) => *bits & ((1u64 << n) - 1),
                None => *bits,
            };
            let bits = &narrowed;
            let sign = |neg: bool| {
                if neg {
                    "-"
                } else if spec.plus {
                    "+"
                } else if spec.space {
                    " "
                } else {
                    ""
                }
            };
            let (prefix, digits) = match conv {
                Conv::Signed => {
                    let v = *bits as i64;
                    (sign(v < 0), v.unsigned_abs().to_string())
                }
                Conv::Unsigned => ("", bits.to_string()),
                Conv::Hex => (if spec.alt && *bits != 0 { "0x" } else { "" }, format!("{bits:x}")),
                Conv::HexUpper => (if spec.alt && *bits != 0 { "0X" } else { "" }, format!("{bits:X}")),
                Conv::Octal => (if spec.alt { "0" } else { "" }, format!("{bits:o}")),
                Conv::Pointer => ("0x", format!("{bits:x}")),
                _ => ("", bits.to_string()),
            };
            let digits = match spec.precision {
                Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
                _ => digits,
            };
            (prefix.to_string(), digits, true)
        }
        (_, Arg::Str(b)) => (String::new(), c_str(b), false),
    };
    let width = spec.width.unwrap_or(0);
    let len = prefix.chars().count() + body.chars().count();
    if len >= width {
        out.push_str(&prefix);
        out.push_str(&body);
    } else if spec.left {
        let _ = write!(out, "{:<width$}", format!("{prefix}{body}"));
    } else if spec.zero && numeric && spec.precision.is_none() {
        let _ = write!(out, "{prefix}{}{body}", "0".repeat(width - len));
    } else {
        let _ = write!(out, "{:>width$}", format!("{prefix}{body}"));
    }
}

/// Bytes up to the first NUL, lossily decoded.
pub fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printf::parse;

    fn f(fmt: &str, args: &[Arg<'_>]) -> String {
        let mut s = String::new();
        format(&parse(fmt).expect("valid format"), args, &mut s);
        s
    }

    #[test]
    fn widths_flags_and_conversions() {
        let neg = Arg::Int { bits: (-42i64) as u64, signed: true };
        assert_eq!(
            f("[%d|%5d|%-5d|%05d]", &[Arg::Int { bits: 7, signed: true }, Arg::Int { bits: 7, signed: true }, Arg::Int { bits: 7, signed: true }, neg]),
            "[7|    7|7    |-0042]"
        );
        assert_eq!(
            f(
                "%x %X %#x %o %c %lu%%",
                &[
                    Arg::Int { bits: 255, signed: false },
                    Arg::Int { bits: 255, signed: false },
                    Arg::Int { bits: 255, signed: false },
                    Arg::Int { bits: 8, signed: false },
                    Arg::Int { bits: 65, signed: false },
                    Arg::Int { bits: u64::MAX, signed: false }
                ]
            ),
            "ff FF 0xff 10 A 18446744073709551615%"
        );
        assert_eq!(f("%-6s|%6s|%.2s", &[Arg::Str(b"ab\0zz"), Arg::Str(b"ab"), Arg::Str(b"abc")]), "ab    |    ab|ab");
        assert_eq!(
            f("%lu %lld %llx", &[Arg::Int { bits: 1, signed: false }, Arg::Int { bits: 2, signed: true }, Arg::Int { bits: 16, signed: false }]),
            "1 2 10"
        );
    }

    #[test]
    fn no_length_is_a_32_bit_int_as_in_c() {
        let x = |signed| Arg::Int { bits: 0x0012_3456_78ab_cdef, signed };
        assert_eq!(f("%hhx %hx %x %jx %lx", &[x(false), x(false), x(false), x(false), x(false)]), "ef cdef 78abcdef 12345678abcdef 12345678abcdef");
        let big = Arg::Int { bits: (1u64 << 32) + 5, signed: true };
        let neg = Arg::Int { bits: 0xffff_ffff, signed: true };
        assert_eq!(f("%d %d %u %ld", &[big, neg, Arg::Int { bits: u64::MAX, signed: false }, Arg::Int { bits: (1u64 << 32) + 5, signed: true }]), "5 -1 4294967295 4294967301");
    }

    #[test]
    fn precision_pads_digits_and_zeros_follow_the_prefix() {
        let i = |v: i64| Arg::Int { bits: v as u64, signed: true };
        assert_eq!(f("%#08x|%08.3d|%.3d|%05d|%-6d|%+d|%#o", &[i(255), i(5), i(5), i(-42), i(7), i(3), i(8)]), "0x0000ff|     005|005|-0042|7     |+3|010");
    }

    #[test]
    fn h_and_hh_narrow_the_integer() {
        let i = |v: i64| Arg::Int { bits: v as u64, signed: true };
        assert_eq!(f("%hhd %hd %hhu %hx %hhd", &[i(300), i(70000), i(-1), i(-1), i(200)]), "44 4464 255 ffff -56");
    }

    #[test]
    fn buffer_conversions_take_their_suffix() {
        let convs: Vec<Conv> = parse("%r %rx %rh %rz").expect("valid format").specs().map(|s| s.conv).collect();
        assert_eq!(convs, [Conv::Str, Conv::BufHex, Conv::BufHexSpaced, Conv::Str]);
        // Userspace renders the buffer as text first (output::buf_hex); the text is printed.
        assert_eq!(f("%rh|%rz", &[Arg::Str(b"0a fe"), Arg::Str(b"ab")]), "0a fe|abz");
    }
}
