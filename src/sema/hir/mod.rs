//! The typed program sema hands to codegen. Names are resolved to ids (maps, variables,
//! printf formats), every expression carries its type, attach points are parsed and checked
//! against the kernel. Nothing here refers back to the AST.

use crate::printf::Format;
use super::tracepoint_format::TracepointFormat;
use crate::artifact::types::Type;
pub use crate::artifact::{MapValue, MissingProbes, PrintfAction, SkbOutput, TsAgg, DEFAULT_MAP_KEYS, JOIN_ARGS, STR_LEN};
use crate::parser::ast::{BinOp, UnaryOp};
use crate::parser::Span;

mod builtin;
mod config;
pub use builtin::{Builtin, PROBE_NAME_LEN, PROBE_TYPE_LEN};
pub use config::{Config, Unstable, LEGACY_MAX_STRLEN, MAX_PACKET, MAX_PERF_RB_PAGES, PERF_RB_PAGES};

#[derive(Debug, Clone)]
pub struct Program {
    pub probes: Vec<Probe>,
    pub maps: Vec<MapDecl>,
    pub printfs: Vec<PrintfDecl>,
    /// Some probe takes a `kstack` or `ustack`: codegen adds the stack trace map.
    pub uses_stacks: bool,
    /// The formats of `strftime` calls, indexed by `Type::Timestamp`.
    pub strftimes: Vec<String>,
    /// `skboutput` call sites, indexed by `ExprKind::SkbOutput::site`.
    pub skb_outputs: Vec<SkbOutput>,
    /// `globmatch` patterns, indexed by `ExprKind::GlobMatch::glob`.
    pub globs: Vec<Vec<crate::sema::glob::Token>>,
    /// The named options `getopt` reads (`--name`).
    pub options: Vec<NamedOption>,
    pub config: Config,
    /// Attach points `missing_probes = warn` skipped, for the CLI to show as warnings.
    pub warnings: Vec<super::error::SemaError>,
    /// What the program assumes of the kernel (`artifact::facts`), indexed by `ExprKind::Fact`.
    pub facts: Vec<crate::artifact::Fact>,
    /// The kernel features the script's constructs need, each once.
    pub features: Vec<crate::features::Feature>,
    /// The scalar unsigned map `tseries` reads its time from instead of the clock
    /// (`BPFTRACE_DUMMY_TS_MAP`, bpftrace's hook for testing tseries deterministically).
    pub tseries_clock: Option<MapId>,
    /// The sites whose problems while tracing are reported where they happen, each by a
    /// `PrintfAction::SiteWarning` printf (`sema/check/sites.rs`): codegen finds them by the
    /// expression's span.
    pub site_warnings: Vec<(Span, SiteWarning, PrintfId)>,
}

/// A named option the script reads with `getopt("name", default, "description")`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedOption {
    pub name: String,
    /// Empty when the script gives none.
    pub description: String,
}

/// A problem an expression can meet while tracing, told at its source site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteWarning {
    /// `a / b` or `a % b` with `b` 0: the result is 1.
    DivideByZero,
    /// `x[i]` of a C array with `i` past its end.
    ArrayOutOfBounds,
    /// With `-k`: `@m[k]` read where `@m` has no `k` (the read is 0).
    MissingKey,
}

/// One printf call site: its format and the types of its arguments.
#[derive(Debug, Clone)]
pub struct PrintfDecl {
    pub format: Format,
    pub args: Vec<Type>,
    pub action: PrintfAction,
}

impl Program {
    /// Starts the format of each `errorf`/`warnf` with its location, as bpftrace prints it
    /// (`stdin:1:9-62: ERROR: `); `locate` turns a span into `file:line:column-column`.
    pub fn locate_messages(&mut self, locate: impl Fn(Span) -> String) {
        self.locate_messages_in_context(locate, |_| Vec::new());
    }

