//! `tseries(x, interval, intervals[, agg])`: bpftrace's time series aggregation, and the
//! `BPFTRACE_DUMMY_TS_MAP` hook that makes its clock a map the script advances.

use super::{Checked, Checker};
use crate::parser::ast::{self, ExprKind};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{self, MapValue, TsAgg, Unstable};
use crate::artifact::types::Type;

/// bpftrace's bound on the number of intervals.
const MAX_INTERVALS: i64 = 1_000_000;

impl Checker<'_> {
    pub(super) fn tseries(&mut self, args: &[ast::Expr], span: Span) -> Checked<(MapValue, Option<hir::Expr>)> {
        if !(3..=4).contains(&args.len()) {
            let expected = "a value, an interval (`100ms`), a number of intervals and optionally \"avg\", \"sum\", \"min\" or \"max\"";
            return Err(self.arg_count(span, "tseries", expected, args.len()));
        }
        self.unstable(span)?;
        let x = self.expr(&args[0])?;
        self.expect_int(&x, "`tseries` records integers")?;
        let mut bounds = [0i64; 2];
        for (slot, (a, what)) in bounds.iter_mut().zip(args[1..3].iter().zip(["interval", "number of intervals"])) {
            let n = self.constant(a).ok_or_else(|| self.not_a_constant(a, "tseries"))?;
            let max = if what == "interval" { i64::MAX } else { MAX_INTERVALS };
            if n < 1 || n > max {
                return Err(self.error(SemaError::TypeMismatch {
                    span: a.span,
                    message: format!("the {what} of `tseries` must be from 1 to {max}"),
                    label: format!("{n} given"),
                }));
            }
            *slot = n;
        }
        let agg = match args.get(3).map(|a| (&a.kind, a.span)) {
            None => TsAgg::Last,
            Some((ExprKind::Str(s), at)) => match s.as_str() {
                "avg" => TsAgg::Avg,
                "sum" => TsAgg::Sum,
                "min" => TsAgg::Min,
                "max" => TsAgg::Max,
                _ => {
                    return Err(self.error(SemaError::TypeMismatch {
                        span: at,
                        message: format!("tseries() expects one of the following aggregation functions: avg, max, min, sum (\"{s}\" provided)"),
                        label: "not an aggregation".into(),
                    }))
                }
            },
            Some((_, at)) => {
                return Err(self.error(SemaError::TypeMismatch {
                    span: at,
                    message: "the aggregation of `tseries` is a string literal: \"avg\", \"sum\", \"min\" or \"max\"".into(),
                    label: "not a string literal".into(),
                }))
            }
        };
        let [interval_ns, intervals] = bounds.map(|n| n as u64);
        Ok((MapValue::Tseries { interval_ns, intervals, agg, signed: x.ty.is_signed() }, Some(x)))
    }

    /// bpftrace's `unstable_tseries` flag: `error` refuses tseries, `warn` (the default)
    /// warns once.
    fn unstable(&mut self, span: Span) -> Checked<()> {
        let refused = match self.config.unstable_tseries {
            Unstable::Enable => return Ok(()),
            Unstable::Error => true,
            Unstable::Warn => false,
        };
        let e = SemaError::UnstableFeature { span, feature: "tseries", flag: "unstable_tseries", refused };
        if refused {
            return Err(self.error(e));
        }
        if self.second_walk && self.unstable_warnings.is_empty() {
            self.unstable_warnings.push(e);
        }
        Ok(())
    }

    /// The map `BPFTRACE_DUMMY_TS_MAP=@name` names, once every map is known: it must be a
    /// scalar map of unsigned integers.
    pub(super) fn tseries_clock(&mut self) -> Option<hir::MapId> {
        let name = self.options.dummy_ts_map.as_deref()?;
        let name = name.strip_prefix('@').unwrap_or(name);
        let id = *self.map_ids.get(name)?;
        let decl = &self.maps[id];
        match decl.value {
            MapValue::Scalar(Type::Int { signed: false, .. }) if decl.keys.is_empty() => Some(id),
            _ => None,
        }
    }
}
