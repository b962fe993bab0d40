//! The `rtrace` command: the only place that sees every stage. Reads the script, runs
//! parser -> sema -> codegen -> runtime, and turns any stage's errors into diagnostics and
//! exit status 1.

use std::process::ExitCode;

use clap::Parser;

use rtrace::diagnostics::{emit, Diag, Files, ToDiagnostic};
use rtrace::{codegen, parser, runtime, sema};

mod cli_list;
mod cli_tools;

#[derive(Parser, Debug)]
#[command(
    name = "rtrace",
    version,
    about = "A high-level tracing language for Linux (bpftrace's language, compiled by LLVM to BPF)",
    after_help = cli_tools::EXAMPLES_SHORT,
    after_long_help = cli_tools::EXAMPLES,
    help_template = cli_tools::HELP_TEMPLATE,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(subcommand)]
    subcommand: Option<Subcommand>,

    /// Program text to run (given twice, the last one runs, as in bpftrace).
    #[arg(short = 'e', value_name = "PROGRAM", overrides_with = "program")]
    program: Option<String>,

    /// The script FILE to run (when -e is not given; `-` reads it from stdin), then the
    /// positional parameters `$1`, `$2`... the script reads. Options may come before or
    /// after them, as in bpftrace; after `--` everything is a parameter, and `--name[=value]`
    /// there is a named option the script reads with `getopt`.
    #[arg(value_name = "FILE [ARGS]", allow_negative_numbers = true)]
    args: Vec<String>,

    /// Output format: `text` (the default), `json` (one JSON object per line, as bpftrace),
    /// or `folded` (text, with maps keyed by a stack as folded stacks: `a;b;c 42`).
    #[arg(short = 'f', value_name = "FORMAT", default_value = "text", value_parser = ["text", "json", "folded"])]
    format: String,

    /// Serve the maps in Prometheus' text format on http://ADDR/metrics while tracing
    /// (e.g. `127.0.0.1:9101`; port 0 picks one), read from the kernel at each scrape.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,

    /// With --metrics: at most N series per map, the largest first (the rest are counted in
    /// rtrace_metrics_dropped_series_total).
    #[arg(long, value_name = "N", default_value_t = runtime::metrics::DEFAULT_MAX_SERIES)]
    metrics_max_series: usize,

    /// At exit, draw the maps keyed by a stack as an interactive flame graph SVG in FILE.
    #[arg(long, value_name = "FILE")]
    flamegraph: Option<std::path::PathBuf>,

    /// Redraw the maps in place every INTERVAL (default 1s) with their rates; without a
    /// terminal, print them every INTERVAL.
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, require_equals = true, default_missing_value = "1s", value_parser = runtime::live::parse_interval)]
    live: Option<std::time::Duration>,

    /// Write the trace's output to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<std::path::PathBuf>,

    /// Quiet: no "Attached N probes" line.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,

    /// No warnings, at compile time or while tracing (`warnf` included).
    #[arg(long = "no-warnings")]
    no_warnings: bool,

    /// Accepted for bpftrace's scripts; has no effect: USDT semaphores are always set for
    /// every process that maps the binary (the kernel's uprobe reference counter does it),
    /// which is what this option asks of bpftrace on kernels without one.
    #[arg(long = "usdt-file-activation")]
    _usdt_file_activation: bool,

    /// Run the `bench:NAME` probes, each timed in the kernel, between BEGIN and END, and
    /// attach nothing else.
    #[arg(long = "bench")]
    bench: bool,

    /// `--mode bench` is `--bench` (bpftrace's other modes are not in rtrace).
    #[arg(long = "mode", value_name = "MODE", value_parser = ["bench"])]
    mode: Option<String>,

    /// Only compile and attach the probes whose full name (`interval:ms:200`) matches the
    /// regular expression REGEX; BEGIN and END always run.
    #[arg(long = "probe-filter", value_name = "REGEX", value_parser = probe_filter)]
    probe_filter: Option<regex_lite::Regex>,

    /// Read the integer constants of header FILE, as `#include <FILE>` at the top of the
    /// script would (may be given more than once).
    #[arg(long = "include", value_name = "FILE")]
    include: Vec<String>,

    /// Look for `#include` headers in DIR first (may be given more than once).
    #[arg(short = 'I', value_name = "DIR")]
    include_dirs: Vec<std::path::PathBuf>,

    /// Output buffering: `line` (the default), `full` or `none`.
    #[arg(short = 'B', value_name = "MODE", default_value = "line", value_parser = ["line", "full", "none"])]
    buffering: String,

    /// Report a map read of a key the map does not hold (the read is 0) at its source site,
    /// the first time each site meets one, as bpftrace's -k does.
    #[arg(short = 'k')]
    helper_errors: bool,

    /// Allow functions that change the system: `system`, `signal`.
    #[arg(long = "unsafe")]
    unsafe_ok: bool,

    /// Print an intermediate form instead of running: `ast`, `llvm-ir`, or `obj[=PATH]`
    /// (the BPF ELF object, written to PATH, default `rtrace.bpf.o`).
    #[arg(long, value_name = "WHAT")]
    emit: Option<String>,

    /// Compile and check everything, but load nothing.
    #[arg(long)]
    dry_run: bool,

    /// Verbose: print the full verifier log when the kernel rejects a program, and
    /// "Attached N probes in T ms" once every probe is live.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,

    /// Run CMD (split on spaces; use `sh -c '...'` for shell syntax) once every probe is
    /// attached, with `cpid` its pid; the trace ends when it exits.
    #[arg(short = 'c', long = "cmd", value_name = "CMD")]
    command: Option<String>,

    /// Trace only process PID (BEGIN, END and interval still run; uprobes attach to it alone); the trace
    /// ends when it exits.
    #[arg(short = 'p', long = "pid", value_name = "PID", conflicts_with = "command")]
    pid: Option<u32>,

    /// List the attach points matching the GLOB given as the argument (all of them without
    /// one), e.g. `-l '*execve*'`; with -v (`-lv`), their arguments too.
    #[arg(short = 'l', long = "list")]
    list: bool,

    /// Compile even if the compile cache holds this program (also: RTRACE_CACHE=0).
    #[arg(long)]
    no_cache: bool,

    /// Print the system, the build and what the kernel can do for rtrace (each feature is
    /// asked of the kernel: a tiny program loaded, a map created, a perf event opened).
    #[arg(long)]
    info: bool,

    /// Compile against this vmlinux BTF file (another machine's
    /// `/sys/kernel/btf/vmlinux`) instead of the running kernel's: with --tracefs, `build`,
    /// --dry-run and --emit work without root and without the target kernel.
    #[arg(long, value_name = "FILE")]
    btf: Option<std::path::PathBuf>,

    /// Compile against this copy of another machine's tracefs (its `events/` directory, or
    /// a directory holding one) instead of the running kernel's.
    #[arg(long, value_name = "DIR")]
    tracefs: Option<std::path::PathBuf>,

    /// Write the man pages (rtrace.1 and one per subcommand) into DIR: `make install` runs it.
    #[arg(long, value_name = "DIR", hide = true)]
    generate_man: Option<std::path::PathBuf>,

    /// Print SHELL's completion script (bash, zsh, fish...): `make install` runs it.
    #[arg(long, value_name = "SHELL", hide = true)]
    generate_completions: Option<clap_complete::Shell>,
}

