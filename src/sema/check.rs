//! Name resolution and type checking, AST -> HIR in one walk. Maps are global and may be read
//! in a probe that comes before the one assigning them, so `check_types` walks the script
//! twice: the first walk only learns map signatures, the second builds the HIR and keeps its
//! errors.

use std::collections::{BTreeSet, HashMap};

use super::error::SemaError;
use super::hir::{self, AttachKind, Builtin, MapCommand, MapDecl, MapValue, STR_LEN};
use super::printf;
use super::types::Type;
use super::{attach, KernelInfo};
use crate::diagnostics::did_you_mean;
use crate::parser::ast::{self, BinOp, ExprKind, StmtKind, UnaryOp};
use crate::parser::Span;

const AGGREGATIONS: &[&str] = &["count", "sum", "avg", "min", "max", "stats", "hist", "lhist"];
const STATEMENT_FUNCS: &[&str] = &["printf", "print", "clear", "zero", "delete", "exit"];
const VALUE_FUNCS: &[&str] = &["str"];
/// `arg0`..`arg11`: a raw tracepoint has at most 12 arguments.
const MAX_ARGS: u8 = 12;
/// `arg0`..`arg5`: the x86_64 argument registers of a uprobe.
const MAX_REGISTER_ARGS: u8 = 6;

pub fn check_types(script: &ast::Script, kernel: &dyn KernelInfo) -> Result<hir::Program, Vec<SemaError>> {
    // Attach points first: they do the kernel lookups, once each.
    let mut errors = Vec::new();
    let mut attach = Vec::new();
    for probe in &script.probes {
        let mut aps = Vec::new();
        let mut resolved = true;
        for ap in &probe.attach_points {
            match attach::resolve(ap, kernel) {
                Ok(a) => aps.extend(a),
                Err(e) => {
                    errors.push(e);
                    resolved = false;
                }
            }
        }
        attach.push((aps, resolved));
    }

    let mut learn = Checker::default();
    learn.program(script, &attach);
    let mut checker = Checker { maps: learn.maps, map_ids: learn.map_ids, ..Checker::default() };
    let probes = checker.program(script, &attach);
    errors.append(&mut checker.errors);
    if errors.is_empty() {
        Ok(hir::Program { probes, maps: checker.maps, printfs: checker.printfs })
    } else {
        Err(errors)
    }
}

#[derive(Default)]
struct Checker {
    maps: Vec<MapDecl>,
    map_ids: HashMap<String, hir::MapId>,
    printfs: Vec<printf::Format>,
    errors: Vec<SemaError>,
    // Per probe:
    vars: Vec<Type>,
    var_ids: HashMap<String, hir::VarId>,
    attach: Vec<hir::AttachPoint>,
    /// `args` fields the current probe reads.
    args_fields: BTreeSet<String>,
    /// Every attach point of the current probe resolved; if not, its error is reported and
    /// provider-specific checks (`args`, `argN`) stay quiet.
    attach_resolved: bool,
}

/// The type of `args.FIELD` in every tracepoint of a probe: the field must exist in each, with
/// one type.
fn field_type(attach: &[hir::AttachPoint], field: &ast::Ident) -> Result<Option<Type>, SemaError> {
    let mut ty = None;
    for ap in attach {
        let AttachKind::Tracepoint { format, .. } = &ap.kind else { continue };
        let Some(f) = format.field(&field.name) else {
            let candidates = did_you_mean(&field.name, format.fields.iter().map(|f| f.name.as_str()));
            return Err(SemaError::UnknownField { span: field.span, field: field.name.clone(), tracepoint: ap.name.clone(), candidates });
        };
        match ty {
            Some(t) if t != f.ty => {
                return Err(SemaError::TypeMismatch {
                    span: field.span,
                    message: format!("`args.{}` has different types in this probe's tracepoints", field.name),
                    label: format!("{t} in one, {} in {}", f.ty, ap.name),
                })
            }
            _ => ty = Some(f.ty),
        }
    }
    Ok(ty)
}

/// An error inside an expression has been reported; the expression has no HIR.
struct Reported;
type Checked<T> = Result<T, Reported>;

