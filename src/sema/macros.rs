//! Macro expansion, before type checking: `macro name(params) { body }` calls are replaced by
//! their body with the arguments put in for the parameters. Used as a statement, a macro
//! becomes its body in a block of its own (so its variables stay inside); used as a value, its
//! body must be one expression. Errors inside a body point into the macro.

use std::collections::HashMap;

use super::error::SemaError;
use super::MAX_EXPANDED_STATEMENTS;
use crate::parser::ast::{Expr, ExprKind, Macro, MacroParam, Script, Stmt, StmtKind, TypeSpec};
use crate::parser::Span;

/// How deep macros may call macros: deeper is taken as recursion.
const MAX_DEPTH: usize = 16;

pub fn expand_macros(script: &mut Script) -> Result<(), Vec<SemaError>> {
    if script.macros.is_empty() {
        return Ok(());
    }
    let macros: HashMap<String, Macro> = script.macros.iter().map(|m| (m.name.clone(), m.clone())).collect();
    let mut errors = Vec::new();
    let x = Expander { macros: &macros, made: std::cell::Cell::new(0), instances: std::cell::Cell::new(0) };
    for probe in &mut script.probes {
        if let Some(p) = &mut probe.predicate {
            x.expr(p, 0, &mut errors);
        }
        x.stmts(&mut probe.body, 0, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

struct Expander<'a> {
    macros: &'a HashMap<String, Macro>,
    /// Statements made so far, every expansion's body counted (`MAX_EXPANDED_STATEMENTS`):
    /// macros that call others several times grow the script exponentially.
    made: std::cell::Cell<usize>,
    /// Expansions so far: each gives its own variables a distinct name.
    instances: std::cell::Cell<usize>,
}

/// How many statements `stmts` holds, counting those inside blocks, branches and loops.
fn count_statements(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .map(|s| {
            1 + match &s.kind {
                StmtKind::If { then, els, .. } => count_statements(then) + els.as_deref().map_or(0, count_statements),
                StmtKind::While { body, .. }
                | StmtKind::Unroll { body, .. }
                | StmtKind::ForRange { body, .. }
                | StmtKind::ForMap { body, .. }
                | StmtKind::Block(body) => count_statements(body),
                _ => 0,
            }
        })
        .sum()
}

impl Expander<'_> {
    fn stmts(&self, stmts: &mut Vec<Stmt>, depth: usize, errors: &mut Vec<SemaError>) {
        for stmt in stmts.iter_mut() {
            if let StmtKind::Expr(e) = &stmt.kind {
                if let Some((m, args)) = self.call(e) {
                    match self.instantiate(m, args, e.span, depth) {
                        Ok(mut body) => {
                            self.stmts(&mut body, depth + 1, errors);
                            stmt.kind = StmtKind::Block(body);
                        }
                        Err(e) => errors.extend(e),
                    }
                    continue;
                }
            }
            self.stmt(stmt, depth, errors);
        }
    }

    fn stmt(&self, stmt: &mut Stmt, depth: usize, errors: &mut Vec<SemaError>) {
        match &mut stmt.kind {
            StmtKind::Expr(e) => self.expr(e, depth, errors),
            StmtKind::AssignMap { map, value, .. } => {
                map.keys.iter_mut().for_each(|k| self.expr(k, depth, errors));
                self.expr(value, depth, errors);
            }
            StmtKind::AssignVar { value, .. } => self.expr(value, depth, errors),
            StmtKind::Let { value, .. } => value.iter_mut().for_each(|v| self.expr(v, depth, errors)),
            StmtKind::If { cond, then, els } => {
                self.expr(cond, depth, errors);
                self.stmts(then, depth, errors);
                els.iter_mut().for_each(|e| self.stmts(e, depth, errors));
            }
            StmtKind::While { cond, body } | StmtKind::Unroll { count: cond, body } => {
                self.expr(cond, depth, errors);
                self.stmts(body, depth, errors);
            }
            StmtKind::ForRange { start, end, body, .. } => {
                self.expr(start, depth, errors);
                self.expr(end, depth, errors);
                self.stmts(body, depth, errors);
            }
            StmtKind::ForMap { body, .. } => self.stmts(body, depth, errors),
            StmtKind::Block(body) => self.stmts(body, depth, errors),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }

    fn expr(&self, e: &mut Expr, depth: usize, errors: &mut Vec<SemaError>) {
        if let ExprKind::Block(body) = &mut e.kind {
            return self.stmts(body, depth, errors);
        }
        e.for_each_child(&mut |c| self.expr(c, depth, errors));
        let Some((m, args)) = self.call(e) else { return };
        match self.instantiate(m, args, e.span, depth) {
            // One expression is put in place; statements then a value become a block
            // expression, whose variables stay inside.
            Ok(mut body) => match body.as_slice() {
                [Stmt { kind: StmtKind::Expr(value), .. }] => {
                    let mut value = value.clone();
                    self.expr(&mut value, depth + 1, errors);
                    *e = value;
                }
                [.., Stmt { kind: StmtKind::Expr(_), .. }] => {
                    self.stmts(&mut body, depth + 1, errors);
                    e.kind = ExprKind::Block(body);
                }
                _ => errors.push(SemaError::BadMacro {
                    span: e.span,
                    message: format!("macro `{}` is used as a value, so its body must end with an expression", m.name),
                    definition: m.span,
                }),
            },
            Err(err) => errors.extend(err),
        }
    }

    /// The macro `e` calls and its arguments: `name(args)`, or a bare `name` for a macro
    /// without parameters (bpftrace's `if errname { ... }`).
    fn call<'e>(&self, e: &'e Expr) -> Option<(&Macro, &'e [Expr])> {
        match &e.kind {
            // A macro named as a builtin or function (`macro cpu(x)`) stands for it only in
            // calls of its own arity: `cpu()` is still the builtin, as in bpftrace.
            ExprKind::Call { func, args } => {
                let stdlib = super::reference::function(&func.name).is_some() || super::reference::builtin_names().any(|b| b == func.name);
                self.macros.get(&func.name).filter(|m| !stdlib || m.params.len() == args.len()).map(|m| (m, args.as_slice()))
            }
            ExprKind::Ident(name) => self.macros.get(name).filter(|m| m.params.is_empty()).map(|m| (m, &[][..])),
            _ => None,
        }
    }

    /// The body of `m` with `args` put in for its parameters. Err(None): not expanded, and
    /// the error that says why is already reported.
    fn instantiate(&self, m: &Macro, args: &[Expr], span: Span, depth: usize) -> Result<Vec<Stmt>, Option<SemaError>> {
        let bad = |message: String| Some(SemaError::BadMacro { span, message, definition: m.span });
        if depth >= MAX_DEPTH {
            return Err(bad(format!("macro `{}` expands more than {MAX_DEPTH} levels deep: does it call itself?", m.name)));
        }
        let before = self.made.get();
        self.made.set(before.saturating_add(count_statements(&m.body)));
        if before > MAX_EXPANDED_STATEMENTS {
            return Err(None);
        }
        if self.made.get() > MAX_EXPANDED_STATEMENTS {
            return Err(Some(SemaError::TooMuchCode { span, what: "macros in this script".into(), count: self.made.get(), limit: MAX_EXPANDED_STATEMENTS }));
        }
        if args.len() != m.params.len() {
            let takes = if m.params.len() == 1 { "1 argument".to_string() } else { format!("{} arguments", m.params.len()) };
            return Err(bad(format!("macro `{}` takes {takes}, not {}", m.name, args.len())));
        }
        let mut exprs: HashMap<&str, &Expr> = HashMap::new();
        let mut vars: HashMap<&str, Expr> = HashMap::new();
        let mut maps: HashMap<&str, String> = HashMap::new();
        for (p, a) in m.params.iter().zip(args) {
            match (p, &a.kind) {
                (MacroParam::Ident(n), _) => {
                    exprs.insert(n, a);
                }
                (MacroParam::Var(n), ExprKind::Var(_)) => {
                    vars.insert(n, a.clone());
                }
                (MacroParam::Map(n), ExprKind::Map(r)) if r.keys.is_empty() => {
                    maps.insert(n, r.name.clone());
                }
                (MacroParam::Var(n), _) => return Err(bad(format!("parameter `${n}` of `{}` takes a variable", m.name))),
                (MacroParam::Map(n), _) => return Err(bad(format!("parameter `@{n}` of `{}` takes a whole map", m.name))),
            }
        }
        let mut body = m.body.clone();
        // The macro's own variables get names of this expansion, before the arguments go in:
        // `$y` in the body is not the caller's `$y` (bpftrace renames them too).
        let n = self.instances.get() + 1;
        self.instances.set(n);
        let params: Vec<&str> = vars.keys().copied().collect();
        let rename = Rename { keep: &params, suffix: format!("__{}{n}", m.name) };
        body.iter_mut().for_each(|s| rename.stmt(s));
        let sub = Substitution { exprs, vars, maps };
        body.iter_mut().for_each(|s| sub.stmt(s));
        Ok(body)
    }
}

/// Renames the variables of a macro's body, but its `$param`s.
struct Rename<'a> {
    keep: &'a [&'a str],
    suffix: String,
}

