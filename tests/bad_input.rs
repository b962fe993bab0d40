//! The bad-input corpus: every script under `tests/bad-input/` is malformed or ill-typed, and
//! the real binary must refuse it the way a user should see it refused: exit status 1, a
//! diagnostic on stderr (`error[E....]`, or `error:` for the command line), nothing on
//! stdout, never a panic, an abort or a hang. Each case's stderr is an insta snapshot named
//! after its file (`tests/bad-input/snapshots/`), so a change to any message is reviewed.
//!
//! A case is `tests/bad-input/<category>-<what>.bt`. Its first lines may be comments that say
//! how to run it: `// ARGS: ...` (words placed after the file, split on spaces: positional
//! parameters and options) and `// ENV: NAME=value` (one variable a line). It runs as
//! `rtrace --dry-run tests/bad-input/NAME.bt ARGS...`, which needs no privileges and loads
//! nothing; sema still reads this machine's BTF and tracefs, so cases name only probes every
//! Debian kernel has. The environment is cleared of `BPFTRACE_*` and `RTRACE_*` first.
//!
//! Update with `INSTA_UPDATE=always cargo test --test bad_input` and review every snapshot:
//! each must name the problem clearly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Fewer cases than this means the glob or the directory went wrong.
const MIN_CASES: usize = 200;

/// Long enough for a debug build reading vmlinux BTF on a busy machine; a case past it hangs.
const TIMEOUT: Duration = Duration::from_secs(60);

struct Case {
    /// The file name without `.bt`: the snapshot's name.
    name: String,
    /// Relative to the repository, as diagnostics show it.
    path: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Case {
    /// The case in `file`, with the `// ARGS:` and `// ENV:` lines of its leading comments.
    fn read(root: &Path, file: &Path) -> Case {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("case names are UTF-8").to_string();
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let text = String::from_utf8_lossy(&bytes);
        let (mut args, mut env) = (Vec::new(), Vec::new());
        for line in text.lines().take_while(|l| l.starts_with("//")) {
            if let Some(words) = line.strip_prefix("// ARGS:") {
                args.extend(words.split(' ').filter(|w| !w.is_empty()).map(String::from));
            } else if let Some(var) = line.strip_prefix("// ENV:") {
                let (k, v) = var.trim().split_once('=').unwrap_or_else(|| panic!("{name}: `// ENV: NAME=value`, not `{line}`"));
                env.push((k.to_string(), v.to_string()));
            }
        }
        let path = file.strip_prefix(root).unwrap_or(file).display().to_string();
        Case { name, path, args, env }
    }

    /// The command line, for the snapshot's header and failure messages.
    fn command_line(&self) -> String {
        let env: String = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        let args: String = self.args.iter().map(|a| format!(" {a}")).collect();
        format!("{env}rtrace --dry-run {}{args}", self.path)
    }
}

struct Outcome {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

fn run(root: &Path, case: &Case) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtrace"));
    cmd.current_dir(root).arg("--dry-run").arg(&case.path).args(&case.args);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("BPFTRACE_") || k.starts_with("RTRACE_")) {
            cmd.env_remove(k);
        }
    }
    cmd.env("RTRACE_CACHE", "0").envs(case.env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("rtrace runs");
    // Read both pipes while waiting, so a chatty case cannot fill one and block.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for rtrace") {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("{}: still running after {TIMEOUT:?}", case.command_line());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = |t: std::thread::JoinHandle<Vec<u8>>| String::from_utf8_lossy(&t.join().expect("pipe reader")).into_owned();
    Outcome { status, stdout: text(out), stderr: text(err) }
}

/// What every case must show, whatever its message: None when it does.
fn misbehaviour(o: &Outcome) -> Option<String> {
    let diagnostic = regex_lite::Regex::new(r"(?m)^error(\[E\d{4}\])?: ").expect("valid regex");
    let why = if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&o.status) {
        format!("killed by signal {signal}")
    } else if o.status.code() != Some(1) {
        format!("exit status {}, not 1", o.status.code().unwrap_or(-1))
    } else if o.stderr.contains("panicked") || o.stderr.contains("RUST_BACKTRACE") {
        "a panic".to_string()
    } else if !diagnostic.is_match(&o.stderr) {
        "no `error[E....]:` or `error:` line".to_string()
    } else if !o.stdout.is_empty() {
        "output on stdout".to_string()
    } else {
        return None;
    };
    Some(why)
}

#[test]
fn every_bad_input_is_refused_with_a_diagnostic() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/bad-input");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/bad-input exists")
        .map(|e| e.expect("readable dir").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    files.sort();
    assert!(files.len() >= MIN_CASES, "expected at least {MIN_CASES} cases in {}, found {}", dir.display(), files.len());
    let cases: Vec<Case> = files.iter().map(|f| Case::read(&root, f)).collect();

    // Every snapshot belongs to a case, so a renamed or deleted case leaves nothing behind.
    let names: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for entry in std::fs::read_dir(dir.join("snapshots")).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_suffix(".snap") {
            assert!(names.contains(name), "tests/bad-input/snapshots/{file} has no case: remove it");
        }
    }

    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    for case in &cases {
        let outcome = run(&root, case);
        if let Some(why) = misbehaviour(&outcome) {
            failures.push(format!("{}: {why}\n{}{}", case.command_line(), outcome.stdout, outcome.stderr));
        }
        outcomes.push(outcome);
    }
    assert!(failures.is_empty(), "{} of {} cases misbehaved:\n\n{}", failures.len(), cases.len(), failures.join("\n"));

    // Every snapshot is compared (a mismatch is written as `.snap.new`), then the test fails
    // naming all that differ.
    let mut differ = Vec::new();
    for (case, outcome) in cases.iter().zip(&outcomes) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(dir.join("snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(case.command_line());
        let compared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| settings.bind(|| insta::assert_snapshot!(case.name.as_str(), outcome.stderr))));
        if compared.is_err() {
            differ.push(case.name.as_str());
        }
    }
    assert!(differ.is_empty(), "{} snapshots differ (review the .snap.new files): {}", differ.len(), differ.join(", "));
}
