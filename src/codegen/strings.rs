//! String searches and comparisons that need loops: `strstr`, `strcontains`, `memcmp`. Bounded by the buffers' sizes, which the
//! verifier sees in the loop conditions.

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use super::builder::R;
use super::probe::Lower;

impl<'ctx> Lower<'ctx, '_, '_> {
    /// Where the NUL-terminated `needle` (in a buffer of `nn` bytes) first occurs in
    /// `haystack` (`hn` bytes), or -1: for each start in the haystack, compare until the
    /// needle's NUL.
    pub fn str_find(&self, haystack: PointerValue<'ctx>, hn: usize, needle: PointerValue<'ctx>, nn: usize) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let (i8t, f) = (bb.ctx.i8_type(), bb.function);
        let found = bb.stack_i64("found")?;
        let i = bb.stack_i64("start")?;
        let j = bb.stack_i64("offset")?;
        bb.store_i64(found, bb.const_i64(u64::MAX))?;
        bb.store_i64(i, bb.const_i64(0))?;
        let block = |name| bb.ctx.append_basic_block(f, name);
        let (outer, start, inner, compare, matched, next, done) =
            (block("sc_outer"), block("sc_start"), block("sc_inner"), block("sc_compare"), block("sc_matched"), block("sc_next"), block("sc_done"));
        let byte = |base: PointerValue<'ctx>, at: IntValue<'ctx>| -> R<IntValue<'ctx>> {
            // SAFETY: `at` is below the buffer's size on every path that reaches this load.
            let p = unsafe { bb.b.build_in_bounds_gep(i8t, base, &[at], "at")? };
            Ok(bb.b.build_load(i8t, p, "byte")?.into_int_value())
        };
        let below = |v: IntValue<'ctx>, n: usize| bb.b.build_int_compare(IntPredicate::ULT, v, bb.const_i64(n as u64), "below");
        bb.b.build_unconditional_branch(outer)?;

        bb.b.position_at_end(outer);
        let iv = bb.load_i64(i)?;
        bb.b.build_conditional_branch(below(iv, hn)?, start, done)?;

        bb.b.position_at_end(start);
        bb.store_i64(j, bb.const_i64(0))?;
        bb.b.build_unconditional_branch(inner)?;

        // The needle ended (or filled its buffer): a match.
        bb.b.position_at_end(inner);
        let jv = bb.load_i64(j)?;
        let more = block("sc_more");
        bb.b.build_conditional_branch(below(jv, nn)?, more, matched)?;
        bb.b.position_at_end(more);
        let c = byte(needle, jv)?;
        let ended = bb.b.build_int_compare(IntPredicate::EQ, c, i8t.const_zero(), "needle_end")?;
        let check = block("sc_check");
        bb.b.build_conditional_branch(ended, matched, check)?;
        bb.b.position_at_end(check);
        let k = bb.b.build_int_add(bb.load_i64(i)?, jv, "k")?;
        bb.b.build_conditional_branch(below(k, hn)?, compare, next)?;
        bb.b.position_at_end(compare);
        let same = bb.b.build_int_compare(IntPredicate::EQ, byte(haystack, k)?, c, "same")?;
        let step = block("sc_step");
        bb.b.build_conditional_branch(same, step, next)?;
        bb.b.position_at_end(step);
        bb.store_i64(j, bb.b.build_int_add(jv, bb.const_i64(1), "j")?)?;
        bb.b.build_unconditional_branch(inner)?;

        bb.b.position_at_end(matched);
        bb.store_i64(found, bb.load_i64(i)?)?;
        bb.b.build_unconditional_branch(done)?;

        // No match from this start: stop at the haystack's NUL, else try the next start.
        bb.b.position_at_end(next);
        let iv = bb.load_i64(i)?;
        let at_end = bb.b.build_int_compare(IntPredicate::EQ, byte(haystack, iv)?, i8t.const_zero(), "haystack_end")?;
        let advance = block("sc_advance");
        bb.b.build_conditional_branch(at_end, done, advance)?;
        bb.b.position_at_end(advance);
        bb.store_i64(i, bb.b.build_int_add(iv, bb.const_i64(1), "i")?)?;
        bb.b.build_unconditional_branch(outer)?;

        bb.b.position_at_end(done);
        bb.load_i64(found)
    }

    /// `memcmp(a, b, n)`: the difference of the first differing bytes (as unsigned chars)
    /// among the first `n`, never past the shorter buffer (`limit` bytes), or 0.
    pub fn mem_compare(&self, a: PointerValue<'ctx>, b: PointerValue<'ctx>, limit: usize, n: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let (i8t, f) = (bb.ctx.i8_type(), bb.function);
        let (i, diff) = (bb.stack_i64("mc_i")?, bb.stack_i64("mc_diff")?);
        bb.store_i64(i, bb.const_i64(0))?;
        bb.store_i64(diff, bb.const_i64(0))?;
        let block = |name| bb.ctx.append_basic_block(f, name);
        let (head, within, body, step, done) = (block("mc_head"), block("mc_within"), block("mc_body"), block("mc_step"), block("mc_done"));
        bb.b.build_unconditional_branch(head)?;
        // The constant bound first: the verifier proves the loop ends by it.
        bb.b.position_at_end(head);
        let iv = bb.load_i64(i)?;
        let in_buffer = bb.b.build_int_compare(IntPredicate::ULT, iv, bb.const_i64(limit as u64), "in_buffer")?;
        bb.b.build_conditional_branch(in_buffer, within, done)?;
        bb.b.position_at_end(within);
        let wanted = bb.b.build_int_compare(IntPredicate::ULT, iv, n, "wanted")?;
        bb.b.build_conditional_branch(wanted, body, done)?;
        bb.b.position_at_end(body);
        let byte = |base: PointerValue<'ctx>| -> R<IntValue<'ctx>> {
            // SAFETY: `iv` is below `limit`, the size of both buffers, on this path.
            let p = unsafe { bb.b.build_in_bounds_gep(i8t, base, &[iv], "at")? };
            let v = bb.b.build_load(i8t, p, "byte")?.into_int_value();
            Ok(bb.b.build_int_z_extend(v, bb.i64(), "ubyte")?)
        };
        let (x, y) = (byte(a)?, byte(b)?);
        bb.store_i64(diff, bb.b.build_int_sub(x, y, "diff")?)?;
        let same = bb.b.build_int_compare(IntPredicate::EQ, x, y, "same")?;
        bb.b.build_conditional_branch(same, step, done)?;
        bb.b.position_at_end(step);
        bb.store_i64(i, bb.b.build_int_add(iv, bb.const_i64(1), "i")?)?;
        bb.b.build_unconditional_branch(head)?;
        bb.b.position_at_end(done);
        bb.load_i64(diff)
    }
}
