//! Faults, on the real kernel (issue 16; RELIABILITY.md tabulates them):
//!
//! - teardown: however a run ends (exit(), SIGINT, SIGTERM, SIGHUP, its stdout's reader
//!   going away, the -c command or the -p process exiting, an attach failing halfway
//!   through a script, a load failing, a second Ctrl-C while the maps print), no BPF
//!   program, map, link or BTF object of rtrace's is left, and the output it produced is
//!   whole lines;
//! - losses: a stalled reader (the ring buffer overflows), a slow consumer on a pipe, a full
//!   map, reads of bad addresses, a full stack map, a full `-o` file system: each is
//!   provoked and rtrace reports it with a count, which accounts for every event exactly;
//!   and a stopped reader is not woken once per event (which slowed the traced task).
//!
//! Other people's BPF work runs on the same machine meanwhile (other test suites, other
//! tracers), so "nothing left" is decided per object (ids from bpf(2) GET_NEXT_ID, holders
//! from /proc/*/fdinfo; no bpftool needed): the objects rtrace's own descriptors held while
//! it ran must be gone once it has exited; of the objects created while it ran, none may
//! remain that a process of this test holds (an inherited descriptor), and no link or
//! rtrace-named map that no process holds (pinned or leaked). Objects another process holds
//! are that process's. See `leftovers`.
//!
//! Events come from this test process's own `getpgid(MAGIC)` calls (ESRCH, harmless), with
//! a MAGIC argument no other process passes, so the counts are exact. These need root
//! (RTRACE_SKIP_E2E=1 skips them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{can_run_bpf, Machine};

// ---------------------------------------------------------------------------------------
// BPF objects: what exists (bpf(2) GET_NEXT_ID) and who holds it (/proc/PID/fdinfo)

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Prog,
    Map,
    Link,
    Btf,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Prog, Kind::Map, Kind::Link, Kind::Btf];

    /// BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID.
    fn next_id_cmd(self) -> i64 {
        match self {
            Kind::Prog => 11,
            Kind::Map => 12,
            Kind::Btf => 23,
            Kind::Link => 31,
        }
    }

    /// Its id's line in an fdinfo file.
    fn fdinfo_key(self) -> &'static str {
        match self {
            Kind::Prog => "prog_id:",
            Kind::Map => "map_id:",
            Kind::Link => "link_id:",
            Kind::Btf => "btf_id:",
        }
    }
}

type Object = (Kind, u32);

/// Every BPF object of the system now.
fn existing() -> BTreeSet<Object> {
    #[repr(C)]
    struct Attr {
        start_id: u32,
        next_id: u32,
        open_flags: u32,
    }
    let mut all = BTreeSet::new();
    for kind in Kind::ALL {
        let mut start = 0;
        loop {
            let mut attr = Attr { start_id: start, next_id: 0, open_flags: 0 };
            // SAFETY: bpf(2) with a valid attribute of the size given.
            let r = unsafe { libc::syscall(libc::SYS_bpf, kind.next_id_cmd(), &mut attr as *mut Attr, std::mem::size_of::<Attr>() as u32) };
            if r != 0 {
                break;
            }
            all.insert((kind, attr.next_id));
            start = attr.next_id;
        }
    }
    all
}

/// The objects process `pid`'s descriptors hold (a link's program too), and how many of
/// its descriptors are perf events.
fn held_by(pid: u32) -> (BTreeSet<Object>, usize) {
    let mut objects = BTreeSet::new();
    let mut perf = 0;
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return (objects, 0) };
    for fd in fds.filter_map(|e| e.ok()) {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        if target.to_string_lossy().contains("perf_event") {
            perf += 1;
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy())).unwrap_or_default();
        for line in info.lines() {
            for kind in Kind::ALL {
                if let Some(id) = line.strip_prefix(kind.fdinfo_key()).and_then(|v| v.trim().parse().ok()) {
                    objects.insert((kind, id));
                }
            }
        }
    }
    (objects, perf)
}

/// Every live process and the objects it holds.
fn holders() -> BTreeMap<Object, Vec<u32>> {
    let mut map: BTreeMap<Object, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        for object in held_by(pid).0 {
            map.entry(object).or_default().push(pid);
        }
    }
    map
}

fn cmdline(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ")
}