#[derive(clap::Subcommand, Debug)]
enum Subcommand {
    /// Print a script pretty-printed from its syntax tree, comments kept.
    #[command(after_help = cli_tools::FMT_EXAMPLES)]
    Fmt(cli_tools::FmtArgs),
    /// Compile a script into a file that `rtrace FILE` or `rtrace-run FILE` runs, on other kernels too
    ///
    /// Writes -o FILE (default SCRIPT.rtc). Takes the options of a run (-e, FILE, ARGS, --unsafe,
    /// --include, --probe-filter), and --btf FILE and --tracefs DIR to compile for another
    /// machine's kernel without root.
    #[command(after_help = "Examples:\n  rtrace build opensnoop.bt -o opensnoop.rtc\n  rtrace build --btf vmlinux.btf --tracefs events/ -e 'kprobe:vfs_read { @ = count(); }' -o reads.rtc\n  rtrace-run opensnoop.rtc -p 1234")]
    Build {
        /// The options of a run, then the script (or -e PROGRAM) and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "OPTIONS] [SCRIPT|-e PROGRAM] [ARGS")]
        args: Vec<String>,
    },
    /// Run a script or a compiled script (the same as `rtrace FILE`)
    Run {
        /// The options of a run, then the script (or -e PROGRAM) and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "OPTIONS] FILE [ARGS")]
        args: Vec<String>,
    },
}

