//! What the fuzz targets share: the pipeline as the CLI runs it (`src/main.rs`, minus the
//! kernel and the file system), a kernel made of the checked-in fixtures, and the compiler's
//! 64 MiB stack.
//!
//! Every target feeds the input, as script text, through the same stages the CLI does, up to
//! the last one it names, and renders every diagnostic and warning the way `rtrace` prints
//! them (rendering indexes the source by the spans, so a bad span is found there). A bad
//! script must end as diagnostics: any panic, abort, stack overflow or hang is a finding.
//!
//! The kernel is `Fixture`: tracepoint formats from `tests/fixtures/tracefs`, types from
//! `tests/fixtures/btf/fixture.btf`, a fixed list of kprobe-able functions, and made-up
//! answers for what sema would ask of binaries (uprobes, USDT), kallsyms and cgroupfs, so
//! those paths reach codegen too. Nothing is read after the first input, and nothing is
//! ever asked of the running kernel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

use rtrace::btf::Btf;
use rtrace::diagnostics::{render_plain, Diag, Files, ToDiagnostic};
use rtrace::sema::{KernelInfo, PidNamespace, UprobeTarget, UsdtArg, UsdtLocation, UsdtProbe};
use rtrace::{codegen, parser, sema};

/// How far a target runs the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Preprocessor, lexer and parser; the AST printed as `--emit ast` prints it.
    Parse,
    /// The parse, then macro expansion and the type checker against the fixtures.
    Sema,
    /// All of that, then LLVM to a BPF object.
    Codegen,
}

/// Runs `data` through the pipeline up to `last`, on the compiler's stack. Panics (through
/// the compiler thread's abort) on any finding.
pub fn run(data: &[u8], last: Stage) {
    let worker = WORKER.get_or_init(|| Mutex::new(Worker::start()));
    let worker = worker.lock().expect("the compiler thread is never poisoned: a panic aborts");
    worker.jobs.send((data.to_vec(), last)).expect("the compiler thread is running");
    worker.done.recv().expect("the compiler thread finished the input");
}

/// The stack `src/main.rs` gives the compiler: every pass after the parser recurses once per
/// level of nesting, up to the parser's limit of 256 levels. A fuzz target runs on
/// libFuzzer's main thread, whose 8 MiB would overflow earlier than rtrace does.
const COMPILER_STACK: usize = 64 << 20;

/// One long-lived thread with the compiler's stack, so an input costs two channel messages
/// rather than a thread. A panic there ends the process (libfuzzer-sys's panic hook aborts),
/// which libFuzzer reports with the input.
struct Worker {
    jobs: Sender<(Vec<u8>, Stage)>,
    done: Receiver<()>,
}

static WORKER: OnceLock<Mutex<Worker>> = OnceLock::new();

impl Worker {
    fn start() -> Worker {
        let (jobs, inputs) = channel::<(Vec<u8>, Stage)>();
        let (finished, done) = channel();
        std::thread::Builder::new()
            .name("rtrace-compile".into())
            .stack_size(COMPILER_STACK)
            .spawn(move || {
                let kernel = Fixture::load();
                for (data, last) in inputs {
                    compile(&data, last, &kernel);
                    if finished.send(()).is_err() {
                        break;
                    }
                }
            })
            .expect("the compiler thread starts");
        Worker { jobs, done }
    }
}

