//! Maps: their key and value types are fixed by the first assignment (in either walk) and
//! checked against every later use.

use super::{Checked, Checker};
use crate::sema::reference::{self, FuncKind};
use crate::parser::ast::{self, BinOp, ExprKind, StmtKind, UnaryOp};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir;
use crate::sema::hir::{MapDecl, MapValue};
use crate::artifact::types::Type;

impl Checker<'_> {
    pub(super) fn whole_map(&mut self, arg: &ast::Expr, func: &str) -> Checked<hir::MapId> {
        match &arg.kind {
            ExprKind::Map(m) if m.keys.is_empty() => self.existing_map(m),
            _ => Err(self.not_a_map(arg.span, func)),
        }
    }

    pub(super) fn existing_map(&mut self, m: &ast::MapRef) -> Checked<hir::MapId> {
        match self.map_ids.get(&m.name) {
            Some(&id) => Ok(id),
            None => Err(self.error(SemaError::MapNeverAssigned { span: m.span, map: m.name.clone() })),
        }
    }

    /// `@m[k]` read as a value. In the second walk, a map still unknown is one whose every
    /// assignment needs its own value first (`$n = @n; @n = $n + 500;`): as in bpftrace it
    /// reads 0 until assigned, so it starts as an int64 map, which its assignments are then
    /// checked against. Should nothing assign it, `unassigned_reads` reports the reads.
    pub(super) fn read_map(&mut self, m: &ast::MapRef) -> Checked<hir::MapId> {
        let unknown = !self.map_ids.contains_key(&m.name);
        if !self.second_walk || (!unknown && !self.unassigned_reads.contains_key(&m.name)) {
            return self.existing_map(m);
        }
        if unknown {
            self.new_int_map(m)?;
            // A read is no assignment.
            self.assigned.remove(&m.name);
        }
        self.unassigned_reads.entry(m.name.clone()).or_default().push(m.span);
        self.existing_map(m)
    }

    /// E0211 for every read of a map that the second walk found nothing to assign.
    pub(super) fn unassigned_reads(&mut self) {
        let mut reads: Vec<(String, Vec<Span>)> =
            std::mem::take(&mut self.unassigned_reads).into_iter().filter(|(map, _)| !self.assigned.contains(map)).collect();
        reads.sort_by_key(|(_, spans)| spans[0].start);
        for (map, spans) in reads {
            for span in spans {
                self.error(SemaError::MapNeverAssigned { span, map: map.clone() });
            }
        }
    }

    /// A map an update or a read creates: int64 values (0 until assigned), keyed as `m` is.
    pub(super) fn new_int_map(&mut self, m: &ast::MapRef) -> Checked<hir::MapId> {
        let keys = self.key_values(&m.keys)?;
        let key_types = self.stored_types(&keys)?;
        self.declare_map(m, key_types, MapValue::Scalar(Type::I64), m.span)
    }

    fn stored_types(&mut self, keys: &[hir::Expr]) -> Checked<Vec<Type>> {
        keys.iter().map(|k| Ok(self.value_type(k)?.stored())).collect()
    }

    /// `@m[k] = value`, or with `op` the compound `@m[k] op= value`, which reads the old
    /// value (0 for a missing key) and so makes an untyped map an int64 map.
    pub(super) fn assign_map(&mut self, m: &ast::MapRef, op: Option<BinOp>, value: &ast::Expr) -> Checked<hir::Stmt> {
        // `@m = { let $a = 1; avg($a) }`: a block whose value is an aggregation is the block
        // with the aggregation assigned at its end, as bpftrace reads it.
        if let (None, ExprKind::Block(stmts)) = (op, &value.kind) {
            if let Some((ast::Stmt { kind: StmtKind::Expr(last @ ast::Expr { kind: ExprKind::Call { func, .. }, .. }), span }, init)) = stmts.split_last() {
                if reference::is(&func.name, FuncKind::Aggregation) {
                    let assign = ast::Stmt { kind: StmtKind::AssignMap { map: m.clone(), op: None, value: last.clone() }, span: *span };
                    let block: Vec<ast::Stmt> = init.iter().cloned().chain([assign]).collect();
                    return Ok(hir::Stmt::Block(self.block(&block)));
                }
            }
        }
        let keys: Vec<hir::Expr> = self.key_values(&m.keys)?;
        let key_types = self.stored_types(&keys)?;
        if let Some(op) = op {
            if !self.map_ids.contains_key(&m.name) {
                self.new_int_map(m)?;
            }
            let read = ast::Expr { kind: ExprKind::Map(m.clone()), span: m.span };
            let span = m.span.to(value.span);
            let desugared = ast::Expr { kind: ExprKind::Binary { op, lhs: Box::new(read), rhs: Box::new(value.clone()) }, span };
            return self.assign_map(m, None, &desugared);
        }
        if let ExprKind::Call { func, args } = &value.kind {
            if reference::is(&func.name, FuncKind::Aggregation) {
                let (kind, arg) = self.aggregation(&func.name, args, value.span)?;
                let map = self.declare_map(m, key_types, kind, value.span)?;
                return Ok(hir::Stmt::MapAggregate { map, keys: self.fit_keys(map, keys), arg });
            }
        }
        let before = self.errors.len();
        let value = match self.expr(value) {
            // `@m = @m + 1` on a new map: the read sees 0 the first time, as with `@m += 1`.
            Err(_) if !self.map_ids.contains_key(&m.name) && self.only_unassigned_reads_of(&m.name, before) => {
                self.new_int_map(m)?;
                self.expr(value)?
            }
            r => r?,
        };
        let value = self.value(value)?;
        let ty = value.ty.stored();
        let map = self.declare_map(m, key_types, MapValue::Scalar(ty), value.span)?;
        let value = match self.maps[map].value {
            MapValue::Scalar(to) => super::stmt::widen(value, to),
            _ => value,
        };
        Ok(hir::Stmt::MapStore { map, keys: self.fit_keys(map, keys), value })
    }

    /// Whether the only errors since `before` say that map `name` is read before anything
    /// stores into it; if so they are dropped.
    fn only_unassigned_reads_of(&mut self, name: &str, before: usize) -> bool {
        let new = &self.errors[before..];
        let only = !new.is_empty() && new.iter().all(|e| matches!(e, SemaError::MapNeverAssigned { map, .. } if map == name));
        if only {
            self.errors.truncate(before);
        }
        only
    }

    pub(super) fn aggregation(&mut self, func: &str, args: &[ast::Expr], span: Span) -> Checked<(MapValue, Option<hir::Expr>)> {
        if func == "tseries" {
            return self.tseries(args, span);
        }
        let want = match func {
            "count" => 0,
            "lhist" => 4,
            // `hist(x, k)`: k is optional.
            "hist" if args.len() == 2 => 2,
            _ => 1,
        };
        if args.len() != want {
            let expected = match (func, want) {
                (_, 0) => "no arguments",
                ("hist", _) => "one integer, and optionally the power-of-two subdivision k (0 to 5)",
                (_, 1) => "one integer",
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
            "min" => MapValue::Min { signed: arg.as_ref().is_none_or(|a| a.ty.is_signed()) },
            "max" => MapValue::Max { signed: arg.as_ref().is_none_or(|a| a.ty.is_signed()) },
            "stats" => MapValue::Stats,
            "hist" => {
                let k = match args.get(1) {
                    None => 0,
                    Some(a) => match self.constant(a) {
                        Some(k @ 0..=5) => k as u8,
                        _ => {
                            return Err(self.error(SemaError::TypeMismatch {
                                span: a.span,
                                message: "the subdivision of `hist(x, k)` is a constant from 0 to 5".into(),
                                label: "each power of two is split into 2^k buckets".into(),
                            }))
                        }
                    },
                };
                MapValue::Hist { k }
            }
            _ => {
                let mut bounds = [0i64; 3];
                for (slot, a) in bounds.iter_mut().zip(&args[1..]) {
                    *slot = self.constant(a).ok_or_else(|| self.not_a_constant(a, func))?;
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

    /// An integer the source fixes: a literal, its negation, a positional parameter given as
    /// a number (0 when not given, as where it is a value), `$#`.
    pub(super) fn constant(&self, e: &ast::Expr) -> Option<i64> {
        match &e.kind {
            ExprKind::Int(n) => i64::try_from(*n).ok(),
            ExprKind::Unary { op: UnaryOp::Neg, expr } => self.constant(expr).and_then(i64::checked_neg),
            ExprKind::Positional(n) => match self.param(*n) {
                Some(p) => super::expr::parse_param_int(p).and_then(|(v, ty)| if ty.is_signed() { Some(v as i64) } else { i64::try_from(v).ok() }),
                None => Some(0),
            },
            ExprKind::ParamCount => i64::try_from(self.options.params.len()).ok(),
            _ => None,
        }
    }

    /// The error for `e` where `func` needs a constant: a positional parameter given as text
    /// is named as that.
    pub(super) fn not_a_constant(&mut self, e: &ast::Expr, func: &str) -> super::Reported {
        if let ExprKind::Positional(n) = e.kind {
            if let Some(value) = self.param(n).filter(|p| super::expr::parse_param_int(p).is_none()) {
                let value = value.to_string();
                return self.error(SemaError::ParamNotANumber { span: e.span, n, value });
            }
        }
        self.error(SemaError::NotAConstant { span: e.span, func: func.into() })
    }

    /// Fixes (or checks against) a map's key and value types.
    pub(super) fn declare_map(&mut self, m: &ast::MapRef, keys: Vec<Type>, value: MapValue, span: Span) -> Checked<hir::MapId> {
        self.assigned.insert(m.name.clone());
        let Some(&id) = self.map_ids.get(&m.name) else {
            let declared = self.declared_maps.get(&m.name).copied();
            let key_names = key_names(&m.keys, keys.len());
            self.maps.push(MapDecl { name: m.name.clone(), keys, key_names, value, span, deleted_in_probe: false, declared });
            self.map_ids.insert(m.name.clone(), self.maps.len() - 1);
            return Ok(self.maps.len() - 1);
        };
        let decl = &self.maps[id];
        let keys_ok = decl.keys.len() == keys.len() && decl.keys.iter().zip(&keys).all(|(a, b)| a.same_kind(*b));
        let value_ok = match (decl.value, value) {
            (MapValue::Scalar(a), MapValue::Scalar(b)) => a.same_kind(b),
            (MapValue::Sum { .. }, MapValue::Sum { .. }) => true,
            (MapValue::Tseries { interval_ns: i, intervals: n, agg: g, .. }, MapValue::Tseries { interval_ns, intervals, agg, .. }) => {
                (i, n, g) == (interval_ns, intervals, agg)
            }
            (a, b) => a == b,
        };
        if !keys_ok || !value_ok {
            let (was, now) = if keys_ok { (decl.value.describe(), value.describe()) } else { (describe_keys(&decl.keys), describe_keys(&keys)) };
            return Err(self.error(SemaError::MapTypeConflict { span, map: m.name.clone(), first: decl.span, was, now }));
        }
        // Strings (also inside tuples) widen to the largest size stored; integer keys, values
        // and sums are signed if any input is.
        let decl = &mut self.maps[id];
        // A key part the first use left unnamed takes its name from a later one.
        for (name, later) in decl.key_names.iter_mut().zip(key_names(&m.keys, keys.len())) {
            if name.is_empty() {
                *name = later;
            }
        }
        for (a, b) in decl.keys.iter_mut().zip(&keys) {
            *a = a.join(*b).unwrap_or(*a);
        }
        match (&mut decl.value, value) {
            (MapValue::Scalar(Type::Str(x)), MapValue::Scalar(Type::Str(y))) => *x = (*x).max(y),
            (MapValue::Scalar(a @ Type::Tuple(_)), MapValue::Scalar(b)) => *a = a.join(b).unwrap_or(*a),
            (MapValue::Scalar(Type::Int { signed: a, .. }), MapValue::Scalar(Type::Int { signed: b, .. })) => *a |= b,
            (MapValue::Sum { signed: a }, MapValue::Sum { signed: b }) | (MapValue::Tseries { signed: a, .. }, MapValue::Tseries { signed: b, .. }) => *a |= b,
            _ => {}
        }
        Ok(id)
    }

    /// The map element a call names, in either spelling: `@m[k]`, or bpftrace's current
    /// `@m, k` (`has_key(@m, k)`, `delete(@m, k)`), whose key is a tuple for a map of several
    /// keys (`key_values` splits it). None when `args` is neither.
    pub(super) fn element(&mut self, args: &[ast::Expr]) -> Option<Checked<(hir::MapId, Vec<hir::Expr>)>> {
        let m = self.element_ref(args)?;
        Some(self.existing_map(&m).and_then(|map| Ok((map, self.keys(map, &m)?))))
    }

    /// The `@m[k]` that `element` reads, spelled out.
    pub(super) fn element_ref(&self, args: &[ast::Expr]) -> Option<ast::MapRef> {
        match args {
            [ast::Expr { kind: ExprKind::Map(m), .. }] => Some(m.clone()),
            [ast::Expr { kind: ExprKind::Map(m), .. }, key] if m.keys.is_empty() => Some(ast::MapRef { keys: vec![key.clone()], ..m.clone() }),
            _ => None,
        }
    }

    pub(super) fn keys(&mut self, map: hir::MapId, m: &ast::MapRef) -> Checked<Vec<hir::Expr>> {
        let keys: Vec<hir::Expr> = self.key_values(&m.keys)?;
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
        Ok(self.fit_keys(map, keys))
    }

    /// Keys rebuilt at the map's key layout where a tuple in them is narrower (strings in
    /// it shorter than the longest stored).
    fn fit_keys(&self, map: hir::MapId, keys: Vec<hir::Expr>) -> Vec<hir::Expr> {
        keys.into_iter().zip(&self.maps[map].keys).map(|(k, ty)| super::stmt::widen(k, *ty)).collect()
    }
}

/// The names a map's key expressions give its `parts` key parts: a builtin's (`comm`), a
/// variable's (`$fd`: `fd`), a field's (`args.filename`: `filename`), a stack's (`kstack`), a
/// conversion's argument's (`str(args.filename)`: `filename`); empty for an expression that
/// names nothing. A single tuple key names its items.
fn key_names(keys: &[ast::Expr], parts: usize) -> Vec<String> {
    let exprs: Vec<&ast::Expr> = match keys {
        [ast::Expr { kind: ExprKind::Tuple(items), .. }] => items.iter().collect(),
        keys => keys.iter().collect(),
    };
    if exprs.len() != parts {
        return vec![String::new(); parts];
    }
    exprs.into_iter().map(|e| key_name(e).unwrap_or_default()).collect()
}

fn key_name(e: &ast::Expr) -> Option<String> {
    /// Functions that only convert their argument: the argument names the key.
    const CONVERSIONS: [&str; 6] = ["str", "buf", "ntop", "macaddr", "uptr", "kptr"];
    match &e.kind {
        ExprKind::Ident(name) => Some(name.clone()),
        ExprKind::Var(name) => Some(name.trim_start_matches('$').to_string()),
        ExprKind::Field { field, .. } => Some(field.name.clone()),
        ExprKind::Cast { expr, .. } | ExprKind::Deref(expr) => key_name(expr),
        ExprKind::Call { func, args } if CONVERSIONS.contains(&func.name.as_str()) => args.first().and_then(key_name).or_else(|| Some(func.name.clone())),
        ExprKind::Call { func, .. } => Some(func.name.clone()),
        _ => None,
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
