//! Type and name errors, one variant per kind with the spans it points at, and their
//! rendering. Codes are stable: E02xx.

use codespan_reporting::diagnostic::Diagnostic;

use crate::diagnostics::{one_of, primary, secondary, Diag, ToDiagnostic};
use crate::parser::Span;
use crate::sema::hir::MAX_LITERAL_LEN;

#[derive(Debug, Clone, PartialEq)]
pub enum SemaError {
    UnknownProbeType {
        span: Span,
        provider: String,
        candidates: Vec<String>,
    },
    UnknownEvent {
        span: Span,
        name: String,
        candidates: Vec<String>,
    },
    KprobesUnavailable {
        span: Span,
        name: String,
        alternatives: Vec<String>,
    },
    UnknownKernelFunction {
        span: Span,
        name: String,
        candidates: Vec<String>,
        alternatives: Vec<String>,
    },
    ArgOutsideRawProbe {
        span: Span,
        name: String,
    },
    BadAttachPoint {
        span: Span,
        message: String,
        help: String,
    },
    /// An attach point that names nothing on this system (no such function, binary, probe):
    /// what config `missing_probes` may skip.
    MissingAttachPoint {
        span: Span,
        message: String,
        help: String,
    },
    /// `argN` of a USDT probe site that has no such argument, or one in an operand rtrace
    /// cannot read.
    UsdtArgument {
        span: Span,
        message: String,
    },
    /// A construct the running kernel cannot run: it lacks a feature (`rtrace --info`).
    /// `construct` is as the headline names it, code in backticks.
    KernelLacks {
        span: Span,
        construct: String,
        feature: crate::features::Feature,
    },
    /// What `for ($kv : @map)` cannot iterate, or what its body (a callback) cannot reach.
    MapLoop {
        span: Span,
        message: String,
        help: String,
    },
    /// No tracepoint can be read: tracefs is missing or unreadable to this user.
    NoTracefs {
        span: Span,
    },
    UnknownTracepoint {
        span: Span,
        name: String,
        candidates: Vec<String>,
    },
    UnknownIdentifier {
        span: Span,
        name: String,
        candidates: Vec<String>,
    },
    UnknownFunction {
        span: Span,
        name: String,
        candidates: Vec<String>,
    },
    WrongArgCount {
        span: Span,
        func: String,
        expected: String,
        found: usize,
    },
    TypeMismatch {
        span: Span,
        message: String,
        label: String,
    },
    MapTypeConflict {
        span: Span,
        map: String,
        first: Span,
        was: String,
        now: String,
    },
    UndefinedVariable {
        span: Span,
        name: String,
    },
    MapNeverAssigned {
        span: Span,
        map: String,
    },
    UnknownField {
        span: Span,
        field: String,
        tracepoint: String,
        candidates: Vec<String>,
    },
    ArgsOutsideTracepoint {
        span: Span,
    },
    PrintfFormat {
        span: Span,
        message: String,
    },
    AggregationNotAssigned {
        span: Span,
        func: String,
    },
    NotAValue {
        span: Span,
        what: String,
    },
    NotAConstant {
        span: Span,
        func: String,
    },
    VariableRedeclared {
        span: Span,
        name: String,
    },
    VariableOutOfScope {
        span: Span,
        name: String,
        declared: Span,
    },
    OutsideLoop {
        span: Span,
        what: String,
    },
    UnknownType {
        span: Span,
        name: String,
        candidates: Vec<String>,
    },
    /// `percpu_kaddr("name")` of a variable the kernel's BTF does not have.
    UnknownPercpuVariable {
        span: Span,
        name: String,
        candidates: Vec<String>,
    },
    UnknownMember {
        span: Span,
        field: String,
        ty: String,
        candidates: Vec<String>,
    },
    NoBtf {
        span: Span,
        what: String,
    },
    NeedsUnsafe {
        span: Span,
        func: String,
    },
    BadConfig {
        span: Span,
        message: String,
    },
    /// A feature bpftrace marks unstable, used while its `unstable_*` flag is `error`, or (a
    /// warning) `warn`.
    UnstableFeature {
        span: Span,
        feature: &'static str,
        flag: &'static str,
        refused: bool,
    },
    NoProbeMatchesFilter {
        filter: String,
    },
    BadEnvConfig {
        var: String,
        value: String,
        message: String,
    },
    BadMapDeclaration {
        span: Span,
        message: String,
    },
    MapDeclaredTwice {
        span: Span,
        first: Span,
        name: String,
    },
    /// `static_assert` or `fail` reached when the script compiles.
    CompileTimeFailure {
        span: Span,
        message: String,
    },
    BadMacro {
        span: Span,
        message: String,
        definition: Span,
    },
    /// `unroll` or macros would make more statements than `MAX_EXPANDED_STATEMENTS`.
    TooMuchCode {
        span: Span,
        /// What makes them: "`unroll` in this probe", "macros in this script".
        what: String,
        count: usize,
        limit: usize,
    },
    /// `$N` used as a number, given text that is not one.
    ParamNotANumber {
        span: Span,
        n: u32,
        value: String,
    },
    /// A string literal (or string parameter) longer than a string value can be.
    StringTooLong {
        span: Span,
        len: usize,
    },
    /// A C definition's member (or `sizeof`) of a struct, union or enum only declared, or
    /// of the struct being defined.
    IncompleteType {
        span: Span,
        name: String,
    },
    /// `struct Foo`, a typedef or an enumerator defined twice in the script.
    DefinedTwice {
        span: Span,
        first: Span,
        what: String,
    },
    /// A bit field wider than its type, or of a type that is not an integer.
    BadBitfield {
        span: Span,
        message: String,
    },
    /// An array length, bit width, alignment or enumerator value that is not a constant
    /// rtrace can compute.
    BadConstant {
        span: Span,
        message: String,
        label: String,
    },
    /// `(enum E)5` where no enumerator of `E` is 5.
    NotAnEnumerator {
        span: Span,
        value: i64,
        ty: String,
        enumerators: Vec<String>,
    },
}

