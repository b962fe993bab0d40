//! Tokens (logos) plus the one piece of context bpftrace's lexer needs: outside probe bodies,
//! attach points such as `tracepoint:syscalls:sys_enter_*` or `uprobe:/bin/bash:readline` are
//! single tokens, and a `/` followed by `{` closes a predicate. Everything else is context-free
//! and left to logos; the wrapper only tracks brace depth and whether a predicate is open.

use logos::Logos;

use super::span::{FileId, Span};

#[derive(Logos, Clone, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
#[logos(skip r"/\*([^*]|\*+[^*/])*\*+/")]
pub enum Tok {
    /// `/*` with no `*/` after it: the skip pattern matches terminated comments only, and
    /// is longer, so this is only ever an unterminated one (reported, never parsed).
    #[token("/*")]
    UnterminatedComment,
    #[regex(r"[0-9][0-9_]*|0[xX][0-9a-fA-F_]+|0[bB][01_]+|[0-9]+[eE][0-9]+", priority = 3, callback = |lex| parse_int(lex.slice()))]
    // `100ms`, `1s`: a duration, in nanoseconds.
    #[regex(r"[0-9][0-9_]*(ns|us|ms|s|m|h|d)", priority = 3, callback = |lex| parse_duration(lex.slice()))]
    Int(u64),
    /// `$1`: a positional parameter.
    #[regex(r"\$[0-9]+", |lex| lex.slice()[1..].parse::<u32>().ok())]
    Positional(u32),
    /// `$#`: how many positional parameters there are.
    #[token("$#")]
    ParamCount,
    // A string may hold a newline, as in bpftrace (`-e "$(echo ...)"` under a shell whose
    // echo turns `\n` into one).
    #[regex(r#""([^"\\]|\\.)*""#, |lex| unescape(lex.slice()))]
    Str(String),
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice().to_string())]
    Ident(String),
    #[regex(r"@[A-Za-z0-9_]*", |lex| lex.slice()[1..].to_string())]
    Map(String),
    #[regex(r"\$[A-Za-z_][A-Za-z0-9_]*", |lex| lex.slice()[1..].to_string())]
    Var(String),
    /// A whole attach point; produced by the wrapper, never by logos.
    AttachPoint(String),
    /// The `/` that closes a predicate; produced by the wrapper.
    EndPred,
    /// `config` starting the config block; produced by the wrapper.
    Config,
    /// `macro` starting a macro definition; produced by the wrapper.
    Macro,
    /// `_` in `_ = expr;`, which discards a value; produced by the wrapper.
    Discard,
    /// `typeof` before `(`: a type where a macro takes one (`container_of(p, typeof(struct
    /// x), field)`); produced by the wrapper.
    Typeof,

    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("while")]
    While,
    #[token("unroll")]
    Unroll,
    #[token("for")]
    For,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,
    #[token("return")]
    Return,
    #[token("let")]
    Let,
    #[token("sizeof")]
    Sizeof,
    #[token("offsetof")]
    Offsetof,
    /// `struct`, `union` or `enum`, which start a C type name.
    #[regex("struct|union|enum", |lex| lex.slice().to_string())]
    CTypeKeyword(String),
    /// A builtin type name (`uint32`, `int8`, `bool`, `string`...), so that `(uint32)x` parses
    /// as a cast.
    #[regex("u?int(8|16|32|64)|bool|string|void|char|short|int|long", |lex| lex.slice().to_string(), priority = 3)]
    TypeName(String),

    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("?")]
    Question,
    #[token(".")]
    Dot,
    #[token("->")]
    Arrow,
    #[token("..")]
    DotDot,
    #[token("++")]
    PlusPlus,
    #[token("--")]
    MinusMinus,
    #[regex(r"(\+|-|\*|/|%|&|\||\^|<<|>>)=", |lex| lex.slice().trim_end_matches('=').to_string())]
    CompoundAssign(String),
    #[token("=")]
    Assign,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("!")]
    Bang,
    #[token("~")]
    Tilde,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Int(n) => write!(f, "`{n}`"),
            Tok::Positional(n) => write!(f, "`${n}`"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            Tok::Ident(s) => write!(f, "`{s}`"),
            Tok::Map(s) => write!(f, "`@{s}`"),
            Tok::Var(s) => write!(f, "`${s}`"),
            Tok::AttachPoint(s) => write!(f, "attach point `{s}`"),
            Tok::CTypeKeyword(s) | Tok::TypeName(s) => write!(f, "`{s}`"),
            Tok::CompoundAssign(op) => write!(f, "`{op}=`"),
            Tok::EndPred => write!(f, "`/`"),
            Tok::Config => write!(f, "`config`"),
            Tok::Macro => write!(f, "`macro`"),
            Tok::Discard => write!(f, "`_`"),
            Tok::Typeof => write!(f, "`typeof`"),
            other => write!(f, "`{}`", punct(other)),
        }
    }
}

