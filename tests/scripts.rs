//! Scripts users copy: every one-liner in docs/one-liners.md and every tool in
//! examples/tools/ compiles (`--dry-run`) against this kernel, and each one this machine can
//! run runs for a moment and stops cleanly on Ctrl-C. One that stops working fails the build.
//! A tool refused only because this kernel lacks what it names (a function, a module's
//! function, a tracepoint, a kernel variable; `KERNEL_ABSENCE`) is reported, with the reason,
//! as not on this kernel: the tools are bpftrace's, written for every kernel.
//!
//! Running needs root and BPF, as the end-to-end tests do; RTRACE_SKIP_E2E=1 skips these.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rtrace::features::Feature;

mod common;
use common::{Machine, VerifierStats};

/// The `rtrace ...` command lines in the doc's ```sh blocks, split as a shell would (single
/// quotes only, which is all the doc uses).
fn one_liners(doc: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            in_block = line.trim() == "```sh";
            continue;
        }
        if in_block && line.starts_with("rtrace ") {
            out.push(shell_words(line)[1..].to_vec());
        }
    }
    out
}

fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// Whether this machine can run the script: its probe types, asked of `rtrace --info`.
fn host_can_run(machine: &Machine, args: &[String]) -> bool {
    let program = args.iter().find(|a| a.contains('{')).map_or("", String::as_str);
    // An attach point starts the program, follows a `}`, or starts a line of a script.
    let starts = |p: &str| program.starts_with(p) || program.contains(&format!("}} {p}")) || program.contains(&format!("\n{p}"));
    let needs = [
        (Feature::Kprobes, ["kprobe:", "kretprobe:", "k:", "kr:"].iter().any(|p| starts(p))),
        (Feature::Trampolines, ["fentry:", "fexit:", "kfunc:", "kretfunc:"].iter().any(|p| program.contains(p))),
        (Feature::HardwareEvents, ["hardware:", "h:"].iter().any(|p| starts(p))),
    ];
    needs.iter().all(|(f, needed)| !needed || machine.has(*f))
}

