//! String reads, lengths, searches and comparisons: `str()`, `strlen`, `strstr`,
//! `strcontains`, `strncmp`, `memcmp`, `str_concat`, bytes of a buffer. Each search steps through its buffer with `callback_loop`
//! (codegen/loops.rs), so the verifier checks one step whatever the buffers' sizes
//! (`max_strlen` up to 1024).

use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use super::builder::{internal, BpfBuilder, Helper, R};
use super::expr::Val;
use super::probe::Lower;
use crate::sema::hir::{Expr, ExprKind};
use crate::sema::Type;

/// Byte `at` of `base` (an index the caller has bounded), as an i8.
fn byte<'ctx>(bb: &BpfBuilder<'ctx, '_>, base: PointerValue<'ctx>, at: IntValue<'ctx>) -> R<IntValue<'ctx>> {
    let i8t = bb.ctx.i8_type();
    // SAFETY: `at` is below the buffer's size on every path that reaches this load.
    let p = unsafe { bb.b.build_in_bounds_gep(i8t, base, &[at], "at")? };
    Ok(bb.b.build_load(i8t, p, "byte")?.into_int_value())
}

/// Strings shorter than this are read with one byte of room past them, to tell a string that
/// was cut (it fills them, no NUL) from one that fit: bpftrace's `pad_max_strlen`, which stops
/// at 1 KiB as well (a copy of a longer string would cost more scratch space than it is worth).
pub(super) const PAD_BELOW: usize = 1024;

/// Whether a `str()` read of a `size`-byte string takes the extra byte: a whole read (no
/// length given) below `PAD_BELOW`.
pub(super) fn pads(whole: bool, size: usize) -> bool {
    whole && size < PAD_BELOW
}

impl<'ctx> Lower<'ctx, '_, '_> {
    /// `str(ptr[, len])` into `dst` (`size` bytes, already zeroed): at most `len` bytes with
    /// the NUL, never more than the buffer. With `pad` (a whole read, no `len`, of a string
    /// shorter than `PAD_BELOW`) it is given one byte more than the string's `size`, which
    /// `dst` must have room for: as in bpftrace, a string of
    /// `max_strlen` bytes or more then fills the string without a NUL, and prints with the
    /// truncation trailer (config `str_trunc_trailer`).
    pub(super) fn read_str(&mut self, ptr: &Expr, len: Option<&Expr>, dst: PointerValue<'ctx>, size: usize, pad: bool) -> R<()> {
        let bb = self.bb;
        let p = self.expr(ptr)?.int()?;
        let n = match len {
            None => bb.const_i64((size + usize::from(pad)) as u64),
            Some(l) => {
                let l = self.expr(l)?.int()?;
                let fits = bb.b.build_int_compare(IntPredicate::ULT, l, bb.const_i64(size as u64), "fits")?;
                bb.b.build_select(fits, l, bb.const_i64(size as u64), "n")?.into_int_value()
            }
        };
        bb.read_counted(Helper::ProbeReadStr, &[dst.into(), n.into(), p.into()], self.maps.counters)?;
        Ok(())
    }