fn punct(t: &Tok) -> &'static str {
    use Tok::*;
    match t {
        UnterminatedComment => "/*",
        If => "if",
        Else => "else",
        While => "while",
        Unroll => "unroll",
        For => "for",
        Break => "break",
        Continue => "continue",
        Return => "return",
        Let => "let",
        Sizeof => "sizeof",
        Offsetof => "offsetof",
        DotDot => "..",
        PlusPlus => "++",
        MinusMinus => "--",
        LBrace => "{",
        RBrace => "}",
        LParen => "(",
        RParen => ")",
        LBracket => "[",
        RBracket => "]",
        Comma => ",",
        Semi => ";",
        Colon => ":",
        Question => "?",
        Dot => ".",
        Arrow => "->",
        Assign => "=",
        Plus => "+",
        Minus => "-",
        Star => "*",
        Slash => "/",
        Percent => "%",
        Amp => "&",
        Pipe => "|",
        Caret => "^",
        Shl => "<<",
        Shr => ">>",
        Bang => "!",
        Tilde => "~",
        AndAnd => "&&",
        OrOr => "||",
        EqEq => "==",
        NotEq => "!=",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
        ParamCount => "$#",
        Int(_) | Positional(_) | Str(_) | Ident(_) | Map(_) | Var(_) | AttachPoint(_) | EndPred | Config | Macro | Discard | Typeof | CTypeKeyword(_)
        | TypeName(_) | CompoundAssign(_) => "?",
    }
}

/// What a token with fixed text is, for tools that read the language (the editor grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClass {
    /// `if`, `while`, `return`...
    Control,
    /// `let`, `sizeof`, `config`...
    Keyword,
    /// `struct`, `uint32`...
    Type,
    Operator,
    Punctuation,
}

/// The token table: every token whose text is fixed, with its class. The `#[token]`
/// attributes above are the lexer; a test checks each of them is here and lexes back to the
/// same token, so the editor grammar generated from this table (`sema::reference`) follows
/// the lexer.
pub const TOKEN_TABLE: &[(&str, TokenClass)] = {
    use TokenClass::*;
    &[
        ("if", Control),
        ("else", Control),
        ("while", Control),
        ("unroll", Control),
        ("for", Control),
        ("break", Control),
        ("continue", Control),
        ("return", Control),
        ("let", Keyword),
        ("sizeof", Keyword),
        ("offsetof", Keyword),
        ("typeof", Keyword),
        ("config", Keyword),
        ("macro", Keyword),
        ("struct", Type),
        ("union", Type),
        ("enum", Type),
        ("uint8", Type),
        ("uint16", Type),
        ("uint32", Type),
        ("uint64", Type),
        ("int8", Type),
        ("int16", Type),
        ("int32", Type),
        ("int64", Type),
        ("bool", Type),
        ("string", Type),
        ("void", Type),
        ("char", Type),
        ("short", Type),
        ("int", Type),
        ("long", Type),
        ("..", Operator),
        ("++", Operator),
        ("--", Operator),
        ("->", Operator),
        ("+=", Operator),
        ("-=", Operator),
        ("*=", Operator),
        ("/=", Operator),
        ("%=", Operator),
        ("&=", Operator),
        ("|=", Operator),
        ("^=", Operator),
        ("<<=", Operator),
        (">>=", Operator),
        ("=", Operator),
        ("+", Operator),
        ("-", Operator),
        ("*", Operator),
        ("/", Operator),
        ("%", Operator),
        ("&", Operator),
        ("|", Operator),
        ("^", Operator),
        ("<<", Operator),
        (">>", Operator),
        ("!", Operator),
        ("~", Operator),
        ("&&", Operator),
        ("||", Operator),
        ("==", Operator),
        ("!=", Operator),
        ("<", Operator),
        ("<=", Operator),
        (">", Operator),
        (">=", Operator),
        ("?", Operator),
        ("{", Punctuation),
        ("}", Punctuation),
        ("(", Punctuation),
        (")", Punctuation),
        ("[", Punctuation),
        ("]", Punctuation),
        (",", Punctuation),
        (";", Punctuation),
        (":", Punctuation),
        (".", Punctuation),
        ("$#", Punctuation),
    ]
};

