//! The language's vocabulary in one place: every probe type, builtin and function, with its
//! signature and what it does. Sema reads these tables to know the names (a function
//! missing here is an unknown function, whatever its checker does), and `docs/probes.md`,
//! `docs/builtins.md`, `docs/functions.md` and the editor grammar are generated from them
//! (`docs.rs`), so the reference cannot drift from the compiler: `cargo test` fails while
//! the checked-in pages differ from what the tables give (`make docs` rewrites them).

pub mod docs;
#[cfg(test)]
mod tests;

/// How a function may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncKind {
    /// Only as a map's value: `@m[k] = count()`.
    Aggregation,
    /// Only as a statement: `printf(...)`.
    Statement,
    /// Anywhere an expression may be.
    Value,
    /// Folded to a constant when the script compiles (about a type, or the kernel).
    Introspection,
}

impl FuncKind {
    pub const ALL: [FuncKind; 4] = [FuncKind::Aggregation, FuncKind::Statement, FuncKind::Value, FuncKind::Introspection];

    pub fn title(self) -> &'static str {
        match self {
            FuncKind::Aggregation => "Aggregations (map values only: `@m[k] = count()`)",
            FuncKind::Statement => "Statements",
            FuncKind::Value => "Functions with a value",
            FuncKind::Introspection => "Compile-time introspection (folded to constants)",
        }
    }
}

pub struct Function {
    pub name: &'static str,
    pub kind: FuncKind,
    /// The call as written, optional arguments in brackets.
    pub signature: &'static str,
    pub doc: &'static str,
    /// Changes the system: refused without `--unsafe`.
    pub unsafe_only: bool,
}

const fn f(name: &'static str, kind: FuncKind, signature: &'static str, doc: &'static str) -> Function {
    Function { name, kind, signature, doc, unsafe_only: false }
}

const fn unsafe_f(name: &'static str, signature: &'static str, doc: &'static str) -> Function {
    Function { name, kind: FuncKind::Statement, signature, doc, unsafe_only: true }
}

const fn unsafe_v(name: &'static str, signature: &'static str, doc: &'static str) -> Function {
    Function { name, kind: FuncKind::Value, signature, doc, unsafe_only: true }
}

use FuncKind::{Aggregation as A, Introspection as I, Statement as S, Value as V};

