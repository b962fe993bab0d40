//! Syntax errors, translated from lalrpop's generic error into messages that name what the
//! user wrote and what would have been accepted there.

use codespan_reporting::diagnostic::Diagnostic;
use lalrpop_util::ParseError as LalrpopError;

use super::lexer::{LexError, LexErrorKind, Tok};
use super::span::{FileId, Span};
use crate::diagnostics::{primary, Diag, ToDiagnostic};

#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    /// E0101; `invisible` names a character that shows as nothing (U+FEFF, a control
    /// character), since the underline under it is empty.
    InvalidToken { span: Span, invisible: Option<String> },
    /// E0102
    UnexpectedEof { span: Span, expected: Vec<String> },
    /// E0103
    UnexpectedToken { span: Span, found: String, expected: Vec<String> },
    /// E0104: something other than `{` where a probe body must start.
    BodyNotInBraces { span: Span, found: String },
    /// E0105: a preprocessor directive rtrace does not understand.
    Directive { span: Span, message: String },
    /// E0106: `/*` without `*/`.
    UnterminatedComment { span: Span },
    /// E0107: an integer literal that does not fit in 64 bits.
    IntTooLarge { span: Span },
    /// E0108: a byte that is not UTF-8 outside a comment.
    NotUtf8 { span: Span },
    /// E0109: expressions or blocks nested deeper than the later stages can walk.
    TooDeep { span: Span, limit: usize },
    /// E0110: `"` without its closing `"`.
    UnterminatedString { span: Span },
    /// E0103: a C definition (`struct Foo { ... }`) that does not parse.
    CSyntax { span: Span, found: String, expected: String },
    /// E0103: a C definition after the first probe, macro, map declaration or config block.
    LateCDefinition { span: Span },
}

impl ParseError {
    pub(super) fn from_lalrpop(e: LalrpopError<usize, Tok, LexError>, file: FileId, src: &str) -> Self {
        match e {
            LalrpopError::InvalidToken { location } => {
                let end = location + src.get(location..).and_then(|s| s.chars().next()).map_or(1, char::len_utf8);
                ParseError::InvalidToken { span: Span::new(file, location, end), invisible: invisible(src, location) }
            }
            LalrpopError::User { error } => match error.kind {
                LexErrorKind::UnterminatedComment => ParseError::UnterminatedComment { span: error.span },
                LexErrorKind::IntTooLarge => ParseError::IntTooLarge { span: error.span },
                LexErrorKind::NotUtf8 => ParseError::NotUtf8 { span: error.span },
                LexErrorKind::UnterminatedString => ParseError::UnterminatedString { span: error.span },
                LexErrorKind::LateCDefinition => ParseError::LateCDefinition { span: error.span },
                LexErrorKind::Invalid => ParseError::InvalidToken { span: error.span, invisible: invisible(src, error.span.start as usize) },
            },
            LalrpopError::UnrecognizedEof { location, expected } => {
                // `location` is where the last token ends: the span is that token's last
                // character, not the blank lines or comments after it.
                let end = location.min(src.len());
                let start = src.get(..end).and_then(|s| s.char_indices().next_back()).map_or(end, |(i, _)| i);
                ParseError::UnexpectedEof { span: Span::new(file, start, end), expected: clean(expected) }
            }
            LalrpopError::UnrecognizedToken { token: (l, tok, r), expected } => {
                let expected = clean(expected);
                let span = Span::new(file, l, r);
                // Only the body-start position expects `{` next to a predicate or another
                // attach point; there a stray token means the braces are missing.
                if expected.iter().any(|e| e == "{") && expected.iter().any(|e| e == ",") {
                    return ParseError::BodyNotInBraces { span, found: tok.to_string() };
                }
                ParseError::UnexpectedToken { span, found: tok.to_string(), expected }
            }
            LalrpopError::ExtraToken { token: (l, tok, r) } => {
                ParseError::UnexpectedToken { span: Span::new(file, l, r), found: tok.to_string(), expected: vec![] }
            }
        }
    }
}

/// The character at `at`, named, if it shows as nothing.
fn invisible(src: &str, at: usize) -> Option<String> {
    let c = src.get(at..)?.chars().next()?;
    let name = match c {
        '\u{feff}' => "a byte-order mark",
        '\u{200b}'..='\u{200d}' | '\u{2060}' => "a zero-width character",
        c if c.is_control() => "a control character",
        _ => return None,
    };
    Some(format!("U+{:04X} ({name})", u32::from(c)))
}

fn clean(expected: Vec<String>) -> Vec<String> {
    expected.into_iter().map(|e| e.trim_matches('"').to_string()).collect()
}

/// Where an expression or a statement starts, or an operator could continue one, lalrpop
/// expects dozens of tokens; each such set is named for what it is, and only the tokens
/// outside it are listed.
const STATEMENT_STARTS: &[&str] = &["if", "while", "unroll", "for", "break", "continue", "return", "let", "_"];
const OPERAND_STARTS: &[&str] =
    &["int", "positional", "$#", "string", "ident", "map", "var", "sizeof", "offsetof", "typeof", "{", "++", "--", "(", "-", "*", "!", "~", "&"];
