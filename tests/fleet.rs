//! rtrace beyond one terminal, on the real kernel: `--metrics` scraped by a real Prometheus
//! (Debian's `prometheus`, from scripts/deps.sh) and compared with the exit dump; `-f folded`
//! and `--flamegraph`, the SVG rendered by headless Chromium; `--live` and the progress line
//! in a real terminal (tmux). Each test that needs a program this machine lacks says so and
//! skips.
//!
//! These need root, like tests/e2e.rs (RTRACE_SKIP_E2E=1 skips them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::can_run_bpf;

const BIN: &str = env!("CARGO_BIN_EXE_rtrace");

fn rtrace(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.env("RTRACE_CACHE", "0").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// A program on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|p| p.is_file()))
}

/// A directory of this test's own, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtrace-fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Waits for `what` to become Some, for at most `limit`.
fn wait_for<T>(limit: Duration, mut what: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(t) = what() {
            return Some(t);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Reads a child's stderr on a thread, as lines arrive.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while err.read(&mut byte).is_ok_and(|n| n == 1) {
            if byte[0] == b'\n' {
                let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
                buf.clear();
            } else {
                buf.push(byte[0]);
            }
        }
    });
    rx
}

/// GET `path` from `addr` over HTTP/1.0: the status and the body.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn url_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn interrupt(child: &Child) {
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

fn finish(mut child: Child) -> String {
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    let _ = child.wait();
    out
}

/// The getpgid(2) calls the scripts count: a pid no process has.
const MAGIC: i32 = 0x3f00_1234;

fn getpgid_calls(n: usize) {
    for _ in 0..n {
        // SAFETY: getpgid of a pid that does not exist only fails.
        unsafe { libc::getpgid(MAGIC) };
    }
}

/// A sample: a family's series name and its labels.
type Series = (String, BTreeMap<String, String>);

/// The exit dump's maps as the samples `--metrics` must serve: `maps` says each map's
/// family kind and label names, as docs/metrics.md maps them.
fn expected_samples(dump: &str, maps: &[(&str, &str, &[&str])]) -> BTreeMap<Series, f64> {
    let mut want = BTreeMap::new();
    let mut lines = dump.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix('@') else { continue };
        let (head, value) = rest.split_once(':').unwrap_or((rest, ""));
        let (name, keys) = match head.split_once('[') {
            Some((n, k)) => (n, k.trim_end_matches(']').split(", ").map(str::to_string).collect::<Vec<_>>()),
            None => (head, Vec::new()),
        };
        let Some((_, kind, labels)) = maps.iter().find(|m| m.0 == name) else { continue };
        let labels: BTreeMap<String, String> = labels.iter().map(|l| l.to_string()).zip(keys).collect();
        let value = value.trim();
        let mut put = |suffix: &str, extra: Option<(&str, String)>, v: f64| {
            let mut l = labels.clone();
            if let Some((k, x)) = extra {
                l.insert(k.into(), x);
            }
            want.insert((format!("rtrace_{name}{suffix}"), l), v);
        };
        match *kind {
            "counter" => put("_total", None, value.parse().expect("count")),
            "gauge" => put("", None, value.parse().expect("gauge")),
            "stats" => {
                let field = |f: &str| value.split(&format!(".{f} = ")).nth(1).and_then(|v| v.split([',', ' ']).next()).and_then(|v| v.parse().ok()).expect("stats field");
                put("_count", None, field("count"));
                put("_average", None, field("average"));
                put("_sum", None, field("total"));
            }
            "histogram" => {
                // `[lo, hi)  N |@@@|` rows (no K/M suffixes: the test keeps values small),
                // `[v]` for one value, `(..., lo)` below, `[lo, ...)` above.
                let mut total = 0.0;
                while let Some(row) = lines.peek().filter(|r| r.starts_with('[') || r.starts_with('(')) {
                    let left = row.split(" |").next().unwrap_or_default().trim_end();
                    let (label, count) = left.rsplit_once(' ').expect("row");
                    let (label, count): (&str, f64) = (label.trim(), count.parse().expect("bucket count"));
                    total += count;
                    let inner = label.trim_start_matches(['[', '(']).trim_end_matches([']', ')']);
                    let le = match inner.split_once(", ") {
                        Some((_, "...")) => "+Inf".to_string(),
                        Some(("...", hi)) | Some((_, hi)) => (hi.parse::<i64>().expect("bound") - 1).to_string(),
                        None => inner.to_string(),
                    };
                    put("_bucket", Some(("le", le)), total);
                    lines.next();
                }
                put("_bucket", Some(("le", "+Inf".into())), total);
                put("_count", None, total);
            }
            other => panic!("kind {other}"),
        }
    }
    want
}

