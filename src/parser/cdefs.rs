//! C definitions at the top of a script (`struct Foo { int a; char b[10]; }`, `union`,
//! `enum`, `typedef`), taken off the text before the lexer sees it.
//!
//! bpftrace hands these to clang; rtrace parses the C it needs here, a recursive descent over
//! the logos tokens: type specifiers, declarators with pointers, arrays, bit fields and
//! function pointers, nested and anonymous records, enumerators with constant values,
//! `__attribute__((packed))` and `aligned(N)`. What is a definition follows bpftrace's
//! parser: at the start of the script, `struct`/`union`/`enum` then names or bracketed
//! groups up to a `{` (so `struct:probe` stays an attach point), through the matching `}`,
//! attributes, and an optional `;`. rtrace also takes `typedef ...;` and forward
//! declarations (`struct Foo;`) there. The definitions are blanked from the text (newlines
//! kept), so every span the lexer makes is still the script's own; sema lays them out.

use std::collections::HashMap;

use logos::Logos;

use super::ast::{BinOp, CConst, CConstKind, CDeclarator, CDef, CDefKind, CEnumerator, CMember, CRecord, CTypeSpec, Ident, UnaryOp};
use super::lexer::Tok;
use super::preprocess::Constant;
use super::span::{FileId, Span};

/// A C definition that does not parse: where, and what was expected there.
#[derive(Debug, Clone, PartialEq)]
pub struct CSyntaxError {
    pub span: Span,
    pub found: String,
    pub expected: String,
}

/// Takes the C definitions off the start of `text` (blanking them) and parses them.
pub fn take(text: &mut String, file: FileId, constants: &HashMap<String, Constant>) -> Result<Vec<CDef>, CSyntaxError> {
    let mut pos = if text.starts_with("#!") { text.find('\n').unwrap_or(text.len()) } else { 0 };
    let mut defs = Vec::new();
    loop {
        pos = skip_trivia(text, pos);
        if !starts_definition(text, pos) {
            break;
        }
        let mut p = Parser::new(text, pos, file, constants);
        let def = p.definition()?;
        let end = p.end();
        defs.push(def);
        let blanked = super::preprocess::blank(&text[pos..end]);
        text.replace_range(pos..end, &blanked);
        pos = end;
    }
    Ok(defs)
}

/// Whether a C definition (not a probe) starts at `pos`, by bpftrace's rule (plus
/// `typedef` and forward declarations).
pub fn starts_definition(text: &str, pos: usize) -> bool {
    let word_end = ident_end(text, pos);
    match &text[pos..word_end] {
        "typedef" => true,
        "struct" | "union" | "enum" => {
            let mut p = skip_trivia(text, word_end);
            let mut idents = 0;
            while let Some(&c) = text.as_bytes().get(p) {
                match c {
                    b'{' => return true,
                    b';' => return idents == 1,
                    b'(' | b'[' => match balanced(text, p) {
                        Some(after) => p = skip_trivia(text, after),
                        None => return false,
                    },
                    c if c.is_ascii_alphabetic() || c == b'_' => {
                        idents += 1;
                        p = skip_trivia(text, ident_end(text, p));
                    }
                    _ => return false,
                }
            }
            false
        }
        _ => false,
    }
}

fn ident_end(text: &str, mut pos: usize) -> usize {
    let b = text.as_bytes();
    while pos < b.len() && (b[pos].is_ascii_alphanumeric() || b[pos] == b'_') {
        pos += 1;
    }
    pos
}