/// The CLI's pipeline for `rtrace --dry-run -e PROGRAM` (or `--emit ast`), with `$1`, `$2`
/// and one `getopt` option given, and `--unsafe`; from sema on, also `rtrace -lv WORD`
/// for the script's first word.
pub fn compile(data: &[u8], last: Stage, kernel: &Fixture) {
    // As the CLI reads a script file: bytes that are not UTF-8 become U+FFFD.
    let src = String::from_utf8_lossy(data).into_owned();
    let mut files = Files::new();
    let file = files.add("fuzz.bt".to_string(), src.clone());
    let render = |diags: &[Diag]| {
        std::hint::black_box(render_plain(&files, diags));
    };
    let _ = parser::params_read(&src);
    let script = match parser::parse(&src, file) {
        Ok(s) => s,
        Err(e) => return render(&[e.to_diagnostic()]),
    };
    std::hint::black_box(script.to_string());
    if last == Stage::Parse {
        // `rtrace fmt`: a script that parses formats to the same program (the formatter
        // checks that itself, E0120), and formatting that again changes nothing.
        match parser::fmt::format(&src, file) {
            Ok(once) => assert_eq!(parser::fmt::format(&once, file).as_ref(), Ok(&once), "formatting is not idempotent"),
            Err(e) => panic!("a script that parses does not format: {e:?}"),
        }
        return;
    }
    // `rtrace -lv PATTERN` with the first line as the pattern: the same attach point
    // lookups, over wildcards.
    let first = src.lines().next().unwrap_or_default();
    std::hint::black_box(sema::list_probes(kernel, first.split_whitespace().next().unwrap_or_default(), true));
    if script.probes.is_empty() {
        return;
    }
    let options = sema::Options {
        unsafe_ok: true,
        params: vec!["1".into(), "fuzz".into()],
        named: vec![("verbose".into(), None)],
        target: Some("/usr/bin/fuzz".into()),
        // (New options start at their defaults: the targets keep building.)
        ..Default::default()
    };
    let mut program = match sema::analyse_with(&script, kernel, &options) {
        Ok(p) => p,
        Err(errs) => return render(&errs.iter().map(|e| e.to_diagnostic()).collect::<Vec<_>>()),
    };
    render(&program.warnings.iter().map(|w| w.to_skipped_warning()).collect::<Vec<_>>());
    use codespan_reporting::files::Files as _;
    program.locate_messages(|at| match (files.location(file, at.start as usize), files.location(file, at.end as usize)) {
        (Ok(a), Ok(b)) => format!("fuzz.bt:{}:{}-{}", a.line_number, a.column_number, b.column_number),
        _ => "fuzz.bt".to_string(),
    });
    if last == Stage::Sema {
        return;
    }
    // LLVM's fatal errors (a jump past the 32767 instructions a BPF branch reaches) end the
    // process, by design: rtrace prints E0302 and exits with status 1, which libFuzzer could
    // only report as a crash. Such programs are thousands of statements; the largest of
    // bpftrace's tools prints as under 10 kB of HIR.
    if format!("{:?}", program.probes).len() > MAX_HIR_TEXT {
        return;
    }
    let options = codegen::Options { max_map_keys: program.config.max_map_keys.unwrap_or(0), ..Default::default() };
    match codegen::compile(&program, &options) {
        Ok(artifact) => {
            assert!(artifact.object.starts_with(b"\x7fELF"), "codegen made an object that is not ELF");
        }
        Err(e) => render(&[e.to_diagnostic()]),
    }
}

/// The largest program codegen is given, as the length of its probes' `Debug` text.
const MAX_HIR_TEXT: usize = 200_000;

/// The kernel the targets compile against: the checked-in fixtures, read once.
pub struct Fixture {
    formats: HashMap<(String, String), String>,
    events: Vec<(String, String)>,
    btf: Btf,
    functions: Vec<String>,
}

/// Functions a kprobe may name: the sema fixture's, the BTF fixture's, and what
/// bpftrace's tools probe.
const FUNCTIONS: &[&str] = &[
    "__x64_sys_execve",
    "blk_account_io_done",
    "blk_account_io_start",
    "cap_capable",
    "do_execveat_common.isra.0",
    "do_nanosleep",
    "do_sys_open",
    "do_sys_openat2",
    "ip_rcv",
    "tcp_connect",
    "tcp_drop",
    "tcp_rcv_established",
    "tcp_retransmit_skb",
    "tcp_sendmsg",
    "tcp_set_state",
    "tcp_v4_connect",
    "vfs_fsync",
    "vfs_open",
    "vfs_read",
    "vfs_readv",
    "vfs_write",
];