    /// `locate_messages`, and a `SiteWarning` also gets the lines `context` gives for its
    /// span (the source line and a `~` underline), each on a line of its own.
    pub fn locate_messages_in_context(&mut self, locate: impl Fn(Span) -> String, context: impl Fn(Span) -> Vec<String>) {
        use crate::printf::Segment;
        for p in &mut self.printfs {
            match p.action {
                PrintfAction::Message { error, at } => {
                    let label = format!("{}: {}: ", locate(at), if error { "ERROR" } else { "WARNING" });
                    p.format.segments.insert(0, Segment::Lit(label));
                }
                PrintfAction::SiteWarning { at } => {
                    p.format.segments.insert(0, Segment::Lit(format!("{}: WARNING: ", locate(at))));
                    p.format.segments.extend(context(at).into_iter().map(|l| Segment::Lit(format!("\n{l}"))));
                }
                _ => {}
            }
        }
    }

    /// The warning `kind` reports at the expression at `span`, if sema registered one.
    pub fn site_warning(&self, span: Span, kind: SiteWarning) -> Option<PrintfId> {
        self.site_warnings.iter().find(|(s, k, _)| *s == span && *k == kind).map(|(_, _, id)| *id)
    }
}

pub type MapId = usize;
pub type VarId = usize;
pub type PrintfId = usize;

#[derive(Debug, Clone)]
pub struct Probe {
    pub attach: Vec<AttachPoint>,
    pub predicate: Option<Expr>,
    pub body: Vec<Stmt>,
    /// Types of this probe's scratch variables, indexed by `VarId`.
    pub vars: Vec<Type>,
    /// The `args` fields the probe reads (codegen decides from them how `args` can be read).
    pub args_fields: std::collections::BTreeSet<String>,
    /// Attach points (indices into `attach`) attached together by one kprobe_multi or
    /// uprobe_multi link, each group one program (`sema/multi.rs`).
    pub multi: Vec<Vec<usize>>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct AttachPoint {
    pub kind: AttachKind,
    /// The canonical name `probe` evaluates to, e.g. `tracepoint:syscalls:sys_enter_openat`.
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum AttachKind {
    Begin,
    End,
    /// `self:signal:SIGUSR1`: run by rtrace each time it receives the signal.
    SelfSignal { signal: u32 },
    /// `bench:NAME`: run repeatedly with BPF_PROG_TEST_RUN under `--bench`, timed.
    Bench { name: String },
    Tracepoint {
        category: String,
        event: String,
        format: TracepointFormat,
    },
    Interval {
        period_ns: u64,
    },
    /// A raw tracepoint: its arguments are `arg0..argN` (the TP_PROTO arguments).
    RawTracepoint {
        name: String,
        /// Set when the probe hands a helper an argument as a pointer the verifier must
        /// trust: the BTF id of the `btf_trace_NAME` typedef, and the probe is loaded as a
        /// BTF-typed tracing program (`tp_btf`) instead of a raw_tp one.
        btf_id: Option<u32>,
    },
    /// A kprobe (`ret`: kretprobe) on a kernel function plus offset: `arg0..arg5`, `retval`.
    Kprobe {
        function: String,
        offset: u64,
        ret: bool,
        /// The function's address, what `func` is (a `ksym`); looked up only for probes
        /// that read `func`.
        address: Option<u64>,
    },
    /// fentry (`ret`: fexit) on a kernel function, by its BTF FUNC id: `args.NAME` and
    /// `retval` are typed from its prototype.
    Fentry {
        function: String,
        btf_id: u32,
        ret: bool,
        /// As for `Kprobe`.
        address: Option<u64>,
    },
    /// A uprobe (`ret`: uretprobe) at a file offset of a binary (`address` as a virtual
    /// address of the file): `arg0..arg5`, `retval`.
    Uprobe {
        path: String,
        offset: u64,
        address: u64,
        ret: bool,
    },
    /// A BPF iterator (`iter:task`): runs once per kernel object while userspace reads the
    /// iterator, then the trace ends. `ctx` points to `struct bpf_iter__TARGET`; `btf_id` is
    /// FUNC `bpf_iter_TARGET`.
    Iter {
        target: String,
        btf_id: u32,
    },
    /// A USDT probe site: a uprobe at its offset that bumps its semaphore while attached;
    /// `arg0..argN` are read from where its note says they are.
    Usdt {
        probe: super::UsdtProbe,
    },
    /// A hardware watchpoint on `len` bytes at `addr` of the `-p`/`-c` process; `mode` is
    /// HW_BREAKPOINT_R (1) | W (2), or X (4).
    Watchpoint {
        addr: u64,
        len: u8,
        mode: u8,
    },
    /// `watchpoint:FUNC+argN:LEN:MODE`: a uprobe on FUNC (at `offset` in `path`) sends the
    /// address in argN to userspace, which arms a watchpoint there in the traced process.
    /// `stop`: the uprobe stops the process (SIGSTOP) until the watchpoint is armed
    /// (`watchpoint`); `asyncwatchpoint` lets it run on.
    ArgWatchpoint {
        path: String,
        offset: u64,
        arg: u8,
        len: u8,
        mode: u8,
        stop: bool,
    },
    /// A perf event on every CPU: `profile` (a timer), `software` or `hardware`.
    PerfEvent {
        event: PerfEventKind,
        sample: PerfSample,
    },
}

impl AttachKind {
    /// BEGIN and END: run once by rtrace itself, not attached to an event.
    pub fn is_special(&self) -> bool {
        matches!(self, AttachKind::Begin | AttachKind::End)
    }
}

/// Which perf event: perf_event_attr's `type` and `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfEventKind {
    pub perf_type: u32,
    pub config: u64,
}

/// When the event fires: every `Period` events (nanoseconds for clocks), or `Frequency` times
/// a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerfSample {
    Period(u64),
    Frequency(u64),
}

