//! Statements: assignments, control flow and the statement-only functions (printf, print...).

use std::collections::HashMap;

use super::{Checked, Checker, Reported};
use crate::sema::reference::{self, FuncKind};
use crate::features::Feature;
use crate::parser::ast::{self, BinOp, ExprKind, StmtKind};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{self, MapCommand};
use crate::printf;
use crate::artifact::types::{TupleTy, Type};

/// `if (c) { a } else { b }` (an `else if` chain too) as the value of a block it ends: a
/// ternary of block values; None for an `if` without `else`, or any other statement.
fn if_as_value(stmt: &ast::Stmt) -> Option<ast::Expr> {
    let StmtKind::If { cond, then, els } = &stmt.kind else { return None };
    let els = match els.as_deref()? {
        [only] if matches!(only.kind, StmtKind::If { .. }) => if_as_value(only)?,
        block => ast::Expr { kind: ExprKind::Block(block.to_vec()), span: stmt.span },
    };
    let then = ast::Expr { kind: ExprKind::Block(then.clone()), span: stmt.span };
    Some(ast::Expr { kind: ExprKind::Ternary { cond: Box::new(cond.clone()), then: Box::new(then), els: Box::new(els) }, span: stmt.span })
}

/// bpftrace's limit on `unroll`.
const MAX_UNROLL: i64 = 100;

