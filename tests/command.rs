//! The `-c` command and signals, on the real kernel: whichever way rtrace ends (exit(),
//! SIGINT, SIGTERM, a failed attach, a failed load), the command and everything it started
//! end with it; the exit status says which ended first; and a signal that comes while rtrace
//! is still starting ends it as cleanly as one that comes while it traces.
//!
//! These need root, like tests/e2e.rs (RTRACE_SKIP_E2E=1 skips them).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::can_run_bpf;

fn rtrace(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rtrace"));
    c.env("RTRACE_CACHE", "0").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// A number no other process has in its command line: each test's commands carry it.
fn tag(test: u32) -> String {
    format!("{}{test}", 7_000_000 + std::process::id() % 1_000_000)
}

/// The live processes whose command line holds `tag` (the `sleep`s and their shells).
fn tagged(tag: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let cmdline = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).into_owned();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie && cmdline.contains(tag) {
            found.push(pid);
        }
    }
    found
}

/// Asserts nothing of `tag` is left running, and ends what is, so a failure leaves no
/// processes behind.
fn assert_none_left(tag: &str, how: &str) {
    // What rtrace ended may take a moment to be gone from /proc.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut left = tagged(tag);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        left = tagged(tag);
    }
    for &pid in &left {
        // SAFETY: plain kill(2) of a test's own leftover.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "{how}: the command outlived rtrace (pids {left:?})");
}

/// Waits for `child` to exit (at most `secs`), returning its exit code and stderr.
fn finish(mut child: Child, secs: u64) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rtrace did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    (status.code(), stderr)
}

/// Starts rtrace with `-v`, and returns once every probe is attached.
fn start_attached(args: &[&str]) -> Child {
    let mut child = rtrace(&[&["-v"], args].concat()).spawn().expect("rtrace starts");
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if seen.contains("Attached") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("rtrace attaches its probes");
    child
}

#[test]
fn the_command_and_what_it_started_end_when_exit_ends_the_trace() {
    if !can_run_bpf() {
        return;
    }
    let t = tag(1);
    // (Not writing to rtrace's stdout: a leftover would keep `output()` waiting.)
    let command = format!("sh -c 'exec > /dev/null 2>&1; sleep {t}1 & sleep {t}2'");
    let o = rtrace(&["-e", "interval:ms:300 { exit(); }", "-c", &command]).output().expect("rtrace runs");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_none_left(&t, "exit()");
}

#[test]
fn the_command_ends_when_a_signal_ends_the_trace() {
    if !can_run_bpf() {
        return;
    }
    for (n, signal) in [(2, libc::SIGINT), (3, libc::SIGTERM)] {
        let t = tag(n);
        // The shell ignores SIGTERM: it is killed once the grace period is over.
        let command = format!("sh -c 'trap \"\" TERM; sleep {t}1 & sleep {t}2; sleep {t}3'");
        let child = start_attached(&["-e", "interval:s:30 { exit(); }", "-c", &command]);
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let (code, _) = finish(child, 10);
        assert_eq!(code, Some(0), "signal {signal} ends the trace with status 0");
        assert_none_left(&t, &format!("signal {signal}"));
    }
}

#[test]
fn the_status_is_the_commands_when_it_ends_first() {
    if !can_run_bpf() {
        return;
    }
    let prog = "interval:s:30 { exit(); } END { printf(\"end\\n\"); }";
    for (command, status) in [("sh -c 'exit 3'", 3), ("sh -c 'kill -TERM $$'", 128 + libc::SIGTERM), ("true", 0)] {
        let o = rtrace(&["-e", prog, "-c", command]).output().expect("rtrace runs");
        assert_eq!(o.status.code(), Some(status), "-c {command}: {}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "end\n\n\n", "END still runs, then the trace's two closing newlines");
    }
    // The trace first: exit()'s status, though the command would have failed.
    let o = rtrace(&["-e", "BEGIN { exit(5); }", "-c", "sh -c 'exit 3'"]).output().expect("rtrace runs");
    assert_eq!(o.status.code(), Some(5));
}

/// A scratch file no process of this test run has created yet.
fn marker(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rtrace-command-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn a_failed_attach_or_load_runs_nothing() {
    if !can_run_bpf() {
        return;
    }
    let t = tag(4);
    for (what, prog, message) in [
        // The kernel refuses a breakpoint on a kernel address in a user process.
        ("attach", "watchpoint:0xffffffffffffff00:8:w { }", "could not attach"),
        ("load", "let @m = hash(4000000000); BEGIN { @m[1] = 1; }", "could not load"),
    ] {
        let touched = marker(what);
        let command = format!("sh -c 'exec > /dev/null 2>&1; touch {}; sleep {t}1'", touched.display());
        let o = rtrace(&["-e", prog, "-c", &command]).output().expect("rtrace runs");
        assert_eq!(o.status.code(), Some(1), "a failed {what}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(message), "{}", String::from_utf8_lossy(&o.stderr));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!touched.exists(), "a failed {what}: the command ran");
        assert_none_left(&t, what);
    }
}

#[test]
fn a_signal_while_starting_ends_the_trace_cleanly() {
    if !can_run_bpf() {
        return;
    }
    // rtrace opens its -o file after loading the programs and starting the command (held),
    // and before BEGIN: on a FIFO, that open waits for a reader, which holds rtrace there
    // while the signal comes.
    let fifo = marker("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let touched = marker("touched");
    let command = format!("touch {}", touched.display());
    let prog = "BEGIN { printf(\"begin\\n\"); } tracepoint:sched:sched_switch { @ = count(); } END { printf(\"end\\n\"); }";
    let mut child = rtrace(&["-o", &fifo.to_string_lossy(), "-e", prog, "-c", &command]).spawn().expect("rtrace starts");
    let wchan = format!("/proc/{}/wchan", child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    // Blocked in the kernel's `fifo_open`, in `wait_for_partner`.
    while !std::fs::read_to_string(&wchan).unwrap_or_default().contains("partner") {
        if Instant::now() > deadline {
            let _ = std::fs::remove_file(&fifo);
            let _ = child.kill();
            let _ = child.wait();
            panic!("rtrace never waited on its output FIFO");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(100));
    // Read whatever rtrace writes; with no writer left, the read ends at once.
    // SAFETY: open with a NUL-terminated path; the descriptor is owned by `out` below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    assert!(fd >= 0, "open the FIFO");
    // SAFETY: `fd` was just opened; making it blocking again.
    unsafe { libc::fcntl(fd, libc::F_SETFL, 0) };
    // SAFETY: `fd` is open and owned by nothing else.
    let mut out = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut text = String::new();
    let _ = out.read_to_string(&mut text);
    let (code, stderr) = finish(child, 10);
    let _ = std::fs::remove_file(&fifo);
    assert_eq!(code, Some(0), "SIGINT while starting ends rtrace cleanly, not by the signal: {stderr}");
    assert_eq!(text, "begin\nend\n\n\n", "BEGIN and END ran, nothing was attached");
    assert!(!touched.exists(), "the command ran, untraced");
}