/// Codegen, with the progress line on a terminal when it takes more than a second.
fn compile(program: &sema::hir::Program, options: &codegen::Options) -> Result<rtrace::artifact::BpfArtifact, codegen::CodegenError> {
    let _progress = runtime::progress::Progress::start("compiling", 0);
    codegen::compile(program, options)
}

/// `--probe-filter`'s regular expression, or what is wrong with it.
fn probe_filter(text: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(text).map_err(|e| format!("Invalid --probe-filter regex: {e}"))
}

enum Emit {
    Ast,
    LlvmIr,
    Obj(String),
}

/// The stack the compiler runs on. Parsing keeps its own stack, but every later pass
/// recurses once per level of nesting, with frames of kilobytes in a debug build: the 8 MiB
/// main stack held about 200 levels (the parser refuses more than 256, E0109). Address
/// space only: pages are touched as deep scripts need them.
const COMPILER_STACK: usize = 64 << 20;

/// Runs `f` (the compiler) on a thread with `COMPILER_STACK`, or on this one where the
/// address space is too limited for it (`ulimit -v`). The runtime stays on the main thread:
/// BEGIN and END run as the calling thread, which scripts see as `tid` and `curtask`.
fn on_compiler_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let slot = std::sync::Mutex::new(Some(f));
    let take = || slot.lock().ok().and_then(|mut f| f.take());
    std::thread::scope(|s| {
        let spawned = std::thread::Builder::new().name("rtrace-compile".into()).stack_size(COMPILER_STACK).spawn_scoped(s, || take().map(|f| f()));
        match spawned.map(|t| t.join()) {
            Ok(Ok(Some(result))) => result,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // Not spawned: the closure is still in its slot.
            _ => match take() {
                Some(f) => f(),
                None => unreachable!("the compiler ran or is in its slot"),
            },
        }
    })
}

fn main() -> ExitCode {
    rtrace::oom::ensure_headroom();
    run()
}

