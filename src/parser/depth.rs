//! A limit on how deeply a script nests expressions and blocks. The parser's own stack is a
//! vector, but every later pass (macro expansion, sema, comptime folding, codegen, dropping
//! the tree) recurses once per level, so 50,000 `+` in a row or 5,000 nested `if`s overflowed
//! the thread's stack and aborted. A script deeper than `MAX_NESTING` is a syntax error at
//! the first construct past it; no hand-written script comes near it (bpftrace's tools nest
//! a dozen levels). The walk (over `Expr::for_each_child`, the tree's one shape walk) stops
//! descending at the limit, so it stays shallow.

use super::ast::{Expr, ExprKind, Script, Span, Stmt, StmtKind};

/// The deepest nesting of expressions and statement blocks a script may have.
pub const MAX_NESTING: usize = 256;

/// The first expression or statement nested deeper than `MAX_NESTING`, if any.
pub fn too_deep(script: &mut Script) -> Option<Span> {
    let bodies = script.probes.iter_mut().map(|p| (p.predicate.as_mut(), &mut p.body)).chain(script.macros.iter_mut().map(|m| (None, &mut m.body)));
    for (predicate, body) in bodies {
        if let Some(span) = predicate.and_then(|e| expr(e, 1)).or_else(|| block(body, 1)) {
            return Some(span);
        }
    }
    None
}

fn block(stmts: &mut [Stmt], depth: usize) -> Option<Span> {
    stmts.iter_mut().find_map(|s| stmt(s, depth))
}

fn stmt(s: &mut Stmt, depth: usize) -> Option<Span> {
    if depth > MAX_NESTING {
        return Some(s.span);
    }
    let d = depth + 1;
    match &mut s.kind {
        StmtKind::Expr(e) => expr(e, d),
        StmtKind::AssignMap { map, value, .. } => map.keys.iter_mut().find_map(|k| expr(k, d)).or_else(|| expr(value, d)),
        StmtKind::AssignVar { value, .. } => expr(value, d),
        StmtKind::Let { value, .. } => value.as_mut().and_then(|v| expr(v, d)),
        StmtKind::If { cond, then, els } => expr(cond, d).or_else(|| block(then, d)).or_else(|| els.as_mut().and_then(|e| block(e, d))),
        StmtKind::While { cond, body } => expr(cond, d).or_else(|| block(body, d)),
        StmtKind::Unroll { count, body } => expr(count, d).or_else(|| block(body, d)),
        StmtKind::ForRange { start, end, body, .. } => expr(start, d).or_else(|| expr(end, d)).or_else(|| block(body, d)),
        StmtKind::ForMap { map, body, .. } => map.keys.iter_mut().find_map(|k| expr(k, d)).or_else(|| block(body, d)),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => None,
        StmtKind::Block(body) => block(body, d),
    }
}

fn expr(e: &mut Expr, depth: usize) -> Option<Span> {
    if depth > MAX_NESTING {
        return Some(e.span);
    }
    // A block expression's statements nest inside it.
    if let ExprKind::Block(body) = &mut e.kind {
        return block(body, depth + 1);
    }
    let mut found = None;
    e.for_each_child(&mut |c| {
        if found.is_none() {
            found = expr(c, depth + 1);
        }
    });
    found
}