/// A duration literal (`ns`, `us`, `ms`, `s`, `m`, `h` or `d` after an integer) in
/// nanoseconds, as bpftrace reads it.
fn parse_duration(s: &str) -> Option<u64> {
    let unit_at = s.find(|c: char| c.is_ascii_alphabetic())?;
    let scale: u64 = match &s[unit_at..] {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => 86_400_000_000_000,
    };
    parse_int(&s[..unit_at])?.checked_mul(scale)
}

/// An integer literal as the language writes it: decimal, `0x`, `0b`, `_` separators, `1e6`.
pub fn parse_int(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    // `1e6`: integer scientific notation, as bpftrace accepts.
    if let Some((m, e)) = s.split_once(['e', 'E']).filter(|_| !s.starts_with("0x") && !s.starts_with("0X")) {
        return m.parse::<u64>().ok()?.checked_mul(10u64.checked_pow(e.parse().ok()?)?);
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        u64::from_str_radix(b, 2).ok()
    } else {
        s.parse().ok()
    }
}

fn unescape(quoted: &str) -> String {
    let inner = &quoted[1..quoted.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            // `\x41` (one or two hex digits) and `\101` (one to three octal digits), as C.
            Some('x') if chars.clone().next().is_some_and(|c| c.is_ascii_hexdigit()) => {
                let digits: String = chars.clone().take(2).take_while(char::is_ascii_hexdigit).collect();
                for _ in 0..digits.len() {
                    chars.next();
                }
                out.push(char::from(u8::from_str_radix(&digits, 16).unwrap_or(0)));
            }
            Some(d @ '0'..='7') => {
                let rest: String = chars.clone().take(2).take_while(|c| ('0'..='7').contains(c)).collect();
                for _ in 0..rest.len() {
                    chars.next();
                }
                let value = u32::from_str_radix(&format!("{d}{rest}"), 8).unwrap_or(0);
                out.push(char::from(value.min(255) as u8));
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl Lexer<'_> {
    /// The first byte in `range` that was not UTF-8 in the script file: read with
    /// `String::from_utf8_lossy`, it is U+FFFD here.
    fn not_utf8(&self, range: std::ops::Range<usize>) -> Option<LexError> {
        let at = range.start + self.src[range].find(char::REPLACEMENT_CHARACTER)?;
        Some(LexError { span: Span::new(self.file, at, at + char::REPLACEMENT_CHARACTER.len_utf8()), kind: LexErrorKind::NotUtf8 })
    }
}

/// A token the lexer could not make sense of.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub span: Span,
    pub kind: LexErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexErrorKind {
    /// A character that is not part of the language.
    Invalid,
    /// A `/*` without its `*/`.
    UnterminatedComment,
    /// An integer literal past 2^64 - 1.
    IntTooLarge,
    /// A byte that is not UTF-8, outside a comment.
    NotUtf8,
    /// A `"` without its closing `"` on the same line.
    UnterminatedString,
    /// `struct Foo { ... }` after the first probe: C definitions come first.
    LateCDefinition,
}

pub type Spanned = Result<(usize, Tok, usize), LexError>;

/// The token stream lalrpop consumes.
pub struct Lexer<'s> {
    src: &'s str,
    file: FileId,
    inner: logos::Lexer<'s, Tok>,
    depth: u32,
    in_predicate: bool,
    /// Inside a top-level `let @m = ...;`.
    in_declaration: bool,
    /// `#define`d names and what the lexer reads in their place.
    constants: Option<&'s std::collections::HashMap<String, super::preprocess::Constant>>,
    /// Names the script's `typedef`s define, read as type names.
    typedefs: std::collections::HashSet<String>,
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str, file: FileId) -> Self {
        let mut inner = Tok::lexer(src);
        // A shebang line is a comment to us.
        if src.starts_with("#!") {
            inner.bump(src.find('\n').unwrap_or(src.len()));
        }
        Lexer { src, file, inner, depth: 0, in_predicate: false, in_declaration: false, constants: None, typedefs: Default::default() }
    }

    /// Reads each `#define`d name as its value.
    pub fn with_constants(mut self, constants: &'s std::collections::HashMap<String, super::preprocess::Constant>) -> Self {
        if !constants.is_empty() {
            self.constants = Some(constants);
        }
        self
    }

    /// Reads each of `names` as a type name (`Bar` after `typedef struct Foo Bar;`).
    pub fn with_typedefs(mut self, names: std::collections::HashSet<String>) -> Self {
        self.typedefs = names;
        self
    }

    /// Offset of the next non-blank, non-comment byte at or after `pos`.
    fn skip_trivia(&self, mut pos: usize) -> usize {
        let b = self.src.as_bytes();
        loop {
            while pos < b.len() && b[pos].is_ascii_whitespace() {
                pos += 1;
            }
            if b[pos..].starts_with(b"//") {
                pos = self.src[pos..].find('\n').map_or(b.len(), |n| pos + n);
            } else if b[pos..].starts_with(b"/*") {
                // An unterminated comment is left for the token lexer to report.
                match self.src[pos + 2..].find("*/") {
                    Some(n) => pos += n + 4,
                    None => return pos,
                }
            } else {
                return pos;
            }
        }
    }

    /// Whether the next non-blank, non-comment text after `pos` starts with `text`.
    /// Whether the word at `start..end` can only be a type, by what surrounds it: `*`s then
    /// `)` (`(size_t *)p`, `sizeof(T *)`), or alone in parentheses before an operand
    /// (`(uint64_t)1`, `(T)$x`), which no expression could be. A type the script does not
    /// define (a kernel typedef, a macro's type parameter) is told apart this way; before
    /// `-`, `*`, `&` or `+` the parentheses stay an expression, as C's grammar would need the
    /// name's meaning to decide.
    fn names_a_type(&self, start: usize, end: usize) -> bool {
        let b = self.src.as_bytes();
        let before = self.src[..start].trim_end();
        // `struct foo *`: the tag after its keyword stays a name.
        if ["struct", "union", "enum"].iter().any(|k| before.strip_suffix(k).is_some_and(|r| !r.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))) {
            return false;
        }
        let mut at = self.skip_trivia(end);
        if b.get(at) == Some(&b'*') {
            while b.get(at) == Some(&b'*') {
                at = self.skip_trivia(at + 1);
            }
            return b.get(at) == Some(&b')');
        }
        if !before.ends_with('(') || b.get(at) != Some(&b')') {
            return false;
        }
        let next = self.skip_trivia(at + 1);
        b.get(next).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'@' | b'"' | b'('))
    }

    fn next_is(&self, pos: usize, text: &str) -> bool {
        self.src[self.skip_trivia(pos)..].starts_with(text)
    }

    /// Whether the `/` at `pos` continues a relative path as a uprobe's or USDT probe's
    /// binary (`uprobe:testprogs/prog:f`): its segment is the second, and a `:` follows the
    /// path before any blank or `{`, which a predicate's `/` never has.
    fn relative_path_at(&self, start: usize, pos: usize) -> bool {
        let text = &self.src[start..pos];
        let mut segments = text.split(':');
        let provider = segments.next().unwrap_or_default();
        if !matches!(provider, "uprobe" | "uretprobe" | "u" | "ur" | "usdt" | "U") || text.matches(':').count() != 1 {
            return false;
        }
        let rest = &self.src[pos..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '{').unwrap_or(rest.len());
        rest[..end].contains(':')
    }

    /// Scans an attach point starting at `start`. A `/` belongs to it only inside a path
    /// segment (`uprobe:/bin/bash:f`); elsewhere it starts a predicate.
    fn scan_attach_point(&self, start: usize) -> usize {
        let b = self.src.as_bytes();
        let mut pos = start;
        let mut segment_is_path = false;
        let mut segment_start = true;
        while pos < b.len() {
            let c = b[pos];
            // A quoted part (`"ns::f(int)"`, `"\"probe1\""`) is taken whole, colons and
            // escaped quotes with it.
            if c == b'"' {
                pos += 1;
                while pos < b.len() && b[pos] != b'"' {
                    pos += if b[pos] == b'\\' { 2 } else { 1 };
                }
                pos = (pos + 1).min(b.len());
                segment_start = false;
                continue;
            }
            let ok = match c {
                b'/' => segment_is_path || segment_start || self.relative_path_at(start, pos),
                b'.' if segment_start => true,
                c if c.is_ascii_alphanumeric() => true,
                b'_' | b'*' | b'?' | b'-' | b'+' | b'.' | b'$' | b'#' | b'[' | b']' | b'@' => true,
                b':' => true,
                _ => false,
            };
            if !ok {
                break;
            }
            if c == b':' {
                segment_start = true;
                segment_is_path = false;
            } else {
                if segment_start && (c == b'/' || c == b'.') {
                    segment_is_path = true;
                }
                segment_start = false;
            }
            pos += 1;
        }
        pos
    }
}

