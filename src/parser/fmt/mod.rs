//! `rtrace fmt`: a script pretty-printed from its syntax tree, with its comments kept.
//!
//! The tree has no comments and the preprocessor has already taken its lines out, so the
//! formatter reads those from the text: comments are the gaps between the lexer's own tokens
//! (nothing else can mistake a `//` in a string or an attach point for one), and the lines
//! the preprocessor or the C-definition reader blanked (`#include`, `#define`, `#ifndef`
//! regions, `struct` definitions) are kept verbatim, at column 0. Each such piece of trivia
//! is written before the first statement or item that starts after it, so a comment inside
//! an expression moves to the next line break rather than being lost; one that ended a
//! line in the source (`x = 1; // why`) still ends its line. Literals keep their source
//! spelling where it means the same value (`100ms`, `0x10`, a `#define`d name).
//!
//! Before returning, the result is parsed again and its tree compared with the input's: a
//! formatting that would change the program is an error (E0120), never a rewritten file.

mod expr;

use std::collections::HashMap;

use codespan_reporting::diagnostic::Diagnostic;

use super::ast::{self, Script, Stmt, StmtKind};
use super::lexer::{Lexer, Tok};
use super::preprocess::{self, Constant, Includes};
use super::span::{FileId, Span};
use super::ParseError;
use crate::diagnostics::{primary, Diag, ToDiagnostic};

/// Columns per indentation level.
const INDENT: &str = "    ";

#[derive(Debug, Clone, PartialEq)]
pub enum FmtError {
    /// The script does not parse: nothing to format.
    Parse(ParseError),
    /// E0120: the formatted text would not be the same program (a formatter bug, caught).
    Unsupported { span: Span, message: String },
}

impl ToDiagnostic for FmtError {
    fn to_diagnostic(&self) -> Diag {
        match self {
            FmtError::Parse(e) => e.to_diagnostic(),
            FmtError::Unsupported { span, message } => Diagnostic::error()
                .with_code("E0120")
                .with_message(format!("cannot format this script: {message}"))
                .with_labels(vec![primary(*span, "here")])
                .with_notes(vec!["help: the script is left as it is; please report it, with the script, if it parses".into()]),
        }
    }
}

/// `src` formatted. `file` is the id the spans of errors carry.
pub fn format(src: &str, file: FileId) -> Result<String, FmtError> {
    let script = super::parse(src, file).map_err(FmtError::Parse)?;
    let pre = preprocess::run(src, file, &Includes::default()).map_err(|e| FmtError::Parse(ParseError::Directive { span: e.span, message: e.message }))?;
    let mut text = pre.text;
    super::cdefs::take(&mut text, file, &pre.constants).map_err(|e| FmtError::Parse(ParseError::CSyntax { span: e.span, found: e.found, expected: e.expected }))?;
    let tokens: Vec<(usize, Tok, usize)> = Lexer::new(&text, file).map_while(Result::ok).collect();
    let trivia = trivia(src, &text, &tokens);
    let config_at = tokens.iter().find(|(_, t, _)| *t == Tok::Config).map(|(s, _, _)| *s);
    let else_at = tokens.iter().filter(|(_, t, _)| *t == Tok::Else).map(|(s, _, _)| *s).collect();
    let mut p = Printer { src, constants: &pre.constants, trivia, next: 0, out: String::new(), indent: 0, last_code: false, else_at };
    p.script(&script, config_at);
    let out = p.out;
    // The safety net: the same program, or an error.
    let again = super::parse(&out, file).map_err(|e| FmtError::Unsupported { span: Span::new(file, 0, 0), message: format!("the formatted text does not parse ({e:?})") })?;
    if normalized(&again) != normalized(&script) {
        return Err(FmtError::Unsupported { span: Span::new(file, 0, 0), message: "the formatted text would be a different program".into() });
    }
    Ok(out)
}

