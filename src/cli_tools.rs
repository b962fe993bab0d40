//! The command's own tooling, apart from tracing: the examples `--help` ends with, the man
//! pages and shell completions (generated from the clap definition by the binary itself,
//! through hidden options, so there is no second program or build step to keep in step with
//! the CLI: `make install` asks the binary it installs), and `rtrace fmt`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rtrace::diagnostics::{emit, Files, ToDiagnostic};

/// After `-h`.
pub const EXAMPLES_SHORT: &str = "\
Examples:
  rtrace -l 'tracepoint:syscalls:*open*'       list attach points
  rtrace -e 'BEGIN { printf(\"hello\\n\"); exit(); }'
  rtrace -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'
  rtrace script.bt                             run a script (`-` reads it from stdin)
  rtrace fmt script.bt                         print it formatted

--help shows more examples; `man rtrace` the whole manual.";

/// After `--help` (and in the man page's EXTRA section).
pub const EXAMPLES: &str = "\
Examples:
  List the attach points that mention open, with their arguments:
    rtrace -lv 'tracepoint:syscalls:sys_enter_open*'

  Say hello and exit:
    rtrace -e 'BEGIN { printf(\"hello\\n\"); exit(); }'

  Count syscalls by process until Ctrl-C, then print the counts:
    rtrace -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }'

  Files opened, by whom, as they are opened:
    rtrace -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%s %s\\n\", comm, str(args.filename)); }'

  A histogram of read sizes, for five seconds:
    rtrace -e 'tracepoint:syscalls:sys_exit_read /args.ret > 0/ { @bytes = hist(args.ret); } interval:s:5 { exit(); }'

  Trace one command from start to end (-c), or a running process (-p):
    rtrace -e 'tracepoint:syscalls:sys_enter_* /pid == cpid/ { @[probe] = count(); }' -c 'ls /'

  Run a script, its output as JSON lines:
    rtrace -f json examples/tools/syscount.bt

  Serve the maps to Prometheus while tracing (docs/metrics.md), or watch them change:
    rtrace -e 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }' --metrics 127.0.0.1:9101
    rtrace -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }' --live

  A flame graph of kernel stacks sampled at 99 Hz for ten seconds, or their folded lines:
    rtrace -e 'profile:hz:99 { @[kstack] = count(); } interval:s:10 { exit(); }' --flamegraph cpu.svg
    rtrace -e 'profile:hz:99 { @[kstack] = count(); } interval:s:10 { exit(); }' -f folded

  Check a script without loading it, or see what it compiles to:
    rtrace --dry-run script.bt
    rtrace --emit llvm-ir -e 'BEGIN { @x = count(); }'

  Compile once, run elsewhere (rtrace-run needs no LLVM; --btf/--tracefs compile for
  another kernel without root):
    rtrace build examples/opensnoop.bt -o opensnoop.rtc
    rtrace-run opensnoop.rtc

  What this kernel can do for rtrace:
    rtrace --info

Reference: docs/probes.md, docs/builtins.md and docs/functions.md (generated from the
compiler's own tables); one-liners: docs/one-liners.md.";

/// clap's help with bpftrace's `USAGE:` heading on a line of its own (tools and tests look
/// for it), the usage indented below it as clap indents its second line.
pub const HELP_TEMPLATE: &str = "{before-help}{about-with-newline}\nUSAGE:\n       {usage}\n\n{all-args}{after-help}";

/// Prints a command-line error (or the help, or the version) as clap does, with the usage
/// under the same `USAGE:` heading as the help.
pub fn print_usage_error(e: &clap::Error) {
    use std::io::IsTerminal;
    let to_stdout = matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion);
    let terminal = if to_stdout { std::io::stdout().is_terminal() } else { std::io::stderr().is_terminal() };
    let rendered = e.render();
    let text = if terminal { rendered.ansi().to_string() } else { rendered.to_string() };
    let text = if to_stdout { text } else { text.replacen("Usage:", "USAGE:\n      ", 1) };
    let _ = if to_stdout { write!(std::io::stdout(), "{text}") } else { write!(std::io::stderr(), "{text}") };
}

/// `-- --help` after a script: the named options it reads with `getopt`, one a line with
/// its description, under bpftrace's `HINT:` line.
pub fn script_options_help(options: &[rtrace::sema::hir::NamedOption]) -> String {
    if options.is_empty() {
        return "HINT: the script reads no named options (getopt)".to_string();
    }
    let lines = options.iter().map(|o| if o.description.is_empty() { format!("--{}", o.name) } else { format!("--{}: {}", o.name, o.description) });
    std::iter::once("HINT: expected program options:".to_string()).chain(lines).collect::<Vec<_>>().join("\n")
}