#[test]
fn metrics_scraped_by_prometheus_match_the_exit_dump() {
    if !can_run_bpf() {
        return;
    }
    let Some(prometheus) = which("prometheus") else {
        eprintln!("SKIP: prometheus is not installed (scripts/deps.sh installs Debian's)");
        return;
    };
    let script = format!(
        "BEGIN {{ @opens[\"a\"] = count(); @opens[\"b\"] = count(); @opens[\"b\"] = count(); \
         @h = hist(5); @h = hist(100); @h = hist(100); @h = hist(0); @l = lhist(3, 0, 10, 5); @l = lhist(12, 0, 10, 5); \
         @s = stats(10); @s = stats(31); @a = avg(7); @a = avg(8); @mx = max(-3); @mx = max(-9); @name = \"text\"; }} \
         tracepoint:syscalls:sys_enter_getpgid /args.pid == {MAGIC}/ {{ @calls[comm] = count(); @sizes[comm, $x] = sum(3); $x = 1; }}"
    );
    // `$x` is assigned after its use as a key: still named.
    let script = script.replace("@sizes[comm, $x] = sum(3); $x = 1;", "$x = 1; @sizes[comm, $x] = sum(3);");
    let mut child = rtrace(&["--metrics", "127.0.0.1:0", "-e", &script]).spawn().expect("rtrace");
    let err = stderr_lines(&mut child);
    let mut addr = None;
    let attached = wait_for(Duration::from_secs(60), || {
        let line = err.try_recv().ok()?;
        if let Some(a) = line.strip_prefix("Serving metrics on http://") {
            addr = a.strip_suffix("/metrics").map(str::to_string);
        }
        line.starts_with("Attached").then_some(())
    });
    assert!(attached.is_some(), "rtrace did not attach");
    let addr = addr.expect("the address served");
    getpgid_calls(7);
    let (status, body) = http_get(&addr, "/metrics").expect("a scrape");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# TYPE rtrace_calls_total counter\n"), "{body}");
    assert_eq!(http_get(&addr, "/nothing").map(|r| r.0), Some(404));

    // Prometheus, on loopback, scraping every second into a store of its own.
    let dir = scratch("prometheus");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: rtrace\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .expect("config");
    let web = format!("127.0.0.1:{port}");
    let mut prom = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).map(Stdio::from).unwrap_or(Stdio::null()))
        .spawn()
        .expect("prometheus");
    let query = |q: &str| -> Option<serde_json::Value> {
        let (status, body) = http_get(&web, &format!("/api/v1/query?query={}", url_encode(q)))?;
        (status == 200).then(|| serde_json::from_str::<serde_json::Value>(&body).ok()).flatten().map(|v| v["data"]["result"].clone())
    };
    // Two scrapes after the calls, so the newest sample is the final value.
    let scraped = wait_for(Duration::from_secs(90), || {
        let r = query("count_over_time(rtrace_calls_total[1m])")?;
        let n: f64 = r.get(0)?["value"][1].as_str()?.parse().ok()?;
        (n >= 2.0).then_some(())
    });
    let served = query("{job=\"rtrace\", __name__=~\"rtrace_.*\"}");
    let _ = prom.kill();
    let _ = prom.wait();
    if scraped.is_none() {
        let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
        interrupt(&child);
        finish(child);
        panic!("Prometheus never scraped rtrace at {addr}; its log:\n{log}");
    }
    interrupt(&child);
    let dump = finish(child);

    let mut got: BTreeMap<Series, f64> = BTreeMap::new();
    let mut own = BTreeSet::new();
    for s in served.expect("a query result").as_array().expect("a vector") {
        let mut labels: BTreeMap<String, String> = serde_json::from_value(s["metric"].clone()).expect("labels");
        let name = labels.remove("__name__").expect("a name");
        labels.remove("job");
        labels.remove("instance");
        // rtrace's own counters, not maps.
        if name.starts_with("rtrace_metrics_") || ["rtrace_lost_events_total", "rtrace_failed_map_updates_total", "rtrace_failed_reads_total", "rtrace_lost_stacks_total"].contains(&name.as_str()) {
            own.insert(name);
            continue;
        }
        got.insert((name, labels), s["value"][1].as_str().and_then(|v| v.parse().ok()).expect("a value"));
    }
    let maps: &[(&str, &str, &[&str])] = &[
        ("opens", "counter", &["key0"]),
        ("calls", "counter", &["comm"]),
        ("sizes", "gauge", &["comm", "x"]),
        ("h", "histogram", &[]),
        ("l", "histogram", &[]),
        ("s", "stats", &[]),
        ("a", "gauge", &[]),
        ("mx", "gauge", &[]),
    ];
    let mut want = expected_samples(&dump, maps);
    // The sums the dump does not print, from the values BEGIN stores: 5 + 100 + 100 + 0 and 3 + 12.
    want.insert(("rtrace_h_sum".into(), BTreeMap::new()), 205.0);
    want.insert(("rtrace_l_sum".into(), BTreeMap::new()), 15.0);
    // What the dump printed, the histograms' rows between their first and last values.
    let dump_names: BTreeSet<&str> = want.keys().map(|(n, _)| n.as_str()).collect();
    for family in ["rtrace_opens_total", "rtrace_calls_total", "rtrace_sizes", "rtrace_h_bucket", "rtrace_l_count", "rtrace_s_average", "rtrace_a", "rtrace_mx"] {
        assert!(dump_names.contains(family), "the exit dump has no {family}:\n{dump}");
    }
    assert_eq!(got, want, "Prometheus' samples differ from the exit dump:\n{dump}");
    assert!(own.contains("rtrace_lost_events_total") && own.contains("rtrace_metrics_dropped_series_total"), "{own:?}");
    let calls = want.iter().find(|((n, _), _)| n == "rtrace_calls_total").map(|(_, v)| *v);
    assert_eq!(calls, Some(7.0), "{dump}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metrics_address_in_use_is_an_error() {
    if !can_run_bpf() {
        return;
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = rtrace(&["--metrics", &addr, "-e", "BEGIN { @x = 1; exit(); }"]).output().expect("rtrace");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--metrics: cannot serve on") && !err.contains("panicked"), "{err}");
}

#[test]
fn folded_stacks_and_a_flamegraph_rendered_by_chromium() {
    if !can_run_bpf() {
        return;
    }
    let dir = scratch("flamegraph");
    let svg = dir.join("stacks.svg");
    let script = format!("tracepoint:syscalls:sys_enter_getpgid /args.pid == {MAGIC}/ {{ @[comm, kstack] = count(); @plain[comm] = count(); if (@plain[comm] == 50) {{ exit(); }} }}");
    let mut child = rtrace(&["-f", "folded", "--flamegraph", svg.to_str().expect("path"), "-e", &script]).spawn().expect("rtrace");
    let err = stderr_lines(&mut child);
    assert!(wait_for(Duration::from_secs(60), || err.try_recv().ok().filter(|l| l.starts_with("Attached"))).is_some(), "rtrace did not attach");
    getpgid_calls(50);
    let out = finish(child);
    // One folded line for the stack map: this thread's name, then the kernel stack, root first.
    let comm: String = std::fs::read_to_string("/proc/thread-self/comm").expect("comm").trim().to_string();
    let folded: Vec<&str> = out.lines().filter(|l| l.starts_with(&format!("{comm};"))).collect();
    assert!(!folded.is_empty(), "no folded stack of {comm}:\n{out}");
    let total: u64 = folded.iter().map(|l| l.rsplit_once(' ').and_then(|(_, n)| n.parse::<u64>().ok()).expect("a count")).sum();
    assert_eq!(total, 50, "{out}");
    assert!(folded.iter().any(|l| l.contains(";do_syscall_64;")), "the kernel stack shows the system call:\n{out}");
    assert!(folded.iter().all(|l| !l.contains('+')), "frames without offsets:\n{out}");
    // Maps without a stack stay in the text format.
    assert!(out.contains(&format!("@plain[{comm}]: 50")), "{out}");

    let text = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(text.starts_with("<?xml") && text.contains("<svg") && text.contains("do_syscall_64"), "{}", &text[..text.len().min(500)]);
    let Some(chromium) = which("chromium").or_else(|| which("chromium-browser")) else {
        eprintln!("SKIP (render): chromium is not installed (scripts/deps.sh installs it)");
        return;
    };
    let png = dir.join("stacks.png");
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,700"])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("chromium");
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank page compresses to a few kB; bars with text do not.
    assert!(bytes.len() > 10_000, "the screenshot looks empty ({} bytes): {}", bytes.len(), png.display());
    if let Some(keep) = std::env::var_os("RTRACE_FLAMEGRAPH_PNG") {
        let _ = std::fs::copy(&png, keep);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmux server of the test's own (its socket in `dir`), with a window 120x30.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, command: &str) -> Option<Tmux> {
        which("tmux")?;
        let t = Tmux { socket: dir.join("tmux.sock") };
        let ok = t.cmd(&["new-session", "-d", "-s", "t", "-x", "120", "-y", "30", command]).status.success();
        ok.then_some(t)
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-S").arg(&self.socket).args(args).env_remove("TMUX").output().expect("tmux")
    }

    /// The visible pane, one string per row.
    fn screen(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).lines().map(str::to_string).collect()
    }

    /// The pane with its scrollback.
    fn history(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-S", "-2000", "-t", "t"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn live_view_redraws_in_place_under_tmux() {
    if !can_run_bpf() {
        return;
    }
    let dir = scratch("live");
    let script = dir.join("live.bt");
    // 60 keys (more than the window's 30 rows), a counter at 50/s, a histogram.
    std::fs::write(&script, "interval:ms:20 { @ticks = count(); @keys[nsecs / 1000 % 60] = count(); @lat = hist(nsecs % 1000); }\n").expect("script");
    let command = format!("RTRACE_CACHE=0 {BIN} --live=500ms {}; echo rtrace-exited; sleep 60", script.display());
    let Some(tmux) = Tmux::start(&dir, &command) else {
        eprintln!("SKIP: tmux is not installed (scripts/deps.sh installs it)");
        return;
    };
    // Two frames: the second's rates are over a whole interval.
    let frame = wait_for(Duration::from_secs(60), || {
        let s = tmux.screen();
        s.iter().any(|l| l.contains("rtrace --live") && !l.contains(" 0s traced")).then_some(s)
    });
    let screen = frame.unwrap_or_else(|| panic!("no live frame:\n{}", tmux.history()));
    std::thread::sleep(Duration::from_millis(1200));
    let screen2 = tmux.screen();
    let shown = screen2.join("\n");
    eprintln!("live view:\n{shown}");
    assert!(screen.len() <= 30 && screen2.len() <= 30);
    // Redrawn in place: one header on the screen, at the top.
    assert_eq!(screen2.iter().filter(|l| l.contains("rtrace --live")).count(), 1, "{shown}");
    assert!(screen2[0].contains("rtrace --live"), "{shown}");
    let ticks = screen2.iter().find(|l| l.starts_with("@ticks ")).unwrap_or_else(|| panic!("no @ticks row:\n{shown}"));
    let rate: f64 = ticks.split_whitespace().nth(2).and_then(|r| r.trim_end_matches("/s").parse().ok()).unwrap_or_else(|| panic!("no rate: {ticks}"));
    assert!(rate > 5.0 && rate < 200.0, "@ticks at 50/s shows {rate}/s: {ticks}");
    // The 60 keys do not fit: the frame is cut to the window, and says so.
    assert!(screen2.iter().any(|l| l.contains("more lines")), "{shown}");
    // Sorted by rate: rows of @keys are in descending order of their rate.
    let rates: Vec<f64> = screen2.iter().filter(|l| l.starts_with("@keys[")).filter_map(|l| l.split_whitespace().nth(2)?.trim_end_matches("/s").parse().ok()).collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}\n{shown}");

    tmux.cmd(&["send-keys", "-t", "t", "C-c"]);
    let ended = wait_for(Duration::from_secs(30), || {
        let h = tmux.history();
        h.contains("rtrace-exited").then_some(h)
    });
    let history = ended.unwrap_or_else(|| panic!("rtrace did not end:\n{}", tmux.history()));
    // After the view, the exit dump in bpftrace's format.
    assert!(history.lines().any(|l| l.starts_with("@ticks: ")), "{history}");
    assert!(history.contains("@lat:\n"), "{history}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_without_a_terminal_prints_the_maps_every_interval() {
    if !can_run_bpf() {
        return;
    }
    let out = rtrace(&["--live=200ms", "-e", "interval:ms:10 { @n = count(); } interval:ms:1100 { exit(); }"]).output().expect("rtrace");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "no escapes without a terminal: {text:?}");
    // About five prints while tracing, then the exit dump.
    let prints = text.lines().filter(|l| l.starts_with("@n: ")).count();
    assert!((3..=8).contains(&prints), "{prints} prints:\n{text}");
}