impl Checker<'_> {
    /// A block is a scope: variables first assigned (or `let`) in it end with it.
    pub(super) fn block(&mut self, stmts: &[ast::Stmt]) -> Vec<hir::Stmt> {
        self.scopes.push(HashMap::new());
        let out = stmts.iter().filter_map(|s| self.stmt(s).ok()).collect();
        self.end_scope();
        out
    }

    /// `{ stmts; value }` as a value: the statements in a scope of their own, then the last
    /// one, which must be an expression.
    /// A last statement `if (c) { a } else { b }` is the value `if` expression it reads as.
    pub(super) fn block_value(&mut self, stmts: &[ast::Stmt], span: Span) -> Checked<hir::Expr> {
        let last_if = stmts.last().and_then(if_as_value);
        let value = match (stmts.split_last(), &last_if) {
            (Some((_, init)), Some(value)) => Some((value, init)),
            (Some((ast::Stmt { kind: StmtKind::Expr(value), .. }, init)), None) => Some((value, init)),
            _ => None,
        };
        let Some((value, init)) = value else {
            return Err(self.error(SemaError::NotAValue { span, what: "a block that does not end with an expression".into() }));
        };
        self.scopes.push(HashMap::new());
        let stmts: Vec<hir::Stmt> = init.iter().filter_map(|s| self.stmt(s).ok()).collect();
        let value = self.expr(value);
        self.end_scope();
        let value = value?;
        Ok(hir::Expr { ty: value.ty, kind: hir::ExprKind::Block { stmts, value: Box::new(value) }, span })
    }

    pub(super) fn end_scope(&mut self) {
        for (name, _) in self.scopes.pop().unwrap_or_default() {
            if let Some(span) = self.declared_at.get(&name) {
                self.ended.insert(name, *span);
            }
        }
    }

    pub(super) fn lookup_var(&self, name: &str) -> Option<hir::VarId> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    /// Records a use of variable `id` in the `for ($kv : @map)` bodies around it that it is
    /// from before.
    pub(super) fn note_var_use(&mut self, id: hir::VarId) {
        for (first_local, captured) in &mut self.map_loops {
            if id < *first_local {
                captured.insert(id);
            }
        }
    }

    /// An error if the probe's context (`args`, `argN`, `retval`, stacks...) is read inside a
    /// `for ($kv : @map)` body.
    pub(super) fn context_in_map_loop(&mut self, what: &str, span: Span) -> Checked<()> {
        if self.map_loops.is_empty() {
            return Ok(());
        }
        Err(self.error(SemaError::MapLoop {
            span,
            message: format!("`{what}` reads the probe's context, which the body of `for ($kv : @map)` cannot reach"),
            help: "the loop body runs as a callback without the probe's context: read it into a variable before the loop, and use the variable".into(),
        }))
    }

    /// A new variable in the innermost scope; `ty` is Void until its first assignment.
    fn declare_var(&mut self, var: &ast::Ident, ty: Type) -> Checked<hir::VarId> {
        if self.lookup_var(&var.name).is_some() {
            return Err(self.error(SemaError::VariableRedeclared { span: var.span, name: var.name.clone() }));
        }
        self.vars.push(ty);
        self.declared_at.insert(var.name.clone(), var.span);
        let id = self.vars.len() - 1;
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(var.name.clone(), id);
        }
        Ok(id)
    }

    /// `$x = value`: declares `$x` in this scope unless an enclosing one has it.
    pub(super) fn assign_var(&mut self, var: &ast::Ident, value: hir::Expr) -> Checked<hir::Stmt> {
        let value = self.value(value)?;
        let ty = value.ty;
        let id = match self.lookup_var(&var.name) {
            Some(id) => id,
            None => self.declare_var(var, Type::Void)?,
        };
        self.note_var_use(id);
        let old = self.vars[id];
        // A declared integer type stays: the value converts to it, as a C assignment does.
        if let (true, Type::Int { .. }, true) = (self.typed_vars.contains(&id), old, ty.is_int()) {
            let value = hir::Expr { span: value.span, kind: hir::ExprKind::Cast(Box::new(value)), ty: old };
            return Ok(hir::Stmt::VarStore { var: id, value });
        }
        let value = self.reordered_record(old, value);
        let ty = value.ty;
        let hint = self.var_hints.get(id).copied().filter(|h| *h != Type::Void);
        if old == Type::Void {
            self.vars[id] = hint.and_then(|h| h.join(ty)).unwrap_or(ty);
        } else if !old.same_kind(ty) {
            return Err(self.error(SemaError::TypeMismatch {
                span: value.span,
                message: format!("variable `${}` holds {old}, not {ty}", var.name),
                label: format!("this is {ty}"),
            }));
        } else if let Some(joined) = old.join(ty) {
            self.vars[id] = joined;
        }
        Ok(hir::Stmt::VarStore { var: id, value: widen(value, self.vars[id]) })
    }

    /// A record written with `target`'s fields in another order (`(b = 1, a = 2)` for a
    /// variable of `(a, b)`) is of `target`'s type, as in bpftrace: its fields are evaluated in
    /// the order written, each into a hidden variable, and laid out in `target`'s order.
    fn reordered_record(&mut self, target: Type, value: hir::Expr) -> hir::Expr {
        let (Some(want), Some(have)) = (target.tuple_names(), value.ty.tuple_names()) else { return value };
        let same_set = want.len() == have.len() && want.iter().all(|n| have.contains(n));
        let hir::ExprKind::Tuple(elems) = value.kind else { return value };
        if want == have || !same_set {
            return hir::Expr { kind: hir::ExprKind::Tuple(elems), ..value };
        }
        let span = value.span;
        let mut stmts = Vec::new();
        let mut temps = Vec::new();
        for e in elems {
            self.vars.push(e.ty);
            let id = self.vars.len() - 1;
            temps.push((id, e.ty));
            stmts.push(hir::Stmt::VarStore { var: id, value: e });
        }
        let items: Vec<hir::Expr> = want
            .iter()
            .filter_map(|n| have.iter().position(|h| h == n))
            .map(|i| hir::Expr { kind: hir::ExprKind::Var(temps[i].0), ty: temps[i].1, span })
            .collect();
        let ty = Type::Tuple(TupleTy::record(&items.iter().map(|e| e.ty).collect::<Vec<_>>(), want));
        let tuple = hir::Expr { kind: hir::ExprKind::Tuple(items), ty, span };
        hir::Expr { kind: hir::ExprKind::Block { stmts, value: Box::new(tuple) }, ty, span }
    }

    pub(super) fn stmt(&mut self, stmt: &ast::Stmt) -> Checked<hir::Stmt> {
        match &stmt.kind {
            StmtKind::AssignMap { map, op, value } => self.assign_map(map, *op, value),
            StmtKind::AssignVar { var, op, value } => {
                let value = match op {
                    None => self.expr(value).inspect_err(|_| {
                        self.poisoned.insert(var.name.clone());
                    })?,
                    // `$x op= v` is `$x = $x op v`; `$x` must exist.
                    Some(op) => {
                        let read = ast::Expr { kind: ExprKind::Var(var.name.clone()), span: var.span };
                        let desugared = ast::Expr { kind: ExprKind::Binary { op: *op, lhs: Box::new(read), rhs: Box::new(value.clone()) }, span: stmt.span };
                        self.expr(&desugared)?
                    }
                };
                self.assign_var(var, value)
            }
            StmtKind::Let { var, ty, value } => {
                let declared = match ty {
                    Some(t) => Some(self.type_spec(t)?),
                    None => None,
                };
                let value = value.as_ref().map(|v| self.expr(v)).transpose()?;
                // A declared integer type converts the value, as a C initialisation does.
                let value = match (declared, value) {
                    (Some(ty @ Type::Int { .. }), Some(v)) if v.ty.is_int() => Some(hir::Expr { span: v.span, kind: hir::ExprKind::Cast(Box::new(v)), ty }),
                    (_, v) => v,
                };
                let id = self.declare_var(var, declared.unwrap_or(Type::Void))?;
                if declared.is_some() {
                    self.typed_vars.insert(id);
                }
                match value {
                    Some(v) => self.assign_var(var, v),
                    // Declared, zero until assigned.
                    // Variables start zeroed; `let $x;` only declares.
                    None => {
                        let _ = id;
                        Ok(hir::Stmt::Block(vec![]))
                    }
                }
            }
            StmtKind::If { cond, then, els } => {
                let cond = self.expr(cond);
                let (then, els) = self.if_branches(&cond, then, els.as_ref());
                let cond = cond?;
                self.expect_int(&cond, "an `if` condition must be an integer")?;
                Ok(hir::Stmt::If { cond, then, els })
            }
            StmtKind::While { cond, body } => {
                let cond = self.expr(cond);
                self.loop_depth += 1;
                let body = match cond.as_ref().ok().and_then(super::comptime::fold) {
                    Some(0) => self.dead_block(body),
                    _ => self.block(body),
                };
                self.loop_depth -= 1;
                let cond = cond?;
                self.expect_int(&cond, "a `while` condition must be an integer")?;
                Ok(hir::Stmt::Loop { cond, body, step: vec![] })
            }
            StmtKind::Unroll { count, body } => {
                let n = self.constant(count).filter(|n| (1..=MAX_UNROLL).contains(n));
                let body = self.block(body);
                let Some(n) = n else {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: count.span,
                        message: format!("`unroll` needs a constant count from 1 to {MAX_UNROLL}"),
                        label: "not a constant in range".into(),
                    }));
                };
                // Checked before copying: nested unrolls multiply. Reported once per probe.
                let before = self.unrolled;
                self.unrolled = before.saturating_add(hir::count_statements(&body).saturating_mul(n as usize));
                if before > crate::sema::MAX_EXPANDED_STATEMENTS {
                    return Err(Reported);
                }
                if self.unrolled > crate::sema::MAX_EXPANDED_STATEMENTS {
                    return Err(self.error(SemaError::TooMuchCode {
                        span: stmt.span,
                        what: "`unroll` in this probe".into(),
                        count: self.unrolled,
                        limit: crate::sema::MAX_EXPANDED_STATEMENTS,
                    }));
                }
                Ok(hir::Stmt::Block(std::iter::repeat_n(body, n as usize).flatten().collect()))
            }
            StmtKind::ForRange { var, start, end, body } => self.for_range(var, start, end, body),
            StmtKind::ForMap { var, map, body } => self.for_map(var, map, body),
            StmtKind::Break | StmtKind::Continue if self.loop_depth == 0 => {
                let what = if matches!(stmt.kind, StmtKind::Break) { "break" } else { "continue" };
                Err(self.error(SemaError::OutsideLoop { span: stmt.span, what: what.into() }))
            }
            StmtKind::Break => Ok(hir::Stmt::Break),
            StmtKind::Continue => Ok(hir::Stmt::Continue),
            StmtKind::Return => Ok(hir::Stmt::Return),
            StmtKind::Block(b) => Ok(hir::Stmt::Block(self.block(b))),
            StmtKind::Expr(e) => match &e.kind {
                ExprKind::Call { func, args } if reference::is(&func.name, FuncKind::Statement) => self.statement_call(&func.name, args, e.span),
                // A block expression whose value is dropped is a block of statements (a
                // macro's `x;` given `{ printf("hi") }`).
                ExprKind::Block(b) => Ok(hir::Stmt::Block(self.block(b))),
                // `cond ? printf("a") : printf("b");`: a ternary whose value is dropped and
                // whose branches are statements (bpftrace's none type) is an `if`.
                ExprKind::Ternary { cond, then, els } if [then, els].iter().any(|b| is_statement_call(b)) => {
                    let branch = |b: &ast::Expr| vec![ast::Stmt { kind: StmtKind::Expr(b.clone()), span: b.span }];
                    let desugared = ast::Stmt { kind: StmtKind::If { cond: (**cond).clone(), then: branch(then), els: Some(branch(els)) }, span: stmt.span };
                    self.stmt(&desugared)
                }
                _ => Ok(hir::Stmt::Expr(self.expr(e)?)),
            },
        }
    }

    /// `for ($i : start..end) body` is `$i = start; while ($i < end) { body } step { $i++ }`
    /// in a scope of its own, with `end` evaluated once.
    fn for_range(&mut self, var: &ast::Ident, start: &ast::Expr, end: &ast::Expr, body: &[ast::Stmt]) -> Checked<hir::Stmt> {
        let (start, end) = (self.expr(start), self.expr(end));
        let (start, end) = (start?, end?);
        self.expect_int(&start, "a range starts at an integer")?;
        self.expect_int(&end, "a range ends at an integer")?;
        if super::comptime::fold(&start).is_none() || super::comptime::fold(&end).is_none() {
            return self.for_range_callback(var, start, end, body);
        }
        self.scopes.push(HashMap::new());
        let result = (|| {
            let i = self.declare_var(var, Type::I64)?;
            self.vars.push(Type::I64);
            let limit = self.vars.len() - 1;
            self.loop_depth += 1;
            let body = self.block(body);
            self.loop_depth -= 1;
            let span = var.span;
            let read = |id| hir::Expr { kind: hir::ExprKind::Var(id), ty: Type::I64, span };
            let cond = hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::Lt, lhs: Box::new(read(i)), rhs: Box::new(read(limit)) }, ty: Type::I64, span };
            let one = hir::Expr { kind: hir::ExprKind::Int(1), ty: Type::I64, span };
            let next = hir::Expr { kind: hir::ExprKind::Binary { op: BinOp::Add, lhs: Box::new(read(i)), rhs: Box::new(one) }, ty: Type::I64, span };
            Ok(hir::Stmt::Block(vec![
                hir::Stmt::VarStore { var: i, value: start },
                hir::Stmt::VarStore { var: limit, value: end },
                hir::Stmt::Loop { cond, body, step: vec![hir::Stmt::VarStore { var: i, value: next }] },
            ]))
        })();
        self.end_scope();
        result
    }

    /// A range whose bounds are known only at run time (`0..@n`): the verifier cannot bound
    /// an inline loop over it, so the body is a `bpf_loop` callback, as bpftrace's, with the
    /// variables it shares with the probe captured as a `for ($kv : @map)` body's are.
    fn for_range_callback(&mut self, var: &ast::Ident, start: hir::Expr, end: hir::Expr, body: &[ast::Stmt]) -> Checked<hir::Stmt> {
        let span = start.span.to(end.span);
        self.require(Feature::Loop, span, "a `for` range with bounds known only at run time")?;
        self.scopes.push(HashMap::new());
        let first_local = self.vars.len();
        self.map_loops.push((first_local, Default::default()));
        let result = self.declare_var(var, Type::I64).map(|i| {
            self.loop_depth += 1;
            let body = self.block(body);
            self.loop_depth -= 1;
            (i, body)
        });
        let (_, captured) = self.map_loops.pop().unwrap_or_default();
        self.end_scope();
        let (i, body) = result?;
        Ok(hir::Stmt::ForRange { var: i, start, end, body, locals: first_local..self.vars.len(), captured: captured.into_iter().collect() })
    }

    /// `for ($kv : @map) body`: `$kv` is `(key, value)` of each entry (the key a tuple when
    /// the map has several). The body becomes a `bpf_for_each_map_elem` callback: it has its
    /// own variables (`locals`) and reaches the probe's variables it uses (`captured`)
    /// through its context, but not the probe's context (`args`...). `$kv.1` of an
    /// aggregation is its value over every CPU, as a read in a probe gives it; maps whose
    /// value is a distribution (hist, lhist, stats) cannot be iterated.
    fn for_map(&mut self, var: &ast::Ident, map: &ast::MapRef, body: &[ast::Stmt]) -> Checked<hir::Stmt> {
        let id = self.existing_map(map)?;
        let construct = format!("`for (${} : @{})`", var.name, map.name);
        self.require(Feature::ForEachMapElem, map.span, &construct)?;
        if !matches!(self.maps[id].value, hir::MapValue::Scalar(_)) {
            self.require(Feature::PercpuLookup, map.span, &construct)?;
        }
        let decl = &self.maps[id];
        let problem = match decl.value.read_type() {
            _ if decl.keys.is_empty() => Some((format!("@{} has no keys to iterate", decl.name), "iterate a map with keys, e.g. `@m[pid] = nsecs`")),
            Some(_) => None,
            None => Some((
                format!("@{} is a {} map, whose values are distributions, not single values", decl.name, decl.value.describe()),
                "iterate a map of values or of count(), sum(), avg(), min() or max()",
            )),
        };
        if let Some((message, help)) = problem {
            return Err(self.error(SemaError::MapLoop { span: map.span, message, help: help.into() }));
        }
        let Some(value) = decl.value.read_type() else { return Err(Reported) };
        let key = match decl.keys.as_slice() {
            [one] => *one,
            many => Type::Tuple(TupleTy::new(many)),
        };
        let pair = Type::Tuple(TupleTy::new(&[key, value]));
        self.scopes.push(HashMap::new());
        let first_local = self.vars.len();
        self.map_loops.push((first_local, Default::default()));
        let result = self.declare_var(var, pair).map(|kv| {
            self.loop_depth += 1;
            let body = self.block(body);
            self.loop_depth -= 1;
            (kv, body)
        });
        let (_, captured) = self.map_loops.pop().unwrap_or_default();
        self.end_scope();
        let (kv, body) = result?;
        Ok(hir::Stmt::ForMap { map: id, var: kv, body, locals: first_local..self.vars.len(), captured: captured.into_iter().collect() })
    }

    pub(super) fn statement_call(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<hir::Stmt> {
        match func {
            _ if reference::function(func).is_some_and(|f| f.unsafe_only) && !self.options.unsafe_ok => Err(self.error(SemaError::NeedsUnsafe { span, func: func.into() })),
            "printf" => self.formatted(func, args, span, hir::PrintfAction::Print),
            "system" => self.formatted(func, args, span, hir::PrintfAction::System),
            "cat" => self.formatted(func, args, span, hir::PrintfAction::Cat),
            "static_assert" | "fail" => self.comptime_check(func, args, span),
            "debugf" => self.debugf(args, span),
            "errorf" | "warnf" => self.formatted(func, args, span, hir::PrintfAction::Message { error: func == "errorf", at: span }),
            // `assert(cond, msg)`: `if (!cond) { errorf("assert failed: %s", msg); exit(1); }`.
            "assert" => {
                let [cond, msg] = args else { return Err(self.arg_count(span, func, "a condition and a message", args.len())) };
                let cond = self.expr(cond)?;
                self.expect_int(&cond, "`assert` checks a condition")?;
                let fmt = ast::Expr { kind: ExprKind::Str("assert failed: %s".into()), span };
                let report = self.formatted("errorf", &[fmt, msg.clone()], span, hir::PrintfAction::Message { error: true, at: span })?;
                let one = hir::Expr { kind: hir::ExprKind::Int(1), ty: Type::I64, span };
                let failed = hir::Expr { kind: hir::ExprKind::Unary { op: ast::UnaryOp::Not, expr: Box::new(cond) }, ty: Type::I64, span };
                Ok(hir::Stmt::If { cond: failed, then: vec![report, hir::Stmt::Exit(one)], els: vec![] })
            }
            "time" => {
                let fmt = match args {
                    [] => "%H:%M:%S\n".to_string(),
                    [ast::Expr { kind: ExprKind::Str(s), .. }] => s.clone(),
                    [other] => {
                        return Err(self.error(SemaError::TypeMismatch {
                            span: other.span,
                            message: "time's format must be a string literal".into(),
                            label: "not a string literal".into(),
                        }))
                    }
                    _ => return Err(self.arg_count(span, func, "an optional strftime format string", args.len())),
                };
                let format = printf::Format { segments: vec![printf::Segment::Lit(fmt)] };
                self.printfs.push(hir::PrintfDecl { format, args: vec![], action: hir::PrintfAction::Time });
                Ok(hir::Stmt::Printf { format: self.printfs.len() - 1, args: vec![] })
            }
            "join" => {
                let (argv, sep) = match args {
                    [a] => (a, " ".to_string()),
                    [a, ast::Expr { kind: ExprKind::Str(s), .. }] => (a, s.clone()),
                    _ => return Err(self.arg_count(span, func, "an array of strings (`char **`) and an optional separator literal", args.len())),
                };
                let argv = self.expr(argv)?;
                self.expect_int(&argv, "`join` takes the address of an array of string pointers")?;
                let format = printf::Format { segments: vec![printf::Segment::Lit(sep)] };
                self.printfs.push(hir::PrintfDecl { format, args: vec![], action: hir::PrintfAction::Join });
                Ok(hir::Stmt::Join { format: self.printfs.len() - 1, argv })
            }
            "signal" | "signal_thread" => {
                let [sig] = args else {
                    return Err(self.arg_count(span, func, "a signal (a number or a name such as \"SIGKILL\")", args.len()));
                };
                let value = match &sig.kind {
                    ExprKind::Str(name) => match crate::signals::number(name) {
                        Some(n) => hir::Expr { kind: hir::ExprKind::Int(n), ty: Type::I64, span: sig.span },
                        None => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: sig.span,
                                message: format!("unknown signal `{name}`"),
                                label: "not a signal name".into(),
                            }))
                        }
                    },
                    _ => {
                        let e = self.expr(sig)?;
                        self.expect_int(&e, "`signal` takes a signal number or name")?;
                        // The kernel refuses other numbers at run time, silently.
                        let known = super::comptime::fold(&e).map(|v| if e.ty.is_signed() { v as i64 } else { v.min(i64::MAX as u64) as i64 });
                        if let Some(v) = known.filter(|v| !(1..=64).contains(v)) {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: e.span,
                                message: format!("a signal number is 1 to 64, not {v}"),
                                label: "out of range".into(),
                            }));
                        }
                        e
                    }
                };
                self.require(Feature::SendSignal, span, &format!("`{func}`"))?;
                Ok(hir::Stmt::Signal { sig: value, thread: func == "signal_thread" })
            }
            // `override(rc)`: the kprobed function returns `rc` without running (error
            // injection: only functions the kernel marks injectable, checked at attach).
            "override" => {
                let [rc] = args else { return Err(self.arg_count(span, func, "a return value", args.len())) };
                if self.attach.is_empty() || !self.attach.iter().all(|a| matches!(a.kind, hir::AttachKind::Kprobe { ret: false, .. })) {
                    return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: "override".into() }));
                }
                self.context_in_map_loop("override", span)?;
                self.require(Feature::OverrideReturn, span, "`override`")?;
                let rc = self.expr(rc)?;
                self.expect_int(&rc, "`override` takes the return value to inject, an integer")?;
                Ok(hir::Stmt::Override(rc))
            }
            _ => self.statement_call_rest(func, args, span),
        }
    }

    /// printf and the functions that take a printf format: `system`, `cat`.
    fn formatted(&mut self, func: &str, args: &[ast::Expr], span: Span, action: hir::PrintfAction) -> Checked<hir::Stmt> {
        let Some((fmt, rest)) = args.split_first() else {
            return Err(self.arg_count(span, func, "a format string and its arguments", 0));
        };
        let ExprKind::Str(text) = &fmt.kind else {
            return Err(self.error(SemaError::TypeMismatch {
                span: fmt.span,
                message: format!("{func}'s first argument must be a string literal"),
                label: "not a string literal".into(),
            }));
        };
        let format = printf::parse(text).map_err(|message| self.error(SemaError::PrintfFormat { span: fmt.span, message }))?;
        let specs: Vec<printf::Spec> = format.specs().cloned().collect();
        if let Some(message) = format.count_mismatch(rest.len()) {
            return Err(self.error(SemaError::PrintfFormat { span: fmt.span, message }));
        }
        let mut out = Vec::new();
        for (arg, spec) in rest.iter().zip(&specs) {
            let Ok(e) = self.expr(arg).and_then(|e| self.value(e)) else { continue };
            let ty = e.ty;
            // A bool or enum is a number to `%d` and its name (`true`, `ONE`) to `%s`, as in
            // bpftrace.
            let string_like = ty.prints_as_text() || (ty.symbolic() && spec.conv.wants_string());
            if spec.conv.wants_string() != string_like {
                if self.is_string_param(&e) {
                    self.param_not_a_number(&e);
                    continue;
                }
                let want = if spec.conv.wants_string() { "a string" } else { "an integer" };
                self.error(SemaError::TypeMismatch {
                    span: e.span,
                    message: format!("printf conversion expects {want}, but this is {ty}"),
                    label: format!("this is {ty}"),
                });
                continue;
            }
            out.push(e);
        }
        if out.len() != rest.len() {
            return Err(Reported);
        }
        let args = out.iter().map(|a| a.ty).collect();
        self.printfs.push(hir::PrintfDecl { format, args, action });
        Ok(hir::Stmt::Printf { format: self.printfs.len() - 1, args: out })
    }

    fn statement_call_rest(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<hir::Stmt> {
        match func {
            // `print(value)` of anything but a whole map prints the value and a newline.
            "print" if matches!(args, [a] if !matches!(&a.kind, ExprKind::Map(m) if m.keys.is_empty())) => {
                let e = self.expr(&args[0])?;
                let e = self.value(e)?;
                let ty = e.ty;
                let conv = if ty.prints_as_text() || ty.symbolic() {
                    "%s"
                } else if matches!(ty, Type::Ptr { .. }) {
                    "%p"
                } else if ty.is_signed() {
                    // The whole value: printf's `%d` is an `int`, as in C.
                    "%ld"
                } else {
                    "%lu"
                };
                let format = printf::parse(&format!("{conv}\n")).map_err(|message| self.error(SemaError::PrintfFormat { span, message }))?;
                self.printfs.push(hir::PrintfDecl { format, args: vec![ty], action: hir::PrintfAction::Value });
                Ok(hir::Stmt::Printf { format: self.printfs.len() - 1, args: vec![e] })
            }
            "print" => {
                let (arg, rest) = args.split_first().ok_or_else(|| self.arg_count(span, func, "a map, then optionally top and div", 0))?;
                let map = self.whole_map(arg, func)?;
                let mut limits = [0u32, 1u32];
                if rest.len() > 2 {
                    return Err(self.arg_count(span, func, "a map, then optionally top and div", args.len()));
                }
                for ((slot, a), what) in limits.iter_mut().zip(rest).zip(["top", "div"]) {
                    let n = self.constant(a).ok_or_else(|| self.not_a_constant(a, func))?;
                    *slot = u32::try_from(n).map_err(|_| {
                        self.error(SemaError::TypeMismatch {
                            span: a.span,
                            message: format!("the {what} of `print` must be from 0 to {}", u32::MAX),
                            label: format!("{n} is out of range"),
                        })
                    })?;
                }
                let [top, div] = limits;
                Ok(hir::Stmt::MapCommand { command: MapCommand::Print { top, div: div.max(1) }, map })
            }
            "clear" | "zero" => {
                let command = if func == "clear" { MapCommand::Clear } else { MapCommand::Zero };
                let [arg] = args else {
                    return Err(self.arg_count(span, func, "one map", args.len()));
                };
                let map = self.whole_map(arg, func)?;
                Ok(hir::Stmt::MapCommand { command, map })
            }
            "delete" => Ok(hir::Stmt::Expr(self.delete(args, span)?)),
            "unwatch" => {
                let [a] = args else { return Err(self.arg_count(span, func, "the watched address", args.len())) };
                let addr = self.expr(a)?;
                self.expect_int(&addr, "`unwatch` takes the address a watchpoint watches")?;
                Ok(hir::Stmt::Unwatch(addr))
            }
            _ => {
                let code = match args {
                    [] => hir::Expr { kind: hir::ExprKind::Int(0), ty: Type::I64, span },
                    [c] => {
                        let c = self.expr(c)?;
                        self.expect_int(&c, "`exit` takes the exit status, an integer")?;
                        // What the shell would see of 300 is 44: refused when known now
                        // (the runtime turns other values outside 0..=255 into 255, and warns).
                        let known = super::comptime::fold(&c).map(|v| if c.ty.is_signed() { (v as i64).to_string() } else { v.to_string() });
                        if let Some(v) = known.filter(|v| v.parse::<u8>().is_err()) {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: c.span,
                                message: format!("an exit status is 0 to 255, not {v}"),
                                label: "out of range".into(),
                            }));
                        }
                        c
                    }
                    _ => return Err(self.arg_count(span, func, "an optional exit status", args.len())),
                };
                Ok(hir::Stmt::Exit(code))
            }
        }
    }
}