impl Iterator for Lexer<'_> {
    type Item = Spanned;

    fn next(&mut self) -> Option<Spanned> {
        if self.depth == 0 && !self.in_predicate && !self.in_declaration {
            let pos = self.skip_trivia(self.inner.span().end);
            let c = *self.src.as_bytes().get(pos)?;
            // `$1 { ... }`: a positional parameter as a whole attach point (sema substitutes it).
            let param = c == b'$' && self.src.as_bytes().get(pos + 1).is_some_and(u8::is_ascii_digit);
            if c.is_ascii_alphabetic() || c == b'_' || param {
                if super::cdefs::starts_definition(self.src, pos) {
                    let end = pos + self.src[pos..].find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(self.src.len() - pos);
                    return Some(Err(LexError { span: Span::new(self.file, pos, end), kind: LexErrorKind::LateCDefinition }));
                }
                let end = self.scan_attach_point(pos);
                let here = self.inner.span().end;
                self.inner.bump(end - here);
                // `config = { ... }` (the grammar wants it first).
                if &self.src[pos..end] == "config" && self.src.as_bytes().get(self.skip_trivia(end)) == Some(&b'=') {
                    return Some(Ok((pos, Tok::Config, end)));
                }
                // `macro name(params) { ... }` at the top level: ordinary tokens up to its `{`.
                if &self.src[pos..end] == "macro" && self.src[self.skip_trivia(end)..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    self.in_declaration = true;
                    return Some(Ok((pos, Tok::Macro, end)));
                }
                // `let @m = hash(N);` at the top level.
                if &self.src[pos..end] == "let" && self.src.as_bytes().get(self.skip_trivia(end)) == Some(&b'@') {
                    // Up to its `;`, a declaration is ordinary tokens.
                    self.in_declaration = true;
                    return Some(Ok((pos, Tok::Let, end)));
                }
                return Some(Ok((pos, Tok::AttachPoint(self.src[pos..end].to_string()), end)));
            }
        }
        let tok = self.inner.next()?;
        let span = self.inner.span();
        let tok = match tok {
            Ok(Tok::UnterminatedComment) => {
                return Some(Err(LexError { span: Span::new(self.file, span.start, self.src.len()), kind: LexErrorKind::UnterminatedComment }))
            }
            // A string cannot hold a byte that is not UTF-8 (comments can: they are skipped).
            Ok(Tok::Str(_)) if self.not_utf8(span.clone()).is_some() => return self.not_utf8(span).map(Err),
            Ok(t) => t,
            Err(()) => {
                // Digits the integer pattern matched but could not hold; a `"` the string
                // pattern found no end for.
                let text = &self.src[span.clone()];
                let kind = if text.starts_with(|c: char| c.is_ascii_digit()) {
                    LexErrorKind::IntTooLarge
                } else if text.starts_with('"') {
                    LexErrorKind::UnterminatedString
                } else {
                    LexErrorKind::Invalid
                };
                return Some(Err(self.not_utf8(span.clone()).unwrap_or(LexError { span: Span::new(self.file, span.start, span.end), kind })));
            }
        };
        let tok = match tok {
            Tok::LBrace => {
                self.in_declaration = false;
                self.depth += 1;
                Tok::LBrace
            }
            Tok::RBrace => {
                self.depth = self.depth.saturating_sub(1);
                Tok::RBrace
            }
            Tok::Semi if self.depth == 0 => {
                self.in_declaration = false;
                Tok::Semi
            }
            Tok::Slash if self.depth == 0 => {
                if !self.in_predicate {
                    self.in_predicate = true;
                    Tok::Slash
                } else if self.src.as_bytes().get(self.skip_trivia(span.end)) == Some(&b'{') {
                    self.in_predicate = false;
                    Tok::EndPred
                } else {
                    Tok::Slash
                }
            }
            Tok::Ident(name) => match self.constants.and_then(|c| c.get(&name)) {
                Some(super::preprocess::Constant::Int(n)) => Tok::Int(*n),
                Some(super::preprocess::Constant::Str(text)) => Tok::Str(text.clone()),
                None if name == "_" && self.next_is(span.end, "=") && !self.next_is(span.end, "==") => Tok::Discard,
                None if name == "typeof" && self.next_is(span.end, "(") => Tok::Typeof,
                None if self.typedefs.contains(&name) || self.names_a_type(span.start, span.end) => Tok::TypeName(name),
                None => Tok::Ident(name),
            },
            t => t,
        };
        Some(Ok((span.start, tok, span.end)))
    }
}

