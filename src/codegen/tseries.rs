//! `@m[k] = tseries(x, interval, n[, agg])`. The map is a per-CPU hash keyed by the user key
//! and the bucket `epoch % n`, where `epoch` is the time (TAI, as bpftrace's sw_tai: boot
//! clock plus the difference measured at start) divided by the interval. Each element is
//! `{ value, meta, epoch }`: a bucket whose epoch is older than the current one is reset
//! before the value is folded in, so a bucket always holds one interval. `meta` is the time
//! of the store (no aggregation: userspace keeps the latest CPU's), avg's count, or min and
//! max's "set" flag. Userspace folds the CPUs and lays the buckets out by epoch.

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use crate::artifact::Global;
use super::builder::{BpfBuilder, Helper, R};
use super::maps::{better_than, layout};
use super::probe::Lower;
use crate::sema::hir::{Expr, MapValue, TsAgg};

impl<'ctx> Lower<'ctx, '_, '_> {
    pub(super) fn tseries(&mut self, map: usize, keys: &[Expr], arg: &Expr) -> R<()> {
        let bb = self.bb;
        let MapValue::Tseries { interval_ns, intervals, agg, signed } = self.program.maps[map].value else {
            return Err(super::builder::internal("tseries on a map of another kind"));
        };
        let x = self.expr(arg)?.int()?;
        let now = self.tseries_now()?;
        let epoch = bb.b.build_int_unsigned_div(now, bb.const_i64(interval_ns), "epoch")?;
        let bucket = bb.b.build_int_unsigned_rem(epoch, bb.const_i64(intervals), "bucket")?;
        let key = self.map_key(map, keys, Some(bucket))?;
        let global = self.maps.user[map];
        let p = bb.map_lookup(global, key)?;
        let found = bb.b.build_is_not_null(p, "found")?;
        let upd = bb.ctx.append_basic_block(bb.function, "ts_update");
        let init = bb.ctx.append_basic_block(bb.function, "ts_init");
        let done = bb.ctx.append_basic_block(bb.function, "ts_done");
        bb.b.build_conditional_branch(found, upd, init)?;

        // An existing bucket: this CPU's copy, updated in place.
        bb.b.position_at_end(upd);
        fold(bb, p, x, now, epoch, agg, signed)?;
        bb.b.build_unconditional_branch(done)?;

        // A new bucket: built on the stack (zero, of this epoch) and inserted.
        bb.b.position_at_end(init);
        let fresh = bb.stack_buffer(layout(&self.program.maps[map]).value_size, "ts")?;
        bb.store_i64(bb.gep(fresh, 16)?, epoch)?;
        fold(bb, fresh, x, now, epoch, agg, signed)?;
        bb.map_update(global, key, fresh, self.maps.counters)?;
        bb.b.build_unconditional_branch(done)?;
        bb.b.position_at_end(done);
        Ok(())
    }

    /// The time tseries files a value under: sw_tai, or the value of the map
    /// `BPFTRACE_DUMMY_TS_MAP` names (0 while it has none).
    fn tseries_now(&mut self) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let Some(clock) = self.program.tseries_clock else {
            let boot = bb.helper(Helper::KtimeGetBootNs, &[])?;
            return Ok(bb.b.build_int_add(boot, self.global(Global::BootToTai)?, "tai")?);
        };
        let key = self.map_key(clock, &[], None)?;
        let p = bb.map_lookup(self.maps.user[clock], key)?;
        let slot = bb.stack_buffer(8, "ts_now")?;
        let found = bb.b.build_is_not_null(p, "found")?;
        bb.if_then(found, |s| s.store_i64(slot, s.load_i64(p)?))?;
        bb.load_i64(slot)
    }
}

/// Folds `x` into the bucket at `at` (value, meta, epoch).
fn fold<'ctx>(bb: &BpfBuilder<'ctx, '_>, at: PointerValue<'ctx>, x: IntValue<'ctx>, now: IntValue<'ctx>, epoch: IntValue<'ctx>, agg: TsAgg, signed: bool) -> R<()> {
    let (value, meta, stamp) = (at, bb.gep(at, 8)?, bb.gep(at, 16)?);
    if agg != TsAgg::Last {
        // A bucket last used in an older interval starts again.
        let old = bb.load_i64(stamp)?;
        let stale = bb.b.build_int_compare(IntPredicate::NE, old, epoch, "stale")?;
        bb.if_then(stale, |s| {
            s.store_i64(value, s.const_i64(0))?;
            s.store_i64(meta, s.const_i64(0))
        })?;
    }
    let add = |at: PointerValue<'ctx>, by: IntValue<'ctx>| -> R<()> {
        let old = bb.load_i64(at)?;
        bb.store_i64(at, bb.b.build_int_add(old, by, "add")?)
    };
    match agg {
        TsAgg::Last => {
            bb.store_i64(value, x)?;
            bb.store_i64(meta, now)?;
        }
        TsAgg::Sum => add(value, x)?,
        TsAgg::Avg => {
            add(value, x)?;
            add(meta, bb.const_i64(1))?;
        }
        TsAgg::Min | TsAgg::Max => {
            let pred = better_than(if agg == TsAgg::Min { MapValue::Min { signed } } else { MapValue::Max { signed } });
            let old = bb.load_i64(value)?;
            let set = bb.load_i64(meta)?;
            let better = bb.b.build_int_compare(pred, x, old, "better")?;
            let unset = bb.b.build_int_compare(IntPredicate::EQ, set, bb.const_i64(0), "unset")?;
            let replace = bb.b.build_or(better, unset, "replace")?;
            bb.if_then(replace, |s| {
                s.store_i64(value, x)?;
                s.store_i64(meta, s.const_i64(1))
            })?;
        }
    }
    bb.store_i64(stamp, epoch)
}
