//! Statements: map stores and aggregations (per-CPU, updated in place), events to userspace
//! (printf, print/clear/zero, exit) on the ring buffer, control flow.

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use crate::artifact::EventKind;
use super::builder::{internal, Helper, Wakeup, R};
use super::maps::{key_offsets, layout, slot_size};
use super::probe::Lower;
use crate::sema::hir::{Expr, MapCommand, MapValue, Stmt, JOIN_ARGS, STR_LEN};
use crate::sema::Type;

impl<'ctx> Lower<'ctx, '_, '_> {
    pub fn block(&mut self, stmts: &[Stmt]) -> R<()> {
        for s in stmts {
            self.stmt(s)?;
        }
        Ok(())
    }

    pub(super) fn stmt(&mut self, s: &Stmt) -> R<()> {
        let bb = self.bb;
        match s {
            Stmt::MapStore { map, keys, value } => {
                let key = self.map_key(*map, keys, None)?;
                let v = self.expr(value)?;
                let size = layout(&self.program.maps[*map]).value_size;
                let slot = bb.stack_buffer(size, "store")?;
                self.store_value(slot, size, v)?;
                bb.map_update(self.maps.user[*map], key, slot, self.maps.counters)
            }
            Stmt::MapAggregate { map, keys, arg } => self.aggregate(*map, keys, arg.as_ref()),
            Stmt::VarStore { var, value } => {
                let v = self.expr(value)?;
                let size = slot_size(self.var_types[*var]).max(8);
                self.store_value(self.vars[*var], size, v)
            }
            Stmt::If { cond, then, els } => {
                let c = bb.truthy(self.expr(cond)?.int()?)?;
                let then_bb = bb.ctx.append_basic_block(bb.function, "if_then");
                let else_bb = bb.ctx.append_basic_block(bb.function, "if_else");
                let done = bb.ctx.append_basic_block(bb.function, "if_done");
                bb.b.build_conditional_branch(c, then_bb, else_bb)?;
                bb.b.position_at_end(then_bb);
                self.block(then)?;
                bb.b.build_unconditional_branch(done)?;
                bb.b.position_at_end(else_bb);
                self.block(els)?;
                bb.b.build_unconditional_branch(done)?;
                bb.b.position_at_end(done);
                Ok(())
            }
            Stmt::Printf { format, args } => self.printf(*format, args),
            Stmt::MapCommand { command: MapCommand::Print { top, div }, map } => {
                // The header, then top and div for userspace.
                let buf = bb.stack_uninit(24, "print")?;
                bb.store_i64(buf, header(EventKind::Print, *map as u32, bb))?;
                bb.store_i64(bb.gep(buf, 8)?, bb.const_i64(u64::from(*top)))?;
                bb.store_i64(bb.gep(buf, 16)?, bb.const_i64(u64::from(*div)))?;
                bb.ringbuf_output(self.maps.events, buf, 24, self.maps.counters, Wakeup::Now)
            }
            Stmt::MapCommand { command, map } => {
                let kind = if *command == MapCommand::Clear { EventKind::Clear } else { EventKind::Zero };
                self.emit_header_only(kind, *map as u32)
            }
            Stmt::Exit(code) => {
                let code = self.expr(code)?.int()?;
                let buf = bb.stack_uninit(16, "exit")?;
                bb.store_i64(buf, header(EventKind::Exit, 0, bb))?;
                bb.store_i64(bb.gep(buf, 8)?, code)?;
                bb.ringbuf_output(self.maps.events, buf, 16, self.maps.counters, Wakeup::Now)?;
                self.set_global(crate::artifact::Global::Exited, bb.const_i64(1))?;
                self.leave()?;
                self.dead_end("after_exit")
            }
            Stmt::Unwatch(addr) => {
                let addr = self.expr(addr)?.int()?;
                let buf = bb.stack_uninit(16, "unwatch")?;
                bb.store_i64(buf, header(EventKind::Unwatch, 0, bb))?;
                bb.store_i64(bb.gep(buf, 8)?, addr)?;
                bb.ringbuf_output(self.maps.events, buf, 16, self.maps.counters, Wakeup::Now)
            }
            Stmt::Debugf { format, args } => self.debugf(format, args),
            Stmt::Expr(e) => self.expr(e).map(|_| ()),
            Stmt::Block(stmts) => self.block(stmts),
            Stmt::Join { format, argv } => {
                let argv = self.expr(argv)?.int()?;
                let slot = bb.stack_i64("argp")?;
                let size = 16 + JOIN_ARGS * STR_LEN;
                let events = self.maps.events;
                bb.ringbuf_build(events, size, self.maps.counters, |ev| {
                    bb.store_i64(ev, header(EventKind::Printf, *format as u32, bb))?;
                    let count = bb.gep(ev, 8)?;
                    bb.store_i64(count, bb.const_i64(JOIN_ARGS as u64))?;
                    let done = bb.ctx.append_basic_block(bb.function, "join_done");
                    for i in 0..JOIN_ARGS {
                        // argv[i]; a NULL ends the array.
                        let at = bb.b.build_int_add(argv, bb.const_i64(8 * i as u64), "argv_i")?;
                        bb.store_i64(slot, bb.const_i64(0))?;
                        bb.read_counted(Helper::ProbeReadUser, &[slot.into(), bb.const_i64(8).into(), at.into()], self.maps.counters)?;
                        let arg = bb.load_i64(slot)?;
                        let null = bb.b.build_int_compare(IntPredicate::EQ, arg, bb.const_i64(0), "null")?;
                        let read = bb.ctx.append_basic_block(bb.function, "join_read");
                        let end = bb.ctx.append_basic_block(bb.function, "join_end");
                        bb.b.build_conditional_branch(null, end, read)?;
                        bb.b.position_at_end(end);
                        bb.store_i64(count, bb.const_i64(i as u64))?;
                        bb.b.build_unconditional_branch(done)?;
                        bb.b.position_at_end(read);
                        let dst = bb.gep(ev, 16 + i * STR_LEN)?;
                        bb.read_counted(Helper::ProbeReadUserStr, &[dst.into(), bb.const_i64(STR_LEN as u64).into(), arg.into()], self.maps.counters)?;
                    }
                    bb.b.build_unconditional_branch(done)?;
                    bb.b.position_at_end(done);
                    Ok(())
                })
            }
            Stmt::Signal { sig, thread } => {
                let v = self.expr(sig)?.int()?;
                bb.helper(if *thread { Helper::SendSignalThread } else { Helper::SendSignal }, &[v.into()]).map(|_| ())
            }
            Stmt::Override(rc) => {
                let v = self.expr(rc)?.int()?;
                bb.helper(Helper::OverrideReturn, &[self.ctx_arg.into(), v.into()]).map(|_| ())
            }
            Stmt::Loop { cond, body, step } => {
                let head = bb.ctx.append_basic_block(bb.function, "loop_head");
                let body_bb = bb.ctx.append_basic_block(bb.function, "loop_body");
                let step_bb = bb.ctx.append_basic_block(bb.function, "loop_step");
                let exit = bb.ctx.append_basic_block(bb.function, "loop_exit");
                bb.b.build_unconditional_branch(head)?;
                bb.b.position_at_end(head);
                let c = bb.truthy(self.expr(cond)?.int()?)?;
                bb.b.build_conditional_branch(c, body_bb, exit)?;
                bb.b.position_at_end(body_bb);
                self.loops.push((step_bb, exit));
                let body_result = self.block(body);
                self.loops.pop();
                body_result?;
                bb.b.build_unconditional_branch(step_bb)?;
                bb.b.position_at_end(step_bb);
                self.block(step)?;
                bb.b.build_unconditional_branch(head)?;
                bb.b.position_at_end(exit);
                Ok(())
            }
            Stmt::ForMap { map, var, body, locals, captured } => self.for_map(*map, *var, body, locals, captured),
            Stmt::ForRange { var, start, end, body, locals, captured } => self.for_range(*var, start, end, body, locals, captured),
            Stmt::Break | Stmt::Continue => {
                let (next, exit) = *self.loops.last().ok_or_else(|| internal("break outside a loop"))?;
                bb.b.build_unconditional_branch(if matches!(s, Stmt::Break) { exit } else { next })?;
                self.dead_end("after_jump")
            }
            Stmt::Return => {
                if let Some(flag) = self.returned {
                    bb.store_i64(flag, bb.const_i64(1))?;
                }
                self.leave()?;
                self.dead_end("after_return")
            }
        }
    }