impl Checker {
    fn program(&mut self, script: &ast::Script, attach: &[(Vec<hir::AttachPoint>, bool)]) -> Vec<hir::Probe> {
        let mut probes = Vec::new();
        for (probe, (aps, resolved)) in script.probes.iter().zip(attach) {
            self.vars.clear();
            self.var_ids.clear();
            self.attach = aps.clone();
            self.attach_resolved = *resolved;
            self.args_fields.clear();
            let predicate = probe.predicate.as_ref().and_then(|p| {
                let e = self.expr(p).ok()?;
                self.expect_int(&e, "a predicate must be an integer condition").ok()?;
                Some(e)
            });
            let body = self.block(&probe.body);
            probes.push(hir::Probe {
                attach: aps.clone(),
                predicate,
                body,
                vars: std::mem::take(&mut self.vars),
                args_fields: std::mem::take(&mut self.args_fields),
                span: probe.span,
            });
        }
        probes
    }

    fn error(&mut self, e: SemaError) -> Reported {
        self.errors.push(e);
        Reported
    }

    fn block(&mut self, stmts: &[ast::Stmt]) -> Vec<hir::Stmt> {
        stmts.iter().filter_map(|s| self.stmt(s).ok()).collect()
    }

    fn stmt(&mut self, stmt: &ast::Stmt) -> Checked<hir::Stmt> {
        match &stmt.kind {
            StmtKind::AssignMap { map, value } => self.assign_map(map, value),
            StmtKind::AssignVar { var, value } => {
                let value = self.expr(value)?;
                let ty = self.value_type(&value)?;
                let id = match self.var_ids.get(&var.name) {
                    Some(&id) => {
                        let old = self.vars[id];
                        if !old.same_kind(ty) {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: value.span,
                                message: format!("variable `${}` holds {old}, not {ty}", var.name),
                                label: format!("this is {ty}"),
                            }));
                        }
                        if let (Type::Str(a), Type::Str(b)) = (old, ty) {
                            self.vars[id] = Type::Str(a.max(b));
                        }
                        id
                    }
                    None => {
                        self.vars.push(ty);
                        self.var_ids.insert(var.name.clone(), self.vars.len() - 1);
                        self.vars.len() - 1
                    }
                };
                Ok(hir::Stmt::VarStore { var: id, value })
            }
            StmtKind::If { cond, then, els } => {
                let cond = self.expr(cond);
                let then = self.block(then);
                let els = els.as_ref().map(|e| self.block(e)).unwrap_or_default();
                let cond = cond?;
                self.expect_int(&cond, "an `if` condition must be an integer")?;
                Ok(hir::Stmt::If { cond, then, els })
            }
            StmtKind::Expr(e) => match &e.kind {
                ExprKind::Call { func, args } if STATEMENT_FUNCS.contains(&func.name.as_str()) => {
                    self.statement_call(&func.name, args, e.span)
                }
                _ => Ok(hir::Stmt::Expr(self.expr(e)?)),
            },
        }
    }

    fn statement_call(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<hir::Stmt> {
        match func {
            "printf" => {
                let Some((fmt, rest)) = args.split_first() else {
                    return Err(self.arg_count(span, func, "a format string and its arguments", 0));
                };
                let ExprKind::Str(text) = &fmt.kind else {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: fmt.span,
                        message: "printf's first argument must be a string literal".into(),
                        label: "not a string literal".into(),
                    }));
                };
                let format = printf::parse(text)
                    .map_err(|message| self.error(SemaError::PrintfFormat { span: fmt.span, message }))?;
                let specs: Vec<printf::Spec> = format.specs().cloned().collect();
                if specs.len() != rest.len() {
                    let message = format!("the format has {} conversions but {} arguments follow", specs.len(), rest.len());
                    return Err(self.error(SemaError::PrintfFormat { span: fmt.span, message }));
                }
                let mut out = Vec::new();
                for (arg, spec) in rest.iter().zip(&specs) {
                    let Ok(e) = self.expr(arg) else { continue };
                    let Ok(ty) = self.value_type(&e) else { continue };
                    if spec.conv.wants_string() != matches!(ty, Type::Str(_)) {
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
                self.printfs.push(format);
                Ok(hir::Stmt::Printf { format: self.printfs.len() - 1, args: out })
            }
            "print" | "clear" | "zero" => {
                let command = match func {
                    "print" => MapCommand::Print,
                    "clear" => MapCommand::Clear,
                    _ => MapCommand::Zero,
                };
                let [arg] = args else { return Err(self.arg_count(span, func, "one map", args.len())) };
                let map = self.whole_map(arg, func)?;
                Ok(hir::Stmt::MapCommand { command, map })
            }
            "delete" => {
                let [arg] = args else { return Err(self.arg_count(span, func, "one map element", args.len())) };
                let ExprKind::Map(m) = &arg.kind else {
                    return Err(self.not_a_map(arg.span, func));
                };
                let map = self.existing_map(m)?;
                let keys = self.keys(map, m)?;
                if let Some(decl) = self.maps.get_mut(map) {
                    decl.deleted_in_probe = true;
                }
                Ok(hir::Stmt::Delete { map, keys })
            }
            _ => {
                if !args.is_empty() {
                    return Err(self.arg_count(span, func, "no arguments", args.len()));
                }
                Ok(hir::Stmt::Exit)
            }
        }
    }

    fn arg_count(&mut self, span: Span, func: &str, expected: &str, found: usize) -> Reported {
        self.error(SemaError::WrongArgCount { span, func: func.into(), expected: expected.into(), found })
    }

    fn not_a_map(&mut self, span: Span, func: &str) -> Reported {
        self.error(SemaError::TypeMismatch {
            span,
            message: format!("`{func}` takes a map"),
            label: "not a map".into(),
        })
    }

    /// `@m` as the argument of print/clear/zero.
    fn whole_map(&mut self, arg: &ast::Expr, func: &str) -> Checked<hir::MapId> {
        match &arg.kind {
            ExprKind::Map(m) if m.keys.is_empty() => self.existing_map(m),
            _ => Err(self.not_a_map(arg.span, func)),
        }
    }

    fn existing_map(&mut self, m: &ast::MapRef) -> Checked<hir::MapId> {
        match self.map_ids.get(&m.name) {
            Some(&id) => Ok(id),
            None => Err(self.error(SemaError::MapNeverAssigned { span: m.span, map: m.name.clone() })),
        }
    }

    fn assign_map(&mut self, m: &ast::MapRef, value: &ast::Expr) -> Checked<hir::Stmt> {
        let keys: Vec<hir::Expr> = m.keys.iter().map(|k| self.expr(k)).collect::<Result<_, _>>()?;
        let mut key_types = Vec::new();
        for k in &keys {
            key_types.push(self.value_type(k)?.stored());
        }
        if let ExprKind::Call { func, args } = &value.kind {
            if AGGREGATIONS.contains(&func.name.as_str()) {
                let (kind, arg) = self.aggregation(&func.name, args, value.span)?;
                let map = self.declare_map(m, key_types, kind, value.span)?;
                return Ok(hir::Stmt::MapAggregate { map, keys, arg });
            }
        }
        let value = self.expr(value)?;
        let ty = self.value_type(&value)?.stored();
        let map = self.declare_map(m, key_types, MapValue::Scalar(ty), value.span)?;
        Ok(hir::Stmt::MapStore { map, keys, value })
    }

    fn aggregation(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<(MapValue, Option<hir::Expr>)> {
        let want = match func {
            "count" => 0,
            "lhist" => 4,
            _ => 1,
        };
        if args.len() != want {
            let expected = match want {
                0 => "no arguments",
                1 => "one integer",
                _ => "a value, min, max and step",
            };
            return Err(self.arg_count(span, func, expected, args.len()));
        }
        let arg = match args.first() {
            Some(a) => {
                let e = self.expr(a)?;
                self.expect_int(&e, &format!("`{func}` aggregates integers"))?;
                Some(e)
            }
            None => None,
        };
        let kind = match func {
            "count" => MapValue::Count,
            "sum" => MapValue::Sum { signed: arg.as_ref().is_some_and(|a| a.ty.is_signed()) },
            "avg" => MapValue::Avg,
            "min" => MapValue::Min,
            "max" => MapValue::Max,
            "stats" => MapValue::Stats,
            "hist" => MapValue::Hist,
            _ => {
                let mut bounds = [0i64; 3];
                for (slot, a) in bounds.iter_mut().zip(&args[1..]) {
                    *slot = self.constant(a).ok_or_else(|| {
                        self.error(SemaError::NotAConstant { span: a.span, func: func.into() })
                    })?;
                }
                let [min, max, step] = bounds;
                if min < 0 || step <= 0 || max <= min {
                    return Err(self.error(SemaError::TypeMismatch {
                        span,
                        message: "lhist needs 0 <= min < max and step > 0".into(),
                        label: format!("min {min}, max {max}, step {step}"),
                    }));
                }
                if (max - min) / step > 1000 {
                    return Err(self.error(SemaError::TypeMismatch {
                        span,
                        message: "lhist may have at most 1000 buckets".into(),
                        label: format!("{} buckets", (max - min) / step),
                    }));
                }
                MapValue::Lhist { min, max, step }
            }
        };
        Ok((kind, arg))
    }

    fn constant(&self, e: &ast::Expr) -> Option<i64> {
        match &e.kind {
            ExprKind::Int(n) => i64::try_from(*n).ok(),
            ExprKind::Unary { op: UnaryOp::Neg, expr } => self.constant(expr).map(|n| -n),
            _ => None,
        }
    }

    /// Fixes (or checks against) a map's key and value types.
    fn declare_map(&mut self, m: &ast::MapRef, keys: Vec<Type>, value: MapValue, span: Span) -> Checked<hir::MapId> {
        let Some(&id) = self.map_ids.get(&m.name) else {
            self.maps.push(MapDecl { name: m.name.clone(), keys, value, span, deleted_in_probe: false });
            self.map_ids.insert(m.name.clone(), self.maps.len() - 1);
            return Ok(self.maps.len() - 1);
        };
        let decl = &self.maps[id];
        let keys_ok = decl.keys.len() == keys.len() && decl.keys.iter().zip(&keys).all(|(a, b)| a.same_kind(*b));
        let value_ok = match (decl.value, value) {
            (MapValue::Scalar(a), MapValue::Scalar(b)) => a.same_kind(b),
            (MapValue::Sum { .. }, MapValue::Sum { .. }) => true,
            (a, b) => a == b,
        };
        if !keys_ok || !value_ok {
            let (was, now) = if keys_ok {
                (decl.value.describe(), value.describe())
            } else {
                (describe_keys(&decl.keys), describe_keys(&keys))
            };
            return Err(self.error(SemaError::MapTypeConflict { span, map: m.name.clone(), first: decl.span, was, now }));
        }
        // Strings widen to the largest size stored; sums are signed if any input is.
        let decl = &mut self.maps[id];
        for (a, b) in decl.keys.iter_mut().zip(&keys) {
            if let (Type::Str(x), Type::Str(y)) = (*a, *b) {
                *a = Type::Str(x.max(y));
            }
        }
        match (&mut decl.value, value) {
            (MapValue::Scalar(Type::Str(x)), MapValue::Scalar(Type::Str(y))) => *x = (*x).max(y),
            (MapValue::Scalar(Type::Int { signed: a, .. }), MapValue::Scalar(Type::Int { signed: b, .. })) => *a |= b,
            (MapValue::Sum { signed: a }, MapValue::Sum { signed: b }) => *a |= b,
            _ => {}
        }
        Ok(id)
    }

    fn keys(&mut self, map: hir::MapId, m: &ast::MapRef) -> Checked<Vec<hir::Expr>> {
        let keys: Vec<hir::Expr> = m.keys.iter().map(|k| self.expr(k)).collect::<Result<_, _>>()?;
        let want = self.maps[map].keys.clone();
        let got: Vec<Type> = keys.iter().map(|k| k.ty.stored()).collect();
        if want.len() != got.len() || !want.iter().zip(&got).all(|(a, b)| a.same_kind(*b)) {
            return Err(self.error(SemaError::MapTypeConflict {
                span: m.span,
                map: m.name.clone(),
                first: self.maps[map].span,
                was: describe_keys(&want),
                now: describe_keys(&got),
            }));
        }
        Ok(keys)
    }

    fn expect_int(&mut self, e: &hir::Expr, message: &str) -> Checked<()> {
        if e.ty.is_int() {
            return Ok(());
        }
        Err(self.error(SemaError::TypeMismatch { span: e.span, message: message.into(), label: format!("this is {}", e.ty) }))
    }

    /// The type of an expression used as a value (stored, printed, compared).
    fn value_type(&mut self, e: &hir::Expr) -> Checked<Type> {
        match e.ty {
            Type::Void => Err(self.error(SemaError::NotAValue { span: e.span, what: "this expression".into() })),
            Type::TracepointArgs => Err(self.error(SemaError::NotAValue {
                span: e.span,
                what: "`args` as a whole".into(),
            })),
            t => Ok(t),
        }
    }

    fn expr(&mut self, e: &ast::Expr) -> Checked<hir::Expr> {
        let span = e.span;
        let (kind, ty) = match &e.kind {
            ExprKind::Int(n) => {
                let ty = if *n > i64::MAX as u64 { Type::U64 } else { Type::I64 };
                (hir::ExprKind::Int(*n), ty)
            }
            ExprKind::Str(s) => (hir::ExprKind::Str(s.clone()), Type::Str(s.len() + 1)),
            ExprKind::Ident(name) => {
                if !self.attach_resolved && (name == "args" || name == "retval" || name.starts_with("arg")) {
                    return Err(Reported);
                }
                if name == "args" {
                    if self.attach.is_empty() || !self.attach.iter().all(|a| matches!(a.kind, AttachKind::Tracepoint { .. })) {
                        return Err(self.error(SemaError::ArgsOutsideTracepoint { span }));
                    }
                    return Ok(hir::Expr { kind: hir::ExprKind::Int(0), ty: Type::TracepointArgs, span });
                }
                if let Some(n) = name.strip_prefix("arg").and_then(|d| d.parse::<u8>().ok()).filter(|n| *n < MAX_ARGS) {
                    let fits = |a: &hir::AttachPoint| match a.kind {
                        AttachKind::RawTracepoint { .. } => true,
                        AttachKind::Uprobe { ret: false, .. } | AttachKind::Kprobe { ret: false, .. } => n < MAX_REGISTER_ARGS,
                        _ => false,
                    };
                    if self.attach.is_empty() || !self.attach.iter().all(fits) {
                        return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: name.clone() }));
                    }
                    let b = Builtin::Arg(n);
                    return Ok(hir::Expr { kind: hir::ExprKind::Builtin(b), ty: b.ty(), span });
                }
                if name == "retval" && !self.attach.iter().all(|a| matches!(a.kind, AttachKind::Uprobe { ret: true, .. } | AttachKind::Kprobe { ret: true, .. })) {
                    return Err(self.error(SemaError::ArgOutsideRawProbe { span, name: name.clone() }));
                }
                match Builtin::ALL.iter().find(|(n, _)| n == name) {
                    Some((_, b)) => (hir::ExprKind::Builtin(*b), b.ty()),
                    None => {
                        let names = Builtin::ALL.iter().map(|(n, _)| *n).chain(["args"]);
                        let candidates = did_you_mean(name, names);
                        return Err(self.error(SemaError::UnknownIdentifier { span, name: name.clone(), candidates }));
                    }
                }
            }
            ExprKind::Var(name) => match self.var_ids.get(name) {
                Some(&id) => (hir::ExprKind::Var(id), self.vars[id]),
                None => return Err(self.error(SemaError::UndefinedVariable { span, name: name.clone() })),
            },
            ExprKind::Map(m) => {
                let map = self.existing_map(m)?;
                let keys = self.keys(map, m)?;
                let Some(ty) = self.maps[map].value.read_type() else {
                    let what = format!("a {} map", self.maps[map].value.describe());
                    return Err(self.error(SemaError::NotAValue { span, what }));
                };
                (hir::ExprKind::MapRead { map, keys }, ty)
            }
            ExprKind::Call { func, args } => return self.value_call(func, args, span),
            ExprKind::Unary { op, expr } => {
                let inner = self.expr(expr)?;
                self.expect_int(&inner, &format!("`{}` needs an integer", unary_symbol(*op)))?;
                let ty = match op {
                    UnaryOp::Not => Type::I64,
                    _ => inner.ty.stored(),
                };
                (hir::ExprKind::Unary { op: *op, expr: Box::new(inner) }, ty)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.expr(lhs), self.expr(rhs));
                let (l, r) = (l?, r?);
                let (lt, rt) = (self.value_type(&l)?, self.value_type(&r)?);
                let ty = match (lt, rt) {
                    (Type::Str(_), Type::Str(_)) if matches!(op, BinOp::Eq | BinOp::Ne) => Type::I64,
                    (Type::Int { .. }, Type::Int { .. }) if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) => Type::I64,
                    (Type::Int { signed: a, .. }, Type::Int { signed: b, .. }) => Type::Int { bits: 64, signed: a && b },
                    _ => {
                        return Err(self.error(SemaError::TypeMismatch {
                            span,
                            message: format!("`{}` cannot be applied to {lt} and {rt}", op.symbol()),
                            label: format!("{lt} {} {rt}", op.symbol()),
                        }))
                    }
                };
                (hir::ExprKind::Binary { op: *op, lhs: Box::new(l), rhs: Box::new(r) }, ty)
            }
            ExprKind::Ternary { cond, then, els } => {
                let (c, t, f) = (self.expr(cond), self.expr(then), self.expr(els));
                let (c, t, f) = (c?, t?, f?);
                self.expect_int(&c, "a `?:` condition must be an integer")?;
                let (tt, ft) = (self.value_type(&t)?, self.value_type(&f)?);
                let ty = match (tt, ft) {
                    (Type::Str(a), Type::Str(b)) => Type::Str(a.max(b)),
                    (Type::Int { signed: a, .. }, Type::Int { signed: b, .. }) => Type::Int { bits: 64, signed: a && b },
                    _ => {
                        return Err(self.error(SemaError::TypeMismatch {
                            span,
                            message: format!("the branches of `?:` have different types, {tt} and {ft}"),
                            label: "both branches must be integers, or both strings".into(),
                        }))
                    }
                };
                (hir::ExprKind::Ternary { cond: Box::new(c), then: Box::new(t), els: Box::new(f) }, ty)
            }
            ExprKind::Field { base, field } => {
                let b = self.expr(base)?;
                if b.ty != Type::TracepointArgs {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: b.span,
                        message: format!("fields can only be read from `args` here, not from {}", b.ty),
                        label: "not `args`".into(),
                    }));
                }
                let ty = field_type(&self.attach, field).map_err(|e| self.error(e))?;
                self.args_fields.insert(field.name.clone());
                (hir::ExprKind::TracepointField(field.name.clone()), ty.unwrap_or(Type::U64))
            }
        };
        Ok(hir::Expr { kind, ty, span })
    }

    fn value_call(&mut self, func: &ast::Ident, args: &[ast::Expr], span: Span) -> Checked<hir::Expr> {
        let name = func.name.as_str();
        if AGGREGATIONS.contains(&name) {
            return Err(self.error(SemaError::AggregationNotAssigned { span, func: name.into() }));
        }
        if STATEMENT_FUNCS.contains(&name) {
            return Err(self.error(SemaError::NotAValue { span, what: format!("`{name}()`") }));
        }
        match name {
            "str" => {
                let [ptr] = args else { return Err(self.arg_count(span, name, "one pointer", args.len())) };
                let ptr = self.expr(ptr)?;
                self.expect_int(&ptr, "`str` reads a string from an address (an integer)")?;
                Ok(hir::Expr { kind: hir::ExprKind::ReadStr { ptr: Box::new(ptr) }, ty: Type::Str(STR_LEN), span })
            }
            _ => {
                let known = AGGREGATIONS.iter().chain(STATEMENT_FUNCS).chain(VALUE_FUNCS).copied();
                let candidates = did_you_mean(name, known);
                Err(self.error(SemaError::UnknownFunction { span: func.span, name: name.into(), candidates }))
            }
        }
    }
}

fn describe_keys(keys: &[Type]) -> String {
    match keys {
        [] => "a map without keys".into(),
        _ => {
            let k: Vec<String> = keys.iter().map(|t| t.to_string()).collect();
            format!("a map keyed by [{}]", k.join(", "))
        }
    }
}

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-",
        UnaryOp::Not => "!",
        UnaryOp::BitNot => "~",
    }
}