pub const FUNCTIONS: &[Function] = &[
    f("count", A, "count()", "How many times the entry was updated."),
    f("sum", A, "sum(n)", "The sum of the values."),
    f("avg", A, "avg(n)", "The average of the values (integer division)."),
    f("min", A, "min(n)", "The smallest value."),
    f("max", A, "max(n)", "The largest value."),
    f("stats", A, "stats(n)", "Count, average and total, printed as a record."),
    f("hist", A, "hist(n[, k])", "A power-of-two histogram; `k` (0 to 5) splits each power of two into 2^k buckets."),
    f("lhist", A, "lhist(n, min, max, step)", "A linear histogram from `min` to `max` in buckets of `step`."),
    f("tseries", A, "tseries(n, interval, intervals[, agg])", "A time series: the last `intervals` intervals of `interval` each (a duration), one value per interval: the last stored, or `agg` (`avg`, `sum`, `min`, `max`) of them. Unstable, as in bpftrace (config `unstable_tseries`)."),
    f("printf", S, "printf(fmt, ...)", "Print formatted, as C's printf (`%d %u %x %s %p %c`, widths, C's lengths; `%r`, `%rx`, `%rh` for buffers)."),
    f("print", S, "print(@m[, top[, div]]) | print(value)", "Print a map as the exit dump does (the `top` entries, values divided by `div`), or any value."),
    f("clear", S, "clear(@m)", "Delete every entry of a map."),
    f("zero", S, "zero(@m)", "Set every value of a map to zero."),
    f("delete", S, "delete(@m, key) | delete(@m[key])", "Delete an entry; its value is whether the key was there."),
    f("exit", S, "exit([status])", "End the trace (END runs, maps print); the first exit's status is rtrace's."),
    f("cat", S, "cat(fmt, ...)", "Print the contents of the file the format names."),
    f("time", S, "time([fmt])", "Print the wall-clock time, formatted as strftime does (default `%H:%M:%S\\n`)."),
    f("join", S, "join(argv[, sep])", "Print the strings of a NULL-terminated `char *[]` (as execve's argv), separated by `sep` (default a space)."),
    f("unwatch", S, "unwatch(addr)", "Remove the watchpoints at `addr`."),
    f("errorf", S, "errorf(fmt, ...)", "Print an error with the call's location to stderr."),
    f("warnf", S, "warnf(fmt, ...)", "Print a warning with the call's location to stderr."),
    f("debugf", S, "debugf(fmt, ...)", "Print to the kernel's trace pipe (`bpf_trace_printk`; at most 3 arguments)."),
    f("assert", S, "assert(cond, msg)", "When `cond` is false, report `msg` with the location and exit with status 1."),
    f("static_assert", S, "static_assert(cond, msg)", "A compile-time error where `cond` (a constant) is false."),
    f("fail", S, "fail(fmt, ...)", "A compile-time error, where reached (with a constant `if`, in macros)."),
    unsafe_f("system", "system(fmt, ...)", "Run a shell command (`--unsafe`)."),
    unsafe_f("signal", "signal(sig)", "Send a signal (name or number) to the current process (`--unsafe`)."),
    unsafe_f("signal_thread", "signal_thread(sig)", "Send a signal to the current thread only (`--unsafe`)."),
    unsafe_f("override", "override(rc)", "Make the probed kernel function return `rc` (kprobes on the error-injection list; `--unsafe`)."),
    unsafe_v("write_user", "write_user(dst, src, len)", "Write `len` bytes of `src` (a string, buffer or integer the probe holds) to user address `dst` of the current process; true on success (`--unsafe`)."),
    f("str", V, "str(p[, n])", "The NUL-terminated string at `p` (at most `n` bytes, default `max_strlen`)."),
    f("sizeof", V, "sizeof(type) | sizeof(expr)", "The size in bytes of a type or of an expression's type."),
    f("kstack", V, "kstack([mode][, limit])", "The kernel stack (`bpftrace`, `perf` or `raw` mode; at most `limit` frames), symbolized when printed."),
    f("ustack", V, "ustack([mode][, limit])", "The user stack, symbolized in the traced process when printed."),
    f("ksym", V, "ksym(addr)", "A kernel address, printed as its symbol."),
    f("usym", V, "usym(addr)", "A user address, printed as its symbol in the traced process."),
    f("kaddr", V, "kaddr(\"symbol\")", "The address of a kernel symbol (resolved when the script compiles)."),
    f("uaddr", V, "uaddr(\"symbol\")", "The address of a symbol of the probed binary."),
    f("percpu_kaddr", V, "percpu_kaddr(\"name\"[, cpu])", "The address of a per-CPU kernel variable on this CPU, or on `cpu`."),
    f("strncmp", V, "strncmp(a, b, n)", "Compare at most `n` bytes of two strings: 0 if equal."),
    f("has_key", V, "has_key(@m, key) | has_key(@m[key])", "Whether the map has the key."),
    f("len", V, "len(@m) | len(ustack) | len(kstack)", "How many keys a map has, or frames a stack."),
    f("find", V, "find(@m, key, $v)", "Whether the key is there; if so its value is stored in `$v`."),
    f("uptr", V, "uptr(p)", "Read `p` as a pointer into user memory."),
    f("kptr", V, "kptr(p)", "Read `p` as a pointer into kernel memory."),
    f("cgroupid", V, "cgroupid(\"path\")", "The id of the cgroup at `path` (resolved when the script compiles)."),
    f("cgroup_path", V, "cgroup_path(id)", "The cgroup with this id, printed as its paths (`unified:/user.slice`)."),
    f("strftime", V, "strftime(fmt, nsecs)", "A time in nanoseconds, printed as strftime formats it (`%f`: microseconds)."),
    f("ntop", V, "ntop([af, ]addr)", "An IPv4 or IPv6 address, printed as text."),
    f("pton", V, "pton(\"addr\")", "An IPv4 or IPv6 address from text (converted when the script compiles)."),
    f("macaddr", V, "macaddr(addr)", "Six bytes, printed as a MAC address."),
    f("buf", V, "buf(p, n) | buf(array)", "`n` bytes at `p` (or an array), printed escaped (`\\x00`)."),
    f("strlen", V, "strlen(s)", "The length of a string."),
    f("strcontains", V, "strcontains(haystack, needle)", "Whether `needle` occurs in `haystack`."),
    f("strstr", V, "strstr(haystack, needle)", "Where `needle` first occurs in `haystack`, or -1."),
    f("str_concat", V, "str_concat(a, b)", "The two strings, one after the other."),
    f("memcmp", V, "memcmp(a, b, n)", "Compare `n` bytes of two strings or buffers: 0 if equal."),
    f("globmatch", V, "globmatch(s, \"pattern\")", "Whether the whole string matches a glob (`?`, `*`, `[a-z]`, `[!abc]`)."),
    f("bswap", V, "bswap(n)", "The integer with its bytes reversed."),
    f("strerror", V, "strerror(errno)", "An errno value, printed as its message."),
    f("syscall_name", V, "syscall_name(nr)", "A syscall number, printed as its name (x86_64)."),
    f("signal_name", V, "signal_name(n)", "A signal number, printed as strsignal(3) describes it (`Interrupt`)."),
    f("is_err", V, "is_err(p)", "Whether a kernel pointer is an error value (the kernel's IS_ERR())."),
    f("reg", V, "reg(\"name\")", "A register of the probed context (`ip`, `sp`, `di`...)."),
    f("path", V, "path(p[, size])", "A `struct path`, printed as its file name (iterators and some fentry functions)."),
    f("skboutput", V, "skboutput(\"file\", skb, len, offset)", "Append a packet to a pcap file (fentry/fexit on an `struct sk_buff *` argument)."),
    f("getopt", V, "getopt(\"name\"[, default[, \"description\"]])", "The value of `--name[=value]` given after `--` on the command line."),
    f("socket_cookie", V, "socket_cookie(sk)", "The socket's cookie (a socket pointer the verifier trusts)."),
    f("container_of", V, "container_of(ptr, typeof(type), member)", "The `type *` whose `member` is at `ptr`."),
    f("ppid", V, "ppid([task])", "The parent's process id (of the current task, or of `task`)."),
    f("pcomm", V, "pcomm([task])", "The parent's command name."),
    f("leader_comm", V, "leader_comm([task])", "The thread group leader's command name."),
    f("leader_tid", V, "leader_tid([task])", "The thread group leader's thread id."),
    f("is_str", I, "is_str(expr)", "Whether the expression is a string."),
    f("is_integer", I, "is_integer(expr)", "Whether it is an integer."),
    f("is_unsigned_integer", I, "is_unsigned_integer(expr)", "Whether it is an unsigned integer."),
    f("is_ptr", I, "is_ptr(expr)", "Whether it is a pointer."),
    f("is_array", I, "is_array(expr)", "Whether it is an array (a char array reads as a string)."),
    f("is_literal", I, "is_literal(expr)", "Whether it is a literal."),
    f("strcap", I, "strcap(expr)", "The size of a string's buffer."),
    f("assert_str", I, "assert_str(expr)", "A compile-time error unless the expression is a string."),
    f("default_str_length", I, "default_str_length()", "The `max_strlen` in effect."),
    f("kfunc_exist", I, "kfunc_exist(\"name\")", "Whether the kernel's BTF has the function."),
    f("kfunc_allowed", I, "kfunc_allowed(\"name\")", "Whether rtrace may call the kfunc (always false: it calls none)."),
];