/// A map's name (BPF_MAP_GET_FD_BY_ID, then BPF_OBJ_GET_INFO_BY_FD); None once it is gone.
fn map_name(id: u32) -> Option<String> {
    #[repr(C)]
    struct ById {
        id: u32,
        next_id: u32,
        open_flags: u32,
    }
    #[repr(C)]
    struct InfoByFd {
        fd: u32,
        info_len: u32,
        info: u64,
    }
    let by_id = ById { id, next_id: 0, open_flags: 0 };
    // SAFETY: bpf(2) with a valid attribute of the size given.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 14i64, &by_id as *const ById, std::mem::size_of::<ById>() as u32) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a descriptor just returned and owned by nothing else.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    // struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, name[16].
    let mut info = [0u8; 64];
    let attr = InfoByFd { fd: std::os::fd::AsRawFd::as_raw_fd(&fd) as u32, info_len: info.len() as u32, info: info.as_mut_ptr() as u64 };
    // SAFETY: bpf(2) with a valid attribute; the kernel writes at most `info_len` bytes.
    let r = unsafe { libc::syscall(libc::SYS_bpf, 15i64, &attr as *const InfoByFd, std::mem::size_of::<InfoByFd>() as u32) };
    (r == 0).then(|| String::from_utf8_lossy(&info[24..40]).trim_end_matches('\0').to_string())
}

/// What rtrace may have left, in a window that began with `before`: what its descriptors
/// held while it ran (`seen`) and still exists; what was created since `before` and is held
/// by a process whose command line holds `tag` (this test's command, holding an inherited
/// descriptor); and what was created since `before` that no descriptor holds, where only a
/// pin or a leak could hold it: links, and maps named as rtrace names them (`rt_*`,
/// `map_N`). (Programs and BTF are left out of the last: another tool's program attached
/// to its perf event, or another tracer's BTF, is held by no descriptor of its own, and
/// rtrace's own programs are all in `seen` or hold a map of its.)
fn leftovers(before: &BTreeSet<Object>, seen: &BTreeSet<Object>, tag: Option<&str>) -> Vec<String> {
    let now = existing();
    let holders = holders();
    let mut left = Vec::new();
    for object in now.difference(before) {
        let by = holders.get(object).cloned().unwrap_or_default();
        let ours: Vec<&u32> = by.iter().filter(|p| tag.is_some_and(|t| cmdline(**p).contains(t))).collect();
        let rtrace_named = || match object.0 {
            Kind::Link => true,
            Kind::Map => map_name(object.1).is_some_and(|n| n.starts_with("rt_") || n.starts_with("map_")),
            Kind::Prog | Kind::Btf => false,
        };
        if seen.contains(object) {
            left.push(format!("{object:?} (rtrace held it; now held by {by:?})"));
        } else if !ours.is_empty() {
            left.push(format!("{object:?} (held by this test's processes {ours:?})"));
        } else if by.is_empty() && rtrace_named() {
            left.push(format!("{object:?} (created during the run, held by no process)"));
        }
    }
    left
}

