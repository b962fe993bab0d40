//! Running a compiled script (`rtrace build`'s file), for `rtrace FILE` and `rtrace-run`: the
//! file is verified, its parameters checked against the ones it was compiled with (they are
//! constants in the program), its kernel facts settled against the running kernel, then it
//! runs like a script compiled here. Errors point into the script's own text, which the file
//! carries.

use std::process::ExitCode;

use crate::artifact::file::Compiled;
use crate::diagnostics::{emit, Files, ToDiagnostic};

/// What the command line asks of a compiled script besides what it runs with.
pub struct Invocation {
    /// The file's name, for messages.
    pub path: String,
    /// `$1`, `$2`... and `--name[=value]` given after the file.
    pub args: Vec<String>,
    /// `--unsafe`: the user accepts a script compiled with it.
    pub unsafe_ok: bool,
    pub options: super::RunOptions,
}

pub fn run(compiled: &Compiled, inv: Invocation) -> ExitCode {
    let h = &compiled.header;
    let fail = |message: String| {
        eprintln!("error: {}: {message}", inv.path);
        ExitCode::from(1)
    };
    if h.unsafe_ok && !inv.unsafe_ok {
        return fail("was compiled with --unsafe (it may run commands or send signals): run it with --unsafe too".into());
    }
    if h.arch != std::env::consts::ARCH {
        return fail(format!("was compiled for {}, and this machine is {}", h.arch, std::env::consts::ARCH));
    }
    let (named, params): (Vec<String>, Vec<String>) = inv.args.iter().cloned().partition(|p| p.starts_with("--") && p.len() > 2);
    let named: Vec<(String, Option<String>)> = named
        .iter()
        .map(|o| match o[2..].split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (o[2..].to_string(), None),
        })
        .collect();
    // Parameters are compiled in: none given runs with the compiled ones; the same ones are
    // fine; others would silently not apply, so they are refused.
    let given = !params.is_empty() || !named.is_empty();
    if given && (params != h.params || named != h.named) {
        let shown = |p: &[String], n: &[(String, Option<String>)]| {
            let words: Vec<String> = p.iter().cloned().chain(n.iter().map(|(k, v)| v.as_ref().map_or(format!("--{k}"), |v| format!("--{k}={v}")))).collect();
            if words.is_empty() {
                "none".to_string()
            } else {
                format!("`{}`", words.join(" "))
            }
        };
        return fail(format!(
            "parameters are compiled into the script: it was built with {}, not {}; build it again with these (`rtrace build SCRIPT ARGS -o FILE`), or run it without any",
            shown(&h.params, &h.named),
            shown(&params, &named)
        ));
    }
    let mut files = Files::new();
    for s in &h.sources {
        files.add(s.name.clone(), s.text.clone());
    }
    let options = super::RunOptions { settle: true, ..inv.options };
    match super::run(&compiled.artifact(), &options) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            emit(&files, &[e.to_diagnostic()]);
            ExitCode::from(1)
        }
    }
}
