//! printf format strings, parsed once at compile time into literal text and conversion specs.
//! Sema checks each spec against its argument (and formats constant ones itself); the runtime
//! formats events with the specs. Shared and pure: both sides use this module, neither owns it.

mod format;

pub use format::{c_str, format, Arg};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Format {
    pub segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Segment {
    Lit(String),
    Spec(Spec),
}

#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub left: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub width: Option<usize>,
    pub precision: Option<usize>,
    /// `hh` (8), `h` (16) or none (32): the integer is converted to that width first, as C
    /// does with `char`, `short` and `int`; None for the other lengths (`l`, `ll`, `z`...),
    /// which are 64 bits.
    #[serde(default)]
    pub narrow: Option<u8>,
    pub conv: Conv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Conv {
    #[default]
    Signed,
    Unsigned,
    Hex,
    HexUpper,
    Octal,
    Char,
    Str,
    /// `%rx`: a buffer with every byte as `\xNN`.
    BufHex,
    /// `%rh`: a buffer with every byte as two hex digits, separated by spaces.
    BufHexSpaced,
    Pointer,
    /// `%gr`: GFP flags by name (`GFP_KERNEL|__GFP_ZERO`), which userspace renders.
    GfpFlags,
}

impl Conv {
    /// What the argument must be: true for a string, false for an integer.
    pub fn wants_string(self) -> bool {
        matches!(self, Conv::Str | Conv::BufHex | Conv::BufHexSpaced)
    }
}

impl Format {
    pub fn specs(&self) -> impl Iterator<Item = &Spec> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Spec(s) => Some(s),
            Segment::Lit(_) => None,
        })
    }

    /// Why `args` arguments cannot follow this format, if they cannot.
    pub fn count_mismatch(&self, args: usize) -> Option<String> {
        let specs = self.specs().count();
        let plural = |n: usize, what: &str| if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") };
        let follow = if args == 1 { "follows" } else { "follow" };
        (specs != args).then(|| format!("the format has {} but {} {follow}", plural(specs, "conversion"), plural(args, "argument")))
    }
}

/// Parses `fmt`; the error is a message about the first bad conversion.
pub fn parse(fmt: &str) -> Result<Format, String> {
    let mut segments = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            lit.push('%');
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alt = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        let mut length = String::new();
        while let Some(&m @ ('l' | 'h' | 'z' | 'j' | 't')) = chars.peek() {
            length.push(m);
            chars.next();
        }
        spec.conv = match chars.next() {
            Some('d' | 'i') => Conv::Signed,
            Some('u') => Conv::Unsigned,
            Some('x') => Conv::Hex,
            Some('X') => Conv::HexUpper,
            Some('o') => Conv::Octal,
            Some('c') => Conv::Char,
            // `%r` prints a buffer (`buf()`), which userspace renders as escaped text; `%rx`
            // and `%rh` in hex.
            Some('r') if chars.peek() == Some(&'x') => {
                chars.next();
                Conv::BufHex
            }
            Some('r') if chars.peek() == Some(&'h') => {
                chars.next();
                Conv::BufHexSpaced
            }
            Some('g') if chars.peek() == Some(&'r') => {
                chars.next();
                Conv::GfpFlags
            }
            Some('s' | 'r') => Conv::Str,
            Some('p') => Conv::Pointer,
            Some('$') => return Err("positional conversions (`%1$d`) are not supported: give the arguments in the order they print".into()),
            Some('*') => return Err("`*` widths and precisions are not supported: write the number in the format (`%8d`)".into()),
            Some(f @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | 'a' | 'A')) => return Err(format!("`%{f}` prints a floating-point number, and rtrace has none")),
            Some(other) => return Err(format!("unknown conversion `%{other}`")),
            None => return Err("the format string ends in the middle of a conversion".into()),
        };
        // C's lengths, as bpftrace applies them: no length is an `int` (32 bits), `hh` a char,
        // `h` a short; `l`, `ll`, `j`, `z`, `t` are 64 bits.
        if matches!(spec.conv, Conv::Signed | Conv::Unsigned | Conv::Hex | Conv::HexUpper | Conv::Octal) {
            spec.narrow = match length.as_str() {
                "hh" => Some(8),
                "h" => Some(16),
                "" => Some(32),
                _ => None,
            };
        }
        if !lit.is_empty() {
            segments.push(Segment::Lit(std::mem::take(&mut lit)));
        }
        segments.push(Segment::Spec(spec));
    }
    if !lit.is_empty() {
        segments.push(Segment::Lit(lit));
    }
    Ok(Format { segments })
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}
