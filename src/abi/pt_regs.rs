//! x86_64 `struct pt_regs` offsets, named once: function arguments (kprobes, uprobes) and
//! syscall arguments (fused syscall tracepoints) sit in different registers; USDT arguments
//! may be in any of them.

pub const R15: usize = 0;
pub const R14: usize = 8;
pub const R13: usize = 16;
pub const R12: usize = 24;
pub const BP: usize = 32;
pub const BX: usize = 40;
pub const R11: usize = 48;
pub const R10: usize = 56;
pub const R9: usize = 64;
pub const R8: usize = 72;
pub const AX: usize = 80;
pub const CX: usize = 88;
pub const DX: usize = 96;
pub const SI: usize = 104;
pub const DI: usize = 112;
/// The syscall number, kept after `ax` is overwritten by the return value.
pub const ORIG_AX: usize = 120;
pub const CS: usize = 136;
/// The end of `cs`'s 8-byte slot.
pub const CS_END: usize = 144;
pub const SP: usize = 152;

pub const IP: usize = 128;

/// Every `struct pt_regs` field by name, as `reg("name")` takes it.
pub const FIELDS: &[(&str, usize)] = &[
    ("r15", R15),
    ("r14", R14),
    ("r13", R13),
    ("r12", R12),
    ("bp", BP),
    ("bx", BX),
    ("r11", R11),
    ("r10", R10),
    ("r9", R9),
    ("r8", R8),
    ("ax", AX),
    ("cx", CX),
    ("dx", DX),
    ("si", SI),
    ("di", DI),
    ("orig_ax", ORIG_AX),
    ("ip", IP),
    ("cs", CS),
    ("flags", 144),
    ("sp", SP),
    ("ss", 160),
];

/// Function call arguments 0..5 (System V ABI).
pub const FUNCTION_ARGS: [usize; 6] = [DI, SI, DX, CX, R8, R9];
/// Syscall arguments 0..5: the fourth is in r10, not cx.
pub const SYSCALL_ARGS: [usize; 6] = [DI, SI, DX, R10, R8, R9];
