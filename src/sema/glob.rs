//! `globmatch(s, "pattern")` patterns: `?` one character, `*` any run, `[abc]`, `[a-z]`,
//! `[!abc]`, matched against the whole string. Parsed when the script compiles into tokens
//! that codegen runs as a bit-parallel NFA (codegen/glob.rs).

/// The most tokens a pattern may have: one state bit each, and bit 0 for the start, in a
/// 64-bit word.
pub const MAX_TOKENS: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `*`: any run of characters, empty included.
    Star,
    /// One character that `set` accepts.
    One(CharSet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharSet {
    /// `?`
    Any,
    Byte(u8),
    /// `[...]`: inclusive byte ranges (a single character is a range of one).
    Class {
        ranges: Vec<(u8, u8)>,
        negated: bool,
    },
}

impl CharSet {
    pub fn accepts(&self, c: u8) -> bool {
        match self {
            CharSet::Any => true,
            CharSet::Byte(b) => *b == c,
            CharSet::Class { ranges, negated } => ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated,
        }
    }
}

/// The tokens of `pattern`, runs of `*` folded into one; Err says what is wrong with it.
pub fn parse(pattern: &str) -> Result<Vec<Token>, String> {
    let bytes = pattern.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let token = match bytes[i] {
            b'*' if tokens.last() == Some(&Token::Star) => {
                i += 1;
                continue;
            }
            b'*' => Token::Star,
            b'?' => Token::One(CharSet::Any),
            b'[' => {
                let (set, end) = class(bytes, i)?;
                i = end;
                Token::One(set)
            }
            b => Token::One(CharSet::Byte(b)),
        };
        tokens.push(token);
        i += 1;
    }
    if tokens.len() > MAX_TOKENS {
        return Err(format!("the pattern has {} parts (characters, classes and `*`s); at most {MAX_TOKENS} are matched", tokens.len()));
    }
    Ok(tokens)
}

/// The class opened by `[` at `start`, and the index of its closing `]`. A `]` right after
/// `[` or `[!` is a member; `-` between two members is a range, else a member.
fn class(bytes: &[u8], start: usize) -> Result<(CharSet, usize), String> {
    let mut i = start + 1;
    let negated = bytes.get(i) == Some(&b'!');
    if negated {
        i += 1;
    }
    let first = i;
    let mut ranges = Vec::new();
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(format!("the class opened at byte {start} has no closing `]`"));
        };
        if c == b']' && i > first {
            break;
        }
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'-'), Some(&hi)) if hi != b']' => {
                if hi < c {
                    return Err(format!("the range `{}-{}` is backwards", c as char, hi as char));
                }
                ranges.push((c, hi));
                i += 3;
            }
            _ => {
                ranges.push((c, c));
                i += 1;
            }
        }
    }
    Ok((CharSet::Class { ranges, negated }, i))
}

/// Indexes of the `*` tokens.
pub fn star_tokens(tokens: &[Token]) -> impl Iterator<Item = usize> + '_ {
    tokens.iter().enumerate().filter(|(_, t)| **t == Token::Star).map(|(k, _)| k)
}

/// Bit k+1 of `stars(tokens)` is set when token k is `*`.
pub fn stars(tokens: &[Token]) -> u64 {
    star_tokens(tokens).map(|k| 1 << (k + 1)).sum()
}

/// State `d` with every star entered that it reaches without a byte (bit k to bit k+1 for a
/// star token k, in order, so runs of stars chain).
pub fn close(tokens: &[Token], mut d: u64) -> u64 {
    for k in star_tokens(tokens) {
        d |= (d & (1 << k)) << 1;
    }
    d
}

/// For each byte value, the tokens that take it: bit k+1 for token k. The BPF code looks
/// the string's bytes up in this table (a map userspace fills), so the verifier sees an
/// unknown word instead of a branch per token.
pub fn accept_table(tokens: &[Token]) -> Vec<u64> {
    (0..=255u8).map(|c| tokens.iter().enumerate().filter(|(_, t)| matches!(t, Token::One(set) if set.accepts(c))).map(|(k, _)| 1u64 << (k + 1)).sum()).collect()
}

/// Whether `s` matches `tokens`: the reference the BPF code is tested against.
pub fn matches(tokens: &[Token], s: &[u8]) -> bool {
    // The same bit-parallel NFA codegen emits: bit j set = the first j tokens matched.
    let stars = stars(tokens);
    let table = accept_table(tokens);
    let mut d = close(tokens, 1);
    for &c in s {
        d = close(tokens, ((d << 1) & table[usize::from(c)]) | (d & stars));
    }
    d & (1 << tokens.len()) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, s: &str) -> bool {
        matches(&parse(p).expect("pattern parses"), s.as_bytes())
    }

    #[test]
    fn matches_like_fnmatch_without_path_rules() {
        let cases = [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("*", "a/b", true),
            ("a*", "a", true),
            ("*c", "abc", true),
            ("*c", "abcd", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "acb", false),
            ("*ab*ab*", "xabyab", true),
            ("*ab*ab*", "xab", false),
            ("**a", "ba", true),
            ("[abc]x", "bx", true),
            ("[a-z]*", "q1", true),
            ("[a-z]*", "Q1", false),
            ("[!a-z]*", "Q1", true),
            ("[]x]", "]", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("sys_*_openat", "sys_enter_openat", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(glob(p, s), want, "globmatch({s:?}, {p:?})");
        }
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(parse("a[bc").unwrap_err().contains("no closing"));
        assert!(parse("[z-a]").unwrap_err().contains("backwards"));
        assert!(parse(&"a".repeat(64)).unwrap_err().contains("at most 63"));
        assert_eq!(parse("a***b").expect("parses").len(), 3);
    }
}