/// The warning for an attach point `missing_probes = warn` skipped, in bpftrace's words
/// (`stdin:1:5-20: WARNING: No matches for tracepoint a:b. Skipping.`), its source line
/// underlined, then rtrace's reason; None for a warning of another kind.
pub fn skipped_attach_point(w: &rtrace::sema::SemaError, src: &str, locate: impl Fn(rtrace::span::Span) -> String) -> Option<String> {
    if !w.is_missing_attach_point() {
        return None;
    }
    let d = w.to_diagnostic();
    let range = d.labels.first()?.range.clone();
    let raw = src.get(range.clone())?;
    let (kind, rest) = raw.split_once(':')?;
    let kind = rtrace::sema::reference::provider(kind).unwrap_or(kind);
    let at = rtrace::span::Span { start: range.start as u32, end: range.end as u32, ..Default::default() };
    let mut lines = vec![format!("{}: WARNING: No matches for {kind} {rest}. Skipping.", locate(at))];
    lines.extend(rtrace::diagnostics::underlined(src, range.start, range.end));
    lines.push(format!("why: {}", d.message));
    Some(lines.join("\n"))
}

pub const FMT_EXAMPLES: &str = "\
Examples:
  rtrace fmt script.bt            print it formatted
  rtrace fmt -w script.bt         rewrite it in place
  rtrace fmt --check *.bt         exit 1 if one is not formatted (for CI)
  cat script.bt | rtrace fmt -    from stdin";

#[derive(clap::Args, Debug)]
pub struct FmtArgs {
    /// The scripts (`-` for stdin).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<String>,

    /// Rewrite each FILE in place instead of printing it.
    #[arg(short = 'w', long = "write", conflicts_with = "check")]
    write: bool,

    /// Print nothing; exit 1 if a FILE is not formatted (names each such FILE on stderr).
    #[arg(long)]
    check: bool,
}

/// `--generate-man DIR` and `--generate-completions SHELL`, if given: their exit status.
pub fn run(man: &Option<PathBuf>, completions: Option<clap_complete::Shell>, command: impl Fn() -> clap::Command) -> Option<ExitCode> {
    if let Some(dir) = man {
        return Some(match write_man_pages(dir, command()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the man pages to {}: {e}", dir.display());
                ExitCode::from(1)
            }
        });
    }
    let shell = completions?;
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "rtrace", &mut out);
    Some(match std::io::stdout().write_all(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    })
}

/// `rtrace.1`, and `rtrace-NAME.1` for each subcommand: clap_mangen's sections, then the
/// examples as preformatted text (as paragraphs they would be refilled).
fn write_man_pages(dir: &Path, cmd: clap::Command) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let page = |cmd: clap::Command, examples: Option<&str>| -> std::io::Result<Vec<u8>> {
        let examples = examples.or(cmd.get_after_long_help().or(cmd.get_after_help()).map(|s| s.to_string()).as_deref()).map(roff_examples);
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.after_help(None::<&str>).after_long_help(None::<&str>)).render(&mut page)?;
        page.extend(examples.unwrap_or_default().as_bytes());
        Ok(page)
    };
    std::fs::write(dir.join("rtrace.1"), page(cmd.clone(), Some(EXAMPLES))?)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("rtrace-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(format!("rtrace {}", sub.get_name()));
        std::fs::write(dir.join(format!("{name}.1")), page(sub, None)?)?;
    }
    Ok(())
}

/// `text` (a first line `Examples:`, then the examples) as an EXAMPLES section, lines kept.
fn roff_examples(text: &str) -> String {
    let mut out = String::from(".SH EXAMPLES\n.nf\n");
    for line in text.lines().skip_while(|l| l.ends_with(':') && !l.starts_with(' ')) {
        // A backslash prints as `\e`, a hyphen as `\-` (a minus a shell takes, not U+2010).
        let line = line.replace('\\', "\\e").replace('-', "\\-");
        if line.starts_with(['.', '\'']) {
            out.push_str("\\&");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

/// `rtrace fmt`: each file formatted to stdout, in place (`-w`), or checked (`--check`).
pub fn fmt(args: &FmtArgs) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    let mut stdout = std::io::stdout().lock();
    for path in &args.files {
        let src = match read(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", if path == "-" { "stdin" } else { path });
                status = ExitCode::from(1);
                continue;
            }
        };
        let mut files = Files::new();
        let file = files.add(if path == "-" { "stdin".into() } else { path.clone() }, src.clone());
        let formatted = match rtrace::parser::fmt::format(&src, file) {
            Ok(f) => f,
            Err(e) => {
                emit(&files, &[e.to_diagnostic()]);
                status = ExitCode::from(1);
                continue;
            }
        };
        let written = if args.check {
            if formatted != src {
                eprintln!("{path}: not formatted");
                status = ExitCode::from(1);
            }
            Ok(())
        } else if args.write && path != "-" {
            if formatted == src {
                Ok(())
            } else {
                std::fs::write(path, &formatted)
            }
        } else {
            stdout.write_all(formatted.as_bytes())
        };
        if let Err(e) = written {
            eprintln!("error: cannot write {path}: {e}");
            status = ExitCode::from(1);
        }
    }
    status
}

fn read(path: &str) -> std::io::Result<String> {
    let bytes = if path == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        bytes
    } else {
        std::fs::read(path)?
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
