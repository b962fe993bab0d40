//! Text to `ast::Script`. The lalrpop-generated parser and the logos token type stay behind
//! this facade: callers see `parse` and `ParseError`, nothing generated.

pub mod ast;
mod cdefs;
mod depth;
mod error;
pub mod fmt;
mod lexer;
mod preprocess;
pub use crate::span;

pub use error::ParseError;
pub use lexer::{TokenClass, TOKEN_TABLE};
pub use lexer::parse_int as int_literal;
pub use span::{FileId, Span};

use ast::{Expr, ExprKind, Script};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, unused_parens, reason = "generated code")]
    grammar,
    "/rtrace.rs"
);

pub use preprocess::Includes;

/// Parses one script. `file` is the id the spans will carry.
pub fn parse(src: &str, file: FileId) -> Result<Script, ParseError> {
    parse_with(src, file, &Includes::default())
}

/// Parses one script with the command line's headers (`--include`, `-I`).
pub fn parse_with(src: &str, file: FileId, includes: &Includes) -> Result<Script, ParseError> {
    let mut pre = preprocess::run(src, file, includes).map_err(|e| ParseError::Directive { span: e.span, message: e.message })?;
    // C definitions come first; what is left is the language's own.
    let c_defs = cdefs::take(&mut pre.text, file, &pre.constants)
        .map_err(|e| ParseError::CSyntax { span: e.span, found: e.found, expected: e.expected })?;
    let typedefs = c_defs.iter().flat_map(typedef_names).collect();
    let lexer = lexer::Lexer::new(&pre.text, file).with_constants(&pre.constants).with_typedefs(typedefs);
    let mut script = grammar::ScriptParser::new().parse(file, lexer).map_err(|e| ParseError::from_lalrpop(e, file, src))?;
    script.c_defs = c_defs;
    if let Some(span) = depth::too_deep(&mut script) {
        // Dropping the tree would recurse as deep as it nests: let the process reclaim it.
        std::mem::forget(script);
        return Err(ParseError::TooDeep { span, limit: depth::MAX_NESTING });
    }
    Ok(script)
}

/// The names a `typedef` defines: the lexer reads them as type names, so `(Bar *)p` is a
/// cast.
fn typedef_names(d: &ast::CDef) -> Vec<String> {
    match &d.kind {
        ast::CDefKind::Typedef { names, .. } => names.iter().filter_map(|n| n.name.as_ref().map(|i| i.name.clone())).collect(),
        ast::CDefKind::Type(_) => Vec::new(),
    }
}

/// Which positional parameters a script reads: the highest `$N` (in code or in attach
/// points), and whether it reads `$#` (then any number of them may be meant).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ParamsRead {
    pub highest: u32,
    pub count: bool,
}

/// The positional parameters `src` reads, from its tokens (a script that does not lex reads
/// what it read up to the error; the parse reports the error).
pub fn params_read(src: &str) -> ParamsRead {
    let mut read = ParamsRead::default();
    let mut text = src.to_string();
    // C definitions read no parameters (and would stop the lexer at the first).
    let _ = cdefs::take(&mut text, 0, &Default::default());
    for (_, tok, _) in lexer::Lexer::new(&text, 0).map_while(Result::ok) {
        match tok {
            lexer::Tok::Positional(n) => read.highest = read.highest.max(n),
            lexer::Tok::ParamCount => read.count = true,
            lexer::Tok::AttachPoint(text) => {
                for digits in text.split('$').skip(1) {
                    let n: String = digits.chars().take_while(char::is_ascii_digit).collect();
                    read.highest = read.highest.max(n.parse().unwrap_or(0));
                }
            }
            _ => {}
        }
    }
    read
}

// Helpers for the grammar's actions.
pub(crate) fn mk(file: FileId, l: usize, r: usize, kind: ExprKind) -> Expr {
    Expr { kind, span: Span::new(file, l, r) }
}

/// `c ?: e` as `{ let $__elvis_N = c; $__elvis_N ? $__elvis_N : e }`, so `c` is evaluated
/// once (N is `c`'s offset: nested ones do not collide, and `$__` names are not the user's).
pub(crate) fn elvis(file: FileId, l: usize, r: usize, c: Expr, e: Expr) -> Expr {
    let span = c.span;
    let name = format!("__elvis_{}", span.start);
    let var = || Expr { kind: ExprKind::Var(name.clone()), span };
    let bind = ast::Stmt { kind: ast::StmtKind::Let { var: ast::Ident { name: name.clone(), span }, ty: None, value: Some(c) }, span };
    let pick = ast::Stmt { kind: ast::StmtKind::Expr(mk(file, l, r, ExprKind::Ternary { cond: Box::new(var()), then: Box::new(var()), els: Box::new(e) })), span };
    mk(file, l, r, ExprKind::Block(vec![bind, pick]))
}

/// A top-level item, in the order written; `script` sorts them into a `Script`.
pub(crate) enum TopItem {
    Map(ast::MapDeclaration),
    Macro(ast::Macro),
    Probe(ast::Probe),
}

pub(crate) fn script(config: Vec<ast::ConfigItem>, items: Vec<TopItem>) -> Script {
    let mut s = Script { c_defs: Vec::new(), config, maps: Vec::new(), macros: Vec::new(), probes: Vec::new() };
    for item in items {
        match item {
            TopItem::Map(d) => s.maps.push(d),
            TopItem::Macro(m) => s.macros.push(m),
            TopItem::Probe(p) => s.probes.push(p),
        }
    }
    s
}

pub(crate) fn prepend<T>(first: T, mut rest: Vec<T>) -> Vec<T> {
    rest.insert(0, first);
    rest
}

#[cfg(test)]
mod tests;
