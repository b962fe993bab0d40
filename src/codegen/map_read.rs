//! Reading a map's value in a probe (`@m[k]` as an expression). Plain maps hold one value.
//! Aggregations are per-CPU: each CPU counts into its own copy, so a read folds every CPU's
//! copy, with `bpf_map_lookup_percpu_elem` (Linux 5.19), the way userspace folds them when
//! it prints the map; reading only the current CPU's copy would see a fraction of it.

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use crate::artifact::Global;
use super::builder::{internal, Helper, R};
use super::expr::Val;
use super::maps::MAX_CPUS;
use super::probe::Lower;
use crate::sema::hir::{Expr, MapValue};
use crate::sema::Type;

impl<'ctx> Lower<'ctx, '_, '_> {
    /// `warn`: the printf that tells a missing key at this site (`-k`).
    pub(super) fn map_read(&mut self, map: usize, keys: &[Expr], ty: Type, warn: Option<usize>) -> R<Val<'ctx>> {
        let bb = self.bb;
        let key = self.map_key(map, keys, None)?;
        let value = self.program.maps[map].value;
        if super::maps::layout(&self.program.maps[map]).percpu {
            return Ok(Val::Int(self.fold_cpus(map, key, value)?));
        }
        let p = bb.map_lookup(self.maps.user[map], key)?;
        let found = bb.b.build_is_not_null(p, "found")?;
        if warn.is_some() {
            let missing = bb.b.build_not(found, "missing")?;
            bb.if_then(missing, |_| self.site_warning(warn))?;
        }
        if ty.is_buffer() {
            let n = ty.size();
            let buf = bb.stack_buffer(n, "mapstr")?;
            bb.if_then(found, |s| s.memcpy(buf, p, n as u64))?;
            return Ok(Val::Str(buf, n));
        }
        let slot = bb.stack_i64("mapval")?;
        bb.store_i64(slot, bb.const_i64(0))?;
        bb.if_then(found, |s| s.store_i64(slot, s.load_i64(p)?))?;
        Ok(Val::Int(bb.load_i64(slot)?))
    }

    /// An aggregation's value over every CPU: the sum of counts and sums, the least or
    /// greatest of the CPUs that have a min or max, the average of all (total / count).
    /// The CPUs are stepped by `callback_loop` with untracked accumulators: an inline loop
    /// up to `MAX_CPUS` cost the verifier a walk per possible CPU, 120k instructions for four
    /// reads in one probe.
    pub(super) fn fold_cpus(&mut self, map: usize, key: PointerValue<'ctx>, value: MapValue) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let ncpus = self.global(Global::Ncpus)?;
        // acc: the sum, count or extreme; second: the total (avg), or whether one was seen.
        let (acc, second) = (bb.untracked_i64()?, bb.untracked_i64()?);
        for s in [acc, second] {
            bb.store_i64(s, bb.const_i64(0))?;
        }
        // Never more than the array of per-CPU copies holds.
        let few = bb.b.build_int_compare(IntPredicate::ULT, ncpus, bb.const_i64(u64::from(MAX_CPUS)), "few")?;
        let n = bb.b.build_select(few, ncpus, bb.const_i64(u64::from(MAX_CPUS)), "n")?.into_int_value();
        let map_ptr = self.maps.user[map].as_pointer_value();
        bb.callback_loop(&format!("rtrace_fold_{map}"), n, &[acc, second, key], |cb, i, captured| {
            let [acc, second, key] = *captured else { return Err(internal("fold context")) };
            let r = cb.helper(Helper::MapLookupPercpuElem, &[map_ptr.into(), key.into(), i.into()])?;
            let p = cb.b.build_int_to_ptr(r, cb.ptr(), "cpu_val")?;
            let found = cb.b.build_is_not_null(p, "found")?;
            cb.if_then(found, |s| {
                let v = s.load_i64(p)?;
                let word1 = s.load_i64(s.gep(p, 8)?)?;
                match value {
                    MapValue::Avg | MapValue::Stats => {
                        s.store_i64(acc, s.b.build_int_add(s.load_i64(acc)?, v, "count")?)?;
                        s.store_i64(second, s.b.build_int_add(s.load_i64(second)?, word1, "total")?)
                    }
                    MapValue::Min { .. } | MapValue::Max { .. } => {
                        // A CPU's copy counts once it has a value (its second word).
                        let present = s.b.build_int_compare(IntPredicate::NE, word1, s.const_i64(0), "present")?;
                        s.if_then(present, |s| {
                            let old = s.load_i64(acc)?;
                            let pred = super::maps::better_than(value);
                            let better = s.b.build_int_compare(pred, v, old, "better")?;
                            let first = s.b.build_int_compare(IntPredicate::EQ, s.load_i64(second)?, s.const_i64(0), "first")?;
                            let take = s.b.build_or(better, first, "take")?;
                            s.if_then(take, |s| {
                                s.store_i64(acc, v)?;
                                s.store_i64(second, s.const_i64(1))
                            })
                        })
                    }
                    _ => s.store_i64(acc, s.b.build_int_add(s.load_i64(acc)?, v, "sum")?),
                }
            })?;
            Ok(cb.const_i64(0))
        })?;
        let folded = bb.load_i64(acc)?;
        Ok(match value {
            MapValue::Avg | MapValue::Stats => {
                let total = bb.load_i64(second)?;
                let none = bb.b.build_int_compare(IntPredicate::EQ, folded, bb.const_i64(0), "none")?;
                let count = bb.b.build_select(none, bb.const_i64(1), folded, "count")?.into_int_value();
                // BPF before cpu v4 has no signed division.
                self.signed_div_rem(total, count, true)?
            }
            _ => folded,
        })
    }
}