    /// After a jump (exit, return, break): later statements land in an unreachable block that
    /// LLVM removes.
    fn dead_end(&self, name: &str) -> R<()> {
        let dead = self.bb.ctx.append_basic_block(self.bb.function, name);
        self.bb.b.position_at_end(dead);
        Ok(())
    }

    /// Builds the key buffer of `map`; hist maps get the bucket index as the last part.
    pub fn map_key(&mut self, map: usize, keys: &[Expr], bucket: Option<IntValue<'ctx>>) -> R<PointerValue<'ctx>> {
        let bb = self.bb;
        let decl = &self.program.maps[map];
        let l = layout(decl);
        if l.array {
            // The array index: the bucket, or 0.
            let slot = bb.stack_i64("index")?;
            let index = bucket.unwrap_or(bb.const_i64(0));
            let i32t = bb.ctx.i32_type();
            bb.b.build_store(slot, bb.b.build_int_truncate(index, i32t, "index")?)?;
            return Ok(slot);
        }
        let size = l.key_size;
        // Every part below writes all of its bytes, so the key needs no zeroing first.
        let buf = bb.stack_uninit(size, "key")?;
        let offsets = key_offsets(&decl.keys);
        let key_types = decl.keys.clone();
        if keys.is_empty() && bucket.is_none() {
            bb.store_i64(buf, bb.const_i64(0))?;
        }
        for ((k, off), ty) in keys.iter().zip(&offsets).zip(&key_types) {
            self.write_into(k, bb.gep(buf, *off)?, slot_size(*ty))?;
        }
        if let Some(b) = bucket {
            let off: usize = key_types.iter().map(|t| slot_size(*t)).sum();
            bb.store_i64(bb.gep(buf, off)?, b)?;
        }
        Ok(buf)
    }

    fn aggregate(&mut self, map: usize, keys: &[Expr], arg: Option<&Expr>) -> R<()> {
        let bb = self.bb;
        let value = self.program.maps[map].value;
        if let (MapValue::Tseries { .. }, Some(arg)) = (value, arg) {
            return self.tseries(map, keys, arg);
        }
        let l = layout(&self.program.maps[map]);
        // Every aggregation computes on its value (a sum, a bucket), so an argument that is
        // a kernel object to the verifier is read as a number (`Lower::number`).
        let x = match arg {
            Some(a) => self.number(a)?,
            None => bb.const_i64(1),
        };
        let bucket = match value {
            MapValue::Hist { k } => Some(self.log2_bucket(x, k)?),
            MapValue::Lhist { min, max, step } => Some(self.linear_bucket(x, min, max, step)?),
            _ => None,
        };
        let key = self.map_key(map, keys, bucket)?;
        let global = self.maps.user[map];
        let p = bb.map_lookup(global, key)?;
        let found = bb.b.build_is_not_null(p, "found")?;
        let upd = bb.ctx.append_basic_block(bb.function, "agg_update");
        let init = bb.ctx.append_basic_block(bb.function, "agg_init");
        let done = bb.ctx.append_basic_block(bb.function, "agg_done");
        bb.b.build_conditional_branch(found, upd, init)?;

        // Existing entry: this CPU's copy, updated in place.
        bb.b.position_at_end(upd);
        let add = |at: PointerValue<'ctx>, by: IntValue<'ctx>| -> R<()> {
            let old = bb.load_i64(at)?;
            bb.store_i64(at, bb.b.build_int_add(old, by, "add")?)
        };
        match value {
            MapValue::Count => add(p, bb.const_i64(1))?,
            MapValue::Sum { .. } => add(p, x)?,
            MapValue::Avg | MapValue::Stats | MapValue::Hist { .. } | MapValue::Lhist { .. } => {
                add(p, bb.const_i64(1))?;
                add(bb.gep(p, 8)?, x)?;
            }
            MapValue::Min { .. } | MapValue::Max { .. } => {
                let pred = super::maps::better_than(value);
                let old = bb.load_i64(p)?;
                let set = bb.load_i64(bb.gep(p, 8)?)?;
                let better = bb.b.build_int_compare(pred, x, old, "better")?;
                let unset = bb.b.build_int_compare(IntPredicate::EQ, set, bb.const_i64(0), "unset")?;
                let replace = bb.b.build_or(better, unset, "replace")?;
                bb.if_then(replace, |s| {
                    s.store_i64(p, x)?;
                    s.store_i64(s.gep(p, 8)?, s.const_i64(1))
                })?;
            }
            MapValue::Scalar(_) | MapValue::Tseries { .. } => {}
        }
        if l.array {
            bb.store_i64(bb.gep(p, l.value_size - 8)?, bb.const_i64(1))?;
        }
        bb.b.build_unconditional_branch(done)?;

        // New entry (an array element always exists: the verifier only needs the check).
        bb.b.position_at_end(init);
        if l.array {
            bb.b.build_unconditional_branch(done)?;
            bb.b.position_at_end(done);
            return Ok(());
        }
        let fresh = bb.stack_buffer(l.value_size, "agg")?;
        let (first, second) = match value {
            MapValue::Count => (bb.const_i64(1), None),
            MapValue::Sum { .. } => (x, None),
            MapValue::Avg | MapValue::Stats | MapValue::Hist { .. } | MapValue::Lhist { .. } => (bb.const_i64(1), Some(x)),
            MapValue::Min { .. } | MapValue::Max { .. } => (x, Some(bb.const_i64(1))),
            MapValue::Scalar(_) | MapValue::Tseries { .. } => (x, None),
        };
        bb.store_i64(fresh, first)?;
        if let Some(s) = second {
            bb.store_i64(bb.gep(fresh, 8)?, s)?;
        }
        bb.map_update(global, key, fresh, self.maps.counters)?;
        bb.b.build_unconditional_branch(done)?;
        bb.b.position_at_end(done);
        Ok(())
    }

    /// hist bucket of `x`, bpftrace's: 0 for a negative `x`, `x + 1` below 2^k, and above,
    /// `((l - k + 1) << k) + b + 1` where `l` is the position of the top bit and `b` the k
    /// bits under it. With k = 0: 1 for 0, 2 + floor(log2 x) for the rest.
    fn log2_bucket(&self, x: IntValue<'ctx>, k: u8) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let b = &bb.b;
        let mut n = x;
        let mut l = bb.const_i64(0);
        for shift in [32u64, 16, 8, 4, 2, 1] {
            let big = b.build_int_compare(IntPredicate::UGE, n, bb.const_i64(1 << shift), "big")?;
            let shifted = b.build_right_shift(n, bb.const_i64(shift), false, "sh")?;
            n = b.build_select(big, shifted, n, "n")?.into_int_value();
            let plus = b.build_int_add(l, bb.const_i64(shift), "l")?;
            l = b.build_select(big, plus, l, "l")?.into_int_value();
        }
        let k = u64::from(k);
        let mask = (1u64 << k) - 1;
        let low = b.build_int_sub(l, bb.const_i64(k), "low")?;
        let sub = b.build_and(b.build_right_shift(x, low, false, "sub")?, bb.const_i64(mask), "sub")?;
        let power = b.build_left_shift(b.build_int_add(low, bb.const_i64(1), "p")?, bb.const_i64(k), "power")?;
        let above = b.build_int_add(b.build_int_add(power, sub, "idx")?, bb.const_i64(1), "idx")?;
        let small = b.build_int_compare(IntPredicate::ULE, x, bb.const_i64(mask), "small")?;
        let linear = b.build_int_add(x, bb.const_i64(1), "linear")?;
        let v = b.build_select(small, linear, above, "b")?.into_int_value();
        let is_neg = b.build_int_compare(IntPredicate::SLT, x, bb.const_i64(0), "neg")?;
        Ok(b.build_select(is_neg, bb.const_i64(0), v, "b")?.into_int_value())
    }

    /// lhist bucket: 0 below `min`, `(max-min)/step + 1` at or above `max`, else
    /// `(x-min)/step + 1`.
    fn linear_bucket(&self, x: IntValue<'ctx>, min: i64, max: i64, step: i64) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let b = &bb.b;
        let c = |v: i64| bb.const_i64(v as u64);
        let below = b.build_int_compare(IntPredicate::SLT, x, c(min), "below")?;
        let above = b.build_int_compare(IntPredicate::SGE, x, c(max), "above")?;
        let rel = b.build_int_sub(x, c(min), "rel")?;
        let idx = b.build_int_unsigned_div(rel, c(step), "idx")?;
        let mid = b.build_int_add(idx, c(1), "mid")?;
        let v = b.build_select(above, c((max - min) / step + 1), mid, "b")?.into_int_value();
        Ok(b.build_select(below, c(0), v, "b")?.into_int_value())
    }

    fn printf(&mut self, id: usize, args: &[Expr]) -> R<()> {
        let bb = self.bb;
        let (offsets, size) = printf_layout(args.iter().map(|a| a.ty));
        // The header and every argument slot are written whole: no zeroing first.
        let buf = bb.stack_uninit(size, "event")?;
        bb.store_i64(buf, header(EventKind::Printf, id as u32, bb))?;
        for ((a, off), ty) in args.iter().zip(&offsets).zip(args.iter().map(|a| a.ty)) {
            self.write_into(a, bb.gep(buf, *off)?, slot_size(ty))?;
        }
        bb.ringbuf_output(self.maps.events, buf, size, self.maps.counters, Wakeup::Batched)
    }

    /// Emits the `SiteWarning` printf `warn`, if there is one.
    pub(super) fn site_warning(&self, warn: Option<usize>) -> R<()> {
        match warn {
            Some(id) => self.emit_header_only(EventKind::Printf, id as u32),
            None => Ok(()),
        }
    }

    fn emit_header_only(&self, kind: EventKind, id: u32) -> R<()> {
        let bb = self.bb;
        let buf = bb.stack_i64("event")?;
        bb.store_i64(buf, header(kind, id, bb))?;
        bb.ringbuf_output(self.maps.events, buf, 8, self.maps.counters, Wakeup::Now)
    }
}

pub(super) fn header<'ctx>(kind: EventKind, id: u32, bb: &super::builder::BpfBuilder<'ctx, '_>) -> IntValue<'ctx> {
    bb.const_i64(kind as u64 | (u64::from(id) << 32))
}

/// Offsets of printf arguments after the 8-byte header, and the event's total size.
pub fn printf_layout(types: impl Iterator<Item = Type>) -> (Vec<usize>, usize) {
    let mut at = 8;
    let offsets = types
        .map(|t| {
            let here = at;
            at += slot_size(t);
            here
        })
        .collect();
    (offsets, at)
}
