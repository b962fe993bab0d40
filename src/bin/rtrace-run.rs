//! `rtrace-run`: runs compiled scripts (`rtrace build`) without the compiler. Built without
//! the default `compiler` feature it has no LLVM, parser, sema or codegen: the compiled script
//! is the whole contract (`artifact::file`), checked against the running kernel when it runs
//! (`runtime::facts`). The options are `rtrace`'s for running.

use std::process::ExitCode;

use clap::Parser;
use rtrace::runtime;

#[derive(Parser, Debug)]
#[command(name = "rtrace-run", version, about = "Runs a compiled rtrace script (`rtrace build SCRIPT -o FILE`), without the compiler")]
struct Cli {
    /// The compiled script, then the positional parameters it was built with (optional: they
    /// are compiled in) and `--name[=value]` options after `--`.
    #[arg(value_name = "FILE [ARGS]", required = true, allow_negative_numbers = true)]
    args: Vec<String>,

    /// Output format: `text` (the default) or `json`.
    #[arg(short = 'f', value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    format: String,

    /// Write the trace's output to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<std::path::PathBuf>,

    /// Quiet: no "Attached N probes" line.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,

    /// No warnings while tracing.
    #[arg(long = "no-warnings")]
    no_warnings: bool,

    /// Output buffering: `line` (the default), `full` or `none`.
    #[arg(short = 'B', value_name = "MODE", default_value = "line", value_parser = ["line", "full", "none"])]
    buffering: String,

    /// Verbose: the verifier's whole log on a rejection, and how long attaching took.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,

    /// Run CMD once every probe is attached; the trace ends when it exits.
    #[arg(short = 'c', long = "cmd", value_name = "CMD")]
    command: Option<String>,

    /// Trace only process PID; the trace ends when it exits.
    #[arg(short = 'p', long = "pid", value_name = "PID", conflicts_with = "command")]
    pid: Option<u32>,

    /// Run a script compiled with --unsafe (it may run commands or send signals).
    #[arg(long = "unsafe")]
    unsafe_ok: bool,
}

fn main() -> ExitCode {
    rtrace::oom::ensure_headroom();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            };
        }
    };
    if cli.no_warnings {
        rtrace::diagnostics::silence_warnings();
    }
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
    let Some((path, args)) = cli.args.split_first() else { return ExitCode::from(1) };
    let bytes = match read_limited(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let compiled = match rtrace::artifact::file::read(&bytes) {
        Ok(c) => c,
        Err(rtrace::artifact::file::FileError::NotCompiled) => {
            eprintln!("error: {path} is not a compiled rtrace script: compile it with `rtrace build {path}`, or run the script with `rtrace {path}`");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {path} {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(message) = runtime::privileges::missing() {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }
    let buffering = runtime::Buffering::named(&cli.buffering);
    let options = runtime::RunOptions {
        verbose: cli.verbose > 0,
        command,
        pid: cli.pid,
        output: runtime::OutputOptions { json: cli.format == "json", file: cli.output.clone(), buffering, ..Default::default() },
        quiet: cli.quiet,
        verifier_stats: std::env::var_os("RTRACE_VERIFIER_STATS").map(std::path::PathBuf::from),
        settle: true,
        // --metrics, --live and --flamegraph are rtrace's for now.
        ..Default::default()
    };
    runtime::compiled::run(&compiled, runtime::compiled::Invocation { path: path.clone(), args: args.to_vec(), unsafe_ok: cli.unsafe_ok, options })
}

/// The file (or stdin for `-`), at most `file::MAX_FILE` bytes: a compiled script is a few
/// hundred KB; a device or a huge file is refused, not read until memory runs out.
fn read_limited(path: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let limit = rtrace::artifact::file::MAX_FILE;
    let mut bytes = Vec::new();
    let n = if path == "-" {
        std::io::stdin().take(limit + 1).read_to_end(&mut bytes)?
    } else {
        std::fs::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?
    };
    if n as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {} MiB, too large for a compiled script", limit >> 20)));
    }
    Ok(bytes)
}
