//! `globmatch(s, "pattern")` as a bit-parallel NFA (shift-and): one state bit per pattern
//! token, all advanced together by each byte of the string, whose token bits come from a
//! table userspace fills (`artifact::GLOB_MAP`). The only loop is over the string's bytes,
//! bounded by its buffer, with no backtracking and no branch per token, so the verifier's
//! work is linear in the buffer. sema/glob.rs parses the pattern and runs the same automaton
//! as a reference.

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use super::builder::{internal, R};
use super::probe::Lower;
use crate::sema::glob;

impl<'ctx> Lower<'ctx, '_, '_> {
    /// 1 if the NUL-terminated string in `s` (a buffer of `n` bytes) matches pattern `glob`
    /// of the program.
    pub fn glob_match(&self, s: PointerValue<'ctx>, n: usize, glob: u32) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let tokens = &self.program.globs[glob as usize];
        let table = self.maps.glob.ok_or_else(|| internal("globmatch without its table map"))?;
        let (i8t, i32t, f) = (bb.ctx.i8_type(), bb.ctx.i32_type(), bb.function);
        let bit = |k: usize| 1u64 << k;
        // Bit k+1 is "token k matched"; bit 0 the start. A star's bit loops on any character
        // and is entered without one (its closure).
        let stars = glob::stars(tokens);
        let star_tokens: Vec<usize> = (0..tokens.len()).filter(|k| stars & bit(k + 1) != 0).collect();
        let mut start = 1;
        for &k in &star_tokens {
            start |= (start & bit(k)) << 1;
        }
        let state = bb.stack_i64("glob_state")?;
        let i = bb.stack_i64("glob_i")?;
        let key = bb.stack_i64("glob_key")?;
        bb.store_i64(state, bb.const_i64(start))?;
        bb.store_i64(i, bb.const_i64(0))?;
        let block = |name| bb.ctx.append_basic_block(f, name);
        let (head, body, lookup, found, missing, step, done) =
            (block("glob_head"), block("glob_body"), block("glob_lookup"), block("glob_found"), block("glob_missing"), block("glob_step"), block("glob_done"));
        bb.b.build_unconditional_branch(head)?;

        bb.b.position_at_end(head);
        let iv = bb.load_i64(i)?;
        let within = bb.b.build_int_compare(IntPredicate::ULT, iv, bb.const_i64(n as u64), "within")?;
        bb.b.build_conditional_branch(within, body, done)?;

        // The string's NUL ends it.
        bb.b.position_at_end(body);
        // SAFETY: `iv` is below the buffer's size here.
        let at = unsafe { bb.b.build_in_bounds_gep(i8t, s, &[iv], "at")? };
        let c = bb.b.build_load(i8t, at, "c")?.into_int_value();
        let nul = bb.b.build_int_compare(IntPredicate::EQ, c, i8t.const_zero(), "nul")?;
        bb.b.build_conditional_branch(nul, done, lookup)?;

        // The tokens this byte satisfies, from the pattern's table: one array lookup (which
        // the verifier inlines) giving a word it does not know, so no path splits per token.
        bb.b.position_at_end(lookup);
        let c = bb.b.build_int_z_extend(c, i32t, "c")?;
        let index = bb.b.build_int_add(c, i32t.const_int(256 * u64::from(glob), false), "index")?;
        bb.b.build_store(key, index)?;
        let entry = bb.map_lookup(table, key)?;
        bb.b.build_conditional_branch(bb.b.build_is_not_null(entry, "has")?, found, missing)?;

        // Every index is inside the array; a missing element only ends the match.
        bb.b.position_at_end(missing);
        bb.store_i64(state, bb.const_i64(0))?;
        bb.b.build_unconditional_branch(done)?;

        // Shift-and: a token's bit is set when the one before was and it takes the byte; a
        // star's stays set; then stars are entered without a byte.
        bb.b.position_at_end(found);
        let accept = bb.load_i64(entry)?;
        let d = bb.load_i64(state)?;
        let moved = bb.b.build_and(bb.b.build_left_shift(d, bb.const_i64(1), "shl")?, accept, "moved")?;
        let mut next = bb.b.build_or(moved, bb.b.build_and(d, bb.const_i64(stars), "stay")?, "next")?;
        for &k in &star_tokens {
            let from = bb.b.build_and(next, bb.const_i64(bit(k)), "from")?;
            next = bb.b.build_or(next, bb.b.build_left_shift(from, bb.const_i64(1), "eps")?, "closed")?;
        }
        bb.store_i64(state, next)?;
        // No state alive: no match, whatever follows.
        let dead = bb.b.build_int_compare(IntPredicate::EQ, next, bb.const_i64(0), "dead")?;
        bb.b.build_conditional_branch(dead, done, step)?;

        bb.b.position_at_end(step);
        bb.store_i64(i, bb.b.build_int_add(iv, bb.const_i64(1), "i")?)?;
        bb.b.build_unconditional_branch(head)?;

        bb.b.position_at_end(done);
        let d = bb.load_i64(state)?;
        let last = bb.b.build_right_shift(d, bb.const_i64(tokens.len() as u64), false, "last")?;
        Ok(bb.b.build_and(last, bb.const_i64(1), "matched")?)
    }
}