/// The function named `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Whether `name` is a function of this kind.
pub fn is(name: &str, kind: FuncKind) -> bool {
    function(name).is_some_and(|f| f.kind == kind)
}

/// A builtin variable.
pub struct Builtin {
    /// The name; `argN` and `sargN` stand for a family (`arg0`, `arg1`...).
    pub name: &'static str,
    pub ty: &'static str,
    /// The probes it is defined in, when not all.
    pub probes: &'static str,
    pub doc: &'static str,
}

const fn b(name: &'static str, ty: &'static str, probes: &'static str, doc: &'static str) -> Builtin {
    Builtin { name, ty, probes, doc }
}

pub const BUILTINS: &[Builtin] = &[
    b("pid", "uint32", "", "The process id (as rtrace's pid namespace sees it); also `pid(curr_ns)`, `pid(init)`."),
    b("tid", "uint32", "", "The thread id; also `tid(curr_ns)`, `tid(init)`."),
    b("uid", "uint32", "", "The user id."),
    b("gid", "uint32", "", "The group id."),
    b("username", "string", "", "The user id, printed as the user's name."),
    b("nsecs", "uint64", "", "Nanoseconds, monotonic clock; `nsecs(boot)`, `nsecs(tai)`, `nsecs(sw_tai)` for the others."),
    b("elapsed", "uint64", "", "Nanoseconds since rtrace started tracing."),
    b("jiffies", "uint64", "", "The kernel's jiffies."),
    b("cpu", "uint32", "", "The CPU the probe runs on."),
    b("ncpus", "uint64", "", "How many CPUs are online."),
    b("numaid", "uint32", "", "The NUMA node the probe runs on."),
    b("comm", "string[16]", "", "The current thread's command name; `comm(pid)` that of process `pid` (fentry/fexit, iter, rawtracepoint probes)."),
    b("pcomm", "string[16]", "", "The parent's command name."),
    b("ppid", "int32", "", "The parent's process id."),
    b("leader_comm", "string[16]", "", "The thread group leader's command name."),
    b("leader_tid", "int32", "", "The thread group leader's thread id."),
    b("curtask", "struct task_struct *", "", "The current task."),
    b("cgroup", "uint64", "", "The current cgroup's id."),
    b("rand", "uint32", "", "A random number."),
    b("probe", "string", "", "The full name of the probe that fired (`tracepoint:syscalls:sys_enter_openat`)."),
    b("probetype", "string", "", "The probe's provider (`tracepoint`, `kprobe`...; `special` for BEGIN and END)."),
    b("func", "string or ksym", "kprobe, uprobe, fentry", "The traced function (in kprobes and fentry its address, printed as its name)."),
    b("args", "struct", "tracepoint, rawtracepoint, fentry", "The probe's arguments by name: `args.filename`."),
    b("argN", "uint64", "rawtracepoint (12), kprobe and uprobe (6), fentry, usdt", "The Nth argument: `arg0`, `arg1`..."),
    b("sargN", "uint64", "kprobe, uprobe", "The Nth argument passed on the stack."),
    b("retval", "uint64 or typed", "kretprobe, uretprobe, fexit", "The function's return value."),
    b("ctx", "struct bpf_iter__TARGET *", "iter", "The iterator's context: `ctx->task`."),
    b("kstack", "kstack", "", "The kernel stack (also a function: `kstack(perf, 10)`)."),
    b("ustack", "ustack", "", "The user stack (also a function)."),
    b("usermode", "uint8", "kprobe, uprobe, usdt, perf events", "1 if the probe fired in user mode."),
    b("cpid", "uint32", "", "The pid of the command `-c` started (0 without one)."),
    b("has_cpid", "bool", "", "Whether `-c` started a command."),
    b("config", "record", "", "The settings in effect (`config.max_strlen`)."),
];

