//! Helpers that take a pointer the verifier must trust (sema/check/trusted.rs): `path()`
//! (`bpf_d_path`), `skboutput()` (`bpf_skb_output`) and `socket_cookie()`. The pointer is rebuilt from the
//! context with plain loads, so the verifier keeps tracking it as a kernel object. And the
//! kfunc calls of tracing programs (`comm(pid)`).

use inkwell::values::PointerValue;
use inkwell::IntPredicate;

use crate::artifact::SKB_HEADER;
use super::builder::{internal, Helper, R};
use super::expr::Val;
use super::probe::Lower;
use crate::parser::ast::BinOp;
use crate::sema::hir::{Builtin, Expr, ExprKind, MAX_PACKET};

/// bpf_skb_output's flags: the CPU's own perf buffer, and the bytes of packet to copy in the
/// upper 32 bits (BPF_F_CTXLEN_MASK).
const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;
/// What `skboutput` returns when the sk_buff pointer is NULL.
const EINVAL: u64 = 22;

/// The least buffer `path()` has bpf_d_path write into.
const D_PATH_ROOM: usize = 1024;

impl<'ctx> Lower<'ctx, '_, '_> {
    /// `path(p)`: bpf_d_path of the `struct path` at `ptr`, as a string of `len` bytes.
    pub(super) fn d_path(&mut self, ptr: &Expr, len: usize) -> R<Val<'ctx>> {
        let bb = self.bb;
        // bpf_d_path fails on a path longer than its buffer: it writes into one of 1 KiB
        // (or `len`, when longer), and the value is its first `len` bytes, clamped.
        let room = D_PATH_ROOM.max(len);
        let buf = bb.stack_buffer(room, "path")?;
        let slot = bb.stack_i64("path_ptr")?;
        self.trusted_ptr(ptr, slot)?;
        let p = bb.load_i64(slot)?;
        let nonnull = bb.b.build_int_compare(IntPredicate::NE, p, bb.const_i64(0), "nonnull")?;
        bb.if_then(nonnull, |s| {
            let n = s.helper(Helper::DPath, &[p.into(), buf.into(), s.const_i64(room as u64).into()])?;
            // A failure leaves the path's tail in the buffer.
            let failed = s.b.build_int_compare(IntPredicate::SLT, n, s.const_i64(0), "failed")?;
            s.if_then(failed, |s| s.memset_zero(buf, room as u64))
        })?;
        Ok(Val::Str(buf, len))
    }

    /// `skboutput(file, skb, len, offset)`: sends the first min(len, skb->len, MAX_PACKET)
    /// bytes of the packet, after a header naming the call site, to the perf buffer userspace
    /// writes pcap files from (the offset is applied there). Evaluates to the helper's result.
    pub(super) fn skb_output(&mut self, site: u32, skb: &Expr, len: &Expr, skb_len: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        let map = self.maps.skb.ok_or_else(|| internal("skboutput without its perf event array"))?;
        let want = self.expr(len)?.int()?;
        let have = self.expr(skb_len)?.int()?;
        let slot = bb.stack_i64("skb")?;
        self.trusted_ptr(skb, slot)?;
        let umin = |a, b| -> R<_> {
            let lt = bb.b.build_int_compare(IntPredicate::ULT, a, b, "lt")?;
            Ok(bb.b.build_select(lt, a, b, "min")?.into_int_value())
        };
        let n = umin(umin(want, have)?, bb.const_i64(MAX_PACKET))?;
        let ret = bb.stack_i64("skb_ret")?;
        bb.store_i64(ret, bb.const_i64(EINVAL.wrapping_neg()))?;
        let p = bb.load_i64(slot)?;
        let nonnull = bb.b.build_int_compare(IntPredicate::NE, p, bb.const_i64(0), "nonnull")?;
        bb.if_then(nonnull, |s| {
            let header = s.stack_buffer(SKB_HEADER, "skb_header")?;
            let shifted = s.b.build_left_shift(n, s.const_i64(32), "captured")?;
            s.store_i64(header, s.b.build_or(shifted, s.const_i64(u64::from(site)), "site")?)?;
            s.store_i64(s.gep(header, 8)?, s.helper(Helper::KtimeGetBootNs, &[])?)?;
            s.store_i64(s.gep(header, 16)?, have)?;
            let flags = s.b.build_or(shifted, s.const_i64(BPF_F_CURRENT_CPU), "flags")?;
            let args = [p.into(), map.as_pointer_value().into(), flags.into(), header.into(), s.const_i64(SKB_HEADER as u64).into()];
            s.store_i64(ret, s.helper(Helper::SkbOutput, &args)?)
        })?;
        Ok(Val::Int(bb.load_i64(ret)?))
    }

    /// `comm(pid)`: the task of process `pid` from the kfunc bpf_task_from_pid, its `comm`
    /// read, the task released (the verifier checks that every path releases it); "N/A" when
    /// there is no such process.
    pub(super) fn comm_of_pid(&mut self, pid: &Expr, from_pid: u32, release: u32, offset: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        let counters = self.maps.counters;
        let pid = self.expr(pid)?.int()?;
        let offset = self.expr(offset)?.int()?;
        let buf = bb.stack_buffer(16, "comm")?;
        bb.write_string(buf, "N/A", 16)?;
        let i32_type = bb.ctx.i32_type();
        let from = kfunc(bb, from_pid, bb.ptr().fn_type(&[i32_type.into()], false));
        let rel = kfunc(bb, release, bb.ctx.void_type().fn_type(&[bb.ptr().into()], false));
        let pid = bb.b.build_int_truncate(pid, i32_type, "pid32")?;
        let task = match bb.b.build_call(from, &[pid.into()], "task")?.try_as_basic_value() {
            inkwell::values::ValueKind::Basic(t) => t.into_pointer_value(),
            _ => return Err(internal("bpf_task_from_pid returned void")),
        };
        let found = bb.b.build_is_not_null(task, "found")?;
        bb.if_then(found, |bb| {
            // SAFETY: `offset` is `comm`'s within the task the kernel handed over.
            let comm = unsafe { bb.b.build_in_bounds_gep(bb.ctx.i8_type(), task, &[offset], "comm")? };
            bb.read_counted(Helper::ProbeReadKernel, &[buf.into(), bb.const_i64(16).into(), comm.into()], counters)?;
            bb.b.build_call(rel, &[task.into()], "")?;
            Ok(())
        })?;
        Ok(Val::Str(buf, 16))
    }

    /// `socket_cookie(sk)`: bpf_get_socket_cookie of the socket, 0 for NULL.
    pub(super) fn socket_cookie(&mut self, sk: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        let slot = bb.stack_i64("sk")?;
        self.trusted_ptr(sk, slot)?;
        let cookie = bb.stack_i64("cookie")?;
        bb.store_i64(cookie, bb.const_i64(0))?;
        let p = bb.load_i64(slot)?;
        let nonnull = bb.b.build_int_compare(IntPredicate::NE, p, bb.const_i64(0), "nonnull")?;
        bb.if_then(nonnull, |s| s.store_i64(cookie, s.helper(Helper::GetSocketCookie, &[p.into()])?))?;
        Ok(Val::Int(bb.load_i64(cookie)?))
    }

    /// Leaves in `slot` the address `e` computes, built so that the verifier keeps tracking
    /// it as a kernel object (for helpers such as bpf_d_path): context fields and arguments
    /// are loaded straight from the context, pointer fields with plain loads (the kernel
    /// guards them), offsets added in place. A NULL on the way leaves 0.
    fn trusted_ptr(&mut self, e: &Expr, slot: PointerValue<'ctx>) -> R<()> {
        let bb = self.bb;
        match &unwrap_casts(e).kind {
            // A field of the context: one load at a constant offset from it.
            ExprKind::Load { addr, .. } if context_offset(addr, &self.program.facts).is_some() => {
                let off = context_offset(addr, &self.program.facts).unwrap_or(0);
                bb.store_i64(slot, bb.load_int(bb.gep(self.ctx_arg, off as usize)?, 8, false)?)
            }
            ExprKind::Load { addr, .. } => {
                self.trusted_ptr(addr, slot)?;
                let p = bb.load_i64(slot)?;
                let nonnull = bb.b.build_int_compare(IntPredicate::NE, p, bb.const_i64(0), "nonnull")?;
                bb.if_then(nonnull, |s| {
                    let at = s.b.build_int_to_ptr(p, s.ptr(), "field")?;
                    s.store_i64(slot, s.load_int(at, 8, false)?)
                })
            }
            ExprKind::Binary { op: BinOp::Add, lhs, rhs } => {
                let off = match rhs.kind {
                    ExprKind::Int(off) => off,
                    // Checked at load, never relocated (sema marked it fixed).
                    ExprKind::Fact(i) => self.program.facts.get(i as usize).ok_or_else(|| internal("an unknown kernel fact"))?.compiled,
                    _ => return Err(internal("a trusted pointer plus a variable")),
                };
                self.trusted_ptr(lhs, slot)?;
                let p = bb.load_i64(slot)?;
                let nonnull = bb.b.build_int_compare(IntPredicate::NE, p, bb.const_i64(0), "nonnull")?;
                bb.if_then(nonnull, |s| s.store_i64(slot, s.b.build_int_add(p, s.const_i64(off), "member")?))
            }
            _ => {
                let v = self.expr(e)?.int()?;
                bb.store_i64(slot, v)
            }
        }
    }
}