#[derive(Debug, Clone)]
pub struct MapDecl {
    /// Without the `@`; empty for the anonymous map `@`.
    pub name: String,
    pub keys: Vec<Type>,
    /// What the script calls each key part, where it names it (`@x[comm, $fd]`: `comm`,
    /// `fd`); empty where it does not (`@x[1 + 2]`). As long as `keys`. Read by `--metrics`
    /// for its label names.
    pub key_names: Vec<String>,
    pub value: MapValue,
    /// Where the map's type was fixed, for diagnostics.
    pub span: Span,
    /// A probe deletes elements of it (`delete(@m...)` in BPF, not the userspace `clear`).
    pub deleted_in_probe: bool,
    /// `let @m = hash(N)` / `lruhash(N)`: its size, and whether old entries are evicted.
    pub declared: Option<Declared>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub max_entries: u32,
    pub lru: bool,
}

#[derive(Debug, Clone)]
pub enum Stmt {
    /// `@m[keys] = value`
    MapStore {
        map: MapId,
        keys: Vec<Expr>,
        value: Expr,
    },
    /// `@m[keys] = count()` and the other aggregations; `arg` is absent for count().
    MapAggregate {
        map: MapId,
        keys: Vec<Expr>,
        arg: Option<Expr>,
    },
    VarStore {
        var: VarId,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
    },
    /// `while (cond) body`; `step` runs after the body and on `continue` (a `for` increment).
    Loop {
        cond: Expr,
        body: Vec<Stmt>,
        step: Vec<Stmt>,
    },
    /// `for ($kv : @map) body`, lowered to a callback of `bpf_for_each_map_elem`: `var`
    /// holds `(key, value)`; `locals` are the body's own variables (and `var`), `captured`
    /// the probe's variables from before the loop that it reads or writes.
    ForMap {
        map: MapId,
        var: VarId,
        body: Vec<Stmt>,
        locals: std::ops::Range<VarId>,
        captured: Vec<VarId>,
    },
    /// `for ($i : start..end) body` whose bounds are known only at run time: a `bpf_loop`
    /// callback run `end - start` times (none when that is not positive), with `var` set to
    /// `start` plus the step's index; `locals` and `captured` as in `ForMap`. Constant bounds
    /// make a plain `Loop` instead.
    ForRange {
        var: VarId,
        start: Expr,
        end: Expr,
        body: Vec<Stmt>,
        locals: std::ops::Range<VarId>,
        captured: Vec<VarId>,
    },
    Break,
    Continue,
    /// Leaves the probe.
    Return,
    /// Statements in order (what `unroll` and `for` become).
    Block(Vec<Stmt>),
    Printf {
        format: PrintfId,
        args: Vec<Expr>,
    },
    /// `print(@m)`, `clear(@m)`, `zero(@m)`: done in userspace when the event arrives.
    MapCommand {
        command: MapCommand,
        map: MapId,
    },
    /// `exit([status])`: the status rtrace exits with.
    Exit(Expr),
    /// `unwatch(addr)`: userspace removes the watchpoints armed at `addr`.
    Unwatch(Expr),
    /// `debugf(fmt, args...)`: `bpf_trace_printk` to the kernel's trace buffer (at most 3
    /// integer or string arguments).
    Debugf {
        format: String,
        args: Vec<Expr>,
    },
    /// `join(argv, sep)`: reads the NULL-terminated array of user string pointers at `argv`.
    Join {
        format: PrintfId,
        argv: Expr,
    },
    /// `signal(sig)`: to the current process, or with `thread` (`signal_thread`) to the
    /// current thread only (needs `--unsafe`).
    Signal {
        sig: Expr,
        thread: bool,
    },
    /// `override(rc)`: the kprobed function returns `rc` instead of running (needs
    /// `--unsafe`).
    Override(Expr),
    Expr(Expr),
}