#[test]
fn progress_line_on_a_terminal_only() {
    if !can_run_bpf() {
        return;
    }
    let script = "tracepoint:syscalls:sys_enter_getpgid { @[1] = count(); } tracepoint:syscalls:sys_exit_getpgid { @[2] = count(); } interval:ms:300 { exit(); }";
    // Without a terminal: never, even past the delay.
    let out = rtrace(&["-e", script]).env("RTRACE_PROGRESS_AFTER_MS", "0").output().expect("rtrace");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("loading programs") && !err.contains('\r'), "{err:?}");

    let dir = scratch("progress");
    let log = dir.join("pane.log");
    // rtrace starts once the pane's output is being logged (the test creates `go`).
    let go = dir.join("go");
    let command = format!("while [ ! -e {} ]; do sleep 0.05; done; RTRACE_CACHE=0 RTRACE_PROGRESS_AFTER_MS=0 {BIN} -e '{script}'; echo rtrace-exited; sleep 60", go.display());
    let Some(tmux) = Tmux::start(&dir, &command) else {
        eprintln!("SKIP: tmux is not installed (scripts/deps.sh installs it)");
        return;
    };
    tmux.cmd(&["pipe-pane", "-t", "t", "-o", &format!("cat >> {}", log.display())]);
    // pipe-pane's `cat` is running once the log exists.
    assert!(wait_for(Duration::from_secs(10), || log.exists().then_some(())).is_some(), "pipe-pane did not start");
    std::fs::write(&go, "").expect("go");
    let done = wait_for(Duration::from_secs(60), || tmux.history().contains("rtrace-exited").then_some(()));
    assert!(done.is_some(), "{}", tmux.history());
    let raw = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    // The line was drawn (`\r` + text), then erased before "Attached".
    assert!(raw.contains("\rloading programs: ") || raw.contains("\rattaching probes: ") || raw.contains("\rcompiling..."), "{raw:?}");
    let attached = raw.find("Attached 3 probes").unwrap_or_else(|| panic!("{raw:?}"));
    assert!(raw[..attached].ends_with("\r\x1b[K") || raw[..attached].rfind("\r\x1b[K").is_some(), "{raw:?}");
    // On the screen, nothing of it is left.
    let screen = tmux.history();
    assert!(!screen.contains("loading programs") && !screen.contains("attaching probes") && !screen.contains("detaching probes"), "{screen}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DaemonSet of deploy/: its script, and the capabilities its container adds.
fn daemonset() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rtrace-daemonset.yaml")).expect("the manifest");
    let mut script = String::new();
    let mut lines = text.lines().skip_while(|l| l.trim() != "script.bt: |").skip(1);
    for l in lines.by_ref().take_while(|l| l.starts_with("    ")) {
        script.push_str(l.trim_start());
        script.push('\n');
    }
    let add = text.lines().find_map(|l| l.trim().strip_prefix("add: [")).expect("capabilities added");
    let caps = add.trim_end_matches(']').split(',').map(|c| c.trim().trim_matches('"').to_lowercase()).collect();
    (script, caps)
}