impl Rename<'_> {
    fn name(&self, n: &mut String) {
        if !self.keep.contains(&n.as_str()) {
            n.push_str(&self.suffix);
        }
    }

    fn stmt(&self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::AssignMap { map, value, .. } => {
                map.keys.iter_mut().for_each(|k| self.expr(k));
                self.expr(value);
            }
            StmtKind::AssignVar { var, value, .. } => {
                self.name(&mut var.name);
                self.expr(value);
            }
            StmtKind::Let { var, ty, value } => {
                self.name(&mut var.name);
                if let Some(of) = ty.as_mut().and_then(|t| t.of.as_mut()) {
                    self.expr(of);
                }
                value.iter_mut().for_each(|v| self.expr(v));
            }
            StmtKind::If { cond, then, els } => {
                self.expr(cond);
                then.iter_mut().for_each(|s| self.stmt(s));
                els.iter_mut().flatten().for_each(|s| self.stmt(s));
            }
            StmtKind::While { cond, body } | StmtKind::Unroll { count: cond, body } => {
                self.expr(cond);
                body.iter_mut().for_each(|s| self.stmt(s));
            }
            StmtKind::ForRange { var, start, end, body } => {
                self.name(&mut var.name);
                self.expr(start);
                self.expr(end);
                body.iter_mut().for_each(|s| self.stmt(s));
            }
            StmtKind::ForMap { var, map, body } => {
                self.name(&mut var.name);
                map.keys.iter_mut().for_each(|k| self.expr(k));
                body.iter_mut().for_each(|s| self.stmt(s));
            }
            StmtKind::Block(body) => body.iter_mut().for_each(|s| self.stmt(s)),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }

    fn expr(&self, e: &mut Expr) {
        if let ExprKind::Block(body) = &mut e.kind {
            return body.iter_mut().for_each(|s| self.stmt(s));
        }
        e.for_each_child(&mut |c| self.expr(c));
        if let ExprKind::Var(n) = &mut e.kind {
            self.name(n);
        }
    }
}