#[cfg(test)]
mod table_tests {
    use super::{Tok, TokenClass, TOKEN_TABLE};
    use logos::Logos;

    /// Each entry is one token of the lexer, of the kind its class says.
    #[test]
    fn token_table_entries_lex_as_one_token_of_their_class() {
        for (text, class) in TOKEN_TABLE {
            // `config`, `macro` and `typeof` are words the wrapper reads in context.
            if matches!(*text, "config" | "macro" | "typeof") {
                assert_eq!(Tok::lexer(text).collect::<Vec<_>>(), vec![Ok(Tok::Ident(text.to_string()))]);
                continue;
            }
            let toks: Vec<_> = Tok::lexer(text).collect();
            let [Ok(tok)] = toks.as_slice() else { panic!("`{text}` lexes as {toks:?}") };
            let fits = match class {
                TokenClass::Type => matches!(tok, Tok::TypeName(_) | Tok::CTypeKeyword(_)),
                TokenClass::Operator if text.ends_with('=') && text.len() > 1 && !matches!(*text, "==" | "!=" | "<=" | ">=") => matches!(tok, Tok::CompoundAssign(_)),
                _ => super::punct(tok) == *text,
            };
            assert!(fits, "`{text}` lexes as {tok:?}, not as a {class:?}");
        }
    }

    /// Every token attribute's text in this file is in the table (a new keyword or operator
    /// reaches the editor grammar, or this fails).
    #[test]
    fn every_token_attribute_is_in_the_table() {
        let src = include_str!("lexer.rs");
        for attr in src.split("#[token(\"").skip(1) {
            let text = &attr[..attr.find('"').expect("closing quote")];
            if text == "/*" {
                continue;
            }
            assert!(TOKEN_TABLE.iter().any(|(t, _)| *t == text), "`{text}` is a token of the lexer but not in TOKEN_TABLE");
        }
    }
}
