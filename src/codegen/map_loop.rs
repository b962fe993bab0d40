//! `for ($kv : @map) body`: the body becomes a static function in `.text` that
//! `bpf_for_each_map_elem` calls once per entry with pointers to the key and the value. It
//! has its own stack frame for its own variables and `$kv`; the probe's variables it uses
//! (and the `probe` name of a fused program) travel in a block on the caller's stack, passed
//! as the callback's context, copied in before the loop and back after it. `continue`
//! returns 0 (next entry), `break` and `exit()` return 1 (stop). The loader appends the
//! function to every program that refers to it (runtime/subprog.rs). A `for` range whose
//! bounds are known only at run time is the same callback under `bpf_loop`, its variable the
//! start (in the block) plus the step's index.

use std::ops::Range;

use inkwell::module::Linkage;
use inkwell::values::{IntValue, PointerValue};

use super::builder::{internal, Helper, R};
use super::maps::slot_size;
use super::probe::{bpf_function, ArgsSource, Lower};
use crate::sema::hir::{Expr, MapId, Stmt, VarId};
use crate::sema::Type;

/// What a loop body run as a callback goes over.
#[derive(Clone, Copy)]
enum Each<'ctx> {
    /// Each entry of a map (`bpf_for_each_map_elem`).
    Map(MapId),
    /// `count` steps from `start` (`bpf_loop`).
    Range { start: IntValue<'ctx>, count: IntValue<'ctx> },
}