/// Asserts that rtrace (exited) left nothing behind. The kernel frees an object shortly after
/// its last reference goes (after an RCU grace period), so the check is repeated for a while
/// before it fails.
fn assert_nothing_left(before: &BTreeSet<Object>, seen: &BTreeSet<Object>, tag: Option<&str>, how: &str) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    loop {
        let left = leftovers(before, seen, tag);
        if left.is_empty() {
            let count = |k: Kind| seen.iter().filter(|o| o.0 == k).count();
            let held = if seen.is_empty() {
                "rtrace ended before it could be sampled".to_string()
            } else {
                format!("rtrace held {} programs, {} maps, {} links", count(Kind::Prog), count(Kind::Map), count(Kind::Link))
            };
            // The measured line RELIABILITY.md quotes (`cargo test --test reliability -- --nocapture`).
            eprintln!("RELIABILITY {how}: {held}; nothing left ({} ms after exit)", start.elapsed().as_millis());
            return;
        }
        if Instant::now() > deadline {
            panic!("{how}: BPF objects left after rtrace exited: {left:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------
// Running rtrace

fn rtrace(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rtrace"));
    c.env("RTRACE_CACHE", "0").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// A number no other process passes to getpgid: this test process's, per case. Each case
/// owns the 131,072 numbers from it (the map cases use ranges of keys), and this process
/// 16 such ranges.
fn magic(case: u32) -> i32 {
    assert!(case < 16);
    0x4000_0000 + (std::process::id() as i32 % 500) * 0x20_0000 + case as i32 * 0x2_0000
}

/// `n` getpgid(arg) calls from this process (each fails with ESRCH).
fn getpgid_calls(arg: i32, n: usize) {
    for _ in 0..n {
        // SAFETY: getpgid has no memory effects.
        unsafe { libc::getpgid(arg) };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stdout {
    Collect,
    Held,
    Caller,
}

/// rtrace with `-v`, which says when every probe is attached.
fn traced(args: &[&str]) -> Command {
    rtrace(&[&["-v"], args].concat())
}

/// A running rtrace (started with -v), its output collected by threads.
struct Run {
    child: Child,
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: std::thread::JoinHandle<String>,
    /// Releases the stdout reader, when it was held.
    release_stdout: Option<mpsc::Sender<()>>,
    /// What rtrace's descriptors held once attached.
    seen: BTreeSet<Object>,
    perf_events: usize,
}

impl Run {
    /// Starts rtrace (a `traced` command) and returns once it says every probe is attached
    /// (or it exited). Its stdout is collected by a thread, which with `Stdout::Held` reads
    /// nothing until `release_stdout`; `Stdout::Caller` leaves it to the caller.
    fn start(mut cmd: Command, mode: Stdout) -> Run {
        let mut child = cmd.spawn().expect("rtrace starts");
        let stderr = child.stderr.take().expect("piped");
        let (attached_tx, attached_rx) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            let mut lines = BufReader::new(stderr);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                if line.starts_with("Attached ") {
                    let _ = attached_tx.send(());
                }
                all.push_str(&line);
                line.clear();
            }
            all
        });
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let stdout = (mode != Stdout::Caller).then(|| {
            let mut out = child.stdout.take().expect("piped");
            std::thread::spawn(move || {
                if mode == Stdout::Held {
                    let _ = release_rx.recv();
                }
                let mut bytes = Vec::new();
                let _ = out.read_to_end(&mut bytes);
                bytes
            })
        });
        let _ = attached_rx.recv_timeout(Duration::from_secs(30));
        let (seen, perf_events) = held_by(child.id());
        Run { child, stdout, stderr, release_stdout: (mode == Stdout::Held).then_some(release_tx), seen, perf_events }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    fn release_stdout(&mut self) {
        if let Some(tx) = self.release_stdout.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for rtrace to exit (failing the test after `secs`): its status, stdout, stderr.
    fn finish(mut self, secs: u64) -> (std::process::ExitStatus, String, String) {
        self.release_stdout();
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("rtrace did not end within {secs} s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = self.stdout.take().map(|t| t.join().expect("stdout reader")).unwrap_or_default();
        let err = self.stderr.join().expect("stderr reader");
        (status, String::from_utf8_lossy(&out).into_owned(), err)
    }
}

/// Skips (returning None) without root or without what the case needs, saying why.
fn machine(requires: &[&str]) -> Option<Machine> {
    if !can_run_bpf() {
        return None;
    }
    let m = Machine::ask(env!("CARGO_BIN_EXE_rtrace").as_ref());
    if let Some(why) = m.unmet(&requires.iter().map(|r| r.to_string()).collect::<Vec<_>>()) {
        eprintln!("skipped: {why}");
        return None;
    }
    Some(m)
}

/// "Lost N events" lines, summed.
fn lost_events(stderr: &str) -> u64 {
    stderr.lines().filter_map(|l| l.strip_prefix("Lost ")?.strip_suffix(" events")?.parse::<u64>().ok()).sum()
}

/// Every line of `out` is whole and one `expected` accepts (the empty lines the trace ends
/// with, as bpftrace's, aside).
fn assert_whole_lines(out: &str, expected: impl Fn(&str) -> bool, how: &str) {
    assert!(out.is_empty() || out.ends_with('\n'), "{how}: the output ends in a torn line: {:?}", &out[out.len().saturating_sub(80)..]);
    if let Some(bad) = out.lines().find(|l| !l.is_empty() && !expected(l)) {
        panic!("{how}: a line that is not whole: {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Teardown

/// A script that streams printf lines (every millisecond), keeps maps, and prints at END:
/// its probes are a perf event (interval), a tracepoint (also a perf event) and a raw
/// tracepoint (a BPF link).
const STREAM: &str = r#"interval:ms:1 { @n = count(); printf("tick %d\n", 123456789); } tracepoint:sched:sched_switch { @s[cpu] = count(); } rawtracepoint:sched_wakeup { @w = count(); } END { printf("end\n"); }"#;

fn stream_line(l: &str) -> bool {
    l == "tick 123456789" || l == "end" || l.is_empty() || l.starts_with("@n: ") || l.starts_with("@s[") || l.starts_with("@w: ")
}

#[test]
fn a_signal_ends_the_trace_with_nothing_left_and_whole_lines() {
    let Some(_) = machine(&["tracepoints", "raw_tracepoints", "software_events"]) else { return };
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let before = existing();
        let run = Run::start(traced(&["-e", STREAM]), Stdout::Collect);
        assert!(
            run.seen.iter().any(|o| o.0 == Kind::Link) && run.perf_events > 0,
            "{name}: rtrace held no BPF link or no perf events once attached: {:?}",
            run.seen
        );
        eprintln!("RELIABILITY {name}: rtrace held {} perf events (attached programs) while tracing", run.perf_events);
        std::thread::sleep(Duration::from_millis(300));
        run.signal(signal);
        let seen = run.seen.clone();
        let (status, out, err) = run.finish(30);
        assert_eq!(status.code(), Some(0), "{name} ends the trace, not rtrace: {err}");
        assert!(out.contains("tick 123456789\n") && out.contains("end\n") && out.contains("@n: "), "{name}: the output: {out}");
        assert_whole_lines(&out, stream_line, name);
        eprintln!("RELIABILITY {name}: status 0, {} output lines, all whole, END's output and the maps printed", out.lines().count());
        assert_nothing_left(&before, &seen, None, name);
    }
}

#[test]
fn exit_ends_the_trace_with_nothing_left() {
    let Some(_) = machine(&["tracepoints", "raw_tracepoints", "software_events"]) else { return };
    let before = existing();
    // A map loop's body is a callback, which needs BTF loaded with its program.
    let prog = format!("{} interval:ms:300 {{ for ($kv : @s) {{ @t = count(); }} exit(); }}", STREAM);
    let run = Run::start(traced(&["-e", &prog]), Stdout::Collect);
    assert!(!run.seen.is_empty(), "rtrace held no BPF objects once attached");
    let seen = run.seen.clone();
    let (status, out, err) = run.finish(30);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_whole_lines(&out, |l| stream_line(l) || l.starts_with("@t: "), "exit()");
    assert_nothing_left(&before, &seen, None, "exit()");
}

#[test]
fn a_reader_that_goes_away_ends_the_trace_quietly() {
    // `rtrace ... | head -1`: the pipe's reader takes one line and exits.
    let Some(_) = machine(&["tracepoints", "raw_tracepoints", "software_events"]) else { return };
    let before = existing();
    let mut child = rtrace(&["-v", "-e", STREAM]).spawn().expect("rtrace starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first).expect("a line");
    let (seen, _) = held_by(child.id());
    assert_eq!(first, "tick 123456789\n");
    drop(out);
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut err).expect("stderr");
    assert_eq!(status.code(), Some(0), "a closed stdout ends the trace, which is no error: {err}");
    assert!(!err.contains("error"), "nothing to complain about: {err}");
    assert_nothing_left(&before, &seen, None, "stdout closed");
}

#[test]
fn the_command_or_process_exiting_ends_the_trace_with_nothing_left() {
    let Some(_) = machine(&["tracepoints", "raw_tracepoints", "software_events"]) else { return };
    let tag = format!("{}", 7_100_000 + std::process::id() % 1_000_000);
    // -c: the command reads its stdin (rtrace's) and exits at its end.
    let before = existing();
    let mut cmd = traced(&["-e", STREAM, "-c", &format!("sh -c 'read x; exit 0; {tag}'")]);
    cmd.stdin(Stdio::piped());
    let mut run = Run::start(cmd, Stdout::Collect);
    assert!(!run.seen.is_empty(), "-c: rtrace held no BPF objects once attached");
    std::thread::sleep(Duration::from_millis(200));
    drop(run.child.stdin.take());
    let seen = run.seen.clone();
    let (status, out, err) = run.finish(30);
    assert_eq!(status.code(), Some(0), "-c: the command's status: {err}");
    assert_whole_lines(&out, stream_line, "-c");
    assert!(out.contains("end\n"), "-c: END ran");
    assert_nothing_left(&before, &seen, Some(&tag), "-c command exited");

    // -p: a process of this test's, killed while traced.
    let before = existing();
    let mut target = Command::new("sleep").arg("1000").spawn().expect("sleep starts");
    let pid = target.id().to_string();
    let run = Run::start(traced(&["-e", STREAM, "-p", &pid]), Stdout::Collect);
    assert!(!run.seen.is_empty(), "-p: rtrace held no BPF objects once attached");
    std::thread::sleep(Duration::from_millis(200));
    let _ = target.kill();
    let _ = target.wait();
    let seen = run.seen.clone();
    let (status, out, err) = run.finish(30);
    assert_eq!(status.code(), Some(0), "-p: {err}");
    assert_whole_lines(&out, stream_line, "-p");
    assert_nothing_left(&before, &seen, Some(&tag), "-p process exited");
}

#[test]
fn a_uprobe_multi_link_is_detached_when_the_trace_ends() {
    // A wildcard over functions of this test's own binary: one uprobe_multi link, no perf event.
    let Some(_) = machine(&["uprobes", "uprobe_multi"]) else { return };
    let exe = std::env::current_exe().expect("the test binary");
    let prog = format!("uprobe:{}:*reliability*a_uprobe_multi_link* {{ @calls[func] = count(); }}", exe.display());
    let before = existing();
    let run = Run::start(traced(&["-e", &prog]), Stdout::Collect);
    let links = run.seen.iter().filter(|o| o.0 == Kind::Link).count();
    assert!(links == 1 && run.perf_events == 0, "one uprobe_multi link and no perf event once attached: {links} links, {} perf events", run.perf_events);
    run.signal(libc::SIGINT);
    let seen = run.seen.clone();
    let (status, _, err) = run.finish(30);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains(" more: "), "the wildcard is one program: {err}");
    assert_nothing_left(&before, &seen, None, "uprobe_multi link");
}

/// Waits (at most 30 s) until process `pid` blocks opening a FIFO for writing.
fn wait_on_fifo(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default().contains("partner") {
        assert!(Instant::now() < deadline, "rtrace never waited on its output FIFO");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fifo(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("rtrace-reliability-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    path
}

#[test]
fn an_attach_failing_halfway_leaves_nothing() {
    // Two tracepoints attach, then the kernel refuses the breakpoint on a kernel address in
    // a user process. rtrace opens its -o FIFO after loading every program and before
    // attaching: held there, it shows what it loaded.
    let Some(_) = machine(&["tracepoints", "user_breakpoints"]) else { return };
    let tag = format!("{}", 7_200_000 + std::process::id() % 1_000_000);
    let out = fifo("attach");
    let prog = "tracepoint:sched:sched_switch { @a = count(); } tracepoint:syscalls:sys_enter_getpgid { @b = count(); } watchpoint:0xffffffffffffff00:8:w { @c = count(); }";
    let before = existing();
    let mut child = rtrace(&["-o", &out.to_string_lossy(), "-e", prog, "-c", &format!("sleep {tag}")]).spawn().expect("rtrace starts");
    wait_on_fifo(child.id());
    let (seen, _) = held_by(child.id());
    assert!(seen.iter().filter(|o| o.0 == Kind::Prog).count() >= 3, "every program is loaded before attaching: {seen:?}");
    let reader = std::fs::File::open(&out).expect("open the FIFO");
    let status = child.wait().expect("wait");
    drop(reader);
    let _ = std::fs::remove_file(&out);
    let mut err = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut err).expect("stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("could not attach"), "{err}");
    assert_nothing_left(&before, &seen, Some(&tag), "attach failed halfway");
}

#[test]
fn a_load_failing_leaves_nothing() {
    // The second user map is too large to create; the first exists by then.
    let Some(_) = machine(&["tracepoints"]) else { return };
    let before = existing();
    let o =
        rtrace(&["-e", "let @a = hash(16); let @m = hash(4000000000); tracepoint:sched:sched_switch { @a[1] = 1; @m[1] = 1; }"]).output().expect("rtrace runs");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("could not load"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_nothing_left(&before, &BTreeSet::new(), None, "load failed");
}

#[test]
fn a_second_ctrl_c_while_the_maps_print_ends_rtrace_at_once() {
    let Some(_) = machine(&["tracepoints", "percpu_hash"]) else { return };
    let m = magic(1);
    let keys = 100_000;
    let prog = format!("tracepoint:syscalls:sys_enter_getpgid /args.pid >= {m} && args.pid < {m} + {keys}/ {{ @m[args.pid] = count(); }}");
    let before = existing();
    let mut cmd = traced(&["-e", &prog]);
    cmd.env("BPFTRACE_MAX_MAP_KEYS", keys.to_string());
    let mut run = Run::start(cmd, Stdout::Caller);
    let mut out = BufReader::new(run.child.stdout.take().expect("piped"));
    for i in 0..keys {
        getpgid_calls(m + i, 1);
    }
    let seen = run.seen.clone();
    run.signal(libc::SIGINT);
    // The map's first lines: printing has begun, and blocks on the pipe (the map is ~2 MB).
    let mut line = String::new();
    while !line.starts_with("@m[") {
        line.clear();
        assert!(out.read_line(&mut line).expect("stdout") > 0, "the map was never printed");
    }
    run.signal(libc::SIGINT);
    let (status, _, err) = run.finish(30);
    drop(out);
    assert_eq!(status.signal(), Some(libc::SIGINT), "the second SIGINT ends rtrace (by the signal): {status:?} {err}");
    eprintln!("RELIABILITY second SIGINT: sent while the {keys}-key map printed (blocked on the pipe); rtrace ended by SIGINT");
    assert_nothing_left(&before, &seen, None, "second SIGINT");
}

// ---------------------------------------------------------------------------------------
// Losses, each counted

/// A printf per getpgid(magic) call.
fn printf_per_call(m: i32) -> String {
    format!(r#"tracepoint:syscalls:sys_enter_getpgid /args.pid == {m}/ {{ printf("event %d\n", args.pid); }}"#)
}

/// Every event was either printed or reported lost, and some were lost.
fn assert_accounted(out: &str, err: &str, m: i32, calls: u64, how: &str) {
    let delivered = out.lines().filter(|l| *l == format!("event {m}")).count() as u64;
    let lost = lost_events(err);
    eprintln!(
        "RELIABILITY {how}: {calls} events, {delivered} printed, {lost} reported lost (\"Lost N events\"), {} unaccounted",
        calls as i64 - (delivered + lost) as i64
    );
    assert!(lost > 0, "{how}: nothing was lost ({delivered} of {calls} printed): the case provoked nothing");
    assert_eq!(delivered + lost, calls, "{how}: printed {delivered} + lost {lost} is not the {calls} events");
    assert_whole_lines(out, |l| l == format!("event {m}"), how);
}

#[test]
fn a_stalled_reader_overflows_the_ring_buffer_and_every_loss_is_counted() {
    let Some(_) = machine(&["tracepoints", "ringbuf"]) else { return };
    let m = magic(2);
    let calls = 400_000;
    let run = Run::start(traced(&["-e", &printf_per_call(m)]), Stdout::Collect);
    // The 4 MiB ring holds ~175,000 of these events.
    run.signal(libc::SIGSTOP);
    getpgid_calls(m, calls);
    run.signal(libc::SIGCONT);
    run.signal(libc::SIGINT);
    let (status, out, err) = run.finish(60);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_accounted(&out, &err, m, calls as u64, "stalled reader");
}

#[test]
fn a_slow_consumer_on_a_pipe_loses_counted_events() {
    let Some(_) = machine(&["tracepoints", "ringbuf"]) else { return };
    let m = magic(3);
    let calls = 400_000;
    // Nothing reads rtrace's stdout while the events come: it blocks writing to the pipe.
    let mut run = Run::start(traced(&["-e", &printf_per_call(m)]), Stdout::Held);
    getpgid_calls(m, calls);
    run.release_stdout();
    run.signal(libc::SIGINT);
    let (status, out, err) = run.finish(60);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_accounted(&out, &err, m, calls as u64, "slow consumer");
}

#[test]
fn a_full_map_counts_every_update_it_refused() {
    let Some(_) = machine(&["tracepoints", "percpu_hash"]) else { return };
    let m = magic(4);
    let (keys, room) = (1000, 100);
    let prog = format!("tracepoint:syscalls:sys_enter_getpgid /args.pid >= {m} && args.pid < {m} + {keys}/ {{ @m[args.pid] = count(); }}");
    let mut cmd = traced(&["-e", &prog]);
    cmd.env("BPFTRACE_MAX_MAP_KEYS", room.to_string());
    let run = Run::start(cmd, Stdout::Collect);
    for i in 0..keys {
        getpgid_calls(m + i, 1);
    }
    run.signal(libc::SIGINT);
    let (status, out, err) = run.finish(60);
    assert_eq!(status.code(), Some(0), "{err}");
    let printed = out.lines().filter(|l| l.starts_with("@m[")).count();
    assert_eq!(printed, room as usize, "the map holds its {room} keys");
    let warning = format!("WARNING: Map full; can't update element: {} map updates failed", keys - room);
    assert!(err.contains(&warning), "expected {warning:?}: {err}");
    eprintln!("RELIABILITY full map: {keys} keys into a map of {room}: {printed} printed, \"{warning}\"");
}

#[test]
fn failed_reads_of_bad_addresses_are_counted() {
    let Some(_) = machine(&["tracepoints", "probe_read_kernel"]) else { return };
    let m = magic(5);
    let calls = 50;
    // The argument as an address: nothing is mapped there in this process.
    let prog = format!(r#"tracepoint:syscalls:sys_enter_getpgid /args.pid == {m}/ {{ printf("[%s]\n", str(args.pid)); }}"#);
    let run = Run::start(traced(&["-e", &prog]), Stdout::Collect);
    getpgid_calls(m, calls);
    run.signal(libc::SIGINT);
    let (status, out, err) = run.finish(60);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(out.lines().filter(|l| *l == "[]").count(), calls, "each failed read is an empty string: {out}");
    let warning = format!("WARNING: {calls} memory reads failed");
    assert!(err.contains(&warning), "expected {warning:?}: {err}");
    eprintln!("RELIABILITY failed reads: {calls} str() of an unmapped address: {calls} empty strings printed, \"{warning}\"");
}

#[test]
fn a_full_output_file_system_ends_the_trace_and_counts_the_lines_lost() {
    let Some(_) = machine(&[]) else { return };
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let before = existing();
    // Two printf lines, then the end of the trace (two newlines: two empty lines) and the
    // map's two entries.
    let o = rtrace(&["-o", "/dev/full", "-e", r#"BEGIN { printf("a\n"); printf("b\n"); @m[1] = 1; @m[2] = 2; exit(); }"#]).output().expect("rtrace runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write the output to /dev/full: No space left on device"), "{err}");
    assert!(err.contains("6 lines of output were not written"), "{err}");
    eprintln!("RELIABILITY -o /dev/full: status 1, {}", err.lines().find(|l| l.contains("/dev/full")).unwrap_or_default());
    assert_nothing_left(&before, &BTreeSet::new(), None, "-o /dev/full");
}

/// The leftover check itself can fail: a map this test creates and holds is what it would
/// report if rtrace had left it (an object rtrace held; one held by a process of this test).
#[test]
fn the_leftover_check_finds_an_object_left_behind() {
    let Some(_) = machine(&[]) else { return };
    #[repr(C)]
    struct MapCreate {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    }
    let before = existing();
    let attr = MapCreate { map_type: 2, key_size: 4, value_size: 8, max_entries: 1 };
    // SAFETY: BPF_MAP_CREATE with a valid attribute of the size given; the descriptor is
    // owned by `fd` below.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 0i64, &attr as *const MapCreate, std::mem::size_of::<MapCreate>() as u32) };
    assert!(fd >= 0, "BPF_MAP_CREATE: {}", std::io::Error::last_os_error());
    // SAFETY: a descriptor just returned and owned by nothing else.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let (mine, _) = held_by(std::process::id());
    let created: BTreeSet<Object> = mine.iter().filter(|o| !before.contains(o)).copied().collect();
    assert_eq!(created.len(), 1, "the new map, as this process's fdinfo shows it: {mine:?}");
    // (Other tests of this suite run meanwhile: only this map's line counts.)
    let map = format!("{:?}", created.first().expect("one"));
    let names = |left: Vec<String>| left.iter().any(|l| l.starts_with(&map));
    assert!(names(leftovers(&before, &created, None)), "an object the tracer held that still exists");
    let me = std::env::current_exe().expect("test binary");
    let me = me.file_name().expect("name").to_string_lossy();
    assert!(names(leftovers(&before, &BTreeSet::new(), Some(&me))), "an object a process of the test holds");
    assert!(!names(leftovers(&before, &BTreeSet::new(), None)), "an object another process holds is theirs");
    drop(fd);
    assert_nothing_left(&before, &created, None, "closed");
}

/// A program that calls getpgid(argv[1]) from 2,048 different user stacks (every path of
/// 11 levels through two functions), built with frame pointers so the kernel can walk them.
const STACKS_C: &str = r#"
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
static long magic;
__attribute__((noinline)) static void leaf(void) { syscall(SYS_getpgid, magic); asm volatile("" ::: "memory"); }
__attribute__((noinline)) static void b(int d, unsigned bits);
__attribute__((noinline)) static void a(int d, unsigned bits) {
    if (d == 0) leaf(); else if (bits & 1) a(d - 1, bits >> 1); else b(d - 1, bits >> 1);
    asm volatile("" ::: "memory");
}
__attribute__((noinline)) static void b(int d, unsigned bits) {
    if (d == 0) leaf(); else if (bits & 1) a(d - 1, bits >> 1); else b(d - 1, bits >> 1);
    asm volatile("" ::: "memory");
}
int main(int argc, char **argv) {
    magic = atol(argv[1]);
    for (unsigned i = 0; i < 2048; i++) a(11, i);
    return 0;
}
"#;

#[test]
fn stacks_the_stack_map_cannot_hold_are_counted() {
    // 2,048 distinct stacks hashed into the map's 4,096 slots: about 440 find their slot
    // taken (the expected number of collisions is over 400; none at all has a probability
    // below e^-400). Each prints as the empty stack, which the count must match.
    let Some(_) = machine(&["tracepoints", "stack_trace"]) else { return };
    let dir = std::env::temp_dir().join(format!("rtrace-reliability-stacks-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (src, exe) = (dir.join("stacks.c"), dir.join("stacks"));
    std::fs::write(&src, STACKS_C).expect("write the program");
    match Command::new("gcc").args(["-O0", "-fno-omit-frame-pointer", "-o"]).arg(&exe).arg(&src).status() {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("skipped: cannot build the stack program with gcc: {other:?}");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    }
    let m = magic(6);
    let prog = format!("tracepoint:syscalls:sys_enter_getpgid /args.pid == {m}/ {{ @s[ustack] = count(); }}");
    let o = rtrace(&["-e", &prog, "-c", &format!("{} {m}", exe.display())]).output().expect("rtrace runs");
    let _ = std::fs::remove_dir_all(&dir);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    let lost: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("WARNING: ")?.split_once(" stacks were not recorded")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no count of stacks not recorded: {err}"));
    let empty: u64 = out.lines().find_map(|l| l.strip_prefix("@s[]: ")?.parse().ok()).unwrap_or(0);
    assert_eq!(empty, lost, "the events whose stack was not recorded are the empty stack's count");
    let recorded: u64 = out.lines().filter_map(|l| l.strip_prefix("]: ")?.parse::<u64>().ok()).sum();
    assert_eq!(recorded + empty, 2048, "every event is in the map");
    eprintln!("RELIABILITY stack map: 2048 distinct user stacks into 4096 slots: {recorded} recorded, {lost} not (\"WARNING: {lost} stacks were not recorded\"), printed as the empty stack");
}

/// This CPU's count of irq_work interrupts (the self-IPI a ring buffer wakeup raises), from
/// /proc/interrupts; None where the kernel does not list them.
fn irq_work_interrupts(cpu: usize) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("IWI:"))?;
    line.split_whitespace().nth(1 + cpu)?.parse().ok()
}

#[test]
fn a_stopped_reader_is_not_woken_once_per_event() {
    // A ring buffer wakeup is an irq_work on the CPU that wrote the record. With the reader
    // stopped, the unread bytes stay past the wakeup threshold: a wakeup per record would
    // cost the traced task an interrupt per event (it slowed getppid ~15 times here).
    // Counted on this thread's CPU, pinned, so other CPUs' work does not count; what else
    // runs on this CPU meanwhile is far below the events' number.
    let Some(_) = machine(&["tracepoints", "ringbuf"]) else { return };
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu < 0 || irq_work_interrupts(cpu as usize).is_none() {
        eprintln!("skipped: /proc/interrupts lists no IWI (irq work) line");
        return;
    }
    // SAFETY: a zeroed cpu_set_t with one CPU set, for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "pin to CPU {cpu}");
    }
    let m = magic(7);
    let calls = 60_000; // ~1.9 MB of records: the 4 MiB ring never fills, nothing is lost
    let run = Run::start(traced(&["-e", &printf_per_call(m)]), Stdout::Collect);
    run.signal(libc::SIGSTOP);
    let before = irq_work_interrupts(cpu as usize).expect("IWI");
    getpgid_calls(m, calls);
    let wakeups = irq_work_interrupts(cpu as usize).expect("IWI") - before;
    run.signal(libc::SIGCONT);
    run.signal(libc::SIGINT);
    let (status, out, err) = run.finish(60);
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(out.lines().filter(|l| !l.is_empty()).count(), calls, "every event printed: {err}");
    eprintln!("RELIABILITY stopped reader: {calls} events into the ring while rtrace was stopped: {wakeups} irq_work interrupts on the writing CPU");
    assert!(wakeups < calls as u64 / 10, "{wakeups} irq_work interrupts for {calls} events: the stopped reader was woken per event");
}

#[test]
fn one_signal_after_exit_does_not_cut_the_maps_short() {
    // exit() ended the trace; a signal that comes while the maps print is the first, not a
    // second Ctrl-C: the printing goes on (a harness that ends its tracer when its workload
    // ends sends one). Only a second one ends rtrace at once.
    let Some(_) = machine(&["tracepoints", "percpu_hash"]) else { return };
    let (m, end) = (magic(8), magic(9));
    let keys = 100_000;
    let prog = format!(
        "tracepoint:syscalls:sys_enter_getpgid /args.pid >= {m} && args.pid < {m} + {keys}/ {{ @m[args.pid] = count(); }} tracepoint:syscalls:sys_enter_getpgid /args.pid == {end}/ {{ exit(); }}"
    );
    let mut cmd = traced(&["-e", &prog]);
    cmd.env("BPFTRACE_MAX_MAP_KEYS", keys.to_string());
    let mut run = Run::start(cmd, Stdout::Caller);
    let mut out = BufReader::new(run.child.stdout.take().expect("piped"));
    for i in 0..keys {
        getpgid_calls(m + i, 1);
    }
    getpgid_calls(end, 1);
    let mut line = String::new();
    while !line.starts_with("@m[") {
        line.clear();
        assert!(out.read_line(&mut line).expect("stdout") > 0, "the map was never printed");
    }
    run.signal(libc::SIGINT);
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("stdout");
    let (status, _, err) = run.finish(30);
    let printed = 1 + rest.lines().filter(|l| l.starts_with("@m[")).count();
    assert_eq!(status.code(), Some(0), "one signal after exit() is no reason to stop printing: {status:?} {err}");
    assert_eq!(printed, keys as usize, "every key printed: {err}");
    eprintln!("RELIABILITY one SIGINT after exit(): sent while the {keys}-key map printed: all {printed} keys printed, status 0");
}
