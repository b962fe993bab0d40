//! End-to-end tests: the real `rtrace` binary loads real BPF into the running kernel.
//!
//! Cases live in `tests/e2e/*.test`, blocks separated by blank lines, in the spirit of
//! bpftrace's runtime tests:
//!
//! ```text
//! NAME behaviour_name
//! PROG one line of rtrace            (or FILE path/to/script.bt, relative to the repo; `-`
//!                                    reads it from STDIN)
//! EXPECT ~~~                         exact stdout, compared line by line after dropping
//! ...                                trailing blanks and blank lines
//! ~~~
//! EXPECT_REGEX regex                 some stdout line must match
//! STDERR text                        stderr must contain this text (`STDERR ~~~`: the
//!                                    lines up to `~~~`)
//! NOT_STDERR text                    stderr must not contain this text
//! EXIT 1                             expected exit status (default 0)
//! SETUP shell command                run before rtrace starts ($RTRACE is the binary)
//! WORKLOAD shell command             run once the probes are attached, then SIGINT
//!                                    ($RTRACE_PID is the tracer's pid)
//! TIMEOUT 10                         seconds (default 10)
//! CMD command args                   passed as `-c 'command args'` (rtrace ends when it exits)
//! REQUIRES key | no-key              run only where `rtrace --info` says the kernel has
//!                                    (lacks) feature `key` (`kprobes`, `kernel_breakpoints`,
//!                                    ...); `block-tmp`: /tmp on a block device (not tmpfs).
//!                                    Repeatable; before the first NAME, for the whole file.
//!                                    A case whose needs are unmet is skipped, with the reason,
//!                                    and so is one rtrace refuses with E0250 for a feature
//!                                    `--info` says the kernel lacks (older kernels)
//! PID_FILE path                      passed as `-p <the pid in that file>` (written by SETUP)
//! OPTS --unsafe                      options before the program (split on spaces, but a
//!                                    'quoted part' is one word); a case
//!                                    with `OPTS -l PATTERN` needs no program
//! ARGS a b                           positional parameters after it (split on spaces)
//! ENV NAME=value                     an environment variable for rtrace (repeatable)
//! STDIN text                         rtrace's standard input (a line; empty otherwise)
//! # comment
//! ```
//!
//! RTRACE_E2E_FILTER=text runs the cases whose names contain it; RTRACE_E2E_BIN=path runs
//! another rtrace binary; RTRACE_E2E_SLOW=N multiplies
//! every timeout and wait by N, for a slow machine (the suite under TCG in tests/vm).
//!
//! These need root and BPF. Without them every case fails with one clear message, unless
//! RTRACE_SKIP_E2E=1 says to skip them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{Machine, VerifierStats};

#[derive(Debug, Default, Clone)]
struct Case {
    file: String,
    name: String,
    prog: Option<String>,
    script: Option<String>,
    expect: Option<String>,
    expect_regex: Vec<String>,
    stderr: Vec<String>,
    not_stderr: Vec<String>,
    exit: i32,
    workload: Option<String>,
    setup: Option<String>,
    timeout: u64,
    cmd: Option<String>,
    requires: Vec<String>,
    pid_file: Option<String>,
    opts: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
}

fn parse_cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("readable .test file");
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    // REQUIRES before the first case: every case of the file needs it.
    let mut file_requires = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        if key == "NAME" {
            if let Some(c) = cur.take() {
                cases.push(c);
            }
            cur = Some(Case { file: file.clone(), name: rest.to_string(), timeout: 10, requires: file_requires.clone(), ..Case::default() });
            continue;
        }
        let Some(c) = cur.as_mut() else {
            if key == "REQUIRES" {
                file_requires.push(rest.trim().to_string());
            }
            continue;
        };
        match key {
            "PROG" => c.prog = Some(rest.to_string()),
            "OPTS" => c.opts = words(rest),
            "ARGS" => c.args = rest.split_whitespace().map(str::to_string).collect(),
            "ENV" => c.env.extend(rest.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))),
            "FILE" => c.script = Some(rest.to_string()),
            "EXPECT" => {
                let mut body = Vec::new();
                for l in lines.by_ref() {
                    if l == "~~~" {
                        break;
                    }
                    body.push(l);
                }
                c.expect = Some(body.join("\n"));
            }
            "EXPECT_REGEX" => c.expect_regex.push(rest.to_string()),
            // `STDERR ~~~`: the lines up to `~~~`, one after the other.
            "STDERR" if rest == "~~~" => c.stderr.push(lines.by_ref().take_while(|l| *l != "~~~").collect::<Vec<_>>().join("\n")),
            "STDERR" => c.stderr.push(rest.to_string()),
            "NOT_STDERR" => c.not_stderr.push(rest.to_string()),
            "EXIT" => c.exit = rest.trim().parse().expect("EXIT takes a number"),
            "WORKLOAD" => c.workload = Some(rest.to_string()),
            "SETUP" => c.setup = Some(rest.to_string()),
            "TIMEOUT" => c.timeout = rest.trim().parse().expect("TIMEOUT takes seconds"),
            "CMD" => c.cmd = Some(rest.to_string()),
            "REQUIRES" => c.requires.push(rest.trim().to_string()),
            "PID_FILE" => c.pid_file = Some(rest.trim().to_string()),
            "STDIN" => c.stdin = Some(format!("{rest}\n")),
            "" => {}
            k if k.starts_with('#') => {}
            other => panic!("{file}: unknown directive {other:?} in case {}", c.name),
        }
    }
    cases.extend(cur);
    cases
}

