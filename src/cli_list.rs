//! `-l`: what the listing argument means, as bpftrace decides it. An existing file (or `-e
//! PROGRAM`) is a script whose attach points are listed as the compiler expands them (its
//! parser and sema, the same `-p` expansion as a run); anything else is a glob over the
//! kernel's attach points (`sema::list_probes`). Kept out of `main.rs`, which only calls
//! `list`.

use std::process::ExitCode;

use rtrace::diagnostics::{emit, Files, ToDiagnostic};
use rtrace::{parser, runtime, sema};

/// What `-l` was given besides its pattern.
pub struct ListArgs<'a> {
    /// `-e PROGRAM`.
    pub program: Option<&'a str>,
    /// The positional argument: a script file or a pattern.
    pub arg: Option<&'a str>,
    pub pid: Option<u32>,
    pub verbose: bool,
    pub includes: parser::Includes,
}

/// Prints the listing; status 1 when a script to list does not compile.
pub fn list(args: ListArgs<'_>) -> ExitCode {
    let script = match (args.program, args.arg) {
        (Some(p), _) => Some(("stdin".to_string(), p.to_string())),
        (None, Some(f)) if std::path::Path::new(f).is_file() => match std::fs::read(f) {
            Ok(bytes) => Some((f.to_string(), String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => {
                eprintln!("error: cannot read {f}: {e}");
                return ExitCode::from(1);
            }
        },
        _ => None,
    };
    let lines = {
        let _progress = runtime::progress::Progress::start("listing", 0);
        let kernel = runtime::LiveKernel::open();
        match script {
            Some((name, text)) => match script_probes(&kernel, &name, &text, &args) {
                Ok(lines) => lines,
                Err(code) => return code,
            },
            None => {
                let pattern = args.arg.unwrap_or("*");
                if looks_like_a_file(pattern) {
                    rtrace::diagnostics::warn(format_args!(
                        "It appears that '{pattern}' is a filename but the file does not exist. Treating '{pattern}' as a search pattern."
                    ));
                }
                match args.pid {
                    Some(pid) => sema::list_process_probes(&kernel, pid, pattern, args.verbose),
                    None => sema::list_probes(&kernel, pattern, args.verbose),
                }
            }
        }
    };
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}

/// bpftrace's rule: a dot and neither `:` nor `*` is a file name (`-l trace.bt`).
fn looks_like_a_file(pattern: &str) -> bool {
    pattern.contains('.') && !pattern.contains([':', '*'])
}

/// The attach points of a script, each once, as the compiler expanded them (wildcards,
/// `-p` binaries); BEGIN, END and the other probes rtrace runs itself are left out.
fn script_probes(kernel: &runtime::LiveKernel, name: &str, text: &str, args: &ListArgs<'_>) -> Result<Vec<String>, ExitCode> {
    let mut files = Files::new();
    let file = files.add(name.to_string(), text.to_string());
    let fail = |diags: Vec<rtrace::diagnostics::Diag>| {
        emit(&files, &diags);
        ExitCode::from(1)
    };
    let script = parser::parse_with(text, file, &args.includes).map_err(|e| fail(vec![e.to_diagnostic()]))?;
    let options = sema::Options {
        // Listing runs nothing: what --unsafe guards is no reason to refuse it.
        unsafe_ok: true,
        env: sema::EnvConfig::from_vars(std::env::vars()),
        target: runtime::traced_executable(args.pid, None),
        pid: args.pid,
        ..Default::default()
    };
    let program = sema::analyse_with(&script, kernel, &options).map_err(|errs| fail(errs.iter().map(|e| e.to_diagnostic()).collect()))?;
    let mut out: Vec<String> = Vec::new();
    for ap in program.probes.iter().flat_map(|p| &p.attach) {
        if let Some(name) = listed_name(&ap.kind, &ap.name).filter(|n| !out.contains(n)) {
            out.push(name);
        }
    }
    Ok(out)
}

/// How `-l` shows one attach point of a script: as the kernel listing would (a timer by its
/// unit, `interval:ms:`; a perf event by its name, `software:cpu-clock:`), nothing for the
/// probes rtrace runs itself.
fn listed_name(kind: &sema::hir::AttachKind, name: &str) -> Option<String> {
    use sema::hir::AttachKind as K;
    match kind {
        K::Begin | K::End | K::SelfSignal { .. } | K::Bench { .. } => None,
        _ => {
            let parts: Vec<&str> = name.split(':').collect();
            match parts[..] {
                [p @ ("interval" | "profile" | "software" | "hardware"), what, _] => Some(format!("{p}:{what}:")),
                _ => Some(name.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dotted_name_without_colon_or_star_is_taken_for_a_file() {
        assert!(super::looks_like_a_file("trace.bt"));
        assert!(!super::looks_like_a_file("tracepoint:sched:*"));
        assert!(!super::looks_like_a_file("*.bt"));
        assert!(!super::looks_like_a_file("vfs_read"));
    }
}