/// `value` laid out as the wider tuple type `to` (strings are padded where they are stored;
/// a tuple's elements move to the wider offsets): a tuple literal is retyped element by
/// element, another tuple value is rebuilt from its fields.
pub(super) fn widen(value: hir::Expr, to: Type) -> hir::Expr {
    let (Type::Tuple(from), Type::Tuple(wide)) = (value.ty, to) else {
        return value;
    };
    if from == wide {
        return value;
    }
    let span = value.span;
    let items: Vec<hir::Expr> = match value.kind {
        hir::ExprKind::Tuple(items) => items.into_iter().zip(wide.items()).map(|(item, ty)| widen(item, *ty)).collect(),
        _ => (0..from.items().len())
            .zip(wide.items())
            .map(|(index, ty)| {
                let field = hir::Expr { kind: hir::ExprKind::TupleField { tuple: Box::new(value.clone()), index }, ty: from.items()[index], span };
                widen(field, *ty)
            })
            .collect(),
    };
    hir::Expr { kind: hir::ExprKind::Tuple(items), ty: to, span }
}

/// A call of a function that is a statement (`printf`, `exit`...), which has no value.
fn is_statement_call(e: &ast::Expr) -> bool {
    matches!(&e.kind, ExprKind::Call { func, .. } if crate::sema::reference::is(&func.name, crate::sema::reference::FuncKind::Statement))
}
