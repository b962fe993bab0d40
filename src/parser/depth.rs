//! A limit on how deeply a script nests expressions and blocks. The parser's own stack is a
//! vector, but every later pass (macro expansion, sema, comptime folding, codegen, dropping
//! the tree) recurses once per level, so 50,000 `+` in a row or 5,000 nested `if`s overflowed
//! the thread's stack and aborted. A script deeper than `MAX_NESTING` is a syntax error at
//! the first construct past it; no hand-written script comes near it (bpftrace's tools nest
//! a dozen levels). The walk itself stops descending at the limit, so it stays shallow.

use super::ast::{Expr, ExprKind, OffsetofBase, Script, Span, Stmt, StmtKind};

/// The deepest nesting of expressions and statement blocks a script may have.
pub const MAX_NESTING: usize = 256;

/// The first expression or statement nested deeper than `MAX_NESTING`, if any.
pub fn too_deep(script: &Script) -> Option<Span> {
    let bodies = script.probes.iter().map(|p| (p.predicate.as_ref(), &p.body)).chain(script.macros.iter().map(|m| (None, &m.body)));
    for (predicate, body) in bodies {
        if let Some(span) = predicate.and_then(|e| expr(e, 1)).or_else(|| block(body, 1)) {
            return Some(span);
        }
    }
    None
}

fn block(stmts: &[Stmt], depth: usize) -> Option<Span> {
    stmts.iter().find_map(|s| stmt(s, depth))
}

fn stmt(s: &Stmt, depth: usize) -> Option<Span> {
    if depth > MAX_NESTING {
        return Some(s.span);
    }
    let d = depth + 1;
    match &s.kind {
        StmtKind::Expr(e) => expr(e, d),
        StmtKind::AssignMap { map, value, .. } => map.keys.iter().find_map(|k| expr(k, d)).or_else(|| expr(value, d)),
        StmtKind::AssignVar { value, .. } => expr(value, d),
        StmtKind::Let { value, .. } => value.as_ref().and_then(|v| expr(v, d)),
        StmtKind::If { cond, then, els } => expr(cond, d).or_else(|| block(then, d)).or_else(|| els.as_ref().and_then(|e| block(e, d))),
        StmtKind::While { cond, body } => expr(cond, d).or_else(|| block(body, d)),
        StmtKind::Unroll { count, body } => expr(count, d).or_else(|| block(body, d)),
        StmtKind::ForRange { start, end, body, .. } => expr(start, d).or_else(|| expr(end, d)).or_else(|| block(body, d)),
        StmtKind::ForMap { map, body, .. } => map.keys.iter().find_map(|k| expr(k, d)).or_else(|| block(body, d)),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => None,
        StmtKind::Block(body) => block(body, d),
    }
}

fn expr(e: &Expr, depth: usize) -> Option<Span> {
    if depth > MAX_NESTING {
        return Some(e.span);
    }
    let d = depth + 1;
    let all = |es: &[Expr]| es.iter().find_map(|x| expr(x, d));
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Positional(_)
        | ExprKind::ParamCount
        | ExprKind::Ident(_)
        | ExprKind::Var(_)
        | ExprKind::SizeofType(_) => None,
        ExprKind::Map(m) => all(&m.keys),
        ExprKind::Call { args, .. } | ExprKind::Tuple(args) => all(args),
        ExprKind::Unary { expr: x, .. }
        | ExprKind::Field { base: x, .. }
        | ExprKind::Update { target: x, .. }
        | ExprKind::Cast { expr: x, .. }
        | ExprKind::Deref(x) => expr(x, d),
        ExprKind::Binary { lhs, rhs, .. } => expr(lhs, d).or_else(|| expr(rhs, d)),
        ExprKind::Ternary { cond, then, els } => expr(cond, d).or_else(|| expr(then, d)).or_else(|| expr(els, d)),
        ExprKind::Index { base, index } => expr(base, d).or_else(|| expr(index, d)),
        ExprKind::Offsetof { of, .. } => match of.as_ref() {
            OffsetofBase::Expr(x) => expr(x, d),
            OffsetofBase::Type(_) => None,
        },
    }
}