impl SemaError {
    /// Whether this says an attach point does not exist here (rather than being written
    /// wrong): config `missing_probes` decides what happens then.
    /// An attach point `missing_probes = warn` skipped, as a warning.
    pub fn to_skipped_warning(&self) -> Diag {
        let mut d = self.to_diagnostic();
        d.severity = codespan_reporting::diagnostic::Severity::Warning;
        if self.is_missing_attach_point() {
            d.notes.push("skipped: config `missing_probes` is `warn`; the rest of the script runs".into());
        }
        d
    }

    pub fn is_missing_attach_point(&self) -> bool {
        use SemaError::*;
        match self {
            UnknownTracepoint { .. } | UnknownKernelFunction { .. } | KprobesUnavailable { .. } | MissingAttachPoint { .. } => true,
            UnknownEvent { name, .. } => name.starts_with("rawtracepoint:"),
            _ => false,
        }
    }
}

fn with_candidates(d: Diag, candidates: &[String]) -> Diag {
    if candidates.is_empty() {
        d
    } else {
        d.with_notes(vec![format!("help: did you mean {}?", one_of(candidates))])
    }
}

impl ToDiagnostic for SemaError {
    fn to_diagnostic(&self) -> Diag {
        use SemaError::*;
        let e = Diagnostic::error();
        match self {
            UnknownProbeType { span, provider, candidates } => with_candidates(
                e.with_code("E0201").with_message(format!("unknown probe type `{provider}`")).with_labels(vec![primary(*span, "no such probe type")]),
                candidates,
            ),
            BadAttachPoint { span, message, help } | MissingAttachPoint { span, message, help } => e
                .with_code("E0203")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "in this attach point")])
                .with_notes(vec![format!("help: {help}")]),
            NoTracefs { span } => e
                .with_code("E0251")
                .with_message("no tracepoint can be read here: tracefs (/sys/kernel/tracing) is not mounted or not readable by this user")
                .with_labels(vec![primary(*span, "needs the tracepoint's format from tracefs")])
                .with_notes(vec!["help: run as root (rtrace mounts tracefs when it is missing), or give this user read access to /sys/kernel/tracing".into()]),
            UnknownTracepoint { span, name, candidates } => with_candidates(
                e.with_code("E0204")
                    .with_message(format!("tracepoint `{name}` does not exist on this kernel"))
                    .with_labels(vec![primary(*span, "not in /sys/kernel/tracing/events")]),
                candidates,
            ),
            UnknownIdentifier { span, name, candidates } => with_candidates(
                e.with_code("E0205").with_message(format!("unknown identifier `{name}`")).with_labels(vec![primary(*span, "not a builtin")]),
                candidates,
            ),
            UnknownFunction { span, name, candidates } => with_candidates(
                e.with_code("E0206").with_message(format!("unknown function `{name}`")).with_labels(vec![primary(*span, "not a function rtrace knows")]),
                candidates,
            ),
            WrongArgCount { span, func, expected, found } => e
                .with_code("E0207")
                .with_message(format!("`{func}` takes {expected}"))
                .with_labels(vec![primary(
                    *span,
                    match found {
                        0 => "called with no arguments".to_string(),
                        1 => "called with 1 argument".to_string(),
                        n => format!("called with {n} arguments"),
                    },
                )]),
            TypeMismatch { span, message, label } => e.with_code("E0208").with_message(message.clone()).with_labels(vec![primary(*span, label)]),
            MapTypeConflict { span, map, first, was, now } => e
                .with_code("E0209")
                .with_message(format!("map `@{map}` is used with two different types"))
                .with_labels(vec![primary(*span, format!("used as {now} here")), secondary(*first, format!("first used as {was} here"))])
                .with_notes(vec!["help: a map holds one kind of value with one kind of key; use another map name".into()]),
            UndefinedVariable { span, name } => e
                .with_code("E0210")
                .with_message(format!("variable `${name}` is used before it is assigned"))
                .with_labels(vec![primary(*span, "not assigned in this probe")])
                .with_notes(vec!["help: scratch variables live for one probe firing; use a map (`@name`) to keep a value across probes".into()]),
            MapNeverAssigned { span, map } => e
                .with_code("E0211")
                .with_message(format!("map `@{map}` is never assigned"))
                .with_labels(vec![primary(*span, "read here, but nothing stores into it")]),
            UnknownField { span, field, tracepoint, candidates } => with_candidates(
                e.with_code("E0212")
                    .with_message(if tracepoint.starts_with("tracepoint:") {
                        format!("tracepoint `{tracepoint}` has no field `{field}`")
                    } else {
                        format!("`{tracepoint}` has no argument `{field}`")
                    })
                    .with_labels(vec![primary(*span, "unknown field")]),
                candidates,
            ),
            UnknownEvent { span, name, candidates } => with_candidates(
                e.with_code("E0218").with_message(format!("unknown event `{name}`")).with_labels(vec![primary(*span, "unknown event")]),
                candidates,
            ),
            KprobesUnavailable { span, name, alternatives } => {
                let mut notes = vec!["this kernel is built without kprobes (CONFIG_KPROBES is not set)".to_string()];
                if !alternatives.is_empty() {
                    notes.push(format!("help: a tracepoint gives the same event: {}", one_of(alternatives)));
                } else {
                    notes.push("help: use a tracepoint or rawtracepoint (`rtrace -l` lists them)".into());
                }
                e.with_code("E0220")
                    .with_message(format!("cannot attach `{name}`: no kprobes on this kernel"))
                    .with_labels(vec![primary(*span, "needs kprobes")])
                    .with_notes(notes)
            }
            UnknownKernelFunction { span, name, candidates, alternatives } => {
                let mut notes = Vec::new();
                if !candidates.is_empty() {
                    notes.push(format!("help: did you mean {}?", one_of(candidates)));
                }
                if !alternatives.is_empty() {
                    notes.push(format!("help: or trace the same event with {}", one_of(alternatives)));
                }
                e.with_code("E0221")
                    .with_message(format!("no kernel function `{name}` to probe"))
                    .with_labels(vec![primary(*span, "not in available_filter_functions (renamed, inlined, or not traceable)")])
                    .with_notes(notes)
            }
            ArgOutsideRawProbe { span, name } => {
                let (only, help) = if name == "retval" {
                    ("uretprobe", "help: every attach point of this probe must be a uretprobe")
                } else if name.starts_with("sarg") {
                    ("kprobe and uprobe", "help: every attach point of this probe must be a kprobe or a uprobe (not a return probe)")
                } else if name == "uaddr" {
                    ("uprobe and usdt", "help: `uaddr` finds a symbol of the probed binary: every attach point must be a uprobe or a USDT probe")
                } else if name == "override" {
                    ("kprobe", "help: `override` makes a kprobed function return at once: every attach point must be a kprobe (not a kretprobe)")
                } else if name == "reg" || name == "usermode" {
                    ("kprobe, uprobe, usdt and perf event", "help: these probes' context holds the registers (`struct pt_regs`)")
                } else if name == "ctx" {
                    ("iter", "help: `ctx` is the object an `iter:TARGET` probe visits, e.g. `ctx->task`")
                } else if name == "func" {
                    ("kprobe and uprobe", "help: every attach point of this probe must be a kprobe or a uprobe; elsewhere `probe` names the attach point")
                } else {
                    ("rawtracepoint and uprobe (arg0..arg5)", "help: tracepoints name their arguments: use `args.NAME`")
                };
                e.with_code("E0219")
                    .with_message(format!("`{name}` is only available in {only} probes"))
                    .with_labels(vec![primary(*span, "used here")])
                    .with_notes(vec![help.into()])
            }
            KernelLacks { span, construct, feature } => e
                .with_code("E0250")
                .with_message(format!("{construct} needs {} (Linux {}), which this kernel does not have", feature.what(), feature.since()))
                .with_labels(vec![primary(*span, "needs it")])
                .with_notes(vec![format!("help: run it on a kernel that has `{}` (`rtrace --info` lists what this one has)", feature.key())]),
            MapLoop { span, message, help } => e
                .with_code("E0233")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "here")])
                .with_notes(vec![format!("help: {help}")]),
            UsdtArgument { span, message } => e
                .with_code("E0232")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "read here")])
                .with_notes(vec!["help: `rtrace -lv 'usdt:BINARY:*'` lists each probe's arguments as its notes give them".to_string()]),
            ArgsOutsideTracepoint { span } => e
                .with_code("E0213")
                .with_message("`args` is only available in tracepoint probes")
                .with_labels(vec![primary(*span, "used here")])
                .with_notes(vec!["help: every attach point of this probe must be a tracepoint".into()]),
            PrintfFormat { span, message } => {
                e.with_code("E0214").with_message(format!("bad printf format: {message}")).with_labels(vec![primary(*span, "in this format")])
            }
            AggregationNotAssigned { span, func } => e
                .with_code("E0215")
                .with_message(format!("`{func}()` can only be assigned to a map"))
                .with_labels(vec![primary(*span, "used as a value here")])
                .with_notes(vec![format!("help: write `@name = {func}(...)`, then read it at exit or with print(@name)")]),
            NotAValue { span, what } => {
                e.with_code("E0216").with_message(format!("{what} cannot be used as a value")).with_labels(vec![primary(*span, "used as a value here")])
            }
            NotAConstant { span, func } => e
                .with_code("E0217")
                .with_message(format!("the bounds of `{func}` must be integer constants"))
                .with_labels(vec![primary(*span, "not a constant")]),
            VariableOutOfScope { span, name, declared } => e
                .with_code("E0225")
                .with_message(format!("variable `${name}` is out of scope here"))
                .with_labels(vec![primary(*span, "used here"), secondary(*declared, "it belongs to the block where it is first assigned")])
                .with_notes(vec![format!("help: declare it before that block, e.g. `let ${name};` or `${name} = 0;`")]),
            VariableRedeclared { span, name } => e
                .with_code("E0222")
                .with_message(format!("variable `${name}` is already declared"))
                .with_labels(vec![primary(*span, "declared again here")])
                .with_notes(vec![format!("help: assign to it (`${name} = ...`) or pick another name; variables cannot shadow each other")]),
            OutsideLoop { span, what } => e
                .with_code("E0223")
                .with_message(format!("`{what}` outside a loop"))
                .with_labels(vec![primary(*span, "not inside `while` or `for`")])
                .with_notes(vec!["help: to leave the probe, use `return`".into()]),
            UnknownMember { span, field, ty, candidates } => with_candidates(
                e.with_code("E0226").with_message(format!("`{ty}` has no field `{field}`")).with_labels(vec![primary(*span, "no such field")]),
                candidates,
            ),
            BadMacro { span, message, definition } => e
                .with_code("E0231")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "this use"), secondary(*definition, "the macro")]),
            TooMuchCode { span, what, count, limit } => e
                .with_code("E0238")
                .with_message(format!("{what} would make {count} statements, more than the limit of {limit}"))
                .with_labels(vec![primary(*span, "expanded here")])
                .with_notes(vec!["help: BPF programs are small (a jump reaches 32767 instructions): use a loop (`for`, `while`) instead of repeating code".into()]),
            BadMapDeclaration { span, message } => e
                .with_code("E0230")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "in this declaration")])
                .with_notes(vec!["help: declare a map before the probes as `let @name = hash(N);`, `lruhash(N)`, `percpuhash(N)` or `percpulruhash(N)`".into()]),
            UnstableFeature { span, feature, flag, refused: true } => e
                .with_code("E0265")
                .with_message(format!("{feature} is an unstable feature, refused while config `{flag}` is `error`"))
                .with_labels(vec![primary(*span, "unstable")])
                .with_notes(vec![format!("help: set `config = {{ {flag} = enable }}` to use it")]),
            // Without the source, as bpftrace's: a script whose output is checked for a map
            // name should not find one in the warning.
            UnstableFeature { feature, flag, refused: false, .. } => e
                .with_message(format!("script is using an unstable feature: {feature}"))
                .with_notes(vec![format!("to prevent this warning, enable it in the config: `config = {{ {flag} = enable }}`")]),
            BadConfig { span, message } => e
                .with_code("E0229")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "in this setting")])
                .with_notes(vec!["help: settings come from the script's `config = { ... }` block, or the BPFTRACE_* variables of the same names (BPFTRACE_MAX_STRLEN, BPFTRACE_MISSING_PROBES...), which override it".into()]),
            NoProbeMatchesFilter { filter } => e
                .with_code("E0252")
                .with_message(format!("No probes to attach: no attach point matches --probe-filter `{filter}`"))
                .with_notes(vec!["help: the filter is a regular expression searched in each probe's full name, e.g. `tracepoint:syscalls:sys_enter_openat`; BEGIN and END are always kept".into()]),
            BadEnvConfig { var: _, value, message } => e
                .with_code("E0229")
                .with_message(format!("{message}, not {value:?}"))
                .with_notes(vec!["help: the BPFTRACE_* variables set the script's config settings, and override its `config = { ... }` block".into()]),
            NeedsUnsafe { span, func } => e
                .with_code("E0228")
                .with_message(format!("`{func}` changes the system, so it needs `--unsafe`"))
                .with_labels(vec![primary(*span, "not allowed without --unsafe")])
                .with_notes(vec![format!("help: `{func}` acts on the traced system from inside a probe; run rtrace with --unsafe if that is what you want")]),
            NoBtf { span, what } => e
                .with_code("E0227")
                .with_message(format!("{what} needs the kernel's type information (BTF)"))
                .with_labels(vec![primary(*span, "needs BTF")])
                .with_notes(vec!["help: this kernel has no /sys/kernel/btf/vmlinux; it must be built with CONFIG_DEBUG_INFO_BTF=y".into()]),
            MapDeclaredTwice { span, first, name } => e
                .with_code("E0230")
                .with_message(format!("`@{name}` is declared twice"))
                .with_labels(vec![primary(*span, "declared again here"), secondary(*first, "first declared here")]),
            ParamNotANumber { span, n, value } => {
                let digits = value.trim_start_matches('-');
                let why = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    format!("`{value}`, which does not fit in 64 bits")
                } else {
                    format!("`{value}`")
                };
                e.with_code("E0237")
                    .with_message(format!("`${n}` is used as a number, but given {why}"))
                    .with_labels(vec![primary(*span, "used as a number here")])
                    .with_notes(vec![format!(
                        "help: give a number (decimal, 0x hex or 0 octal, from -2^63 to 2^64 - 1), or use `${n}` as a string (`str(${n})`, `%s`)"
                    )])
            }
            StringTooLong { span, len } => e
                .with_code("E0236")
                .with_message(format!("this string is too long: {len} bytes, where a string constant holds at most {}", MAX_LITERAL_LEN - 1))
                .with_labels(vec![primary(*span, format!("{len} bytes"))])
                .with_notes(vec![format!(
                    "help: a string constant is a fixed-size buffer in BPF, of at most {MAX_LITERAL_LEN} bytes with the final NUL (LLVM's BPF backend sets up no larger one); split the text, or print it with printf's format"
                )]),
            CompileTimeFailure { span, message } => {
                e.with_code("E0235").with_message(message.clone()).with_labels(vec![primary(*span, "reached when the script compiles")])
            }
            UnknownPercpuVariable { span, name, candidates } => with_candidates(
                e.with_code("E0234")
                    .with_message(format!("the kernel's BTF has no per-CPU variable `{name}`"))
                    .with_labels(vec![primary(*span, "not a per-CPU variable")]),
                candidates,
            ),
            IncompleteType { span, name } => e
                .with_code("E0260")
                .with_message(format!("`{name}` is incomplete here: its size is not known"))
                .with_labels(vec![primary(*span, "needs the whole type")])
                .with_notes(vec![format!("help: define `{name}` before it is used by value, or use a pointer to it")]),
            DefinedTwice { span, first, what } => e
                .with_code("E0261")
                .with_message(format!("{what} is defined twice"))
                .with_labels(vec![primary(*span, "defined again here"), secondary(*first, "first defined here")]),
            BadBitfield { span, message } => e
                .with_code("E0262")
                .with_message(message.clone())
                .with_labels(vec![primary(*span, "in this bit field")])
                .with_notes(vec!["help: a bit field is an integer type at most as wide as its type, e.g. `unsigned int flags : 4;`".into()]),
            BadConstant { span, message, label } => e.with_code("E0263").with_message(message.clone()).with_labels(vec![primary(*span, label.clone())]),
            NotAnEnumerator { span, value, ty, enumerators } => e
                .with_code("E0264")
                .with_message(format!("`{ty}` has no enumerator of value {value}"))
                .with_labels(vec![primary(*span, "not one of its values")])
                .with_notes(vec![format!("help: its enumerators are {}", enumerators.join(", "))]),
            UnknownType { span, name, candidates } => with_candidates(
                e.with_code("E0224").with_message(format!("unknown type `{name}`")).with_labels(vec![primary(*span, "no such type")]),
                candidates,
            ),
        }
    }
}