/// Lines with trailing blanks removed and blank lines dropped: bpftrace 0.17 and current
/// bpftrace differ only there.
fn normalise(s: &str) -> Vec<String> {
    s.lines().map(|l| l.trim_end().to_string()).filter(|l| !l.is_empty()).collect()
}

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
}

/// `rest` split on blanks, where a part in single quotes is one word (without them).
fn words(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (word, after) = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split_once('\'').unwrap_or((quoted, "")),
            None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
        };
        out.push(word.to_string());
        rest = after.trim_start();
    }
    out
}

fn run_case(bin: &Path, root: &Path, c: &Case, stats: &VerifierStats) -> Result<Outcome, String> {
    if let Some(s) = &c.setup {
        let st = Command::new("sh").arg("-c").arg(s).env("RTRACE", bin).status().expect("setup runs");
        if !st.success() {
            return Err(format!("setup failed: {s}"));
        }
    }
    let mut cmd = Command::new(bin);
    // Every case compiles: the compile cache has its own test (tests/cache.rs).
    cmd.env("RTRACE_CACHE", "0");
    cmd.env("RTRACE_VERIFIER_STATS", &stats.path);
    if let Some(command) = &c.cmd {
        cmd.arg("-c").arg(command);
    }
    if let Some(f) = &c.pid_file {
        let pid = std::fs::read_to_string(f).map_err(|e| format!("PID_FILE {f}: {e}"))?;
        cmd.arg("-p").arg(pid.trim());
    }
    cmd.args(&c.opts);
    // A workload runs once every probe is live, which `-v` announces ("Attached N probes").
    if c.workload.is_some() && !c.opts.iter().any(|o| o == "-v") {
        cmd.arg("-v");
    }
    cmd.envs(c.env.iter().cloned());
    match (&c.prog, &c.script) {
        (Some(p), _) => cmd.arg("-e").arg(p),
        (None, Some(f)) if f == "-" => cmd.arg(f),
        (None, Some(f)) => cmd.arg(root.join(f)),
        // `OPTS -l PATTERN` lists, with no program.
        (None, None) if c.opts.first().is_some_and(|o| o.starts_with("-l")) => &mut cmd,
        _ => panic!("case {} has neither PROG nor FILE", c.name),
    };
    cmd.args(&c.args);
    let input = if c.stdin.is_some() { Stdio::piped() } else { Stdio::null() };
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(input).spawn().expect("rtrace starts");
    if let (Some(text), Some(mut pipe)) = (&c.stdin, child.stdin.take()) {
        use std::io::Write;
        let _ = pipe.write_all(text.as_bytes());
    }
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(all.clone());
        }
        all
    });
    let slow = slowdown();
    let deadline = Instant::now() + Duration::from_secs(c.timeout * slow);
    if let Some(w) = &c.workload {
        // Wait for the probes: `-v` prints "Attached N probes" once every one is live (a
        // loaded machine may take long to attach; the old wait for "Attaching" plus a fixed
        // margin lost events there). A tracer that ended meanwhile is not waited for.
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(s) if s.contains("Attached ") => break,
                _ if child.try_wait().ok().flatten().is_some() => break,
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(100 * slow));
        let st = Command::new("sh").arg("-c").arg(w).env("RTRACE_PID", child.id().to_string()).status().expect("workload runs");
        if !st.success() {
            // Never leave a tracer running behind a failed test.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("workload failed: {w}"));
        }
        std::thread::sleep(Duration::from_millis(200 * slow));
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    }
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait works") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", c.timeout * slow));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Outcome { status: status.code().unwrap_or(-1), stdout: out_reader.join().unwrap_or_default(), stderr: err_reader.join().unwrap_or_default() })
}

