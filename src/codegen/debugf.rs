//! `debugf(fmt, args...)`: `bpf_trace_printk(fmt, size, a, b, c)`, the format copied to the
//! stack, strings passed by address (the kernel reads them for `%s`).

use super::builder::{Helper, R};
use super::expr::Val;
use super::probe::Lower;
use crate::sema::hir::Expr;

impl<'ctx> Lower<'ctx, '_, '_> {
    pub(super) fn debugf(&mut self, format: &str, args: &[Expr]) -> R<()> {
        let bb = self.bb;
        let size = format.len() + 1;
        let fmt = bb.global_string(format, size.next_multiple_of(8), "debugf_fmt")?;
        let mut call: Vec<inkwell::values::BasicMetadataValueEnum<'ctx>> = vec![fmt.into(), bb.const_i64(size as u64).into()];
        for a in args {
            call.push(match self.expr(a)? {
                Val::Int(v) => v.into(),
                Val::Str(p, _) => bb.b.build_ptr_to_int(p, bb.i64(), "debugf_str")?.into(),
            });
        }
        bb.helper(Helper::TracePrintk, &call)?;
        Ok(())
    }
}
