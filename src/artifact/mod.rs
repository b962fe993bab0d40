//! The compiled script: what codegen hands the runtime, the whole contract between them. The
//! BPF object and everything needed to run it and to decode what it produces: programs and
//! their attach points, map layouts and what each holds, printf formats, the value types
//! events carry. Pure data (serde); the runtime reads nothing else of the compiler, and a
//! build without the compiler (`rtrace-run`) has this module and not `parser`, `sema` or
//! `codegen`. `file` is its on-disk form (`rtrace build`, the compile cache).

mod facts;
pub mod file;
pub mod types;
mod values;

pub use facts::{fact_symbol, Fact, FactKind, FACT_PREFIX};

pub use types::Type;
pub use values::{MapValue, MissingProbes, PrintfAction, SkbOutput, TsAgg, DEFAULT_MAP_KEYS, JOIN_ARGS, STR_LEN};

use crate::printf::Format;
use crate::span::Span;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BpfArtifact {
    /// An ELF relocatable object for the BPF target.
    pub object: Vec<u8>,
    pub meta: RuntimeMeta,
    /// The optimised LLVM IR, when asked for (`--emit llvm-ir`).
    pub llvm_ir: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuntimeMeta {
    pub programs: Vec<ProgramMeta>,
    /// Attach points as the user counts them (a fused program covers many).
    pub probe_count: usize,
    /// User maps, indexed like `hir::Program::maps`.
    pub maps: Vec<MapMeta>,
    pub printfs: Vec<PrintfMeta>,
    /// `strftime` formats, indexed by `Type::Timestamp`.
    pub strftimes: Vec<String>,
    /// `skboutput` call sites, indexed by the site number of each packet's header.
    pub skb_outputs: Vec<SkbOutput>,
    /// For each `globmatch` pattern, the 256 words of its byte table (`sema::glob::accept_table`),
    /// which userspace writes into `GLOB_MAP` before anything runs.
    pub glob_tables: Vec<Vec<u64>>,
    /// Data pages of each CPU's `skboutput` perf buffer (a power of two).
    pub perf_rb_pages: usize,
    /// What an attach point the kernel refuses does (config `missing_probes`).
    pub missing_probes: MissingProbes,
    /// Whether the maps are printed when the trace ends (config `print_maps_on_exit`).
    pub print_maps_on_exit: bool,
    /// The most bytes `cat` prints of a file (config `max_cat_bytes`).
    pub max_cat_bytes: u64,
    /// What follows a string that filled its buffer (config `str_trunc_trailer`).
    pub str_trunc_trailer: String,
    /// Whether user stack frames show source file and line and inlined functions (config
    /// `show_debug_info`).
    #[serde(default = "yes")]
    pub show_debug_info: bool,
    /// What the program assumed about the kernel, checked (and relocated) at load: see
    /// `facts`. Fact N is the value of undefined symbol `rt_core_N`.
    #[serde(default)]
    pub facts: Vec<Fact>,
    /// Kernel features the script needs (`features::Feature` keys), asked of the running
    /// kernel at load, so a kernel without one is told which, not shown a verifier log.
    #[serde(default)]
    pub features: Vec<String>,
}

fn yes() -> bool {
    true
}

/// One BPF program: one attach point of one probe.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProgramMeta {
    /// The ELF function name (and the BPF program name, truncated to 15 bytes).
    pub function: String,
    pub attach: Attach,
    /// What `probe` prints, e.g. `tracepoint:syscalls:sys_enter_openat`.
    pub probe_name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Attach {
    /// Run once with BPF_PROG_TEST_RUN before anything is attached.
    Begin,
    /// Run once with BPF_PROG_TEST_RUN after everything is detached.
    End,
    /// Run with BPF_PROG_TEST_RUN each time rtrace receives `signal` while tracing.
    Signal { signal: u32 },
    /// `bench:NAME`: an XDP program (the program type whose test runs repeat and time it),
    /// run under `--bench` between BEGIN and END.
    Bench { name: String },
    Tracepoint {
        category: String,
        event: String,
    },
    Interval {
        period_ns: u64,
    },
    /// A raw tracepoint (`raw_tp`), e.g. `sys_enter` for fused syscall tracepoints.
    RawTracepoint {
        name: String,
    },
    /// A raw tracepoint loaded as a BTF-typed tracing program (`tp_btf`), by the BTF id of
    /// its `btf_trace_NAME` typedef: its pointer arguments are kernel objects the verifier
    /// trusts, which `skboutput` and `socket_cookie` need.
    BtfRawTracepoint {
        name: String,
        btf_id: u32,
    },
    /// A kprobe (or kretprobe) on a kernel function plus offset.
    Kprobe {
        function: String,
        offset: u64,
        ret: bool,
    },
    /// Kprobes (or kretprobes) on several kernel functions, one kprobe_multi link: the
    /// attach cookie of `functions[i]` is `i`.
    KprobeMulti {
        functions: Vec<String>,
        ret: bool,
    },
    /// Uprobes (or uretprobes) at several file offsets of one binary, one uprobe_multi link:
    /// the attach cookie of `offsets[i]` is `i`.
    UprobeMulti {
        path: String,
        offsets: Vec<u64>,
        ret: bool,
    },
    /// fentry (or fexit) on a kernel function: a BPF trampoline, by the function's BTF id.
    Fentry {
        function: String,
        btf_id: u32,
        ret: bool,
    },
    /// A uprobe (or uretprobe) at a file offset of a binary, for every process. USDT probes
    /// are uprobes that may have a semaphore: the file offset of a u16 the kernel increments
    /// in every process while the uprobe is attached.
    Uprobe {
        path: String,
        offset: u64,
        ret: bool,
        semaphore: Option<u64>,
    },
    /// A BPF iterator over kernel objects (`bpf_iter_TARGET`, by BTF id): a link, and an
    /// iterator fd that userspace reads to the end.
    Iter {
        target: String,
        btf_id: u32,
    },
    /// A hardware breakpoint in the traced process.
    Watchpoint {
        addr: u64,
        len: u8,
        mode: u8,
    },
    /// A hardware breakpoint armed while tracing, at the address a `watchpoint:FUNC+argN`
    /// uprobe reports (a `Watch` event carrying `id`): nothing is attached at start.
    ArmedWatchpoint {
        id: u32,
        len: u8,
        mode: u8,
    },
    /// A perf event on every online CPU (profile, software, hardware).
    PerfEvent {
        perf_type: u32,
        config: u64,
        period: u64,
        frequency: bool,
    },
}

impl Attach {
    /// How many functions (or places) this attaches to: the members of a multi-attach link,
    /// otherwise one. "Attached N probes" counts them, as bpftrace does.
    pub fn functions(&self) -> usize {
        match self {
            Attach::KprobeMulti { functions, .. } => functions.len(),
            Attach::UprobeMulti { offsets, .. } => offsets.len(),
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MapMeta {
    /// ELF symbol of the map definition.
    pub symbol: String,
    /// As the user wrote it, without `@`.
    pub name: String,
    pub keys: Vec<Type>,
    /// What the script calls each key part (`hir::MapDecl::key_names`), empty where it
    /// names none; `--metrics` labels.
    #[serde(default)]
    pub key_names: Vec<String>,
    pub value: MapValue,
    pub layout: MapLayout,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapLayout {
    pub key_size: usize,
    pub value_size: usize,
    pub percpu: bool,
    pub max_entries: u32,
    /// A per-CPU array indexed by hist bucket (or 0), instead of a hash: see `maps::layout`.
    /// Its values end with a `present` word, which marks the elements a hash would have.
    pub array: bool,
}

/// The BPF stack's size, in bytes: before Linux 5.11 also the largest hash map key.
pub const BPF_STACK_BYTES: usize = 512;

/// Bytes a key part or stored value takes: 8-aligned so every field is naturally aligned.
pub fn slot_size(ty: Type) -> usize {
    ty.size().div_ceil(8) * 8
}

/// Offsets of each key part; hist maps append the bucket index as a last 8-byte part.
pub fn key_offsets(decl_keys: &[Type]) -> Vec<usize> {
    let mut at = 0;
    decl_keys
        .iter()
        .map(|k| {
            let here = at;
            at += slot_size(*k);
            here
        })
        .collect()
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PrintfMeta {
    pub format: Format,
    /// Offset in the event (after the 8-byte header) and type of each argument.
    pub args: Vec<(usize, Type)>,
    pub action: PrintfAction,
}

/// Every ring buffer record starts with this 8-byte header: kind in the low 32 bits, the
/// printf or map id in the high 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u32)]
pub enum EventKind {
    Exit = 0,
    Printf = 1,
    Print = 2,
    Clear = 3,
    Zero = 4,
    /// `watchpoint:FUNC+argN` reached FUNC: arm watchpoint `id` at the address word 1, in
    /// the process of word 2's low half; its high half is 1 when that process is stopped.
    Watch = 5,
    /// `unwatch(addr)`: remove the watchpoints at the address in word 1.
    Unwatch = 6,
}

impl EventKind {
    pub fn from_u32(v: u32) -> Option<EventKind> {
        Some(match v {
            0 => EventKind::Exit,
            1 => EventKind::Printf,
            2 => EventKind::Print,
            3 => EventKind::Clear,
            4 => EventKind::Zero,
            5 => EventKind::Watch,
            6 => EventKind::Unwatch,
            _ => return None,
        })
    }
}

/// Undefined globals named this plus a vmlinux BTF id are kernel variables (`percpu_kaddr`):
/// the loader points their `ld_imm64` at the variable.
pub const KSYM_PREFIX: &str = "rt_ksym_";

/// Names of the maps every program has.
pub const EVENTS_MAP: &str = "rt_events";
/// Per-CPU counters: see `Counter`.
pub const COUNTERS_MAP: &str = "rt_counters";
/// Values userspace writes before BEGIN runs, one u64 per `Global` slot.
pub const GLOBALS_MAP: &str = "rt_globals";
/// The stack trace map `kstack`/`ustack` ids point into; only programs that take stacks have it.
pub const STACKS_MAP: &str = "rt_stacks";
/// The perf event array of `skboutput` packets; only programs that call it have it.
pub const SKB_MAP: &str = "rt_skb";
/// `globmatch` byte tables: element `256 * pattern + byte`, a u64 of token bits; only
/// programs that call it have it.
pub const GLOB_MAP: &str = "rt_glob";
/// Bytes of the header before each `skboutput` packet: call site (u32) and captured length
/// (u32), CLOCK_BOOTTIME (u64), the packet's length (u64). runtime/pcap.rs reads it.
pub const SKB_HEADER: usize = 24;
/// Distinct stacks the stack map holds.
pub const STACKS_MAX: u32 = 4096;

/// Slots of `GLOBALS_MAP`.
#[derive(Debug, Clone, Copy)]
pub enum Global {
    /// The CLOCK_MONOTONIC time `elapsed` counts from.
    StartNs = 0,
    /// The pid of the `-c` command (`cpid`), 0 without one.
    Cpid = 1,
    /// `-p PID`: probes other than BEGIN/END only run for this process (compiled in when
    /// `codegen::Options::filter_pid` is set).
    FilterPid = 2,
    /// The number of online CPUs (`ncpus`).
    Ncpus = 3,
    /// CLOCK_TAI minus CLOCK_BOOTTIME at start (`nsecs(sw_tai)`).
    BootToTai = 4,
    /// Set by `exit()`: no probe but END runs after it (see `Lower::probe_code`).
    Exited = 5,
}
pub const GLOBAL_SLOTS: u32 = 6;

/// Slots of `COUNTERS_MAP`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub enum Counter {
    /// Events the ring buffer had no room for.
    LostEvents = 0,
    /// Map updates the kernel refused (map full).
    FailedMapUpdates = 1,
    /// Reads of memory the script asked for that failed (`bpf_probe_read_*` of a bad or
    /// paged-out address): the value reads as zeros or an empty string.
    FailedReads = 2,
    /// Stacks `bpf_get_stackid` could not store: the stack map was full, or another stack
    /// held the slot the stack hashed to. The stack prints empty.
    LostStacks = 3,
    /// Divisions and modulos by 0 (their result is 1, as in bpftrace).
    DividedByZero = 4,
}
pub const COUNTER_SLOTS: u32 = 5;

/// Ring buffer size in bytes for scripts that stream printf events. The kernel maps the whole
/// ring into the reader up front (twice, for wrap-around), so it counts fully in rtrace's RSS.
pub const EVENTS_BYTES: u32 = 1 << 22;
/// Ring buffer size for scripts whose only events are exit(), print(), clear() and zero().
pub const CONTROL_EVENTS_BYTES: u32 = 1 << 16;
/// Keys per map, bpftrace's default `max_map_keys`.
pub const MAX_MAP_KEYS: u32 = DEFAULT_MAP_KEYS;
