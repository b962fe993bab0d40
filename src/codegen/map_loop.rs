//! `for ($kv : @map) body`: the body becomes a static function in `.text` that
//! `bpf_for_each_map_elem` calls once per entry with pointers to the key and the value. It
//! has its own stack frame and only the variables sema allowed it (its own and `$kv`).
//! `continue` returns 0 (next entry), `break` and `exit()` return 1 (stop). The loader
//! appends the function to every program that refers to it (runtime/subprog.rs).

use std::ops::Range;

use inkwell::module::Linkage;

use super::builder::{internal, Helper, R};
use super::maps::slot_size;
use super::probe::{bpf_function, ArgsSource, Lower};
use crate::sema::hir::{MapId, Stmt, VarId};
use crate::sema::Type;

impl<'ctx> Lower<'ctx, '_, '_> {
    /// `len(@m)`: `bpf_for_each_map_elem` with a callback that does nothing returns how many
    /// entries it visited. One such callback serves every `len` of the object.
    pub fn map_len(&mut self, map: MapId) -> R<inkwell::values::IntValue<'ctx>> {
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
        let args = [
            self.maps.user[map].as_pointer_value().into(),
            callback.as_global_value().as_pointer_value().into(),
            bb.ptr().const_null().into(),
            bb.const_i64(0).into(),
        ];
        bb.helper(Helper::ForEachMapElem, &args)
    }

    pub fn for_map(&mut self, map: MapId, var: VarId, body: &[Stmt], locals: &Range<VarId>) -> R<()> {
        let bb = self.bb;
        let name = format!("{}_each_{}", bb.function.get_name().to_string_lossy(), bb.module.get_functions().count());
        // (map, key, value, context): the context is what the caller passes, here the
        // caller's `probe` buffer when `probe` depends on the attach point.
        let cb = bpf_function(bb.ctx, bb.module, &name, ".text", 4, Some(Linkage::Internal)).with_scratch(bb.scratch_on());
        let param = |i: u32| cb.function.get_nth_param(i).map(|p| p.into_pointer_value()).ok_or_else(|| internal("callback parameter"));
        let (key, value, context) = (param(1)?, param(2)?, param(3)?);
        let next = bb.ctx.append_basic_block(cb.function, "each_next");
        let stop = bb.ctx.append_basic_block(cb.function, "each_stop");

        let mut inner = Lower::new(&cb, self.maps, self.program, self.attach, context, &super::Options::default());
        inner.var_types = self.var_types.clone();
        // Variables outside `locals` are never touched (sema): one shared slot stands in.
        let unused = cb.stack_buffer(8, "unused")?;
        inner.vars = (0..self.var_types.len())
            .map(|i| if locals.contains(&i) { cb.stack_buffer(slot_size(self.var_types[i]).max(8), &format!("var{i}")) } else { Ok(unused) })
            .collect::<R<_>>()?;
        inner.done = Some(stop);
        inner.args = ArgsSource::Context;
        inner.probe_name = self.probe_name.map(|_| context);
        inner.loops.push((next, stop));

        // $kv: the key's bytes, then the value's, as the (key, value) tuple lays them out.
        let Type::Tuple(pair) = self.var_types[var] else {
            return Err(internal("$kv is not a tuple"));
        };
        let (items, offsets) = (pair.items(), pair.offsets());
        let kv = inner.vars[var];
        cb.memcpy(kv, key, slot_size(items[0]) as u64)?;
        cb.memcpy(cb.gep(kv, offsets[1])?, value, slot_size(items[1]) as u64)?;
        inner.block(body)?;
        cb.b.build_unconditional_branch(next)?;
        cb.b.position_at_end(next);
        cb.b.build_return(Some(&cb.const_i64(0)))?;
        cb.b.position_at_end(stop);
        cb.b.build_return(Some(&cb.const_i64(1)))?;
        let callback = cb.function.as_global_value().as_pointer_value();
        cb.finish()?;

        let context = match self.probe_name {
            Some(buf) => buf,
            None => bb.ptr().const_null(),
        };
        bb.helper(Helper::ForEachMapElem, &[self.maps.user[map].as_pointer_value().into(), callback.into(), context.into(), bb.const_i64(0).into()])?;
        Ok(())
    }
}
