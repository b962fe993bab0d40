//! The builtin variables (`pid`, `comm`, `arg0`...) and their types.

use crate::artifact::types::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `arg0`..`arg11`: the probe's raw arguments.
    Arg(u8),
    /// Argument word `n` of a BTF-typed program (fentry/fexit, tp_btf) that points at no
    /// struct (`char *`, `loff_t *`): read as a number with bpf_probe_read_kernel there, since
    /// verifiers before 5.17 refuse to load such an argument from the context ("invalid
    /// bpf_context access"); a plain load in a raw_tp program.
    ArgWord(u8),
    /// The return value, in a uretprobe.
    Retval,
    /// The pid of the `-c` command; 0 without one.
    Cpid,
    /// The number of online CPUs.
    Ncpus,
    /// `pid(init)`, `tid(init)`: as the initial pid namespace sees them.
    Pid,
    Tid,
    /// `pid(curr_ns)` (and `tid(curr_ns)` when `thread`): as the pid namespace with this
    /// nsfs device and inode sees them (rtrace's own); 0 for a task outside it.
    NsPid {
        dev: u64,
        ino: u64,
        thread: bool,
    },
    Uid,
    Gid,
    /// `nsecs`, `nsecs(monotonic)`: CLOCK_MONOTONIC, as bpftrace 0.17.
    Nsecs,
    /// `nsecs(boot)`: CLOCK_BOOTTIME (also counts suspend).
    NsecsBoot,
    /// `nsecs(tai)`: CLOCK_TAI, from the kernel (Linux 6.1).
    NsecsTai,
    /// `nsecs(sw_tai)`: CLOCK_TAI as CLOCK_BOOTTIME plus their difference at start.
    NsecsSwTai,
    Elapsed,
    Cpu,
    Comm,
    Probe,
    /// `probetype`: the attach point's provider (`tracepoint`, `kprobe`...; `special` for
    /// BEGIN and END).
    ProbeType,
    /// The current `struct task_struct *`.
    Curtask,
    /// The program's context pointer (`ctx` of iterators).
    Ctx,
    /// `reg("name")`: the `struct pt_regs` field at this byte offset.
    Register(u8),
    /// `usermode`: 1 if the probe fired in user mode (the low bits of `cs`).
    Usermode,
    /// Where a position-independent binary is loaded: the uprobe's instruction pointer less
    /// the probed instruction's file address (a uprobe handler sees `ip` at the probe).
    LoadBias,
    /// The traced function's name, in uprobes (and probes mixing kinds).
    Func,
    /// `func` in kprobes and fentry: the traced function's address, a `ksym` as in
    /// bpftrace (so `@name[0] = ksym(0); @name[tid] = func` is one map type).
    FuncAddr,
    /// The stack pointer at a kprobe or uprobe (what `sargN` reads from).
    StackPointer,
    Rand,
    Cgroup,
    Numaid,
    Jiffies,
}

impl Builtin {
    pub const ALL: &'static [(&'static str, Builtin)] = &[
        ("pid", Builtin::Pid),
        ("tid", Builtin::Tid),
        ("uid", Builtin::Uid),
        ("gid", Builtin::Gid),
        ("nsecs", Builtin::Nsecs),
        ("elapsed", Builtin::Elapsed),
        ("cpu", Builtin::Cpu),
        ("comm", Builtin::Comm),
        ("probe", Builtin::Probe),
        ("probetype", Builtin::ProbeType),
        ("retval", Builtin::Retval),
        ("cpid", Builtin::Cpid),
        ("ncpus", Builtin::Ncpus),
        ("rand", Builtin::Rand),
        ("func", Builtin::Func),
        ("cgroup", Builtin::Cgroup),
        ("numaid", Builtin::Numaid),
        ("jiffies", Builtin::Jiffies),
    ];

    pub fn ty(self) -> Type {
        match self {
            Builtin::Pid
            | Builtin::Tid
            | Builtin::NsPid { .. }
            | Builtin::Uid
            | Builtin::Gid
            | Builtin::Cpu
            | Builtin::Cpid
            | Builtin::Rand
            | Builtin::Numaid => Type::U32,
            Builtin::Nsecs
            | Builtin::NsecsBoot
            | Builtin::NsecsTai
            | Builtin::NsecsSwTai
            | Builtin::Elapsed
            | Builtin::Cgroup
            | Builtin::Jiffies
            | Builtin::Ncpus => Type::U64,
            Builtin::Comm => Type::Str(16),
            Builtin::Probe | Builtin::Func => Type::Str(PROBE_NAME_LEN),
            Builtin::FuncAddr => Type::Ksym,
            Builtin::ProbeType => Type::Str(PROBE_TYPE_LEN),
            Builtin::Arg(_)
            | Builtin::ArgWord(_)
            | Builtin::Retval
            | Builtin::Curtask
            | Builtin::Ctx
            | Builtin::StackPointer
            | Builtin::Register(_)
            | Builtin::Usermode
            | Builtin::LoadBias => Type::U64,
        }
    }
}

/// Buffer size of the `probetype` builtin's value (`asyncwatchpoint` and its NUL).
pub const PROBE_TYPE_LEN: usize = 16;
/// Buffer size of the `probe` builtin's value.
pub const PROBE_NAME_LEN: usize = 64;