fn run() -> ExitCode {
    // `rtrace build ...`: the same options, but the program is written to a compiled script
    // (-o FILE) instead of run.
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `rtrace build --help` is clap's (the subcommand's own help).
    let asks_help = argv.iter().skip(2).any(|a| a == "--help" || a == "-h");
    let build = argv.get(1).is_some_and(|a| a == "build") && !asks_help;
    // `rtrace run FILE`: the same as `rtrace FILE` (a compiled script or a script's text).
    if build || (argv.get(1).is_some_and(|a| a == "run") && !asks_help) {
        argv.remove(1);
    }
    // A usage error is bad input like any other: status 1 (clap's own is 2), with clap's
    // message and its "a similar argument exists" tip.
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            cli_tools::print_usage_error(&e);
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            };
        }
    };
    // Generated from this definition (`cli_tools`): never a second copy to keep in sync.
    if let Some(code) = cli_tools::run(&cli.generate_man, cli.generate_completions, <Cli as clap::CommandFactory>::command) {
        return code;
    }
    if let Some(Subcommand::Fmt(args)) = &cli.subcommand {
        return cli_tools::fmt(args);
    }
    let verbose = cli.verbose > 0;
    if cli.no_warnings {
        rtrace::diagnostics::silence_warnings();
    }
    if cli.info {
        print!("{}", info());
        return ExitCode::SUCCESS;
    }
    if cli.list {
        let includes = parser::Includes { headers: cli.include.clone(), dirs: cli.include_dirs.clone() };
        let arg = cli.args.first().map(String::as_str);
        return cli_list::list(cli_list::ListArgs { program: cli.program.as_deref(), arg, pid: cli.pid, verbose, includes });
    }
    let emit_what = match cli.emit.as_deref() {
        None => None,
        Some("ast") => Some(Emit::Ast),
        Some("llvm-ir") => Some(Emit::LlvmIr),
        Some("obj") => Some(Emit::Obj("rtrace.bpf.o".into())),
        Some(other) if other.starts_with("obj=") => Some(Emit::Obj(other[4..].to_string())),
        Some(other) => {
            eprintln!("error: --emit takes `ast`, `llvm-ir` or `obj[=PATH]`, not `{other}`");
            return ExitCode::from(1);
        }
    };
    // Split like a shell does (quotes group words), without running one. What -c and -p
    // name is checked before compiling, so --dry-run refuses them too.
    let command = match cli.command.as_deref().map(shlex::split) {
        Some(None) => {
            eprintln!("error: -c: unbalanced quotes in `{}`", cli.command.as_deref().unwrap_or_default());
            return ExitCode::from(1);
        }
        Some(Some(words)) => Some(words),
        None => None,
    };
    if let Err(e) = runtime::check_target(cli.pid, command.as_deref()) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    if (cli.btf.is_some() || cli.tracefs.is_some()) && !(build || cli.dry_run || emit_what.is_some()) {
        eprintln!("error: --btf and --tracefs describe another machine's kernel: use them with `rtrace build`, --dry-run or --emit, not to trace here");
        return ExitCode::from(1);
    }
    if let Some(file) = &cli.btf {
        let read = std::fs::read(file).map_err(|e| e.to_string()).and_then(|data| rtrace::btf::Btf::parse(data).map(|_| ()).map_err(|e| e.to_string()));
        if let Err(e) = read {
            eprintln!("error: cannot use --btf {}: {e}", file.display());
            return ExitCode::from(1);
        }
    }
    if let Some(dir) = cli.tracefs.as_ref().filter(|d| !d.is_dir()) {
        eprintln!("error: cannot use --tracefs {}: not a directory (give a copy of another machine's /sys/kernel/tracing/events)", dir.display());
        return ExitCode::from(1);
    }
    if build && (cli.pid.is_some() || cli.command.is_some() || cli.dry_run || emit_what.is_some()) {
        eprintln!("error: `rtrace build` writes a compiled script: give -p, -c, --dry-run and --emit when you run it or compile, not to build");
        return ExitCode::from(1);
    }
    let (name, src, params) = match (&cli.program, cli.args.split_first()) {
        (Some(p), _) => ("-e".to_string(), p.clone(), cli.args.clone()),
        // Bytes that are not UTF-8 become U+FFFD: fine in comments, E0108 elsewhere.
        (None, Some((f, params))) => match read_script(f) {
            // A compiled script (`rtrace build`): run it as rtrace-run does.
            Ok(Script::Compiled(bytes)) if !build => return run_compiled(&cli, f, &bytes, params.to_vec(), command),
            Ok(Script::Compiled(_)) => {
                eprintln!("error: {f} is already compiled");
                return ExitCode::from(1);
            }
            Ok(Script::Text(s)) => (if f == "-" { "stdin".to_string() } else { f.clone() }, s, params.to_vec()),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", if f == "-" { "the script from stdin" } else { f });
                return ExitCode::from(1);
            }
        },
        (None, None) => {
            eprintln!("error: give a program with -e 'PROGRAM' or a script FILE (see --help)");
            return ExitCode::from(1);
        }
    };
    let mut files = Files::new();
    let file = files.add(name, src.clone());
    let fail = |diags: Vec<Diag>| {
        emit(&files, &diags);
        ExitCode::from(1)
    };

    let compiled = on_compiler_stack(|| -> Result<rtrace::artifact::BpfArtifact, ExitCode> {
        let includes = parser::Includes { headers: cli.include.clone(), dirs: cli.include_dirs.clone() };
        let script = match parser::parse_with(&src, file, &includes) {
            Ok(s) => s,
            Err(e) => return Err(fail(vec![e.to_diagnostic()])),
        };
        if let Some(Emit::Ast) = emit_what {
            print!("{script}");
            return Err(ExitCode::SUCCESS);
        }
        if script.probes.is_empty() {
            eprintln!("error: the program has no probes: give at least one, e.g. -e 'BEGIN {{ printf(\"hello\\n\"); }}'");
            return Err(ExitCode::from(1));
        }
        // Before anything is asked of the kernel: a user who cannot trace is told why, not
        // that a tracepoint does not exist in a tracefs they cannot read.
        let offline = cli.btf.is_some() || cli.tracefs.is_some();
        if !cli.dry_run && emit_what.is_none() && !(build && offline) {
            if let Some(message) = runtime::privileges::missing() {
                eprintln!("error: {message}");
                return Err(ExitCode::from(1));
            }
        }
        let kernel = match (offline, cli.dry_run) {
            (true, _) => runtime::LiveKernel::described(cli.tracefs.clone(), cli.btf.clone()),
            (false, true) => runtime::LiveKernel::open().assuming_kprobes(),
            (false, false) => runtime::LiveKernel::open(),
        };
        let env = sema::EnvConfig::from_vars(std::env::vars());
        let target = runtime::traced_executable(cli.pid, cli.command.as_deref());
        // After the script, `--name[=value]` are named options (`getopt`), the rest `$1`, `$2`...
        let (named, params): (Vec<String>, Vec<String>) = params.into_iter().partition(|p| p.starts_with("--") && p.len() > 2);
        warn_unread_params(&src, &params);
        let named: Vec<(String, Option<String>)> = named
            .iter()
            .map(|o| match o[2..].split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (o[2..].to_string(), None),
            })
            .collect();
        let sema_options = sema::Options {
            unsafe_ok: cli.unsafe_ok,
            params: params.clone(),
            named: named.clone(),
            env,
            target,
            probe_filter: cli.probe_filter.clone(),
            dummy_ts_map: std::env::var("BPFTRACE_DUMMY_TS_MAP").ok(),
            pid: cli.pid,
            helper_errors: cli.helper_errors,
        };
        let mut program = match sema::analyse_with(&script, &kernel, &sema_options) {
            Ok(p) => p,
            Err(errs) => return Err(fail(errs.iter().map(|e| e.to_diagnostic()).collect())),
        };
        // bpftrace names a -e program `stdin` in its messages, and ends the range at the column
        // after the call.
        use codespan_reporting::files::Files as _;
        let shown_name = if cli.program.is_some() { "stdin".to_string() } else { files.name(file).map(|n| n.to_string()).unwrap_or_default() };
        let locate = |at: rtrace::span::Span| match (files.location(file, at.start as usize), files.location(file, at.end as usize)) {
            (Ok(a), Ok(b)) => format!("{shown_name}:{}:{}-{}", a.line_number, a.column_number, b.column_number),
            _ => shown_name.clone(),
        };
        // An attach point `missing_probes = warn` skipped is told as bpftrace tells it (its
        // line is grepped for); other warnings are diagnostics.
        for w in &program.warnings {
            match cli_tools::skipped_attach_point(w, &src, locate) {
                Some(text) if rtrace::diagnostics::warnings_shown() => rtrace::diagnostics::stderr_line(&text),
                Some(_) => {}
                None => emit(&files, &[w.to_skipped_warning()]),
            }
        }
        program.locate_messages_in_context(locate, |at| rtrace::diagnostics::underlined(&src, at.start as usize, at.end as usize));
        // `-- --help`: the script's options, as bpftrace lists them.
        if named.iter().any(|(n, _)| n == "help") && !program.options.iter().any(|o| o.name == "help") {
            eprintln!("{}", cli_tools::script_options_help(&program.options));
            return Err(ExitCode::from(1));
        }
        if let Some((unknown, _)) = named.iter().find(|(n, _)| !program.options.iter().any(|o| o.name == *n)) {
            let names: Vec<&str> = program.options.iter().map(|o| o.name.as_str()).collect();
            let known = if names.is_empty() { "it reads none".to_string() } else { format!("it reads --{}", names.join(", --")) };
            eprintln!("error: the script has no option --{unknown} ({known} with getopt)");
            return Err(ExitCode::from(1));
        }
        let max_map_keys = program.config.max_map_keys.unwrap_or(0);
        // A compiled script may be run with -p: it has the filter, open when no pid is set.
        let filter_pid = cli.pid.is_some() || build;
        let options =
            codegen::Options { keep_llvm_ir: matches!(emit_what, Some(Emit::LlvmIr)), max_map_keys, filter_pid, portable: build, ..Default::default() };
        // The cache serves runs only: --emit always shows a fresh compile.
        let cache = if cli.no_cache || emit_what.is_some() { None } else { rtrace::cache::Cache::from_env() };
        let key = cache.as_ref().map(|_| rtrace::cache::Cache::key(&program, &options));
        let lookup = cache.as_ref().zip(key.as_deref()).map(|(c, k)| c.load(k));
        let artifact = match lookup {
            Some(rtrace::cache::Lookup::Hit(a)) => a,
            lookup => match compile(&program, &options) {
                Ok(a) => {
                    // A directory the cache cannot trust is neither read nor written.
                    let unused = match (lookup, &cache, &key) {
                        (Some(rtrace::cache::Lookup::Miss), Some(c), Some(k)) => c.store(k, &a).err(),
                        (Some(rtrace::cache::Lookup::Untrusted(why)), _, _) => Some(why),
                        _ => None,
                    };
                    if let (true, Some(why)) = (verbose, unused) {
                        eprintln!("cache: not used: {why}");
                    }
                    a
                }
                Err(e) => return Err(fail(vec![e.to_diagnostic()])),
            },
        };
        match emit_what {
            Some(Emit::LlvmIr) => {
                print!("{}", artifact.llvm_ir.unwrap_or_default());
                return Err(ExitCode::SUCCESS);
            }
            Some(Emit::Obj(path)) => {
                if let Err(e) = std::fs::write(&path, &artifact.object) {
                    eprintln!("error: cannot write {path}: {e}");
                    return Err(ExitCode::from(1));
                }
                eprintln!("wrote {path} ({} bytes)", artifact.object.len());
                return Err(ExitCode::SUCCESS);
            }
            _ => {}
        }
        if cli.dry_run {
            return Err(ExitCode::SUCCESS);
        }
        if build {
            let header = rtrace::artifact::file::Header {
                compiler: format!("rtrace {}", env!("CARGO_PKG_VERSION")),
                arch: std::env::consts::ARCH.to_string(),
                kernel: kernel.description(),
                sources: vec![rtrace::artifact::file::Source { name: shown_name.clone(), text: src.clone() }],
                params,
                named,
                unsafe_ok: cli.unsafe_ok,
                meta: artifact.meta.clone(),
            };
            let path = cli.output.clone().unwrap_or_else(|| default_build_path(cli.args.first().filter(|_| cli.program.is_none())));
            let bytes = rtrace::artifact::file::write(&header, &artifact.object);
            return Err(match write_executable(&path, &bytes) {
                Ok(()) => {
                    eprintln!("wrote {} ({} bytes; run it with `rtrace {0}` or `rtrace-run {0}`)", path.display(), bytes.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    ExitCode::from(1)
                }
            });
        }
        Ok(artifact)
    });
    let artifact = match compiled {
        Ok(a) => a,
        Err(code) => return code,
    };
    match runtime::run(&artifact, &run_options(&cli, command, false)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => fail(vec![e.to_diagnostic()]),
    }
}