/// How many statements `stmts` holds, counting those inside blocks, branches and loops.
pub fn count_statements(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .map(|s| {
            1 + match s {
                Stmt::Block(b) => count_statements(b),
                Stmt::If { then, els, .. } => count_statements(then) + count_statements(els),
                Stmt::Loop { body, step, .. } => count_statements(body) + count_statements(step),
                Stmt::ForMap { body, .. } | Stmt::ForRange { body, .. } => count_statements(body),
                _ => 0,
            }
        })
        .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapCommand {
    /// `print(@m[, top[, div]])`: only the `top` largest entries (0: all), values divided by `div`.
    Print {
        top: u32,
        div: u32,
    },
    Clear,
    Zero,
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

impl Expr {
    /// The same value seen as `ty` (an address as a pointer, an integer as a `ksym`): codegen
    /// reads some kinds by their type, so the retyping is a `Cast` node of its own.
    pub fn retyped(self, ty: Type) -> Expr {
        if self.ty == ty {
            return self;
        }
        let span = self.span;
        Expr { kind: ExprKind::Cast(Box::new(self)), ty, span }
    }
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Int(u64),
    /// `index`, told as out of bounds at its site (`warn`, a `SiteWarning` printf) when it is
    /// `len` or more: a C array's index not known when the script compiles. The read goes
    /// ahead, as in bpftrace.
    BoundsChecked { index: Box<Expr>, len: u64, warn: PrintfId },
    /// The value of kernel fact N (`Program::facts`): a number the running kernel may change,
    /// such as a struct member's offset, relocated when the program is loaded.
    Fact(u32),
    Str(String),
    Builtin(Builtin),
    /// `args.NAME` of the tracepoint being compiled; codegen finds its offset per attach point.
    TracepointField(String),
    Var(VarId),
    MapRead {
        map: MapId,
        keys: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    /// Integer arithmetic, logic and comparison; string (in)equality when both sides are strings.
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        els: Box<Expr>,
    },
    /// An integer truncated to the width of `ty` and extended back by its signedness; for other
    /// types (pointers, `ksym`...) the same bits, retyped.
    Cast(Box<Expr>),
    /// The `ty`-sized value at address `addr` (an integer, a pointer, or a char array as a
    /// string), read from user memory if `user`.
    Load {
        addr: Box<Expr>,
        user: bool,
    },
    /// `x++`, `++x`, `x--`, `--x` on an integer variable or map entry (a missing entry is 0),
    /// which moves by `step`: 1, or a pointer's by the size of what it points at.
    Update {
        place: Place,
        op: BinOp,
        post: bool,
        step: u64,
    },
    /// `usym(addr)`: the address with the current pid.
    Usym(Box<Expr>),
    /// `ntop(af, addr)`: `addr` an integer (IPv4, in network order) or the address of 16 bytes.
    Ntop {
        af: Box<Expr>,
        addr: Box<Expr>,
        user: bool,
    },
    /// `buf(p, n)`: `n` bytes (at most the type's) read from `p`.
    ReadBuf {
        ptr: Box<Expr>,
        len: Box<Expr>,
        user: bool,
    },
    /// `(a, b, ...)`: elements stored as `ty`'s elements.
    Tuple(Vec<Expr>),
    /// `t.N`
    TupleField {
        tuple: Box<Expr>,
        index: usize,
    },
    /// Field `field` of a struct value (`Type::Struct`), read from its copy.
    StructField {
        base: Box<Expr>,
        field: usize,
    },
    /// `kstack`/`ustack`: the current stack's id in the stack trace map.
    Stack(crate::artifact::types::StackSpec),
    /// `str(ptr[, len])`: a NUL-terminated string read from memory into a `ty`-sized buffer,
    /// at most `len` bytes with its NUL when given (clamped to the buffer).
    ReadStr {
        ptr: Box<Expr>,
        len: Option<Box<Expr>>,
    },
    /// `strlen(s)`: bytes before the first NUL.
    StrLen(Box<Expr>),
    /// `bswap(x)`: the bytes of an integer of `ty`'s width reversed.
    Bswap(Box<Expr>),
    /// `strncmp(a, b, n)`: 0 when the strings agree in their first `n` bytes (up to a NUL).
    StrNcmp {
        a: Box<Expr>,
        b: Box<Expr>,
        n: usize,
    },
    /// `macaddr(addr)`: 6 bytes read from `addr` (or the bytes `addr` already holds).
    /// `percpu_kaddr("name" [, cpu])`: the address of per-CPU kernel variable `btf_id` (a
    /// vmlinux BTF VAR) on this CPU or on `cpu` (0 for a CPU that does not exist).
    PercpuAddr {
        btf_id: u32,
        cpu: Option<Box<Expr>>,
    },
    MacAddr {
        addr: Box<Expr>,
        user: bool,
    },
    /// `path(p)`: `bpf_d_path` of the `struct path` at `ptr`, into `len` bytes. `ptr` is a
    /// chain the verifier trusts (sema checked): the context, a function argument, pointer
    /// fields loaded from them, member offsets; codegen loads it directly, not with
    /// probe_read, and yields an empty string when a pointer on the way is NULL.
    DPath {
        ptr: Box<Expr>,
        len: usize,
    },
    /// `skboutput(...)`: `bpf_skb_output` of at most `len` bytes (and at most `skb_len`, the
    /// packet's length) of the sk_buff at `skb`, a pointer the verifier trusts (see `DPath`),
    /// with a header naming call site `site`.
    SkbOutput {
        site: u32,
        skb: Box<Expr>,
        len: Box<Expr>,
        skb_len: Box<Expr>,
    },
    /// `len(@m)`: the number of keys in the map.
    MapLen(MapId),
    /// `len(ustack)` / `len(kstack)`: the frames of the current stack, up to `limit`.
    StackLen {
        user: bool,
        limit: u8,
    },
    /// `globmatch(s, "pattern")`: 1 if the whole string matches the parsed pattern.
    GlobMatch {
        s: Box<Expr>,
        glob: u32,
    },
    /// `socket_cookie(sk)`: `sk` a socket pointer the verifier trusts (see `DPath`).
    SocketCookie(Box<Expr>),
    /// `&$var`: the address of the variable's storage.
    AddrOf(VarId),
    /// An integer's bytes as a value (an array cast, `(int8[8])x`): the buffer of its
    /// expression's type (`Type::Struct`, an array), the integer stored in it in the
    /// machine's order.
    Bytes(Box<Expr>),
    /// The integer at `offset` of a value held in a buffer (`pton("::1")[0]`, a byte; an
    /// array cast back, `(uint32)pton("1.2.3.4")`, of the expression's type's width).
    ByteAt {
        buf: Box<Expr>,
        offset: usize,
    },
    /// `s[i]` of a string whose index is known only at run time: byte `i` of its `len`, or
    /// 0 when `i` is `len` or more.
    ByteIndexed {
        buf: Box<Expr>,
        index: Box<Expr>,
        len: usize,
    },
    /// `strstr(haystack, needle)`: where `needle` first occurs in `haystack`, or -1; with
    /// `index` false, `strcontains`: 1 if it occurs.
    StrFind {
        haystack: Box<Expr>,
        needle: Box<Expr>,
        index: bool,
    },
    /// `memcmp(a, b, n)`: compares the first `n` bytes of two strings or buffers.
    MemCmp {
        a: Box<Expr>,
        b: Box<Expr>,
        n: Box<Expr>,
    },
    /// `comm(pid)`: the command name of process `pid` ("N/A" when there is none), through the
    /// kfuncs of facts `from_pid` (bpf_task_from_pid) and `release` (bpf_task_release), with
    /// the task's `comm` at byte `offset`.
    CommOfPid {
        pid: Box<Expr>,
        from_pid: u32,
        release: u32,
        offset: Box<Expr>,
    },
    /// `write_user(dst, src, len)`: `len` bytes of `src`'s value (clamped to its size) to
    /// user address `dst`; 1 when written.
    WriteUser {
        dst: Box<Expr>,
        src: Box<Expr>,
        len: Box<Expr>,
    },
    /// `str_concat(a, b)`: `a` up to its NUL, then `b`, in a string of the expression's type.
    StrConcat {
        a: Box<Expr>,
        b: Box<Expr>,
    },
    /// `{ stmts; value }`: the statements, then the value.
    Block {
        stmts: Vec<Stmt>,
        value: Box<Expr>,
    },
    /// `find(@m, k, $v)`: `found` (a `has_key`), and when it is true, `store` (`$v = @m[k]`).
    Find {
        found: Box<Expr>,
        store: Box<Stmt>,
    },
    /// `delete(@m, k...)`: removes the key; 1 if it was in the map.
    Delete {
        map: MapId,
        keys: Vec<Expr>,
    },
    /// `has_key(@m[k...])`: 1 if the key is in the map.
    HasKey {
        map: MapId,
        keys: Vec<Expr>,
    },
}

/// What `++`/`--` update.
#[derive(Debug, Clone)]
pub enum Place {
    Var(VarId),
    Map { map: MapId, keys: Vec<Expr> },
}

/// The largest string buffer (`max_strlen`, `str(p, n)`): what one per-CPU scratch value holds (E0303 names a value over it, a tuple or key of several).
pub const MAX_STR_LEN: usize = 32_768;
/// The longest string `strlen` measures straight-line (a compare per byte); a longer one is
/// walked by a bpf_loop callback (`codegen::strings`), which sema requires of the kernel.
pub const STRAIGHT_STRLEN_MAX: usize = 1024;
/// The longest string constant with its NUL: LLVM's BPF backend expands the stores that set
/// one up only to about 1 KiB.
pub const MAX_LITERAL_LEN: usize = 1024;
