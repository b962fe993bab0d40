//! `write_user(dst, src, len)`: `bpf_probe_write_user(dst, src, len)` from the value's
//! bytes. A constant `len` sema has checked against the value's size; a computed one is
//! clamped to it, and nothing is written when it is 0 (the helper takes 1 byte or more).

use inkwell::IntPredicate;

use super::builder::{Helper, R};
use super::expr::Val;
use super::probe::Lower;
use crate::artifact::types::Type;
use crate::sema::hir::{Expr, ExprKind};

impl<'ctx> Lower<'ctx, '_, '_> {
    pub(super) fn write_user(&mut self, dst: &Expr, src: &Expr, len: &Expr) -> R<Val<'ctx>> {
        let bb = self.bb;
        let dst = self.expr(dst)?.int()?;
        let (bytes, size) = match self.expr(src)? {
            // A buffer's bytes follow its length word.
            Val::Str(p, n) if matches!(src.ty, Type::Buf(_)) => (bb.gep(p, 8)?, n - 8),
            Val::Str(p, n) => (p, n),
            Val::Int(v) => {
                let slot = bb.stack_i64("written")?;
                bb.store_i64(slot, v)?;
                (slot, src.ty.size())
            }
        };
        let written = bb.stack_i64("write_user")?;
        bb.store_i64(written, bb.const_i64(0))?;
        let call = |n: inkwell::values::IntValue<'ctx>| -> R<()> {
            let rc = bb.helper(Helper::ProbeWriteUser, &[dst.into(), bytes.into(), n.into()])?;
            let ok = bb.b.build_int_compare(IntPredicate::EQ, rc, bb.const_i64(0), "written")?;
            bb.store_i64(written, bb.bool_to_i64(ok)?)
        };
        match len.kind {
            ExprKind::Int(n) => call(bb.const_i64(n))?,
            _ => {
                let n = self.expr(len)?.int()?;
                let size = bb.const_i64(size as u64);
                let over = bb.b.build_int_compare(IntPredicate::UGT, n, size, "over")?;
                let n = bb.opaque(bb.b.build_select(over, size, n, "clamped")?.into_int_value())?;
                // `n - 1 < size` is false for 0 (it wraps), and bounds `n - 1` for the
                // verifier, which then knows `n` is 1 to `size`.
                let less = bb.b.build_int_sub(n, bb.const_i64(1), "less")?;
                let fits = bb.b.build_int_compare(IntPredicate::ULT, less, size, "fits")?;
                bb.if_then(fits, |bb| call(bb.b.build_int_add(less, bb.const_i64(1), "n")?))?;
            }
        }
        Ok(Val::Int(bb.load_i64(written)?))
    }
}