/// `--info`: the system, the build, then every `features::Feature` as the kernel answers it,
/// one `  key: yes` or `  key: no (why)` line each (the test suites read these lines).
fn info() -> String {
    use rtrace::features::Section;
    use std::fmt::Write;
    let mut out = String::new();
    // SAFETY: uname fills the struct it is given.
    let release = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        let field = |f: &[libc::c_char]| f.iter().take_while(|c| **c != 0).map(|c| *c as u8 as char).collect::<String>();
        format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
    };
    let _ = writeln!(
        out,
        "System\n  kernel: {release}\n  privileged: {}\n",
        if unsafe { libc::geteuid() } == 0 { "yes" } else { "no (not root: most features below read as EPERM)" }
    );
    let _ = writeln!(out, "Build\n  version: {}\n  LLVM: 19 (static, BPF target)\n  instruction limit: {}\n", env!("CARGO_PKG_VERSION"), 1_000_000);
    let answers = runtime::features::probe_all();
    for section in Section::ALL {
        let _ = writeln!(out, "{}", section.title());
        for (f, a) in answers.iter().filter(|(f, _)| f.section() == section) {
            let _ = writeln!(out, "  {}: {}", f.key(), a.show());
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", rtrace::features::BPFTRACE_NAMES_TITLE);
    for (name, needs) in rtrace::features::BPFTRACE_NAMES {
        let present = needs.iter().all(|n| answers.iter().any(|(f, a)| f == n && a.present));
        let _ = writeln!(out, "  {name}: {}", if present { "yes" } else { "no" });
    }
    out
}

enum Script {
    Text(String),
    /// A compiled script's bytes (`rtrace build`).
    Compiled(Vec<u8>),
}

/// The script's text: the file, or stdin for `-`. Bytes that are not UTF-8 become U+FFFD,
/// which the lexer accepts in comments only.
fn read_script(path: &str) -> std::io::Result<Script> {
    let bytes = if path == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        bytes
    } else {
        std::fs::read(path)?
    };
    if rtrace::artifact::file::is_compiled(&bytes) {
        return Ok(Script::Compiled(bytes));
    }
    Ok(Script::Text(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `rtrace FILE` where FILE is a compiled script: run as `rtrace-run FILE` would. Options
/// that change the compiled program are refused: they were given when it was built.
fn run_compiled(cli: &Cli, path: &str, bytes: &[u8], args: Vec<String>, command: Option<Vec<String>>) -> ExitCode {
    let compiles = cli.probe_filter.is_some() || !cli.include.is_empty() || cli.emit.is_some() || cli.dry_run || cli.btf.is_some() || cli.tracefs.is_some();
    if compiles {
        eprintln!("error: {path} is a compiled script: --probe-filter, --include, --emit, --dry-run, --btf and --tracefs apply when it is built (`rtrace build`)");
        return ExitCode::from(1);
    }
    let compiled = match rtrace::artifact::file::read(bytes) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {path} {e}");
            return ExitCode::from(1);
        }
    };
    let options = run_options(cli, command, true);
    runtime::compiled::run(&compiled, runtime::compiled::Invocation { path: path.to_string(), args, unsafe_ok: cli.unsafe_ok, options })
}

/// What the command line asks of a run, of a script compiled here (`settle` false) or of a
/// compiled script (true: its kernel facts are checked and relocated first).
fn run_options(cli: &Cli, command: Option<Vec<String>>, settle: bool) -> runtime::RunOptions {
    let buffering = runtime::Buffering::named(&cli.buffering);
    runtime::RunOptions {
        verbose: cli.verbose > 0,
        command,
        pid: cli.pid,
        output: runtime::OutputOptions { json: cli.format == "json", folded: cli.format == "folded", file: cli.output.clone(), buffering },
        quiet: cli.quiet,
        bench: cli.bench || cli.mode.as_deref() == Some("bench"),
        verifier_stats: std::env::var_os("RTRACE_VERIFIER_STATS").map(std::path::PathBuf::from),
        metrics: cli.metrics.clone().map(|addr| runtime::metrics::MetricsOptions { addr, max_series: cli.metrics_max_series }),
        live: cli.live,
        flamegraph: cli.flamegraph.clone(),
        settle,
    }
}

/// `rtrace build FILE` without -o: FILE's name with `.rtc` for its extension, in the
/// current directory; `rtrace.rtc` for -e.
fn default_build_path(script: Option<&String>) -> std::path::PathBuf {
    let stem = script.and_then(|s| std::path::Path::new(s).file_stem()).map_or_else(|| "rtrace".into(), |s| s.to_string_lossy().into_owned());
    std::path::PathBuf::from(format!("{stem}.rtc"))
}

/// Writes a compiled script, executable (its first line runs it with rtrace-run).
fn write_executable(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o755).open(path)?;
    std::io::Write::write_all(&mut f, bytes)
}

/// Positional parameters given but never read are most often options meant for rtrace
/// written after `--`, or a mistyped command line: say so (bpftrace stays silent).
fn warn_unread_params(src: &str, params: &[String]) {
    let read = parser::params_read(src);
    if read.count {
        return;
    }
    for (i, p) in params.iter().enumerate().skip(read.highest as usize) {
        rtrace::diagnostics::warn(format_args!("positional parameter ${} (`{p}`) is never read by the script", i + 1));
    }
}
