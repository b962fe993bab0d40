//! Loops whose cost to the verifier does not depend on their trip count or on what they
//! compute. An inline loop is verified once per iteration it could make (a string search
//! over `max_strlen` bytes: one walk per byte, and past 8192 pending jumps the verifier gives
//! up), and a loop whose state it tracks exactly never converges. So a loop over data is a
//! `bpf_loop` callback, verified once or twice, and the state it carries from one step to
//! the next lives in scratch words (`BpfBuilder::untracked_i64`), whose loads the verifier
//! knows nothing of. Every such construct (`globmatch`, string searches, `memcmp`, the
//! per-CPU fold of an aggregation read) goes through `callback_loop`.

use inkwell::module::Linkage;
use inkwell::values::{IntValue, PointerValue};

use super::builder::{internal, BpfBuilder, Helper, R};
use super::probe::bpf_function;

impl<'ctx, 'm> BpfBuilder<'ctx, 'm> {
    /// Runs `body` for each index from 0 below `count`, until it returns 1 (0 goes on), as
    /// the `bpf_loop` callback `name`: one function per distinct body, so a name already in
    /// the module is called again without building `body`. The body reaches the caller's
    /// memory only through `captured`, addresses it is given in the same order; what it
    /// carries between steps must be at `untracked_i64` addresses.
    pub fn callback_loop(
        &self,
        name: &str,
        count: IntValue<'ctx>,
        captured: &[PointerValue<'ctx>],
        body: impl FnOnce(&BpfBuilder<'ctx, 'm>, IntValue<'ctx>, &[PointerValue<'ctx>]) -> R<IntValue<'ctx>>,
    ) -> R<()> {
        let callback = match self.module.get_function(name) {
            Some(f) => f,
            None => {
                let cb = bpf_function(self.ctx, self.module, name, ".text", 2, Some(Linkage::Internal));
                let param = |i: u32| cb.function.get_nth_param(i).map(|p| p.into_pointer_value()).ok_or_else(|| internal("callback parameter"));
                let (index, context) = (param(0)?, param(1)?);
                let fields = (0..captured.len())
                    .map(|k| Ok(cb.b.build_load(cb.ptr(), cb.gep(context, 8 * k)?, "captured")?.into_pointer_value()))
                    .collect::<R<Vec<_>>>()?;
                let i = cb.b.build_ptr_to_int(index, cb.i64(), "index")?;
                let stop = body(&cb, i, &fields)?;
                cb.b.build_return(Some(&stop))?;
                let f = cb.function;
                cb.finish()?;
                f
            }
        };
        let block = self.stack_block(8 * captured.len().max(1), "loop_context")?;
        for (k, p) in captured.iter().enumerate() {
            self.b.build_store(self.gep(block, 8 * k)?, *p)?;
        }
        let f = callback.as_global_value().as_pointer_value();
        self.helper(Helper::Loop, &[count.into(), f.into(), block.into(), self.const_i64(0).into()])?;
        Ok(())
    }
}