struct Substitution<'a> {
    exprs: HashMap<&'a str, &'a Expr>,
    vars: HashMap<&'a str, Expr>,
    maps: HashMap<&'a str, String>,
}

impl Substitution<'_> {
    fn stmt(&self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::AssignMap { map, value, .. } => {
                if let Some(n) = self.maps.get(map.name.as_str()) {
                    map.name = n.clone();
                }
                map.keys.iter_mut().for_each(|k| self.expr(k));
                self.expr(value);
            }
            StmtKind::AssignVar { var, value, .. } => {
                if let Some(Expr { kind: ExprKind::Var(n), .. }) = self.vars.get(var.name.as_str()) {
                    var.name = n.clone();
                }
                self.expr(value);
            }
            StmtKind::Let { ty, value, .. } => {
                if let Some(t) = ty {
                    self.type_spec(t);
                }
                value.iter_mut().for_each(|v| self.expr(v))
            }
            StmtKind::If { cond, then, els } => {
                self.expr(cond);
                then.iter_mut().for_each(|s| self.stmt(s));
                els.iter_mut().flatten().for_each(|s| self.stmt(s));
            }
            StmtKind::While { cond, body } | StmtKind::Unroll { count: cond, body } => {
                self.expr(cond);
                body.iter_mut().for_each(|s| self.stmt(s));
            }
            StmtKind::ForRange { start, end, body, .. } => {
                self.expr(start);
                self.expr(end);
                body.iter_mut().for_each(|s| self.stmt(s));
            }
            StmtKind::ForMap { map, body, .. } => {
                if let Some(n) = self.maps.get(map.name.as_str()) {
                    map.name = n.clone();
                }
                body.iter_mut().for_each(|s| self.stmt(s));
            }
            StmtKind::Block(body) => body.iter_mut().for_each(|s| self.stmt(s)),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }

    /// A type that names a parameter (`(a *)x`, `sizeof(b *)`) becomes the argument's type:
    /// the type a `typeof(T)` argument names, or the type of another expression.
    fn type_spec(&self, t: &mut TypeSpec) {
        if let Some(of) = &mut t.of {
            return self.expr(of);
        }
        let Some(arg) = self.exprs.get(t.name.as_str()) else { return };
        *t = match &arg.kind {
            ExprKind::TypeOf(named) => TypeSpec { pointers: named.pointers + t.pointers, array: t.array.or(named.array), span: t.span, ..named.clone() },
            _ => TypeSpec { name: String::new(), of: Some(Box::new((*arg).clone())), ..t.clone() },
        };
    }

    /// Children first, so an argument put in is never substituted again.
    fn expr(&self, e: &mut Expr) {
        if let ExprKind::Block(body) = &mut e.kind {
            return body.iter_mut().for_each(|s| self.stmt(s));
        }
        if let ExprKind::Cast { ty, .. } | ExprKind::SizeofType(ty) | ExprKind::TypeOf(ty) = &mut e.kind {
            if ty.of.is_none() {
                self.type_spec(ty);
            }
        }
        e.for_each_child(&mut |c| self.expr(c));
        match &mut e.kind {
            ExprKind::Ident(n) => {
                if let Some(a) = self.exprs.get(n.as_str()) {
                    *e = (*a).clone();
                }
            }
            ExprKind::Var(n) => {
                if let Some(a) = self.vars.get(n.as_str()) {
                    *e = a.clone();
                }
            }
            ExprKind::Map(r) => {
                if let Some(n) = self.maps.get(r.name.as_str()) {
                    r.name = n.clone();
                }
            }
            _ => {}
        }
    }
}