/// A probe type: its names (the first canonical), how an attach point is written, and what
/// it does.
pub struct Provider {
    pub names: &'static [&'static str],
    pub syntax: &'static str,
    pub doc: &'static str,
}

const fn p(names: &'static [&'static str], syntax: &'static str, doc: &'static str) -> Provider {
    Provider { names, syntax, doc }
}

pub const PROVIDERS: &[Provider] = &[
    p(&["BEGIN", "begin"], "BEGIN", "Once, before any other probe fires."),
    p(&["END", "end"], "END", "Once, when the trace ends (Ctrl-C, `exit()`, `-c`'s command exits)."),
    p(&["self"], "self:signal:SIGUSR1", "Each time rtrace receives SIGUSR1."),
    p(&["bench"], "bench:NAME", "A benchmark: with `--bench` (`--mode bench`), rtrace times the probe's body in the kernel and prints the table; otherwise it never runs."),
    p(&["tracepoint", "t"], "tracepoint:CATEGORY:EVENT", "A kernel tracepoint; `args.FIELD` are its fields. Wildcards in both parts."),
    p(&["rawtracepoint", "rt"], "rawtracepoint:EVENT", "A tracepoint's raw arguments: `arg0`.., or `args.NAME` typed from BTF."),
    p(&["kprobe", "k"], "kprobe:[MODULE:]FUNCTION[+OFFSET]", "Entry to a kernel function; `arg0`..`arg5`. Wildcards."),
    p(&["kretprobe", "kr"], "kretprobe:[MODULE:]FUNCTION", "Return from a kernel function; `retval`."),
    p(&["fentry", "f", "kfunc"], "fentry:[MODULE:]FUNCTION", "Entry to a kernel function through BTF: `args.NAME` typed."),
    p(&["fexit", "fr", "kretfunc"], "fexit:[MODULE:]FUNCTION", "Return from a kernel function through BTF: typed `args` and `retval`."),
    p(&["uprobe", "u"], "uprobe:BINARY:FUNCTION[+OFFSET] | uprobe:BINARY:ADDRESS", "Entry to a user function (a path, a name on PATH, or a library name such as `libc`); `arg0`..`arg5`."),
    p(&["uretprobe", "ur"], "uretprobe:BINARY:FUNCTION", "Return from a user function; `retval`."),
    p(&["usdt", "U"], "usdt:BINARY:[PROVIDER:]NAME", "A user statically-defined tracepoint; `arg0`..`argN` from its ELF note."),
    p(&["interval", "i"], "interval:UNIT:N", "Every N units (`s`, `ms`, `us`, `hz`), on one CPU."),
    p(&["profile", "p"], "profile:UNIT:N", "Every N units (`hz`, `s`, `ms`, `us`), on every CPU."),
    p(&["software", "s"], "software:EVENT[:COUNT]", "A software perf event (`cpu-clock`, `page-faults`, `context-switches`...), every COUNT occurrences."),
    p(&["hardware", "h"], "hardware:EVENT[:COUNT]", "A hardware perf event (`cpu-cycles`, `cache-misses`...), every COUNT occurrences."),
    p(&["watchpoint", "w"], "watchpoint:ADDRESS:LENGTH:MODE | watchpoint:FUNCTION+argN:LENGTH:MODE", "A hardware watchpoint on memory (`r`, `w`, `x` modes)."),
    p(&["asyncwatchpoint", "aw"], "asyncwatchpoint:FUNCTION+argN:LENGTH:MODE", "As `watchpoint` on an address a function receives, without stopping the process."),
    p(&["iter", "it"], "iter:TARGET", "A BPF iterator over kernel objects (`task`, `task_file`, `task_vma`...); `ctx` is typed. The trace ends when the pass does."),
];

/// The canonical name of a provider written `name` (an alias included).
pub fn provider(name: &str) -> Option<&'static str> {
    PROVIDERS.iter().find(|p| p.names.contains(&name)).map(|p| p.names[0])
}

/// Every name of every builtin that is one word (not the `argN` families).
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name).filter(|n| !n.ends_with('N'))
}
