//! `args.FIELD` of a tracepoint: from the record the context points at (tracefs format
//! offsets), from the registers of a fused syscall program, or, in a portable program
//! (`Options::portable`, `rtrace build`), with `bpf_probe_read_kernel` at an offset the loader
//! relocates to the running kernel's format (`artifact::facts`): the verifier requires direct
//! context loads to have constant offsets, which no loader may change.

use super::builder::{internal, Helper, R};
use super::expr::Val;
use super::probe::{ArgsSource, Lower};
use crate::artifact::Type;
use crate::sema::hir::AttachKind;
use crate::system::tracepoint_format::{is_data_loc, TracepointField};

impl<'ctx> Lower<'ctx, '_, '_> {
    pub(super) fn tracepoint_field(&mut self, name: &str, ty: Type) -> R<Val<'ctx>> {
        let AttachKind::Tracepoint { format, .. } = &self.attach.kind else {
            return Err(internal("args outside a tracepoint"));
        };
        let f = format.field(name).ok_or_else(|| internal(format!("no field {name}")))?;
        if crate::system::tracepoint_format::is_data_loc(f) && !matches!(self.args, ArgsSource::Syscall { .. }) {
            // The string's address: the record's plus the low 16 bits of the field.
            let bb = self.bb;
            let word = bb.load_int(bb.gep(self.ctx_arg, f.offset)?, 4, false)?;
            let loc = bb.b.build_and(word, bb.const_i64(0xffff), "data_loc")?;
            let base = bb.b.build_ptr_to_int(self.ctx_arg, bb.i64(), "record")?;
            return Ok(Val::Int(bb.b.build_int_add(base, loc, "string_at")?));
        }
        // A pointer or enum typed from BTF is the field's integer in the context.
        let ty = if matches!(ty, Type::Ptr { .. } | Type::Enum(_)) { f.ty } else { ty };
        let bb = self.bb;
        if let ArgsSource::Syscall { nr, ret, slots } = &self.args {
            let Type::Int { bits, signed } = ty else {
                return Err(internal("fused syscall field is not an integer"));
            };
            let slot = slots.iter().find(|(n, _)| n == name).map(|(_, p)| *p);
            return Ok(Val::Int(super::syscalls::field(bb, f.offset, usize::from(bits / 8), signed, *nr, *ret, slot)?));
        }
        if self.portable {
            return self.portable_tracepoint_field(f, ty);
        }
        let at = bb.gep(self.ctx_arg, f.offset)?;
        Ok(match ty {
            Type::Str(n) => {
                // Copied with a helper: a memcpy from the context gets folded into loads
                // through a moved context pointer, which the verifier refuses.
                let buf = bb.stack_buffer(n, "field")?;
                bb.helper(Helper::ProbeReadKernel, &[buf.into(), bb.const_i64(n as u64).into(), at.into()])?;
                Val::Str(buf, n)
            }
            Type::Int { bits, signed } => Val::Int(bb.load_int(at, usize::from(bits / 8), signed)?),
            _ => return Err(internal("untyped tracepoint field")),
        })
    }

    /// A field read at its relocated offset: fact `program.facts.len() + i` of
    /// `tracepoint_facts`, an undefined symbol the loader sets.
    fn portable_tracepoint_field(&mut self, f: &TracepointField, ty: Type) -> R<Val<'ctx>> {
        let AttachKind::Tracepoint { category, event, .. } = &self.attach.kind else {
            return Err(internal("args outside a tracepoint"));
        };
        let facts = super::tracepoint_facts(self.program, true);
        let index = facts
            .iter()
            .position(|fact| matches!(&fact.what, crate::artifact::FactKind::TracepointField { category: c, event: e, field, .. } if c == category && e == event && *field == f.name))
            .ok_or_else(|| internal(format!("no fact for field {}", f.name)))?;
        let bb = self.bb;
        let symbol = crate::artifact::fact_symbol(self.program.facts.len() + index);
        let global = bb.module.get_global(&symbol).unwrap_or_else(|| bb.module.add_global(bb.ctx.i8_type(), None, &symbol));
        let offset = bb.b.build_ptr_to_int(global.as_pointer_value(), bb.i64(), "field_offset")?;
        let record = bb.b.build_ptr_to_int(self.ctx_arg, bb.i64(), "record")?;
        let at = bb.b.build_int_add(record, offset, "field_at")?;
        let read = |n: usize| -> R<inkwell::values::PointerValue<'ctx>> {
            let buf = bb.stack_buffer(n.max(8), "field")?;
            bb.helper(Helper::ProbeReadKernel, &[buf.into(), bb.const_i64(n as u64).into(), at.into()])?;
            Ok(buf)
        };
        if is_data_loc(f) {
            let word = bb.load_int(read(4)?, 4, false)?;
            let loc = bb.b.build_and(word, bb.const_i64(0xffff), "data_loc")?;
            return Ok(Val::Int(bb.b.build_int_add(record, loc, "string_at")?));
        }
        let ty = if matches!(ty, Type::Ptr { .. } | Type::Enum(_)) { f.ty } else { ty };
        Ok(match ty {
            Type::Str(n) => Val::Str(read(n)?, n),
            Type::Int { bits, signed } => Val::Int(bb.load_int(read(usize::from(bits / 8))?, usize::from(bits / 8), signed)?),
            _ => return Err(internal("untyped tracepoint field")),
        })
    }
}