/// Compiles `args` with --dry-run and, if this host can run it, runs it for a moment.
/// Returns whether it ran; Err says what failed.
fn check_script(bin: &str, args: &[String], can_run: bool, stats: &VerifierStats) -> Result<bool, String> {
    let shown = format!("rtrace {}", args.join(" "));
    let out = Command::new(bin).arg("--dry-run").args(args).output().expect("rtrace runs");
    if !out.status.success() {
        return Err(format!("{shown}: does not compile:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    if !can_run {
        return Ok(false);
    }
    let mut child =
        Command::new(bin).env("RTRACE_VERIFIER_STATS", &stats.path).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("rtrace starts");
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: kill with a pid we own and a valid signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    stats.take(&shown);
    match status {
        Some(s) if s.success() && !stderr.contains("error") => Ok(true),
        Some(s) => Err(format!("{shown}: exited with {s}:\n{stderr}")),
        None => Err(format!("{shown}: did not stop within 10 s of Ctrl-C")),
    }
}

/// rtrace's diagnostics that say this kernel lacks what a script names, as (code, words of the
/// headline): a kernel function that is absent or not traceable (a module not loaded, such as
/// md; a function renamed or inlined), a wildcard no kernel function matches, a tracepoint, a
/// kernel symbol (kallsyms without CONFIG_KALLSYMS_ALL lists no variables), kprobes.
const KERNEL_ABSENCE: &[(&str, &str)] = &[
    ("E0221", "no kernel function `"),
    ("E0203", "no kernel function matches `"),
    ("E0203", "this kernel has no "),
    ("E0204", "does not exist on this kernel"),
    ("E0208", "no kernel symbol `"),
    ("E0220", "no kprobes on this kernel"),
];

/// When every error of a refused script is one of `KERNEL_ABSENCE`: each one's headline and
/// label, the reason the script is not for this kernel (it is for another, where these exist).
/// None when any error is rtrace's own, or the failure was not a refusal to compile.
fn not_on_this_kernel(failure: &str) -> Option<Vec<String>> {
    let mut reasons = Vec::new();
    let mut lines = failure.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("error[") else { continue };
        let (code, headline) = rest.split_once("]: ")?;
        if !KERNEL_ABSENCE.iter().any(|(c, words)| *c == code && headline.contains(words)) {
            return None;
        }
        // The label is the text after the carets under the span, before the next diagnostic.
        let mut label = None;
        while let Some(next) = lines.next_if(|l| !l.starts_with("error") && !l.starts_with("warning")) {
            let carets = next.split_once('│').map(|(_, r)| r.trim_start()).filter(|r| r.starts_with('^'));
            label = label.or_else(|| carets.map(|r| r.trim_start_matches('^').trim().to_string()));
        }
        reasons.push(match label {
            Some(l) if !l.is_empty() => format!("{code} {headline} ({l})"),
            _ => format!("{code} {headline}"),
        });
    }
    (!reasons.is_empty() && failure.contains(": does not compile:")).then_some(reasons)
}

fn require_root() -> bool {
    if std::env::var("RTRACE_SKIP_E2E").as_deref() == Ok("1") {
        eprintln!("RTRACE_SKIP_E2E=1: scripts skipped");
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "the script tests run rtrace and need root; set RTRACE_SKIP_E2E=1 to skip them");
    true
}

#[test]
fn every_tool_compiles_and_the_runnable_ones_run() {
    if !require_root() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_rtrace");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("examples/tools"))
        .expect("examples/tools exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 15, "examples/tools has {} tools", paths.len());
    let (mut failures, mut ran, mut refused) = (Vec::new(), 0, 0);
    let machine = Machine::ask(Path::new(bin));
    let stats = VerifierStats::new("tools");
    for p in &paths {
        let text = std::fs::read_to_string(p).expect("readable tool");
        let can_run = host_can_run(&machine, &[text]);
        match check_script(bin, &[p.display().to_string()], can_run, &stats) {
            Ok(r) => ran += usize::from(r),
            Err(e) => match not_on_this_kernel(&e) {
                Some(reasons) => {
                    eprintln!("not on this kernel: {}: {}", p.display(), reasons.join("; "));
                    refused += 1;
                }
                None => failures.push(e),
            },
        }
    }
    eprintln!("tools: {} compiled, {refused} refused by this kernel, {ran} ran here", paths.len() - failures.len() - refused);
    assert!(failures.is_empty(), "{} tools failed:\n\n{}", failures.len(), failures.join("\n\n"));
    stats.check("tools");
}

#[test]
fn every_one_liner_compiles_and_the_runnable_ones_run() {
    if !require_root() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_rtrace");
    let doc = std::fs::read_to_string(root.join("docs/one-liners.md")).expect("docs/one-liners.md");
    let cases = one_liners(&doc);
    assert!(cases.len() >= 30, "docs/one-liners.md has {} one-liners, fewer than 30", cases.len());
    let mut failures = Vec::new();
    let (mut ran, mut compiled) = (0, 0);
    let machine = Machine::ask(Path::new(bin));
    let stats = VerifierStats::new("one-liners");
    for args in &cases {
        let shown = format!("rtrace {}", args.join(" "));
        if args.first().is_some_and(|a| a == "-l") {
            let out = Command::new(bin).args(args).output().expect("rtrace runs");
            if !out.status.success() || out.stdout.is_empty() {
                failures.push(format!("{shown}: listing failed or was empty: {}", String::from_utf8_lossy(&out.stderr)));
            }
            ran += 1;
            continue;
        }
        compiled += 1;
        match check_script(bin, args, host_can_run(&machine, args), &stats) {
            Ok(r) => ran += usize::from(r),
            Err(e) => {
                compiled -= 1;
                failures.push(e);
            }
        }
    }
    eprintln!("one-liners: {} in the doc, {compiled} compiled, {ran} ran here", cases.len());
    assert!(failures.is_empty(), "{} one-liners failed:\n\n{}", failures.len(), failures.join("\n\n"));
    stats.check("one-liners");
}
