//! What a compiled program assumed about the kernel it was compiled for. The runtime checks
//! each fact against the running kernel before anything is loaded, and where the program
//! left the value open (an undefined symbol `rt_core_N`, the N-th fact, in an `ld_imm64`),
//! relocates it: so a script compiled on one kernel runs on another whose structs are laid
//! out differently, or is refused with the fact named, never run with a wrong offset.
//!
//! Why rtrace's own table and not LLVM's CO-RE (`preserve_access_index` and `.BTF.ext`):
//! CO-RE needs every kernel type the script touches as LLVM debug-info types, and a
//! relocation engine in the loader matching types by shape; rtrace's compiler already knows
//! each access by name (struct and member), so the table names them and the runtime asks the
//! running kernel's BTF the same question sema asked. A member offset used in a direct load
//! the verifier checks (a trusted pointer chain) or a tracepoint field (an offset in the
//! context the verifier requires to be constant) cannot be relocated: there, the fact is
//! checked, and a kernel where it differs gets an error naming it.

/// One kernel fact and the value the program was compiled with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Fact {
    pub what: FactKind,
    /// The value on the kernel compiled for.
    pub compiled: u64,
    /// Used where the program holds the value itself (a trusted pointer chain), so a kernel
    /// with another value is refused instead of relocated.
    #[serde(default)]
    pub fixed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FactKind {
    /// The byte offset of member `member` (maybe inside anonymous members) of `struct
    /// record` (or `union record`), a member of `size` bytes. A bitfield's bit offset must
    /// stay the same within its byte.
    MemberOffset { record: String, union: bool, member: String, size: u64, bit: u8 },
    /// The offset of field `field` (of `size` bytes) in the record of tracepoint
    /// `category:event`.
    TracepointField { category: String, event: String, field: String, size: u64 },
    /// The address of kernel symbol `name` (`kaddr`): KASLR moves it at every boot.
    KernelSymbol { name: String },
    /// The id of the cgroup at `path` (`cgroupid`): its inode number in cgroupfs.
    CgroupId { path: String },
    /// The vmlinux BTF id of kernel variable `name` (`percpu_kaddr`).
    KernelVariable { name: String },
    /// The vmlinux BTF id of kernel function `name`, a kfunc the program calls (`comm(pid)`):
    /// the loader makes the call to the undefined function named after the fact a kfunc call
    /// of that id.
    KernelFunction { name: String },
    /// Which build the binary at `path` is (uprobes and USDT probes in it are at file offsets
    /// of that build): a hash of its ELF build id (`runtime::uprobe_target::identity`).
    Binary { path: String },
}

/// The undefined symbol whose `ld_imm64` is relocated to fact `index`'s value.
pub fn fact_symbol(index: usize) -> String {
    format!("{FACT_PREFIX}{index}")
}

pub const FACT_PREFIX: &str = "rt_core_";

impl std::fmt::Display for FactKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactKind::MemberOffset { record, union, member, .. } => write!(f, "{} {record}'s member `{member}`", if *union { "union" } else { "struct" }),
            FactKind::TracepointField { category, event, field, .. } => write!(f, "tracepoint {category}:{event}'s field `{field}`"),
            FactKind::KernelSymbol { name } => write!(f, "kernel symbol `{name}`"),
            FactKind::CgroupId { path } => write!(f, "cgroup `{path}`"),
            FactKind::Binary { path } => write!(f, "the build of {path}"),
            FactKind::KernelVariable { name } => write!(f, "kernel variable `{name}`"),
            FactKind::KernelFunction { name } => write!(f, "kernel function `{name}`"),
        }
    }
}