/// The tree as `--emit ast` prints it, without what depends on offsets (the names `a ?: b`
/// gives its temporary): two texts of one program print the same.
pub fn normalized(script: &Script) -> String {
    let printed = script.to_string();
    let mut out = String::with_capacity(printed.len());
    let mut rest = printed.as_str();
    while let Some(at) = rest.find("__elvis_") {
        out.push_str(&rest[..at + "__elvis_".len()]);
        rest = rest[at + "__elvis_".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('N');
    }
    out.push_str(rest);
    out
}

/// A comment, or a line the preprocessor took (kept verbatim).
#[derive(Debug)]
struct Trivia {
    start: usize,
    text: String,
    verbatim: bool,
    /// On the same line as the code before it.
    trailing: bool,
    /// A blank line before it in the source.
    blank_before: bool,
}

fn trivia(src: &str, text: &str, tokens: &[(usize, Tok, usize)]) -> Vec<Trivia> {
    let mut found = Vec::new();
    // What the preprocessor or the C-definition reader blanked: each run of it on a line
    // (a directive line, a definition, or definitions before code on one line).
    let mut at = 0;
    let mut verbatim_ends = Vec::new();
    for (line, kept) in src.split_inclusive('\n').zip(text.split_inclusive('\n')) {
        let (l, k) = (line.as_bytes(), kept.as_bytes());
        let mut run: Option<(usize, usize)> = None;
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for i in 0..l.len().min(k.len()) {
            if l[i].is_ascii_whitespace() {
                continue;
            }
            if l[i] != k[i] {
                run = Some((run.map_or(i, |r| r.0), i + 1));
            } else if let Some(r) = run.take() {
                runs.push(r);
            }
        }
        runs.extend(run);
        for (a, b) in runs {
            // A run from the start of its line keeps its indentation (a struct's members).
            let a = if line[..a].trim().is_empty() { 0 } else { a };
            let piece = line[a..b].trim_end();
            let piece = if a == 0 { piece } else { piece.trim_start() };
            found.push(Trivia { start: at + a, text: piece.to_string(), verbatim: true, trailing: false, blank_before: blank_line_before(src, at + a) });
            verbatim_ends.push(at + b);
        }
        at += line.len();
    }
    // Comments: what lies between tokens.
    let mut prev_end = 0;
    let ends = tokens.iter().map(|(s, _, e)| (*s, *e)).chain([(text.len(), text.len())]);
    for (start, end) in ends {
        let gap = &text[prev_end..start];
        let mut i = 0;
        while i < gap.len() {
            let rest = &gap[i..];
            let len = if rest.starts_with("//") || (prev_end + i == 0 && rest.starts_with("#!")) {
                rest.find('\n').unwrap_or(rest.len())
            } else if rest.starts_with("/*") {
                rest.find("*/").map_or(rest.len(), |n| n + 2)
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let at = prev_end + i;
            let after_token = prev_end > 0 && !text[prev_end..at].contains('\n') && tokens.iter().any(|(_, _, e)| *e == prev_end);
            // Or after a definition on its line (`struct s { int a; };  // why`).
            let after_verbatim = verbatim_ends.iter().any(|e| *e <= at && src[*e..at].trim().is_empty() && !src[*e..at].contains('\n'));
            let trailing = after_token || after_verbatim;
            found.push(Trivia { start: at, text: rest[..len].trim_end().to_string(), verbatim: false, trailing, blank_before: blank_line_before(src, at) });
            i += len;
        }
        prev_end = end;
    }
    found.sort_by_key(|t| t.start);
    found
}

/// Whether what starts at `at` starts its line, after a blank one.
fn blank_line_before(src: &str, at: usize) -> bool {
    let line_start = src[..at].rfind('\n').map_or(0, |n| n + 1);
    if line_start == 0 || !src[line_start..at].trim().is_empty() {
        return false;
    }
    let prev_start = src[..line_start - 1].rfind('\n').map_or(0, |n| n + 1);
    src[prev_start..line_start].trim().is_empty()
}

struct Printer<'a> {
    src: &'a str,
    constants: &'a HashMap<String, Constant>,
    trivia: Vec<Trivia>,
    next: usize,
    out: String,
    indent: usize,
    /// The last line written is code a trailing comment may follow.
    last_code: bool,
    /// Where each `else` is: the end of the block before it.
    else_at: Vec<usize>,
}

/// A top-level item, in source order.
enum Item<'s> {
    Config(&'s [ast::ConfigItem], usize),
    Map(&'s ast::MapDeclaration),
    Macro(&'s ast::Macro),
    Probe(&'s ast::Probe),
}

impl Item<'_> {
    fn start(&self) -> usize {
        match self {
            Item::Config(_, at) => *at,
            Item::Map(m) => m.span.start as usize,
            Item::Macro(m) => m.span.start as usize,
            Item::Probe(p) => p.span.start as usize,
        }
    }
}

impl Printer<'_> {
    fn line(&mut self, text: &str) {
        for _ in 0..self.indent * usize::from(!text.is_empty()) {
            self.out.push_str(INDENT);
        }
        self.out.push_str(text);
        self.out.push('\n');
        self.last_code = true;
    }

    /// A blank line, unless there is one already or a block has just opened.
    fn separate(&mut self) {
        let opened = self.out.trim_end().ends_with('{');
        if !self.out.is_empty() && !self.out.ends_with("\n\n") && !opened {
            self.out.push('\n');
        }
        self.last_code = false;
    }

    /// Writes the comments that end the line of the code before `before`.
    fn flush_trailing(&mut self, before: usize) {
        while self.trivia.get(self.next).is_some_and(|t| t.start < before && t.trailing && self.last_code) {
            self.emit_next();
        }
    }

    /// Writes every comment and verbatim line that comes before `before`.
    fn flush(&mut self, before: usize) {
        while self.trivia.get(self.next).is_some_and(|t| t.start < before) {
            self.emit_next();
        }
    }

    /// The column of byte `at` in the source.
    fn column(&self, at: usize) -> usize {
        at - self.src[..at].rfind('\n').map_or(0, |n| n + 1)
    }

    fn emit_next(&mut self) {
        let t = &self.trivia[self.next];
        self.next += 1;
        if t.trailing && self.last_code && self.out.ends_with('\n') {
            self.out.pop();
            self.out.push(' ');
            self.out.push_str(&t.text);
            self.out.push('\n');
            self.last_code = false;
            return;
        }
        let (text, verbatim, blank, t_start) = (t.text.clone(), t.verbatim, t.blank_before, t.start);
        if blank {
            self.separate();
        }
        if verbatim {
            self.out.push_str(&text);
            self.out.push('\n');
            // A comment that followed it on its line follows it here.
            self.last_code = true;
            return;
        } else {
            // A block comment's later lines move with its first.
            let column = self.column(t_start);
            let mut lines = text.lines();
            self.line(lines.next().unwrap_or_default());
            for rest in lines {
                let skip = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                self.line(&rest[skip.min(column)..]);
            }
        }
        self.last_code = false;
    }

    fn script(&mut self, script: &Script, config_at: Option<usize>) {
        let mut items: Vec<Item> = Vec::new();
        if let Some(at) = config_at {
            items.push(Item::Config(&script.config, at));
        }
        items.extend(script.maps.iter().map(Item::Map));
        items.extend(script.macros.iter().map(Item::Macro));
        items.extend(script.probes.iter().map(Item::Probe));
        items.sort_by_key(Item::start);
        let mut prev_map = false;
        for item in &items {
            self.flush_trailing(item.start());
            let is_map = matches!(item, Item::Map(_));
            if !(is_map && prev_map && !blank_line_before(self.src, item.start())) {
                self.separate();
            }
            prev_map = is_map;
            self.flush(item.start());
            if blank_line_before(self.src, item.start()) {
                self.separate();
            }
            match item {
                Item::Config(entries, _) => self.config(entries),
                Item::Map(m) => self.line(&format!("let @{} = {}({});", m.name, m.kind, m.size)),
                Item::Macro(m) => {
                    let params: Vec<String> = m
                        .params
                        .iter()
                        .map(|p| match p {
                            ast::MacroParam::Ident(n) => n.clone(),
                            ast::MacroParam::Var(n) => format!("${n}"),
                            ast::MacroParam::Map(n) => format!("@{n}"),
                        })
                        .collect();
                    self.line(&format!("macro {}({}) {{", m.name, params.join(", ")));
                    self.block_body(&m.body, m.span.end as usize);
                    self.line("}");
                }
                Item::Probe(p) => self.probe(p),
            }
        }
        self.flush_trailing(usize::MAX);
        if self.trivia.get(self.next).is_some() {
            self.separate();
        }
        self.flush(usize::MAX);
    }

    fn config(&mut self, entries: &[ast::ConfigItem]) {
        self.line("config = {");
        self.indent += 1;
        for c in entries {
            self.flush_trailing(c.span.start as usize);
            self.flush(c.span.start as usize);
            let value = match &c.value {
                ast::ConfigValue::Int(n) => self.literal_int(*n, c.span).unwrap_or_else(|| n.to_string()),
                ast::ConfigValue::Word(w) if expr::is_word(w) => w.clone(),
                ast::ConfigValue::Word(w) => expr::quote(w),
            };
            self.line(&format!("{} = {value};", c.key));
        }
        self.indent -= 1;
        self.line("}");
    }

    fn probe(&mut self, p: &ast::Probe) {
        let (last, rest) = p.attach_points.split_last().expect("the grammar gives a probe an attach point");
        for a in rest {
            self.line(&format!("{},", a.raw));
        }
        let predicate = p.predicate.as_ref().map(|e| format!(" /{}/", self.expr(e, expr::TERNARY))).unwrap_or_default();
        self.line(&format!("{}{predicate} {{", last.raw));
        self.block_body(&p.body, p.span.end as usize);
        self.line("}");
    }

    /// The statements of a block, one level in; `end` bounds the comments inside it.
    fn block_body(&mut self, stmts: &[Stmt], end: usize) {
        self.indent += 1;
        for (i, s) in stmts.iter().enumerate() {
            let start = s.span.start as usize;
            self.flush_trailing(start);
            let first = self.trivia.get(self.next).filter(|t| t.start < start).map_or(start, |t| t.start);
            if i > 0 && blank_line_before(self.src, first) {
                self.separate();
            }
            self.flush(start);
            if blank_line_before(self.src, start) {
                self.separate();
            }
            self.stmt(s);
        }
        self.flush_trailing(end);
        self.flush(end);
        self.indent -= 1;
    }

    fn stmt(&mut self, s: &Stmt) {
        let end = s.span.end as usize;
        match &s.kind {
            StmtKind::If { .. } => self.if_chain(s, ""),
            StmtKind::While { cond, body } => {
                let head = format!("while ({}) {{", self.expr(cond, expr::TERNARY));
                self.line(&head);
                self.block_body(body, end);
                self.line("}");
            }
            StmtKind::Unroll { count, body } => {
                let head = format!("unroll ({}) {{", self.expr(count, expr::TERNARY));
                self.line(&head);
                self.block_body(body, end);
                self.line("}");
            }
            StmtKind::ForRange { var, start, end: upto, body } => {
                let head = format!("for (${} : {}..{}) {{", var.name, self.expr(start, expr::SHIFT), self.expr(upto, expr::SHIFT));
                self.line(&head);
                self.block_body(body, end);
                self.line("}");
            }
            StmtKind::ForMap { var, map, body } => {
                self.line(&format!("for (${} : @{}) {{", var.name, map.name));
                self.block_body(body, end);
                self.line("}");
            }
            StmtKind::Block(body) => {
                self.line("{");
                self.block_body(body, end);
                self.line("}");
            }
            _ => {
                let text = self.simple_stmt(s);
                self.line(&format!("{text};"));
            }
        }
    }

    /// `if (c) { ... } else if (d) { ... } else { ... }`; `lead` is `} else ` after the first.
    fn if_chain(&mut self, s: &Stmt, lead: &str) {
        let StmtKind::If { cond, then, els } = &s.kind else { return };
        let end = s.span.end as usize;
        let head = format!("{lead}if ({}) {{", self.expr(cond, expr::TERNARY));
        self.line(&head);
        // The `else` after the last statement (or the condition) ends the first block.
        let after = then.last().map_or(cond.span.end, |t| t.span.end) as usize;
        let then_end = match els {
            Some(_) => self.else_at.iter().copied().find(|e| (after..end).contains(e)).unwrap_or(end),
            None => end,
        };
        self.block_body(then, then_end);
        match els.as_deref() {
            Some([chained @ Stmt { kind: StmtKind::If { .. }, .. }]) => self.if_chain(chained, "} else "),
            Some(body) => {
                self.line("} else {");
                self.block_body(body, end);
                self.line("}");
            }
            None => self.line("}"),
        }
    }
}