/// `ctx` or `ctx + N` (through retypings): the offset of a context field. A kernel fact
/// there is its compiled value (sema marked it fixed: checked at load, not relocated).
fn context_offset(addr: &Expr, facts: &[crate::artifact::Fact]) -> Option<u64> {
    match &unwrap_casts(addr).kind {
        ExprKind::Builtin(Builtin::Ctx) => Some(0),
        ExprKind::Binary { op: BinOp::Add, lhs, rhs } => match (&unwrap_casts(lhs).kind, &rhs.kind) {
            (ExprKind::Builtin(Builtin::Ctx), ExprKind::Int(n)) => Some(*n),
            (ExprKind::Builtin(Builtin::Ctx), ExprKind::Fact(i)) => facts.get(*i as usize).map(|f| f.compiled),
            _ => None,
        },
        _ => None,
    }
}

/// `e` without the retypings around it (address to pointer and back: no code).
fn unwrap_casts(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Cast(inner) if e.ty.is_address() && inner.ty.is_address() => unwrap_casts(inner),
        _ => e,
    }
}

/// The kernel function of fact `fact` (a kfunc): an undefined function named after the fact,
/// whose calls the loader turns into kfunc calls of the id the fact holds on the running
/// kernel.
fn kfunc<'ctx>(bb: &super::builder::BpfBuilder<'ctx, '_>, fact: u32, ty: inkwell::types::FunctionType<'ctx>) -> inkwell::values::FunctionValue<'ctx> {
    let name = crate::artifact::fact_symbol(fact as usize);
    bb.module.get_function(&name).unwrap_or_else(|| bb.module.add_function(&name, ty, Some(inkwell::module::Linkage::External)))
}