impl Fixture {
    pub fn load() -> Fixture {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let tracefs = root.join("tracefs");
        let list = std::fs::read_to_string(tracefs.join("available_events")).expect("the tracefs fixture lists its events");
        let events: Vec<(String, String)> = list.lines().filter_map(|l| l.split_once(':')).map(|(c, e)| (c.to_string(), e.to_string())).collect();
        let formats = events
            .iter()
            .filter_map(|(c, e)| {
                let text = std::fs::read_to_string(tracefs.join("events").join(c).join(e).join("format")).ok()?;
                Some(((c.clone(), e.clone()), text))
            })
            .collect();
        let btf = Btf::parse(std::fs::read(root.join("btf/fixture.btf")).expect("the BTF fixture is readable")).expect("the BTF fixture parses");
        Fixture { formats, events, btf, functions: FUNCTIONS.iter().map(|f| f.to_string()).collect() }
    }
}

/// A made-up address for a kernel or user symbol: the same for the same name.
fn address(name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    0xffff_ffff_8100_0000 + (hash & 0xff_fff0)
}

impl KernelInfo for Fixture {
    fn tracepoint_format(&self, category: &str, event: &str) -> Option<String> {
        self.formats.get(&(category.to_string(), event.to_string())).cloned()
    }

    fn tracepoints(&self) -> Vec<(String, String)> {
        self.events.clone()
    }

    fn kernel_functions(&self) -> Option<&[String]> {
        Some(&self.functions)
    }

    fn btf(&self) -> Option<&Btf> {
        Some(&self.btf)
    }

    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        (!name.is_empty() && !name.contains(char::is_whitespace)).then(|| address(name))
    }

    fn pid_namespace(&self) -> Option<PidNamespace> {
        Some(PidNamespace { dev: 4, ino: 0xf000_0001, init: false })
    }

    fn cgroup_id(&self, path: &str) -> Option<u64> {
        path.starts_with("/sys/fs/cgroup").then_some(0x1234)
    }

    /// Any absolute path is a binary; a glob names two functions, anything else one.
    fn uprobe_targets(&self, binary: &str, symbol: &str) -> Result<Vec<UprobeTarget>, String> {
        if !binary.starts_with('/') {
            return Err(format!("no binary `{binary}`"));
        }
        let names: Vec<String> = if symbol.contains(['*', '?', '[']) { vec!["main".into(), "malloc".into()] } else { vec![symbol.to_string()] };
        Ok(names.into_iter().map(|name| UprobeTarget { path: binary.to_string(), offset: 0x1000, address: 0x401000, name }).collect())
    }

    fn user_symbol(&self, path: &str, name: &str) -> Result<(u64, bool), String> {
        match path.starts_with('/') && !name.is_empty() {
            true => Ok((address(name) & 0xff_ffff, true)),
            false => Err(format!("no symbol `{name}` in `{path}`")),
        }
    }

    /// `/opt/app` has probe `app:req` at two sites whose operands differ, as in the sema
    /// tests; any other absolute path has `app:req` once, with its arguments in registers.
    fn usdt_probes(&self, binary: &str) -> Result<Vec<UsdtProbe>, String> {
        if !binary.starts_with('/') {
            return Err(format!("no binary `{binary}`"));
        }
        let arg = |spec: &str, size, signed, location| UsdtArg { spec: spec.into(), size, signed, location };
        let site =
            |offset, semaphore, args| UsdtProbe { path: binary.into(), provider: "app".into(), name: "req".into(), offset, address: offset, semaphore, args };
        let mut sites = vec![site(
            0x10,
            Some(0x2000),
            vec![arg("-4@%edi", 4, true, Some(UsdtLocation::Register(112))), arg("8@%rsi", 8, false, Some(UsdtLocation::Register(104)))],
        )];
        if binary == "/opt/app" {
            sites.push(site(
                0x20,
                None,
                vec![
                    arg("4@%eax", 4, false, Some(UsdtLocation::Register(80))),
                    arg("8@counter(%rip)", 8, false, None),
                    arg("-2@8(%rbp,%rcx,4)", 2, true, Some(UsdtLocation::Memory { base: 32, displacement: 8, index: Some((88, 4)) })),
                    arg("1@$5", 1, false, Some(UsdtLocation::Constant(5))),
                ],
            ));
        }
        Ok(sites)
    }
}