/// RTRACE_E2E_SLOW: how many times slower than this host the machine is (1 when unset).
fn slowdown() -> u64 {
    std::env::var("RTRACE_E2E_SLOW").ok().and_then(|s| s.parse().ok()).filter(|n| *n > 0).unwrap_or(1)
}

fn check(c: &Case, o: &Outcome) -> Result<(), String> {
    let ctx = || format!("--- stdout ---\n{}--- stderr ---\n{}", o.stdout, o.stderr);
    if o.status != c.exit {
        return Err(format!("exit status {} (expected {})\n{}", o.status, c.exit, ctx()));
    }
    if let Some(e) = &c.expect {
        let (want, got) = (normalise(e), normalise(&o.stdout));
        if want != got {
            return Err(format!("stdout differs\n--- expected ---\n{}\n{}", want.join("\n"), ctx()));
        }
    }
    for r in &c.expect_regex {
        let re = regex_lite::Regex::new(r).map_err(|e| format!("bad regex {r}: {e}"))?;
        if !o.stdout.lines().any(|l| re.is_match(l)) {
            return Err(format!("no stdout line matches /{r}/\n{}", ctx()));
        }
    }
    for s in &c.stderr {
        if !o.stderr.contains(s.as_str()) {
            return Err(format!("stderr lacks {s:?}\n{}", ctx()));
        }
    }
    if let Some(s) = c.not_stderr.iter().find(|s| o.stderr.contains(s.as_str())) {
        return Err(format!("stderr has {s:?}\n{}", ctx()));
    }
    if o.stderr.contains("panicked") {
        return Err(format!("rtrace panicked\n{}", ctx()));
    }
    Ok(())
}

fn bpf_available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the end-to-end tests load BPF programs and must run as root".into());
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() && !Path::new("/sys/fs/bpf").exists() {
        return Err("this kernel shows no BPF support (/sys/fs/bpf missing)".into());
    }
    Ok(())
}

#[test]
fn e2e() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if std::env::var("RTRACE_SKIP_E2E").as_deref() == Ok("1") {
        eprintln!("RTRACE_SKIP_E2E=1: end-to-end tests skipped");
        return;
    }
    if let Err(why) = bpf_available() {
        panic!("{why}. Run the tests as root on a kernel with BPF, or set RTRACE_SKIP_E2E=1 to skip them.");
    }
    // RTRACE_E2E_BIN: another build of rtrace (the VM runs a copy, not the one cargo rebuilds).
    let bin = std::env::var_os("RTRACE_E2E_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rtrace")), PathBuf::from);
    let filter = std::env::var("RTRACE_E2E_FILTER").unwrap_or_default();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("tests/e2e"))
        .expect("tests/e2e exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    paths.sort();
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), Vec::new());
    let machine = Machine::ask(&bin);
    let stats = VerifierStats::new("e2e");
    for p in paths {
        for c in parse_cases(&p) {
            if !c.name.contains(&filter) {
                continue;
            }
            if let Some(why) = machine.unmet(&c.requires) {
                skipped.push(format!("{}::{} ({why})", c.file, c.name));
                continue;
            }
            let outcome = run_case(&bin, &root, &c, &stats);
            // A kernel of the matrix without what the script needs: rtrace must refuse it
            // with E0250 (never a verifier rejection), and that is the case's result there.
            let expects_refusal = c.stderr.iter().any(|s| s.contains("E0250"));
            if let Some(why) = outcome.as_ref().ok().filter(|_| !expects_refusal).and_then(|o| machine.refused(&o.stderr)) {
                stats.take(&c.name);
                skipped.push(format!("{}::{} ({why})", c.file, c.name));
                continue;
            }
            let result = outcome.and_then(|o| check(&c, &o));
            stats.take(&format!("{}::{}", c.file, c.name));
            match result {
                Ok(()) => passed += 1,
                Err(e) => {
                    eprintln!("FAIL {}::{}\n{e}\n", c.file, c.name);
                    failed.push(format!("{}::{}", c.file, c.name));
                }
            }
        }
    }
    for s in &skipped {
        eprintln!("skipped {s}");
    }
    eprintln!("e2e: {passed} passed, {} failed, {} skipped", failed.len(), skipped.len());
    // The run's record for docs/kernels.md (scripts/kernels-doc.sh); a whole run only, and
    // nothing where the repository is read-only (the suite in a VM).
    if filter.is_empty() {
        let skips: String = skipped.iter().map(|s| format!("SKIP {s}\n")).collect();
        let _ = std::fs::write(root.join("target/e2e-host.txt"), format!("COUNTS {passed} {} {}\n{skips}", failed.len(), skipped.len()));
    }
    assert!(passed > 0, "no end-to-end case ran");
    stats.check("e2e");
    assert!(failed.is_empty(), "failed end-to-end cases: {failed:?}");
}