#[test]
fn daemonset_capabilities_are_enough() {
    if !can_run_bpf() {
        return;
    }
    let Some(setpriv) = which("setpriv") else {
        eprintln!("SKIP: setpriv (util-linux) is not installed");
        return;
    };
    let (script, caps) = daemonset();
    assert!(script.contains("@opens[comm] = count();"), "{script}");
    assert_eq!(caps, ["bpf", "perfmon", "syslog"]);
    let dir = scratch("daemonset");
    let file = dir.join("script.bt");
    std::fs::write(&file, &script).expect("script");
    // As the pod runs it: no capability but the manifest's (uid 0, as runAsUser).
    let bounding = format!("--bounding-set=-all,{}", caps.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(","));
    let mut child = Command::new(setpriv)
        .args([bounding.as_str(), "--", BIN, "-q", "--metrics", "127.0.0.1:0", "--metrics-max-series", "2000"])
        .arg(&file)
        .env("RTRACE_CACHE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv");
    let err = stderr_lines(&mut child);
    let addr = wait_for(Duration::from_secs(60), || err.try_recv().ok()?.strip_prefix("Serving metrics on http://")?.strip_suffix("/metrics").map(str::to_string));
    let Some(addr) = addr else {
        interrupt(&child);
        let out = child.wait_with_output().expect("rtrace");
        panic!("rtrace with {caps:?} did not serve: {}", String::from_utf8_lossy(&out.stderr));
    };
    // Opens by this process land in the counter once every probe is attached.
    let served = wait_for(Duration::from_secs(60), || {
        let _ = std::fs::read(&file);
        let (_, body) = http_get(&addr, "/metrics")?;
        body.lines().any(|l| l.starts_with("rtrace_opens_total{comm=")).then_some(body)
    });
    interrupt(&child);
    let dump = finish(child);
    let body = served.unwrap_or_else(|| panic!("no opens were counted:\n{dump}"));
    assert!(body.contains("# TYPE rtrace_io_size histogram\n") && body.contains("# TYPE rtrace_execs_total counter\n"), "{body}");
    assert!(dump.contains("@opens["), "{dump}");
    let _ = std::fs::remove_dir_all(&dir);
}