const OPERATORS: &[&str] =
    &["++", "--", "(", "[", "?", ".", "->", "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "&&", "||", "==", "!=", "<", "<=", ">", ">="];

fn describe(expected: &[String]) -> String {
    let has = |t: &str| expected.iter().any(|e| e == t);
    let mut left: Vec<&str> = expected.iter().map(String::as_str).collect();
    let mut items: Vec<String> = Vec::new();
    // `while` starts only statements; `if` also a value (`$x = if c { 1 } else { 2 }`).
    if has("while") {
        items.push("a statement".into());
        left.retain(|e| !STATEMENT_STARTS.contains(e) && !OPERAND_STARTS.contains(e));
    } else if has("int") && has("(") {
        items.push("an expression".into());
        left.retain(|e| !OPERAND_STARTS.contains(e) && *e != "if");
    }
    if has("==") {
        items.push("an operator".into());
        left.retain(|e| !OPERATORS.contains(e));
    }
    // A `let`'s type may be a `typeof(...)`: still "a type".
    if has("type name") {
        left.retain(|e| *e != "typeof");
    }
    for e in left {
        let item = match e {
            "int" => "an integer".into(),
            "string" => "a string".into(),
            "ident" => "a name".into(),
            "attach point" => "an attach point".into(),
            "end of predicate" => "the predicate's closing `/`".into(),
            "struct keyword" | "type name" => "a type".into(),
            "map" => "a map".into(),
            "var" => "a variable".into(),
            other => format!("`{other}`"),
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    match items.len() {
        0 => "nothing more".into(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

impl ToDiagnostic for ParseError {
    fn to_diagnostic(&self) -> Diag {
        match self {
            ParseError::IntTooLarge { span } => Diagnostic::error()
                .with_code("E0107")
                .with_message("integer literal too large")
                .with_labels(vec![primary(*span, "does not fit in 64 bits (the largest is 18446744073709551615)")]),
            ParseError::TooDeep { span, limit } => Diagnostic::error()
                .with_code("E0109")
                .with_message(format!("the script nests deeper than {limit} levels"))
                .with_labels(vec![primary(Span { end: span.start.saturating_add(1).min(span.end), ..*span }, "this is nested too deeply")])
                .with_notes(vec!["help: split the expression into variables (`$a = ...; $b = $a + ...`), or the blocks into probes or macros".into()]),
            ParseError::NotUtf8 { span } => Diagnostic::error()
                .with_code("E0108")
                .with_message("the script is not UTF-8 here")
                .with_labels(vec![primary(*span, "a byte that is not UTF-8 (shown as \u{fffd})")])
                .with_notes(vec!["help: only comments may hold other bytes; save the script as UTF-8 (from Latin-1: `iconv -f latin1 -t utf-8`)".into()]),
            ParseError::UnterminatedComment { span } => Diagnostic::error()
                .with_code("E0106")
                .with_message("a comment that never ends")
                .with_labels(vec![primary(Span { end: span.start + 2, ..*span }, "this `/*` has no `*/`")]),
            ParseError::UnterminatedString { span } => Diagnostic::error()
                .with_code("E0110")
                .with_message("a string that never ends")
                .with_labels(vec![primary(Span { end: span.start + 1, ..*span }, "this `\"` has no closing `\"`")])
                .with_notes(vec!["help: close the string with `\"`; write a `\"` in it as `\\\"`".into()]),
            ParseError::InvalidToken { span, invisible } => Diagnostic::error().with_code("E0101").with_message("invalid token").with_labels(vec![primary(
                *span,
                match invisible {
                    Some(c) => format!("{c} is not part of the language"),
                    None => "this character is not part of the language".into(),
                },
            )]),
            ParseError::UnexpectedEof { span, expected } => Diagnostic::error()
                .with_code("E0102")
                .with_message("unexpected end of input")
                .with_labels(vec![primary(*span, format!("expected {} after this", describe(expected)))]),
            ParseError::UnexpectedToken { span, found, expected } => Diagnostic::error()
                .with_code("E0103")
                .with_message(format!("unexpected {found}"))
                .with_labels(vec![primary(*span, format!("expected {} here", describe(expected)))]),
            ParseError::BodyNotInBraces { span, found } => Diagnostic::error()
                .with_code("E0104")
                .with_message(format!("unexpected {found} where the probe body should start"))
                .with_labels(vec![primary(*span, "expected `{` here")])
                .with_notes(vec!["help: probe bodies are written in braces: `tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }`".into()]),
            ParseError::CSyntax { span, found, expected } => Diagnostic::error()
                .with_code("E0103")
                .with_message(format!("unexpected {found} in a C definition"))
                .with_labels(vec![primary(*span, format!("expected {expected} here"))]),
            ParseError::LateCDefinition { span } => Diagnostic::error()
                .with_code("E0103")
                .with_message("a C definition after the script's probes")
                .with_labels(vec![primary(*span, "C definitions must come first")])
                .with_notes(vec![
                    "help: move `struct`, `union`, `enum` and `typedef` definitions to the top of the script, before the config block, macros, maps and probes"
                        .into(),
                ]),
            ParseError::Directive { span, message } => {
                Diagnostic::error().with_code("E0105").with_message(message.clone()).with_labels(vec![primary(*span, "in this directive")])
            }
        }
    }
}