/// The offset after the group opened at `pos` (`(` or `[`), nesting counted; None if it
/// never closes.
fn balanced(text: &str, pos: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text[pos..].bytes().enumerate() {
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(pos + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn skip_trivia(text: &str, mut pos: usize) -> usize {
    let b = text.as_bytes();
    loop {
        while pos < b.len() && b[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if b[pos..].starts_with(b"//") {
            pos = text[pos..].find('\n').map_or(b.len(), |n| pos + n);
        } else if b[pos..].starts_with(b"/*") {
            match text[pos + 2..].find("*/") {
                Some(n) => pos += n + 4,
                None => return pos,
            }
        } else {
            return pos;
        }
    }
}

/// Words that make up a C base type's name (`unsigned long long`, `const char`).
const TYPE_WORDS: &[&str] = &["unsigned", "signed", "char", "short", "int", "long", "void", "bool", "_Bool", "float", "double"];
/// Qualifiers and storage words that change nothing rtrace reads.
const IGNORED_WORDS: &[&str] = &[
    "const",
    "volatile",
    "restrict",
    "__restrict",
    "__restrict__",
    "__volatile__",
    "__const",
    "static",
    "extern",
    "__user",
    "__rcu",
    "__iomem",
    "__percpu",
    "__force",
    "__packed",
    "inline",
];

type Token = (Tok, Span);

struct Parser<'s> {
    text: &'s str,
    file: FileId,
    lexer: logos::Lexer<'s, Tok>,
    /// Offset of `lexer`'s input in `text`.
    base: usize,
    peeked: Vec<Token>,
    constants: &'s HashMap<String, Constant>,
    /// Where the last token taken ends.
    last_end: usize,
}

impl<'s> Parser<'s> {
    fn new(text: &'s str, pos: usize, file: FileId, constants: &'s HashMap<String, Constant>) -> Self {
        Parser { text, file, lexer: Tok::lexer(&text[pos..]), base: pos, peeked: Vec::new(), constants, last_end: pos }
    }

    fn end(&self) -> usize {
        self.last_end
    }

    fn span(&self, l: usize, r: usize) -> Span {
        Span::new(self.file, l, r)
    }

    fn lex(&mut self) -> Result<Option<Token>, CSyntaxError> {
        let Some(tok) = self.lexer.next() else { return Ok(None) };
        let r = self.lexer.span();
        let span = self.span(self.base + r.start, self.base + r.end);
        match tok {
            Ok(Tok::Ident(name)) => Ok(Some(match self.constants.get(&name) {
                Some(Constant::Int(n)) => (Tok::Int(*n), span),
                _ => (Tok::Ident(name), span),
            })),
            Ok(Tok::UnterminatedComment) | Err(()) => Err(CSyntaxError { span, found: format!("`{}`", &self.text[span.range()]), expected: "C".into() }),
            Ok(t) => Ok(Some((t, span))),
        }
    }

    fn peek_n(&mut self, n: usize) -> Result<Option<&Token>, CSyntaxError> {
        while self.peeked.len() <= n {
            match self.lex()? {
                Some(t) => self.peeked.push(t),
                None => return Ok(None),
            }
        }
        Ok(self.peeked.get(n))
    }

    fn peek(&mut self) -> Result<Option<&Tok>, CSyntaxError> {
        Ok(self.peek_n(0)?.map(|(t, _)| t))
    }

    fn next(&mut self) -> Result<Option<Token>, CSyntaxError> {
        self.peek_n(0)?;
        if self.peeked.is_empty() {
            return Ok(None);
        }
        let t = self.peeked.remove(0);
        self.last_end = t.1.end as usize;
        Ok(Some(t))
    }

    /// Where the next token starts (the end of the text if none).
    fn here(&mut self) -> Result<usize, CSyntaxError> {
        Ok(match self.peek_n(0)? {
            Some((_, s)) => s.start as usize,
            None => self.text.len(),
        })
    }

    fn error(&mut self, expected: &str) -> CSyntaxError {
        match self.peek_n(0) {
            Ok(Some((tok, span))) => CSyntaxError { span: *span, found: tok.to_string(), expected: expected.into() },
            Ok(None) => {
                let end = self.last_end;
                let start = self.text[..end].char_indices().next_back().map_or(end, |(i, _)| i);
                CSyntaxError { span: self.span(start, end), found: "end of input".into(), expected: expected.into() }
            }
            Err(e) => e,
        }
    }

    fn eat(&mut self, tok: &Tok) -> Result<bool, CSyntaxError> {
        if self.peek()? == Some(tok) {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> Result<Span, CSyntaxError> {
        if self.peek()? == Some(tok) {
            return Ok(self.next()?.map(|(_, s)| s).unwrap_or_default());
        }
        Err(self.error(expected))
    }

    fn word(&mut self) -> Result<Option<String>, CSyntaxError> {
        Ok(match self.peek()? {
            Some(Tok::Ident(w) | Tok::TypeName(w) | Tok::CTypeKeyword(w)) => Some(w.clone()),
            Some(Tok::Return) => Some("return".into()),
            _ => None,
        })
    }

    /// A C name: rtrace's own type names and keywords are names to C (`char *string;`).
    fn name_token(tok: &Tok) -> Option<String> {
        match tok {
            Tok::Ident(w) if !w.starts_with("__attribute") => Some(w.clone()),
            Tok::TypeName(w) if !TYPE_WORDS.contains(&w.as_str()) => Some(w.clone()),
            Tok::Let => Some("let".into()),
            Tok::Unroll => Some("unroll".into()),
            Tok::Offsetof => Some("offsetof".into()),
            _ => None,
        }
    }

    fn at_name(&mut self) -> Result<bool, CSyntaxError> {
        Ok(self.peek()?.and_then(Self::name_token).is_some())
    }

    fn ident(&mut self, expected: &str) -> Result<Ident, CSyntaxError> {
        if !self.at_name()? {
            return Err(self.error(expected));
        }
        match self.next()? {
            Some((tok, span)) => Ok(Ident { name: Self::name_token(&tok).unwrap_or_default(), span }),
            None => Err(self.error(expected)),
        }
    }

    /// One top-level definition, through its optional `;`.
    fn definition(&mut self) -> Result<CDef, CSyntaxError> {
        let start = self.here()?;
        let kind = if self.word()?.as_deref() == Some("typedef") {
            self.next()?;
            let ty = self.type_spec()?;
            let mut names = vec![self.declarator(false)?];
            while self.eat(&Tok::Comma)? {
                names.push(self.declarator(false)?);
            }
            if let Some(d) = names.iter().find(|d| d.name.is_none()) {
                return Err(CSyntaxError { span: d.span, found: "no name".into(), expected: "the typedef's name".into() });
            }
            self.expect(&Tok::Semi, "`;` after the typedef")?;
            CDefKind::Typedef { ty, names }
        } else {
            let ty = self.type_spec()?;
            let mut trailing = Attributes::default();
            self.attributes(&mut trailing)?;
            let ty = match ty {
                CTypeSpec::Record(mut r) => {
                    r.packed |= trailing.packed;
                    r.aligned = r.aligned.or(trailing.aligned);
                    CTypeSpec::Record(r)
                }
                t => t,
            };
            // `struct Foo { ... }` needs no `;` (bpftrace's scripts omit it), `struct Foo;`
            // does.
            let has_body = matches!(&ty, CTypeSpec::Record(CRecord { members: Some(_), .. }) | CTypeSpec::Enum { body: Some(_), .. });
            if has_body {
                self.eat(&Tok::Semi)?;
            } else {
                self.expect(&Tok::Semi, "`;` or the definition's `{`")?;
            }
            CDefKind::Type(ty)
        };
        Ok(CDef { kind, span: self.span(start, self.last_end) })
    }

    /// `__attribute__((packed, aligned(8)))`, any number of times.
    fn attributes(&mut self, into: &mut Attributes) -> Result<(), CSyntaxError> {
        while matches!(self.word()?.as_deref(), Some("__attribute__" | "__attribute")) {
            self.next()?;
            self.expect(&Tok::LParen, "`((` after `__attribute__`")?;
            self.expect(&Tok::LParen, "`((` after `__attribute__`")?;
            loop {
                match self.next()? {
                    Some((Tok::Ident(w), _)) if w.trim_matches('_') == "packed" => into.packed = true,
                    Some((Tok::Ident(w), _)) if w.trim_matches('_') == "aligned" => {
                        into.aligned = Some(if self.eat(&Tok::LParen)? {
                            let n = self.constant()?;
                            self.expect(&Tok::RParen, "`)`")?;
                            match n.kind {
                                CConstKind::Int(n) if n.is_power_of_two() => n,
                                _ => return Err(CSyntaxError { span: n.span, found: format!("`{n}`"), expected: "a power of two".into() }),
                            }
                        } else {
                            // The largest alignment x86_64 needs.
                            16
                        });
                    }
                    Some((Tok::Ident(_), _)) => {
                        // Other attributes (`unused`, `preserve_access_index`) and their
                        // arguments change no layout.
                        if self.peek()? == Some(&Tok::LParen) {
                            self.skip_group()?;
                        }
                    }
                    Some((Tok::Comma, _)) => {}
                    Some((Tok::RParen, _)) => {
                        self.expect(&Tok::RParen, "`))` closing the attribute")?;
                        break;
                    }
                    _ => return Err(self.error("an attribute")),
                }
            }
        }
        Ok(())
    }

    /// Skips `( ... )`, nested groups included.
    fn skip_group(&mut self) -> Result<(), CSyntaxError> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Some((Tok::LParen, _)) => depth += 1,
                Some((Tok::RParen, _)) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {}
                None => return Err(self.error("`)`")),
            }
        }
    }

    fn skip_ignored(&mut self) -> Result<(), CSyntaxError> {
        while let Some(w) = self.word()? {
            if !IGNORED_WORDS.contains(&w.as_str()) {
                break;
            }
            self.next()?;
        }
        Ok(())
    }

    /// The base type of a declaration.
    fn type_spec(&mut self) -> Result<CTypeSpec, CSyntaxError> {
        self.skip_ignored()?;
        let start = self.here()?;
        let spec = match self.peek()?.cloned() {
            Some(Tok::CTypeKeyword(kw)) if kw == "enum" => {
                self.next()?;
                let name = if self.at_name()? { Some(self.ident("the enum's name")?) } else { None };
                let body = if self.eat(&Tok::LBrace)? { Some(self.enumerators()?) } else { None };
                if name.is_none() && body.is_none() {
                    return Err(self.error("the enum's name or `{`"));
                }
                CTypeSpec::Enum { name, body, span: self.span(start, self.last_end) }
            }
            Some(Tok::CTypeKeyword(kw)) => {
                self.next()?;
                let mut attrs = Attributes::default();
                self.attributes(&mut attrs)?;
                let name = if self.at_name()? { Some(self.ident("the struct's name")?) } else { None };
                self.attributes(&mut attrs)?;
                let members = if self.eat(&Tok::LBrace)? { Some(self.members()?) } else { None };
                if name.is_none() && members.is_none() {
                    return Err(self.error(&format!("the {kw}'s name or `{{`")));
                }
                let span = self.span(start, self.last_end);
                CTypeSpec::Record(CRecord { union: kw == "union", name, members, packed: attrs.packed, aligned: attrs.aligned, span })
            }
            _ => {
                let mut words = Vec::new();
                while let Some(w) = self.word()? {
                    if IGNORED_WORDS.contains(&w.as_str()) {
                        self.next()?;
                        continue;
                    }
                    // A name that is not a type word: the typedef name when it comes
                    // first, else what is declared.
                    // bpftrace's own names (`uint32`) are types only where a type starts.
                    let type_word = TYPE_WORDS.contains(&w.as_str()) || (words.is_empty() && matches!(self.peek()?, Some(Tok::TypeName(_))));
                    if !type_word && !words.is_empty() {
                        break;
                    }
                    words.push(w.clone());
                    self.next()?;
                    if !type_word {
                        break;
                    }
                }
                if words.is_empty() {
                    return Err(self.error("a type"));
                }
                CTypeSpec::Named { words, span: self.span(start, self.last_end) }
            }
        };
        self.skip_ignored()?;
        Ok(spec)
    }

    /// The members of a struct or union, after its `{`, through its `}`.
    fn members(&mut self) -> Result<Vec<CMember>, CSyntaxError> {
        let mut members = Vec::new();
        loop {
            if self.eat(&Tok::RBrace)? {
                return Ok(members);
            }
            if self.peek()?.is_none() {
                return Err(self.error("a member or the closing `}`"));
            }
            if self.eat(&Tok::Semi)? {
                continue;
            }
            let start = self.here()?;
            let ty = self.type_spec()?;
            let mut declarators = Vec::new();
            if !matches!(self.peek()?, Some(Tok::Semi | Tok::RBrace)) {
                declarators.push(self.declarator(true)?);
                while self.eat(&Tok::Comma)? {
                    declarators.push(self.declarator(true)?);
                }
            }
            let span = self.span(start, self.last_end);
            if declarators.is_empty() && !matches!(&ty, CTypeSpec::Record(CRecord { members: Some(_), .. })) {
                return Err(self.error("the member's name"));
            }
            members.push(CMember { ty, declarators, span });
            // The last member's `;` may be missing, as clang allows (with a warning).
            if self.peek()? != Some(&Tok::RBrace) {
                self.expect(&Tok::Semi, "`;` after the member")?;
            }
        }
    }

    /// `*name[N]`, `(*name)(...)`, `name : bits`.
    fn declarator(&mut self, member: bool) -> Result<CDeclarator, CSyntaxError> {
        let start = self.here()?;
        let mut pointers = 0u8;
        loop {
            if self.eat(&Tok::Star)? {
                pointers = pointers.saturating_add(1);
            } else if matches!(self.word()?.as_deref(), Some(w) if IGNORED_WORDS.contains(&w)) {
                self.next()?;
            } else {
                break;
            }
        }
        let mut function = false;
        let name = if self.peek()? == Some(&Tok::LParen) {
            // `(*name)(params)`: a function pointer; its parameters change nothing.
            self.next()?;
            self.expect(&Tok::Star, "`*` of a function pointer")?;
            let name = self.ident("the function pointer's name")?;
            self.expect(&Tok::RParen, "`)`")?;
            if self.peek()? != Some(&Tok::LParen) {
                return Err(self.error("the function's parameters"));
            }
            self.skip_group()?;
            function = true;
            Some(name)
        } else if self.at_name()? {
            Some(self.ident("a name")?)
        } else if member && self.peek()? == Some(&Tok::Colon) {
            None
        } else {
            return Err(self.error(if member { "the member's name" } else { "a name" }));
        };
        let mut arrays = Vec::new();
        while self.eat(&Tok::LBracket)? {
            if self.eat(&Tok::RBracket)? {
                arrays.push(None);
            } else {
                arrays.push(Some(self.constant()?));
                self.expect(&Tok::RBracket, "`]`")?;
            }
        }
        let bits = if member && self.eat(&Tok::Colon)? { Some(self.constant()?) } else { None };
        let mut attrs = Attributes::default();
        self.attributes(&mut attrs)?;
        Ok(CDeclarator { name, pointers, arrays, function, bits, aligned: attrs.aligned, span: self.span(start, self.last_end) })
    }

    /// `A, B = 2, C, }` after an enum's `{`.
    fn enumerators(&mut self) -> Result<Vec<CEnumerator>, CSyntaxError> {
        let mut out = Vec::new();
        loop {
            if self.eat(&Tok::RBrace)? {
                return Ok(out);
            }
            let name = self.ident("an enumerator's name")?;
            let value = if self.eat(&Tok::Assign)? { Some(self.constant()?) } else { None };
            out.push(CEnumerator { name, value });
            if !self.eat(&Tok::Comma)? && self.peek()? != Some(&Tok::RBrace) {
                return Err(self.error("`,` or `}`"));
            }
        }
    }

    /// A constant expression, C's precedence from `|` down to unary operators.
    fn constant(&mut self) -> Result<CConst, CSyntaxError> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> Result<CConst, CSyntaxError> {
        const LEVELS: &[&[(Tok, BinOp)]] = &[
            &[(Tok::Pipe, BinOp::BitOr)],
            &[(Tok::Caret, BinOp::BitXor)],
            &[(Tok::Amp, BinOp::BitAnd)],
            &[(Tok::Shl, BinOp::Shl), (Tok::Shr, BinOp::Shr)],
            &[(Tok::Plus, BinOp::Add), (Tok::Minus, BinOp::Sub)],
            &[(Tok::Star, BinOp::Mul), (Tok::Slash, BinOp::Div), (Tok::Percent, BinOp::Mod)],
        ];
        let Some(ops) = LEVELS.get(level) else { return self.unary() };
        let mut lhs = self.binary(level + 1)?;
        loop {
            let Some(op) = self.peek()?.and_then(|t| ops.iter().find(|(o, _)| o == t)).map(|(_, op)| *op) else {
                return Ok(lhs);
            };
            self.next()?;
            let rhs = self.binary(level + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = CConst { kind: CConstKind::Binary(op, Box::new(lhs), Box::new(rhs)), span };
        }
    }

    fn unary(&mut self) -> Result<CConst, CSyntaxError> {
        let start = self.here()?;
        let op = match self.peek()? {
            Some(Tok::Minus) => Some(UnaryOp::Neg),
            Some(Tok::Tilde) => Some(UnaryOp::BitNot),
            Some(Tok::Bang) => Some(UnaryOp::Not),
            Some(Tok::Plus) => {
                self.next()?;
                return self.unary();
            }
            _ => None,
        };
        if let Some(op) = op {
            self.next()?;
            let e = self.unary()?;
            return Ok(CConst { span: self.span(start, e.span.end as usize), kind: CConstKind::Unary(op, Box::new(e)) });
        }
        match self.next()? {
            Some((Tok::Int(n), span)) => {
                // C's suffixes (`1UL`) lex as a name right after the digits.
                if matches!(self.peek_n(0)?, Some((Tok::Ident(s), sp)) if sp.start == span.end && s.chars().all(|c| matches!(c, 'u' | 'U' | 'l' | 'L'))) {
                    self.next()?;
                }
                Ok(CConst { kind: CConstKind::Int(n), span: self.span(span.start as usize, self.last_end) })
            }
            Some((Tok::Ident(name), span)) => Ok(CConst { kind: CConstKind::Name(name), span }),
            Some((Tok::LParen, _)) => {
                let e = self.constant()?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(e)
            }
            Some((tok, span)) => {
                self.peeked.insert(0, (tok, span));
                Err(self.error("a constant"))
            }
            None => Err(self.error("a constant")),
        }
    }
}

#[derive(Default)]
struct Attributes {
    packed: bool,
    aligned: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(src: &str) -> (String, String) {
        let mut text = src.to_string();
        let defs = take(&mut text, 0, &HashMap::new()).expect("parses");
        (defs.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"), text)
    }

    #[test]
    fn definitions_are_taken_off_the_text() {
        let src = "struct Foo { int a; char b[10]; struct Foo *next; }\nunion U { int i; char c; };\nBEGIN { }";
        let (d, text) = defs(src);
        assert_eq!(d, "(c struct Foo { (int a) (char b[10]) (struct Foo *next) })\n(c union U { (int i) (char c) })");
        assert_eq!(text.len(), src.len());
        assert_eq!(text.trim_start(), "BEGIN { }");
        assert_eq!(text.find("BEGIN"), src.find("BEGIN"));
    }

    #[test]
    fn attach_points_are_not_definitions() {
        for src in ["struct:probe { }", "BEGIN { }", "enum_x:y { }", "struct Foo:bar { }"] {
            assert_eq!(defs(src).0, "", "{src}");
        }
    }

    #[test]
    fn bitfields_enums_typedefs_and_attributes() {
        let (d, _) = defs(
            "struct Bar { short a:4, b:8; unsigned int :0; int e:9 } __attribute__((packed))\nenum E { A = 1, B, C = 1 << 3, };\ntypedef struct Bar Baz, *BazP;\nstruct F;\nBEGIN {}",
        );
        assert_eq!(
            d,
            "(c struct Bar packed { (short a:4 b:8) (unsigned int _:0) (int e:9) })\n(c enum E { A=1 B C=(Shl 1 3) })\n(typedef struct Bar Baz *BazP)\n(c struct F)"
        );
    }

    #[test]
    fn nested_anonymous_and_function_pointers() {
        let (d, _) = defs("struct Foo { struct { int x; } y; union { int i; }; void (*cb)(int, char *); const char *s; unsigned long long z[2][3]; } i:s:1 {}");
        assert_eq!(d, "(c struct Foo { (struct { (int x) } y) (union { (int i) }) (void (*cb)()) (char *s) (unsigned long long z[2][3]) })");
    }

    #[test]
    fn rtrace_words_are_c_names() {
        let (d, _) = defs("struct string { char *string; int let; uint32 uint64; } BEGIN {}");
        assert_eq!(d, "(c struct string { (char *string) (int let) (uint32 uint64) })");
    }

    #[test]
    fn errors_point_at_the_token() {
        let mut text = "struct Foo { int ; }".to_string();
        let e = take(&mut text, 0, &HashMap::new()).expect_err("refused");
        assert_eq!((e.span.start, e.expected.as_str()), (17, "the member's name"));
        let mut text = "struct Foo { int a }; enum { A = }".to_string();
        let e = take(&mut text, 0, &HashMap::new()).expect_err("refused");
        assert_eq!(e.expected, "a constant");
    }
}
