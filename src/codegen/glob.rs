//! `globmatch(s, "pattern")` as a bit-parallel NFA (shift-and): one state bit per pattern
//! token, all advanced together by each byte of the string, whose token bits come from a
//! table userspace fills (`artifact::GLOB_MAP`). The bytes are stepped by `callback_loop`
//! (codegen/loops.rs), one callback per pattern and string size, so the verifier checks one
//! step, not one per byte of `max_strlen`. sema/glob.rs parses the pattern and runs the same
//! automaton as a reference.

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use super::builder::{internal, R};
use super::probe::Lower;
use crate::sema::glob;

impl<'ctx> Lower<'ctx, '_, '_> {
    /// 1 if the NUL-terminated string in `s` (a buffer of `n` bytes) matches pattern `glob`
    /// of the program. The state word is untracked and the bytes are stepped by
    /// `callback_loop`, whose step returns 1 at the string's NUL, or when no state is alive
    /// (no match, whatever follows).
    pub fn glob_match(&self, s: PointerValue<'ctx>, n: usize, glob: u32) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let tokens = &self.program.globs[glob as usize];
        let table = self.maps.glob.ok_or_else(|| internal("globmatch without its table map"))?;
        let state = bb.untracked_i64()?;
        bb.store_i64(state, bb.const_i64(glob::close(tokens, 1)))?;
        bb.callback_loop(&format!("rtrace_glob_{glob}_{n}"), bb.const_i64(n as u64), &[state, s], |cb, i, captured| {
            let [state, s] = captured else { return Err(internal("glob step context")) };
            let (i8t, i32t) = (cb.ctx.i8_type(), cb.ctx.i32_type());
            let block = |name| cb.ctx.append_basic_block(cb.function, name);
            let (read, lookup, found, missing, done) =
                (block("glob_read"), block("glob_lookup"), block("glob_found"), block("glob_missing"), block("glob_stop"));

            // The index is below `n` (bpf_loop's count), which the verifier learns from a test.
            let within = cb.b.build_int_compare(IntPredicate::ULT, i, cb.const_i64(n as u64), "within")?;
            cb.b.build_conditional_branch(within, read, done)?;

            // The string's NUL ends it.
            cb.b.position_at_end(read);
            // SAFETY: `i` is below the buffer's size here.
            let at = unsafe { cb.b.build_in_bounds_gep(i8t, *s, &[i], "at")? };
            let c = cb.b.build_load(i8t, at, "c")?.into_int_value();
            let nul = cb.b.build_int_compare(IntPredicate::EQ, c, i8t.const_zero(), "nul")?;
            cb.b.build_conditional_branch(nul, done, lookup)?;

            // The tokens this byte satisfies, from the pattern's table: one array lookup
            // (which the verifier inlines) giving a word it does not know, so no path splits
            // per token.
            cb.b.position_at_end(lookup);
            let key = cb.stack_i64("glob_key")?;
            let c = cb.b.build_int_z_extend(c, i32t, "c")?;
            cb.b.build_store(key, cb.b.build_int_add(c, i32t.const_int(256 * u64::from(glob), false), "index")?)?;
            let entry = cb.map_lookup(table, key)?;
            cb.b.build_conditional_branch(cb.b.build_is_not_null(entry, "has")?, found, missing)?;

            // Every index is inside the array; a missing element only ends the match.
            cb.b.position_at_end(missing);
            cb.store_i64(*state, cb.const_i64(0))?;
            cb.b.build_return(Some(&cb.const_i64(1)))?;

            // Shift-and: a token's bit is set when the one before was and it takes the byte; a
            // star's stays set; then stars are entered without a byte.
            cb.b.position_at_end(found);
            let accept = cb.load_i64(entry)?;
            let d = cb.load_i64(*state)?;
            let stars = glob::stars(tokens);
            let moved = cb.b.build_and(cb.b.build_left_shift(d, cb.const_i64(1), "shl")?, accept, "moved")?;
            let mut next = cb.b.build_or(moved, cb.b.build_and(d, cb.const_i64(stars), "stay")?, "next")?;
            for k in glob::star_tokens(tokens) {
                let from = cb.b.build_and(next, cb.const_i64(1 << k), "from")?;
                next = cb.b.build_or(next, cb.b.build_left_shift(from, cb.const_i64(1), "eps")?, "closed")?;
            }
            cb.store_i64(*state, next)?;
            let dead = cb.b.build_int_compare(IntPredicate::EQ, next, cb.const_i64(0), "dead")?;
            let result = cb.b.build_select(dead, cb.const_i64(1), cb.const_i64(0), "stop")?;
            cb.b.build_return(Some(&result))?;

            cb.b.position_at_end(done);
            Ok(cb.const_i64(1))
        })?;
        let d = bb.load_i64(state)?;
        let last = bb.b.build_right_shift(d, bb.const_i64(tokens.len() as u64), false, "last")?;
        Ok(bb.b.build_and(last, bb.const_i64(1), "matched")?)
    }
}
