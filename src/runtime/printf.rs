//! Formats printf events in userspace with the specs sema parsed at compile time.

use std::fmt::Write;

use crate::sema::printf::{Conv, Format, Segment, Spec};

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
    let (body, numeric) = match (spec.conv, arg) {
        (Conv::Str | Conv::BufHex | Conv::BufHexSpaced, Arg::Str(b)) => {
            let s = c_str(b);
            let s = match spec.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            (s, false)
        }
        (Conv::Char, Arg::Int { bits, .. }) => ((*bits as u8 as char).to_string(), false),
        (conv, Arg::Int { bits, signed: _ }) => {
            let sign_plus = |neg: bool, digits: String| {
                if neg {
                    format!("-{digits}")
                } else if spec.plus {
                    format!("+{digits}")
                } else if spec.space {
                    format!(" {digits}")
                } else {
                    digits
                }
            };
            let s = match conv {
                Conv::Signed => {
                    let v = *bits as i64;
                    sign_plus(v < 0, v.unsigned_abs().to_string())
                }
                Conv::Unsigned => bits.to_string(),
                Conv::Hex => format!("{}{:x}", if spec.alt && *bits != 0 { "0x" } else { "" }, bits),
                Conv::HexUpper => format!("{}{:X}", if spec.alt && *bits != 0 { "0X" } else { "" }, bits),
                Conv::Octal => format!("{}{:o}", if spec.alt { "0" } else { "" }, bits),
                Conv::Pointer => format!("0x{bits:x}"),
                _ => bits.to_string(),
            };
            (s, true)
        }
        (_, Arg::Str(b)) => (c_str(b), false),
    };
    let width = spec.width.unwrap_or(0);
    let len = body.chars().count();
    if len >= width {
        out.push_str(&body);
    } else if spec.left {
        let _ = write!(out, "{body:<width$}");
    } else if spec.zero && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+', ' ']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body.as_str()),
        };
        let pad = width - len;
        let _ = write!(out, "{sign}{}{digits}", "0".repeat(pad));
    } else {
        let _ = write!(out, "{body:>width$}");
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
    use crate::sema::printf::parse;

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
                "%x %X %#x %o %c %u%%",
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
    fn buffer_conversions_take_their_suffix() {
        let convs: Vec<Conv> = parse("%r %rx %rh %rz").expect("valid format").specs().map(|s| s.conv).collect();
        assert_eq!(convs, [Conv::Str, Conv::BufHex, Conv::BufHexSpaced, Conv::Str]);
        // Userspace renders the buffer as text first (output::buf_hex); the text is printed.
        assert_eq!(f("%rh|%rz", &[Arg::Str(b"0a fe"), Arg::Str(b"ab")]), "0a fe|abz");
    }
}
