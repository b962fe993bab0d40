//! Text to `ast::Script`. The lalrpop-generated parser and the logos token type stay behind
//! this facade: callers see `parse` and `ParseError`, nothing generated.

pub mod ast;
mod error;
mod lexer;
mod preprocess;
pub mod span;

pub use error::ParseError;
pub use span::{FileId, Span};

use ast::{Expr, ExprKind, Script};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, unused_parens, reason = "generated code")]
    grammar,
    "/rtrace.rs"
);

/// Parses one script. `file` is the id the spans will carry.
pub fn parse(src: &str, file: FileId) -> Result<Script, ParseError> {
    let pre = preprocess::run(src, file).map_err(|e| ParseError::Directive { span: e.span, message: e.message })?;
    let lexer = lexer::Lexer::new(&pre.text, file).with_constants(&pre.constants);
    grammar::ScriptParser::new().parse(file, lexer).map_err(|e| ParseError::from_lalrpop(e, file, src))
}

// Helpers for the grammar's actions.
pub(crate) fn mk(file: FileId, l: usize, r: usize, kind: ExprKind) -> Expr {
    Expr { kind, span: Span::new(file, l, r) }
}

pub(crate) fn prepend<T>(first: T, mut rest: Vec<T>) -> Vec<T> {
    rest.insert(0, first);
    rest
}

#[cfg(test)]
mod tests;
