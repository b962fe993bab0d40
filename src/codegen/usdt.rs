//! Reading a USDT argument where its site's note says it is (decoded by runtime/usdt.rs):
//! a constant, a register of the task's `struct pt_regs` (the uprobe's context), or user
//! memory addressed by registers.

use inkwell::values::{GlobalValue, IntValue, PointerValue};

use super::builder::{BpfBuilder, Helper, R};
use crate::sema::{UsdtArg, UsdtLocation};

/// The argument's value as an i64, sign- or zero-extended from its size. A read of memory
/// that fails is counted in `counters`.
pub fn argument<'ctx>(bb: &BpfBuilder<'ctx, '_>, regs: PointerValue<'ctx>, arg: &UsdtArg, counters: GlobalValue<'ctx>) -> R<IntValue<'ctx>> {
    let bytes = usize::from(arg.size);
    let Some(location) = arg.location else {
        // Sema refuses scripts that read such an argument.
        return Err(super::builder::internal(format!("unreadable USDT operand {}", arg.spec)));
    };
    match location {
        UsdtLocation::Constant(v) => bb.narrow(bb.const_i64(v as u64), arg.size * 8, arg.signed),
        UsdtLocation::Register(at) => bb.load_int(bb.gep(regs, at)?, bytes, arg.signed),
        UsdtLocation::Memory { base, displacement, index } => {
            let mut address = bb.b.build_int_add(bb.load_i64(bb.gep(regs, base)?)?, bb.const_i64(displacement as u64), "usdt_addr")?;
            if let Some((index, scale)) = index {
                let scaled = bb.b.build_int_mul(bb.load_i64(bb.gep(regs, index)?)?, bb.const_i64(u64::from(scale)), "usdt_index")?;
                address = bb.b.build_int_add(address, scaled, "usdt_addr")?;
            }
            let slot = bb.stack_i64("usdt_arg")?;
            bb.store_i64(slot, bb.const_i64(0))?;
            bb.read_counted(Helper::ProbeReadUser, &[slot.into(), bb.const_i64(bytes as u64).into(), address.into()], counters)?;
            bb.load_int(slot, bytes, arg.signed)
        }
    }
}