impl<'ctx> Lower<'ctx, '_, '_> {
    /// `len(@m)`: `bpf_for_each_map_elem` with a callback that does nothing returns how many
    /// entries it visited. One such callback serves every `len` of the object.
    pub fn map_len(&self, map: MapId) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        const NAME: &str = "rtrace_count_each";
        let callback = match bb.module.get_function(NAME) {
            Some(f) => f,
            None => {
                let cb = bpf_function(bb.ctx, bb.module, NAME, ".text", 4, Some(Linkage::Internal));
                cb.b.build_return(Some(&cb.const_i64(0)))?;
                let f = cb.function;
                cb.finish()?;
                f
            }
        };
        self.for_each_elem(map, callback.as_global_value().as_pointer_value(), bb.ptr().const_null())
    }

    /// `bpf_for_each_map_elem(map, callback, context, 0)`: how many entries it visited.
    fn for_each_elem(&self, map: MapId, callback: PointerValue<'ctx>, context: PointerValue<'ctx>) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        bb.helper(Helper::ForEachMapElem, &[self.maps.user[map].as_pointer_value().into(), callback.into(), context.into(), bb.const_i64(0).into()])
    }

    pub fn for_map(&mut self, map: MapId, var: VarId, body: &[Stmt], locals: &Range<VarId>, captured: &[VarId]) -> R<()> {
        self.each_callback(Each::Map(map), var, body, locals, captured)
    }

    /// `for ($i : start..end)` with bounds known at run time: `bpf_loop` runs the body
    /// `end - start` times (none when that is not positive).
    pub fn for_range(&mut self, var: VarId, start: &Expr, end: &Expr, body: &[Stmt], locals: &Range<VarId>, captured: &[VarId]) -> R<()> {
        let bb = self.bb;
        let start = self.expr(start)?.int()?;
        let end = self.expr(end)?.int()?;
        let count = bb.b.build_int_sub(end, start, "count")?;
        let positive = bb.b.build_int_compare(inkwell::IntPredicate::SGT, count, bb.const_i64(0), "positive")?;
        let count = bb.b.build_select(positive, count, bb.const_i64(0), "count")?.into_int_value();
        self.each_callback(Each::Range { start, count }, var, body, locals, captured)
    }

    fn each_callback(&mut self, each: Each<'ctx>, var: VarId, body: &[Stmt], locals: &Range<VarId>, captured: &[VarId]) -> R<()> {
        let bb = self.bb;
        // The context block: the `probe` buffer (fused programs), then each captured variable.
        let mut block_size = if self.probe_name.is_some() { crate::sema::hir::PROBE_NAME_LEN.next_multiple_of(8) } else { 0 };
        let mut captured_at = Vec::new();
        for &v in captured {
            captured_at.push((v, block_size));
            block_size += slot_size(self.var_types[v]).max(8);
        }
        // Then the word `return` in the body sets, then a range's start.
        let returned_at = block_size;
        block_size += 8;
        let start_at = block_size;
        block_size += 8;
        let name = format!("{}_each_{}", bb.function.get_name().to_string_lossy(), bb.module.get_functions().count());
        // (map, key, value, context) or (index, context): the context is the caller's block.
        let params = match each {
            Each::Map(_) => 4,
            Each::Range { .. } => 2,
        };
        let cb = bpf_function(bb.ctx, bb.module, &name, ".text", params, Some(Linkage::Internal)).with_scratch(bb.scratch_on());
        let param = |i: u32| cb.function.get_nth_param(i).map(|p| p.into_pointer_value()).ok_or_else(|| internal("callback parameter"));
        let context = param(params as u32 - 1)?;
        let next = bb.ctx.append_basic_block(cb.function, "each_next");
        let stop = bb.ctx.append_basic_block(cb.function, "each_stop");

        let mut inner = Lower::new(&cb, self.maps, self.program, self.attach, context, &super::Options::default());
        inner.var_types = self.var_types.clone();
        // Variables neither local nor captured are never touched (sema): one slot stands in.
        let unused = cb.stack_buffer(8, "unused")?;
        // Captured variables are copied in with bpf_probe_read_kernel, so the verifier sees
        // unknown values rather than the exact ones of the entry before: with exact values,
        // a counter compared in the body (`$n++; if ($n == 1) { break; }`) gave it a new
        // state for every entry, and it walked a million instructions. They go back to the
        // caller's block when the body is done.
        let mut copies = Vec::new();
        inner.vars = (0..self.var_types.len())
            .map(|i| match captured_at.iter().find(|(v, _)| *v == i) {
                Some((_, at)) => {
                    let size = slot_size(self.var_types[i]).max(8);
                    let local = cb.stack_buffer(size, &format!("captured{i}"))?;
                    let from = cb.gep(context, *at)?;
                    cb.helper(Helper::ProbeReadKernel, &[local.into(), cb.const_i64(size as u64).into(), from.into()])?;
                    copies.push((from, local, size));
                    Ok(local)
                }
                None if locals.contains(&i) => cb.stack_buffer(slot_size(self.var_types[i]).max(8), &format!("var{i}")),
                None => Ok(unused),
            })
            .collect::<R<_>>()?;
        inner.done = Some(stop);
        inner.args = ArgsSource::Context;
        inner.probe_name = self.probe_name.map(|_| context);
        inner.loops.push((next, stop));
        inner.returned = Some(cb.gep(context, returned_at)?);

        match each {
            Each::Map(map) => {
                // $kv: the key's bytes, then the value's, as the (key, value) tuple lays them out.
                let Type::Tuple(pair) = self.var_types[var] else {
                    return Err(internal("$kv is not a tuple"));
                };
                let (key, value) = (param(1)?, param(2)?);
                let (items, offsets) = (pair.items(), pair.offsets());
                let kv = inner.vars[var];
                match items[0] {
                    // Several keys: the map's key parts (each 8-byte aligned) moved to the
                    // tuple's places (packed as a C struct).
                    Type::Tuple(parts) => {
                        let from = crate::artifact::key_offsets(parts.items());
                        for ((part, to), from) in parts.items().iter().zip(parts.offsets()).zip(from) {
                            cb.memcpy(cb.gep(kv, to)?, cb.gep(key, from)?, part.size() as u64)?;
                        }
                    }
                    ty => cb.memcpy(kv, key, ty.size() as u64)?,
                }
                let decl = &self.program.maps[map];
                if super::maps::layout(decl).percpu {
                    // `value` is this CPU's share: the value is every CPU's, folded by key.
                    let folded = inner.fold_cpus(map, key, decl.value)?;
                    cb.store_i64(cb.gep(kv, offsets[1])?, folded)?;
                } else {
                    cb.memcpy(cb.gep(kv, offsets[1])?, value, items[1].size() as u64)?;
                }
            }
            Each::Range { .. } => {
                let index = cb.b.build_ptr_to_int(param(0)?, cb.i64(), "index")?;
                let start = cb.load_i64(cb.gep(context, start_at)?)?;
                cb.store_i64(inner.vars[var], cb.b.build_int_add(start, index, "i")?)?;
            }
        }
        inner.block(body)?;
        cb.b.build_unconditional_branch(next)?;
        for (block, result) in [(next, 0), (stop, 1)] {
            cb.b.position_at_end(block);
            for &(to, local, size) in &copies {
                cb.memcpy(to, local, size as u64)?;
            }
            cb.b.build_return(Some(&cb.const_i64(result)))?;
        }
        let callback = cb.function.as_global_value().as_pointer_value();
        cb.finish()?;

        let block = bb.stack_only(block_size, "each_context")?;
        bb.store_i64(bb.gep(block, returned_at)?, bb.const_i64(0))?;
        if let Each::Range { start, .. } = each {
            bb.store_i64(bb.gep(block, start_at)?, start)?;
        }
        if let Some(name) = self.probe_name {
            bb.memcpy(block, name, crate::sema::hir::PROBE_NAME_LEN as u64)?;
        }
        for &(v, at) in &captured_at {
            bb.memcpy(bb.gep(block, at)?, self.vars[v], slot_size(self.var_types[v]).max(8) as u64)?;
        }
        match each {
            Each::Map(map) => self.for_each_elem(map, callback, block)?,
            Each::Range { count, .. } => bb.helper(Helper::Loop, &[count.into(), callback.into(), block.into(), bb.const_i64(0).into()])?,
        };
        // The body may have assigned them.
        for &(v, at) in &captured_at {
            bb.memcpy(self.vars[v], bb.gep(block, at)?, slot_size(self.var_types[v]).max(8) as u64)?;
        }
        // A `return` in the body ends the probe here (and, in a loop nested in another
        // loop's body, that loop's too).
        let returned = bb.load_i64(bb.gep(block, returned_at)?)?;
        let go_on = bb.b.build_int_compare(inkwell::IntPredicate::EQ, returned, bb.const_i64(0), "go_on")?;
        let (after, out) = (bb.ctx.append_basic_block(bb.function, "each_after"), bb.ctx.append_basic_block(bb.function, "each_returned"));
        bb.b.build_conditional_branch(go_on, after, out)?;
        bb.b.position_at_end(out);
        if let Some(flag) = self.returned {
            bb.store_i64(flag, bb.const_i64(1))?;
        }
        self.leave()?;
        bb.b.position_at_end(after);
        Ok(())
    }
}
