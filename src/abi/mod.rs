//! Facts of the x86_64 Linux ABI that every stage reads: the layout of `struct pt_regs`
//! (sema checks register names, codegen reads arguments, the runtime maps USDT operands) and
//! the syscall numbers (codegen fuses syscall tracepoints, the runtime prints
//! `syscall_name`). Pure tables.

pub mod pt_regs;
mod syscalls_x86_64;

pub use syscalls_x86_64::SYSCALLS;

/// The x86_64 syscall with number `nr` (`syscall_name(nr)`), if there is one.
pub fn syscall_name(nr: u64) -> Option<&'static str> {
    SYSCALLS.iter().find(|(_, n)| u64::from(*n) == nr).map(|(name, _)| *name)
}