    /// `strlen`: the index of the first NUL in a buffer of `n` bytes, or `n`. One compare
    /// and select per byte, straight-line: the verifier walks it once, with no loop. Past
    /// `STRAIGHT_STRLEN_MAX` bytes (what LLVM and the verifier take in their stride) a
    /// bpf_loop callback walks it instead.
    pub fn str_len(&self, p: PointerValue<'ctx>, n: usize) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        if n > crate::sema::hir::STRAIGHT_STRLEN_MAX {
            let len = bb.untracked_i64()?;
            bb.store_i64(len, bb.const_i64(n as u64))?;
            bb.callback_loop(&format!("rtrace_strlen_{n}"), bb.const_i64(n as u64), &[len, p], |cb, i, captured| {
                let [len, p] = *captured else { return Err(internal("strlen context")) };
                let block = |name| cb.ctx.append_basic_block(cb.function, name);
                let (body, found, go_on, stop) = (block("sl_body"), block("sl_found"), block("sl_go_on"), block("sl_stop"));
                let within = cb.b.build_int_compare(IntPredicate::ULT, i, cb.const_i64(n as u64), "within")?;
                cb.b.build_conditional_branch(within, body, stop)?;
                cb.b.position_at_end(body);
                let nul = cb.b.build_int_compare(IntPredicate::EQ, byte(cb, p, i)?, cb.ctx.i8_type().const_zero(), "nul")?;
                cb.b.build_conditional_branch(nul, found, go_on)?;
                cb.b.position_at_end(found);
                cb.store_i64(len, i)?;
                cb.b.build_unconditional_branch(stop)?;
                cb.b.position_at_end(go_on);
                cb.b.build_return(Some(&cb.const_i64(0)))?;
                cb.b.position_at_end(stop);
                Ok(cb.const_i64(1))
            })?;
            return bb.load_i64(len);
        }
        let i8t = bb.ctx.i8_type();
        let mut len = bb.const_i64(n as u64);
        for i in (0..n).rev() {
            let c = bb.b.build_load(i8t, bb.gep(p, i)?, "c")?.into_int_value();
            let nul = bb.b.build_int_compare(IntPredicate::EQ, c, i8t.const_zero(), "nul")?;
            len = bb.b.build_select(nul, bb.const_i64(i as u64), len, "len")?.into_int_value();
        }
        Ok(len)
    }

    /// Where the NUL-terminated `needle` (in a buffer of `nn` bytes) first occurs in
    /// `haystack` (`hn` bytes), or -1: a step per start in the haystack compares the needle
    /// there, byte by byte until its NUL.
    pub fn str_find(&self, haystack: PointerValue<'ctx>, hn: usize, needle: PointerValue<'ctx>, nn: usize) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let found = bb.untracked_i64()?;
        bb.store_i64(found, bb.const_i64(u64::MAX))?;
        bb.callback_loop(&format!("rtrace_strfind_{hn}_{nn}"), bb.const_i64(hn as u64), &[found, haystack, needle], |cb, i, captured| {
            let [found, haystack, needle] = *captured else { return Err(internal("strstr context")) };
            let i8t = cb.ctx.i8_type();
            let block = |name| cb.ctx.append_basic_block(cb.function, name);
            let below = |v: IntValue<'ctx>, n: usize| cb.b.build_int_compare(IntPredicate::ULT, v, cb.const_i64(n as u64), "below");
            let (start, inner, more, check, compare, step, matched, next, stop) = (
                block("sc_start"),
                block("sc_inner"),
                block("sc_more"),
                block("sc_check"),
                block("sc_compare"),
                block("sc_step"),
                block("sc_matched"),
                block("sc_next"),
                block("sc_stop"),
            );
            cb.b.build_conditional_branch(below(i, hn)?, start, stop)?;

            // The needle at start `i`: an inline loop over its bytes, bounded by its buffer.
            cb.b.position_at_end(start);
            let j = cb.stack_i64("offset")?;
            cb.store_i64(j, cb.const_i64(0))?;
            cb.b.build_unconditional_branch(inner)?;
            // The needle ended (or filled its buffer): a match.
            cb.b.position_at_end(inner);
            let jv = cb.load_i64(j)?;
            cb.b.build_conditional_branch(below(jv, nn)?, more, matched)?;
            cb.b.position_at_end(more);
            let c = byte(cb, needle, jv)?;
            let ended = cb.b.build_int_compare(IntPredicate::EQ, c, i8t.const_zero(), "needle_end")?;
            cb.b.build_conditional_branch(ended, matched, check)?;
            cb.b.position_at_end(check);
            let k = cb.b.build_int_add(i, jv, "k")?;
            cb.b.build_conditional_branch(below(k, hn)?, compare, next)?;
            cb.b.position_at_end(compare);
            let same = cb.b.build_int_compare(IntPredicate::EQ, byte(cb, haystack, cb.opaque(k)?)?, c, "same")?;
            cb.b.build_conditional_branch(same, step, next)?;
            cb.b.position_at_end(step);
            cb.store_i64(j, cb.b.build_int_add(jv, cb.const_i64(1), "j")?)?;
            cb.b.build_unconditional_branch(inner)?;

            cb.b.position_at_end(matched);
            cb.store_i64(found, i)?;
            cb.b.build_unconditional_branch(stop)?;

            // No match from this start: stop at the haystack's NUL, else try the next start.
            cb.b.position_at_end(next);
            let at_end = cb.b.build_int_compare(IntPredicate::EQ, byte(cb, haystack, i)?, i8t.const_zero(), "haystack_end")?;
            let go_on = block("sc_go_on");
            cb.b.build_conditional_branch(at_end, stop, go_on)?;
            cb.b.position_at_end(go_on);
            cb.b.build_return(Some(&cb.const_i64(0)))?;

            cb.b.position_at_end(stop);
            Ok(cb.const_i64(1))
        })?;
        bb.load_i64(found)
    }

    /// `memcmp(a, b, n)`: the difference of the first differing bytes (as unsigned chars)
    /// among the first `n`, never past the shorter buffer (`limit` bytes), or 0.
    pub fn mem_compare(&self, a: PointerValue<'ctx>, b: PointerValue<'ctx>, limit: usize, n: IntValue<'ctx>) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let diff = bb.untracked_i64()?;
        bb.store_i64(diff, bb.const_i64(0))?;
        let bytes =
            bb.b.build_select(bb.b.build_int_compare(IntPredicate::ULT, n, bb.const_i64(limit as u64), "short")?, n, bb.const_i64(limit as u64), "bytes")?;
        bb.callback_loop(&format!("rtrace_memcmp_{limit}"), bytes.into_int_value(), &[diff, a, b], |cb, i, captured| {
            let [diff, a, b] = *captured else { return Err(internal("memcmp context")) };
            let block = |name| cb.ctx.append_basic_block(cb.function, name);
            let (body, differ, stop) = (block("mc_body"), block("mc_differ"), block("mc_stop"));
            // The verifier learns the index is inside both buffers from this test.
            let within = cb.b.build_int_compare(IntPredicate::ULT, i, cb.const_i64(limit as u64), "within")?;
            cb.b.build_conditional_branch(within, body, stop)?;
            cb.b.position_at_end(body);
            let (x, y) = (byte(cb, a, i)?, byte(cb, b, i)?);
            let (x, y) = (cb.b.build_int_z_extend(x, cb.i64(), "ux")?, cb.b.build_int_z_extend(y, cb.i64(), "uy")?);
            let same = cb.b.build_int_compare(IntPredicate::EQ, x, y, "same")?;
            let go_on = block("mc_go_on");
            cb.b.build_conditional_branch(same, go_on, differ)?;
            cb.b.position_at_end(go_on);
            cb.b.build_return(Some(&cb.const_i64(0)))?;
            cb.b.position_at_end(differ);
            cb.store_i64(diff, cb.b.build_int_sub(x, y, "diff")?)?;
            cb.b.build_unconditional_branch(stop)?;
            cb.b.position_at_end(stop);
            Ok(cb.const_i64(1))
        })?;
        bb.load_i64(diff)
    }

    /// Whether the first `n` bytes at `a` and `b` (both 8-byte aligned) are the same, without
    /// a branch: the differences of each word (then byte) ORed together, so the verifier
    /// walks it once whatever the bytes are.
    pub(super) fn bytes_equal(&self, a: PointerValue<'ctx>, b: PointerValue<'ctx>, n: usize) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let mut diff = bb.const_i64(0);
        let words = n / 8;
        for i in 0..words {
            let x = bb.load_i64(bb.gep(a, 8 * i)?)?;
            let y = bb.load_i64(bb.gep(b, 8 * i)?)?;
            diff = bb.b.build_or(diff, bb.b.build_xor(x, y, "wdiff")?, "diff")?;
        }
        for i in 8 * words..n {
            let x = bb.load_int(bb.gep(a, i)?, 1, false)?;
            let y = bb.load_int(bb.gep(b, i)?, 1, false)?;
            diff = bb.b.build_or(diff, bb.b.build_xor(x, y, "bdiff")?, "diff")?;
        }
        Ok(bb.b.build_int_compare(IntPredicate::EQ, diff, bb.const_i64(0), "bytes_equal")?)
    }

    /// Byte-wise comparison up to the first NUL or the shorter buffer, as bpftrace does.
    pub(super) fn str_equal(&self, a: PointerValue<'ctx>, an: usize, b: PointerValue<'ctx>, bn: usize) -> R<IntValue<'ctx>> {
        let bb = self.bb;
        let i8t = bb.ctx.i8_type();
        let result = bb.stack_i64("streq")?;
        bb.store_i64(result, bb.const_i64(1))?;
        let done = bb.ctx.append_basic_block(bb.function, "streq_done");
        let differ = bb.ctx.append_basic_block(bb.function, "streq_differ");
        for i in 0..an.min(bn) {
            let x = bb.b.build_load(i8t, bb.gep(a, i)?, "a")?.into_int_value();
            let y = bb.b.build_load(i8t, bb.gep(b, i)?, "b")?.into_int_value();
            let ne = bb.b.build_int_compare(IntPredicate::NE, x, y, "ne")?;
            let next = bb.ctx.append_basic_block(bb.function, "streq_next");
            bb.b.build_conditional_branch(ne, differ, next)?;
            bb.b.position_at_end(next);
            let nul = bb.b.build_int_compare(IntPredicate::EQ, x, i8t.const_zero(), "nul")?;
            let cont = bb.ctx.append_basic_block(bb.function, "streq_cont");
            bb.b.build_conditional_branch(nul, done, cont)?;
            bb.b.position_at_end(cont);
        }
        bb.b.build_unconditional_branch(done)?;
        bb.b.position_at_end(differ);
        bb.store_i64(result, bb.const_i64(0))?;
        bb.b.build_unconditional_branch(done)?;
        bb.b.position_at_end(done);
        bb.truthy(bb.load_i64(result)?)
    }

    /// The string and byte expressions (`Lower::expr` hands them here): `str()`, `strlen`,
    /// `strstr`/`strcontains`, `strncmp`, `memcmp`, `str_concat`, `globmatch`, and a byte of a
    /// buffer at a constant or run-time index.
    pub(super) fn string_expr(&mut self, e: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        Ok(match &e.kind {
            ExprKind::StrFind { haystack, needle, index } => {
                let (Val::Str(h, hn), Val::Str(n, nn)) = (self.expr(haystack)?, self.expr(needle)?) else {
                    return Err(internal("strstr of non-strings"));
                };
                let at = self.str_find(h, hn, n, nn)?;
                if *index {
                    Val::Int(at)
                } else {
                    let found = bb.b.build_int_compare(IntPredicate::NE, at, bb.const_i64(u64::MAX), "found")?;
                    Val::Int(bb.bool_to_i64(found)?)
                }
            }
            ExprKind::GlobMatch { s, glob } => {
                let Val::Str(p, n) = self.expr(s)? else { return Err(internal("globmatch of a non-string")) };
                Val::Int(self.glob_match(p, n, *glob)?)
            }
            ExprKind::ByteAt { buf, offset } => {
                let Val::Str(p, _) = self.expr(buf)? else { return Err(internal("a byte of a value not in a buffer")) };
                let width = match e.ty {
                    Type::Int { bits, .. } => usize::from(bits / 8),
                    _ => 1,
                };
                Val::Int(bb.load_int(bb.gep(p, *offset)?, width, e.ty.is_signed())?)
            }
            ExprKind::ByteIndexed { buf, index, len } => {
                let Val::Str(p, _) = self.expr(buf)? else { return Err(internal("an index of a value not in a buffer")) };
                let i = self.expr(index)?.int()?;
                let within = bb.b.build_int_compare(IntPredicate::ULT, i, bb.const_i64(*len as u64), "within")?;
                // The index the verifier sees bounded: 0 past the end, hidden from LLVM so it
                // cannot fold the bound away.
                let at = bb.opaque(bb.b.build_select(within, i, bb.const_i64(0), "at")?.into_int_value())?;
                // SAFETY: `at` is below `len`, the buffer's size.
                let byte = unsafe { bb.b.build_in_bounds_gep(bb.ctx.i8_type(), p, &[at], "byte")? };
                let v = bb.b.build_load(bb.ctx.i8_type(), byte, "b")?.into_int_value();
                let v = bb.b.build_int_s_extend(v, bb.i64(), "b")?;
                Val::Int(bb.b.build_select(within, v, bb.const_i64(0), "b")?.into_int_value())
            }
            ExprKind::StrLen(s) => {
                let Val::Str(p, n) = self.expr(s)? else { return Err(internal("strlen of a non-string")) };
                Val::Int(self.str_len(p, n)?)
            }
            ExprKind::ReadStr { ptr, len } => {
                let size = e.ty.size();
                // One byte of room past the string for a whole read (see `read_str`).
                let pad = super::strings::pads(len.is_none(), size);
                let buf = bb.stack_buffer(size + usize::from(pad), "str")?;
                self.read_str(ptr, len.as_deref(), buf, size, pad)?;
                Val::Str(buf, size)
            }
            ExprKind::StrNcmp { a, b, n } => {
                let (Val::Str(x, xn), Val::Str(y, yn)) = (self.expr(a)?, self.expr(b)?) else {
                    return Err(internal("strncmp of non-strings"));
                };
                let eq = self.str_equal(x, xn.min(*n), y, yn.min(*n))?;
                let ne = bb.b.build_not(eq, "ne")?;
                Val::Int(bb.bool_to_i64(ne)?)
            }
            ExprKind::MemCmp { a, b, n } => {
                let (Val::Str(x, xn), Val::Str(y, yn)) = (self.expr(a)?, self.expr(b)?) else {
                    return Err(internal("memcmp of non-buffers"));
                };
                // A buffer's bytes follow its length word.
                let bytes = |e: &Expr, p, n: usize| -> R<(PointerValue<'ctx>, usize)> {
                    Ok(if matches!(e.ty, Type::Buf(_)) { (bb.gep(p, 8)?, n - 8) } else { (p, n) })
                };
                let ((x, xn), (y, yn)) = (bytes(a, x, xn)?, bytes(b, y, yn)?);
                let n = self.expr(n)?.int()?;
                Val::Int(self.mem_compare(x, y, xn.min(yn), n)?)
            }
            ExprKind::StrConcat { a, b } => {
                let (Val::Str(a, an), Val::Str(b, _)) = (self.expr(a)?, self.expr(b)?) else { return Err(internal("str_concat of non-strings")) };
                Val::Str(self.str_concat(a, an, b, e.ty.size())?, e.ty.size())
            }
            _ => return Err(internal("not a string expression")),
        })
    }

    /// `a` (of `an` bytes) up to its NUL, then `b`, into a new zeroed string of `n` bytes:
    /// two string reads, the second at where the first stopped. The verifier checks that
    /// read's largest offset with its largest size, which never come together (the room
    /// left is `n` less the offset), so the buffer has `first - 1` bytes more than the
    /// string, which are never written.
    fn str_concat(&self, a: PointerValue<'ctx>, an: usize, b: PointerValue<'ctx>, n: usize) -> R<PointerValue<'ctx>> {
        let bb = self.bb;
        let first = an.min(n).max(1) as u64;
        let dst = bb.stack_buffer(n + first as usize - 1, "concat")?;
        let read = bb.read_counted(Helper::ProbeReadStr, &[dst.into(), bb.const_i64(first).into(), a.into()], self.maps.counters)?;
        // Bytes read less the NUL; nothing on an error.
        let copied = bb.b.build_int_sub(read, bb.const_i64(1), "copied")?;
        let failed = bb.b.build_int_compare(IntPredicate::SLT, copied, bb.const_i64(0), "failed")?;
        let copied = bb.b.build_select(failed, bb.const_i64(0), copied, "copied")?.into_int_value();
        let over = bb.b.build_int_compare(IntPredicate::UGT, copied, bb.const_i64(first - 1), "over")?;
        let at = bb.opaque(bb.b.build_select(over, bb.const_i64(first - 1), copied, "at")?.into_int_value())?;
        // SAFETY: `at` is at most `first - 1`, inside the `n` bytes of `dst`.
        let tail = unsafe { bb.b.build_in_bounds_gep(bb.ctx.i8_type(), dst, &[at], "tail")? };
        let room = bb.b.build_int_sub(bb.const_i64(n as u64), at, "room")?;
        bb.read_counted(Helper::ProbeReadStr, &[tail.into(), room.into(), b.into()], self.maps.counters)?;
        Ok(dst)
    }
}
