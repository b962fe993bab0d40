//! Runs a `BpfArtifact` on the kernel: load (loader.rs), run BEGIN, attach, stream events until
//! exit()/Ctrl-C/SIGTERM, detach, run END, print maps.
//!
//! BEGIN and END are raw_tp programs that are never attached: they run once each through
//! BPF_PROG_TEST_RUN, so they cost no attach/detach, and BEGIN runs strictly before any
//! other probe is attached. When BEGIN calls exit(), nothing else is attached at all.

mod bench;
mod child;
pub mod compiled;
mod error;
mod events;
mod facts;
pub mod features;
mod flamegraph;
mod gfp;
pub mod kernel;
mod links;
pub mod live;
mod loader;
mod multi;
pub mod metrics;
mod object;
pub mod output;
mod pcap;
mod process_maps;
mod perfbuf;
pub mod privileges;
pub mod progress;
mod ringbuf;
mod subprog;
mod symbols;
mod sys;
mod uprobe_target;
mod usdt;

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::artifact::{Attach, BpfArtifact, Counter, Global, COUNTERS_MAP, EVENTS_MAP, GLOBALS_MAP, GLOB_MAP, SKB_MAP, STACKS_MAX};
pub use child::{check_target, traced_executable};
pub use error::RuntimeError;
pub use events::{Buffering, OutputOptions};
use events::{EventSink, Outcome};
pub use kernel::LiveKernel;
use links::Links;
use loader::Loaded;
use pcap::SkbCapture;
use ringbuf::RingBuf;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print the whole verifier log of a rejected program, not only its reason, and say when
    /// every probe is attached.
    pub verbose: bool,
    /// `-c CMD`: started held, released once every probe is attached; the trace ends when it
    /// exits.
    pub command: Option<Vec<String>>,
    /// `-p PID`: the only process the probes run for; the trace ends when it exits.
    pub pid: Option<u32>,
    /// `-f json`, `-o FILE`, `-B MODE`.
    pub output: OutputOptions,
    /// `-q`: no "Attached N probes" line.
    pub quiet: bool,
    /// `--bench`: run the `bench:` probes between BEGIN and END, and nothing else.
    pub bench: bool,
    /// `RTRACE_VERIFIER_STATS`: a file to append each loaded program's verifier cost to
    /// (`VerifierCost::record`), which the test suite reads to keep headroom.
    pub verifier_stats: Option<std::path::PathBuf>,
    /// `--metrics ADDR`: serve the maps to Prometheus while tracing.
    pub metrics: Option<metrics::MetricsOptions>,
    /// `--live[=INTERVAL]`: redraw the maps every interval.
    pub live: Option<std::time::Duration>,
    /// `--flamegraph FILE`: the stack-keyed maps as a flame graph SVG at exit.
    pub flamegraph: Option<std::path::PathBuf>,
    /// The artifact was compiled elsewhere (a compiled script): check what it assumed of the
    /// kernel, and relocate it, before loading (`facts::settle`).
    pub settle: bool,
}

/// Runs the artifact to completion; returns the process exit code.
pub fn run(artifact: &BpfArtifact, options: &RunOptions) -> Result<i32, RuntimeError> {
    preflight()?;
    // Before anything exists that would need undoing (the -c child, loaded programs): from
    // here on SIGINT, SIGTERM and SIGHUP end the trace, where before they ended rtrace.
    let signals = catch_signals().map_err(RuntimeError::Io)?;
    let sig_rx = &signals.rx;
    // One reader of the system for the run: what settling read (BTF, formats, kallsyms) is
    // not read again to attach.
    let kernel = LiveKernel::open();
    let settled;
    let artifact = match options.settle {
        true => {
            let mut a = artifact.clone();
            facts::settle(&mut a, &kernel)?;
            settled = a;
            &settled
        }
        false => artifact,
    };
    let meta = &artifact.meta;
    // Caught before anything is announced, so a SIGUSR1 right after "Attached" runs them.
    let on_usr1: Vec<&str> = meta.programs.iter().filter(|p| matches!(p.attach, Attach::Signal { .. })).map(|p| p.function.as_str()).collect();
    let usr1 = if on_usr1.is_empty() { None } else { Some(SelfSignal { rx: catch_usr1().map_err(RuntimeError::Io)?, programs: on_usr1 }) };
    if let Some(path) = &options.flamegraph {
        flamegraph::check_writable(path)?;
    }
    let mut loaded = loader::load(artifact, options.verbose)?;
    report_costs(&loaded.costs, options)?;
    let mut child = options.command.as_deref().map(child::HeldChild::spawn).transpose().map_err(RuntimeError::Io)?;
    set_global(&loaded, Global::StartNs, sys::monotonic_ns())?;
    set_global(&loaded, Global::Cpid, child.as_ref().map_or(0, |c| u64::from(c.pid())))?;
    set_global(&loaded, Global::Ncpus, sys::online_cpus().map_or(1, |c| c.len() as u64))?;
    let boot_to_tai = symbols::clock_ns(libc::CLOCK_TAI) - symbols::clock_ns(libc::CLOCK_BOOTTIME);
    set_global(&loaded, Global::BootToTai, boot_to_tai as u64)?;
    fill_glob_tables(&loaded, &meta.glob_tables)?;
    let watched = options.pid.map(child::Watched::pid).transpose().map_err(RuntimeError::Io)?;
    if let Some(pid) = options.pid {
        set_global(&loaded, Global::FilterPid, u64::from(pid))?;
    }

    let ring_fd = loaded.maps.remove(EVENTS_MAP).ok_or_else(|| RuntimeError::MissingObject { what: EVENTS_MAP.into() })?;
    let ring_size = loaded.map_defs.get(EVENTS_MAP).map_or(0, |d| d.max_entries as usize);
    let mut ring = RingBuf::new(ring_fd, ring_size).map_err(|e| {
        let note = crate::oom::limit_note().filter(|_| e.raw_os_error() == Some(libc::ENOMEM)).map(|n| format!("; {n}")).unwrap_or_default();
        RuntimeError::Setup { message: format!("cannot map the event ring buffer ({} KiB, mapped twice): {e}{note}", ring_size / 1024) }
    })?;
    let mut sink = EventSink::new(meta, &options.output)?;
    // Served until run() returns, so the final values can be scraped until the exit dump.
    let metrics_server = options.metrics.as_ref().map(|m| metrics::MetricsServer::start(m, meta, &loaded, sink.ncpus)).transpose()?;
    if let Some(m) = &metrics_server {
        crate::diagnostics::stderr_line(&format!("Serving metrics on http://{}/metrics", m.addr));
    }
    let mut live = options.live.map(|interval| {
        let terminal = options.output.file.is_none() && !options.output.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
        live::Live::new(interval, terminal)
    });
    // skboutput's pcap files are created before anything runs.
    let mut capture = if meta.skb_outputs.is_empty() { None } else { Some(SkbCapture::open(loaded.map(SKB_MAP)?, &meta.skb_outputs, meta.perf_rb_pages)?) };

    let n = meta.probe_count;
    for p in meta.programs.iter().filter(|p| p.attach == Attach::Begin) {
        test_run(&loaded, &p.function)?;
    }
    // As in current bpftrace: BEGIN runs, the other probes attach, "Attached N probes" is
    // printed, and only then BEGIN's output. Nothing attaches when BEGIN called exit(), when
    // a signal came while loading, or when a script of BEGIN and END alone has nothing to
    // wait for (it ends after BEGIN unless it waits for a -c command or a -p process).
    let begin_exited = ring.any(|record| events::is_exit(record));
    // Under --bench only the benchmarks run between BEGIN and END; without it they are
    // ignored, as in bpftrace.
    let nothing_to_trace = options.bench
        || meta.programs.iter().all(|p| matches!(p.attach, Attach::Begin | Attach::End | Attach::Bench { .. })) && options.command.is_none() && options.pid.is_none();
    let started = std::time::Instant::now();
    let mut links = if begin_exited || nothing_to_trace || readable(sig_rx) {
        None
    } else {
        let process = options.pid.or(child.as_ref().map(|c| c.pid()));
        Some(Links::attach_all(&loaded, &meta.programs, &kernel, options.pid, process, meta.missing_probes)?)
    };
    let skipped = links.as_ref().map_or(0, |l| l.skipped);
    let attached = n.saturating_sub(skipped);
    let line = format!("Attached {attached} probe{}", if attached == 1 { "" } else { "s" });
    // The line is bpftrace's, also under -v, which says first how long attaching took and
    // what was skipped, so the line stays the last one before the probes' output. With -q,
    // or with -f json (whose notice is a JSON record), -v still prints the line on stderr: it
    // is the readiness marker the tests wait for.
    if options.verbose {
        let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
        crate::diagnostics::stderr_line(&format!("attaching took {:.1} ms{skipped}", started.elapsed().as_secs_f64() * 1e3));
    }
    if !options.quiet {
        sink.notice("attached_probes", serde_json::json!({ "probes": attached }), &line)?;
    }
    if options.verbose && (options.quiet || options.output.json) {
        crate::diagnostics::stderr_line(&line);
    }
    let begin_ended = sink.drain(&mut ring, &loaded)? == Outcome::Exit || begin_exited;
    if options.bench && !begin_ended {
        let benches: Vec<(&str, &str)> =
            meta.programs.iter().filter_map(|p| if let Attach::Bench { name } = &p.attach { Some((p.function.as_str(), name.as_str())) } else { None }).collect();
        bench::run(&loaded, &benches, &mut sink, options.output.json)?;
    }
    let ended = if begin_ended || nothing_to_trace {
        Ended::Script
    } else if let Some(mut links) = links.take() {
        if let Some(c) = child.as_mut() {
            c.release();
        }
        let iterated = run_iterators(std::mem::take(&mut links.iterators)).map_err(RuntimeError::Io)?;
        let exit_fds: Vec<RawFd> = watched.as_ref().map(child::Watched::fd).into_iter().chain(iterated.as_ref().map(AsRawFd::as_raw_fd)).collect();
        let live = live.as_mut().map(|l| (l, meta.maps.as_slice()));
        event_loop(&mut ring, sig_rx, usr1.as_ref(), child.as_mut(), &exit_fds, capture.as_mut(), &mut sink, &loaded, &mut links, live)?
        // `links` is dropped here: every probe is detached before END runs.
    } else {
        Ended::Signal
    };
    // The trace is over: the command and what it started end before END prints.
    if let Some(c) = child.as_mut() {
        c.end();
    }
    // Nothing is attached and nothing runs that would outlive rtrace: a second signal may end
    // it.
    signals.trace_over();

    // What the probes wrote before they were detached is still in the ring: printed after a
    // Ctrl-C, dropped after an exit() (a slow reader could otherwise print it as END's).
    sink.drain(&mut ring, &loaded)?;
    sink.reopen();
    for p in meta.programs.iter().filter(|p| p.attach == Attach::End) {
        test_run(&loaded, &p.function)?;
    }
    // END's own events (and exit()) are delivered; anything after that is ignored.
    sink.drain(&mut ring, &loaded)?;
    // A watchpoint uprobe that fired as its links went still stopped its process: resume it.
    for change in std::mem::take(&mut sink.watches) {
        if let events::WatchChange::Arm(w) = change {
            if w.stopped {
                links::resume(w.pid);
            }
        }
    }

    if let Some(c) = capture.as_mut() {
        c.finish()?;
    }

    if let Some(l) = &live {
        l.finish(&mut sink);
    }
    sink.end()?;
    if meta.print_maps_on_exit {
        sink.print_all_maps(&loaded)?;
    }
    if let Some(path) = &options.flamegraph {
        flamegraph::write(&sink, &loaded, &meta.maps, path)?;
    }
    report_counters(&loaded, &mut sink)?;
    if let Some(lost) = capture.map(|c| c.lost).filter(|n| *n > 0) {
        crate::diagnostics::warn(format_args!(
            "skboutput lost {lost} packets: a perf buffer was full (raise BPFTRACE_PERF_RB_PAGES or config perf_rb_pages, {} pages per CPU now)",
            meta.perf_rb_pages
        ));
    }
    // The output failed: the trace ended there. A reader that went away (`| head -1`)
    // wanted no more, which is no error; anything else lost output, which is.
    if let Some(error) = sink.broken.take().filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe) {
        return Err(RuntimeError::OutputLost { path: sink.target(), error, lines: sink.unwritten });
    }
    // Which ended first: the command (its status), or the trace (exit()'s status, else 0).
    match (ended, child.as_ref().and_then(child::HeldChild::exit_status)) {
        (Ended::Command, Some(status)) => Ok(status),
        _ => Ok(sink.status.unwrap_or(0)),
    }
}

/// What ended the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// exit() in a probe.
    Script,
    /// SIGINT or SIGTERM.
    Signal,
    /// The -c command exited.
    Command,
    /// The -p process exited, or the iterators finished.
    Watched,
}

/// SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh session) while the trace runs.
struct Signals {
    /// Becomes readable when one came: it only wakes poll().
    rx: UnixStream,
    /// Set once the trace is over. A signal then has its default action if one came before
    /// (the one that ended the trace, or one since), so a second Ctrl-C while END runs or
    /// the maps print ends rtrace at once; a first one after exit() ended the trace is
    /// ignored (printing goes on), as it is not the second.
    over: Arc<AtomicBool>,
}

impl Signals {
    /// From here on a second signal ends rtrace.
    fn trace_over(&self) {
        self.over.store(true, Ordering::SeqCst);
    }
}

const ENDING_SIGNALS: [i32; 3] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP];

/// Makes SIGINT, SIGTERM and SIGHUP end the trace instead of rtrace; once `trace_over`, a
/// second one ends rtrace.
/// `self:signal:SIGUSR1` probes: the socket SIGUSR1 makes readable, and their programs, run
/// in order each time it comes.
struct SelfSignal<'a> {
    rx: UnixStream,
    programs: Vec<&'a str>,
}

/// Makes SIGUSR1 only wake poll(), for `self:signal:SIGUSR1` probes (without them it keeps
/// its default action).
fn catch_usr1() -> std::io::Result<UnixStream> {
    let (rx, tx) = UnixStream::pair()?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGUSR1, tx)?;
    rx.set_nonblocking(true)?;
    Ok(rx)
}

fn catch_signals() -> std::io::Result<Signals> {
    let (rx, tx) = UnixStream::pair()?;
    let over = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicBool::new(false));
    for sig in ENDING_SIGNALS {
        signal_hook::low_level::pipe::register(sig, tx.try_clone()?)?;
        let (over, received) = (Arc::clone(&over), Arc::clone(&received));
        let action = move || {
            if received.swap(true, Ordering::SeqCst) && over.load(Ordering::SeqCst) {
                let _ = signal_hook::low_level::emulate_default_handler(sig);
            }
        };
        // SAFETY: the action only touches atomics and calls emulate_default_handler, both
        // async-signal-safe.
        unsafe { signal_hook::low_level::register(sig, action) }?;
    }
    rx.set_nonblocking(true)?;
    Ok(Signals { rx, over })
}

/// Whether `fd` has something to read now.
fn readable(fd: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// A program name as exec finds it through PATH (for names without a '/').
fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|p| p.is_file()))
}

fn preflight() -> Result<(), RuntimeError> {
    match privileges::missing() {
        Some(message) => Err(RuntimeError::Privileges { message }),
        None => Ok(()),
    }
}

/// Each program's verifier cost: under `-v` on stderr, and appended to the stats file.
fn report_costs(costs: &[loader::VerifierCost], options: &RunOptions) -> Result<(), RuntimeError> {
    if options.verbose {
        for c in costs {
            eprintln!("{}", c.describe());
        }
    }
    if let Some(path) = &options.verifier_stats {
        let lines: String = costs.iter().map(|c| c.record() + "\n").collect();
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| RuntimeError::Output { path: path.clone(), error: e })?;
        file.write_all(lines.as_bytes()).map_err(|e| RuntimeError::Output { path: path.clone(), error: e })?;
    }
    Ok(())
}

fn test_run(loaded: &Loaded, name: &str) -> Result<(), RuntimeError> {
    sys::prog_test_run(loaded.program(name)?).map_err(|e| RuntimeError::Load { message: format!("running {name} with BPF_PROG_TEST_RUN failed: {e}") })
}

fn set_global(loaded: &Loaded, slot: Global, value: u64) -> Result<(), RuntimeError> {
    sys::map_update(loaded.map(GLOBALS_MAP)?, &(slot as u32).to_le_bytes(), &value.to_le_bytes()).map_err(RuntimeError::Io)
}

/// Writes each `globmatch` pattern's byte table into `GLOB_MAP`, before any program runs.
fn fill_glob_tables(loaded: &Loaded, tables: &[Vec<u64>]) -> Result<(), RuntimeError> {
    if tables.is_empty() {
        return Ok(());
    }
    let fd = loaded.map(GLOB_MAP)?;
    for (g, table) in tables.iter().enumerate() {
        for (c, word) in table.iter().enumerate().filter(|(_, w)| **w != 0) {
            sys::map_update(fd, &((256 * g + c) as u32).to_le_bytes(), &word.to_le_bytes()).map_err(RuntimeError::Io)?;
        }
    }
    Ok(())
}

/// Reads the iterators (`iter:` probes) to their end on a thread, which runs their programs
/// over every kernel object while the event loop prints what they send; the returned socket
/// becomes readable when the pass is over, which ends the trace. None without iterators.
fn run_iterators(iterators: Vec<std::os::fd::OwnedFd>) -> std::io::Result<Option<UnixStream>> {
    if iterators.is_empty() {
        return Ok(None);
    }
    let (done_rx, done_tx) = UnixStream::pair()?;
    std::thread::spawn(move || {
        for fd in iterators {
            // The programs write nothing to the iterator's own output (printf goes through
            // the ring buffer), so each read() runs them over a batch of objects.
            let mut file = std::fs::File::from(fd);
            if let Err(e) = std::io::copy(&mut file, &mut std::io::sink()) {
                eprintln!("ERROR: reading the iterator failed: {e}");
            }
        }
        let _ = (&done_tx).write_all(b"x");
    });
    Ok(Some(done_rx))
}

/// How often the event loop reads the lost-events counter.
const LOSS_REPORT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Longest a printf line waits in the ring buffer before it is printed.
const DRAIN_INTERVAL_MS: i32 = 50;

/// Streams events (and skboutput's packets) until exit(), a signal, the exit of the `-c`
/// child, or one of `exit_fds` becoming readable (the `-p` process exited, the iterators
/// finished); says which.
#[allow(clippy::too_many_arguments)]
fn event_loop(
    ring: &mut RingBuf,
    sig_rx: &UnixStream,
    usr1: Option<&SelfSignal<'_>>,
    mut child: Option<&mut child::HeldChild>,
    exit_fds: &[RawFd],
    mut capture: Option<&mut SkbCapture>,
    sink: &mut EventSink,
    loaded: &Loaded,
    links: &mut Links,
    mut live: Option<(&mut live::Live, &[crate::artifact::MapMeta])>,
) -> Result<Ended, RuntimeError> {
    let pollin = |fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let mut fds = vec![pollin(ring.fd()), pollin(sig_rx.as_raw_fd())];
    let command = if child.is_some() { 2..3 } else { 2..2 };
    fds.extend(child.as_deref().map(child::HeldChild::pidfd).iter().chain(exit_fds).map(|&fd| pollin(fd)));
    // Polled only to wake the loop: after the fds that end it.
    let ending = 2..fds.len();
    fds.extend(capture.as_deref().map(SkbCapture::fds).unwrap_or_default().into_iter().map(pollin));
    let usr1_at = fds.len();
    fds.extend(usr1.map(|u| pollin(u.rx.as_raw_fd())));
    let mut losses_checked = std::time::Instant::now();
    loop {
        // SAFETY: `fds` is a valid array of pollfds of the length given.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, DRAIN_INTERVAL_MS) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(RuntimeError::Io(e));
        }
        // SIGUSR1 runs the `self:signal:SIGUSR1` probes, once per wakeup however many came.
        if let Some(u) = usr1.filter(|_| fds.get(usr1_at).is_some_and(|f| f.revents != 0)) {
            let mut drained = [0u8; 64];
            while std::io::Read::read(&mut &u.rx, &mut drained).is_ok_and(|n| n > 0) {}
            for name in &u.programs {
                test_run(loaded, name)?;
            }
        }
        // Woken by a batch of events, or the timer: printf events wake us only in batches.
        if let Some(c) = capture.as_deref_mut() {
            c.drain()?;
        }
        let outcome = sink.drain(ring, loaded)?;
        apply_watches(sink, links);
        if outcome == Outcome::Exit {
            return Ok(Ended::Script);
        }
        if let Some((l, maps)) = live.as_mut() {
            l.tick(sink, loaded, maps)?;
        }
        // Events lost while tracing are told as they happen (at most once a second), as
        // bpftrace does, not only at exit.
        if losses_checked.elapsed() >= LOSS_REPORT_INTERVAL {
            losses_checked = std::time::Instant::now();
            report_lost_events(loaded, sink)?;
        }
        // Whatever the command left behind and has exited is reaped as it goes.
        if let Some(c) = child.as_deref_mut() {
            c.reap();
        }
        // A signal counts first: Ctrl-C reaches the command too, since they share the
        // terminal's process group.
        let ended = if fds[1].revents != 0 {
            Ended::Signal
        } else if fds[command.clone()].iter().any(|f| f.revents != 0) {
            Ended::Command
        } else if fds[ending.clone()].iter().any(|f| f.revents != 0) {
            Ended::Watched
        } else {
            continue;
        };
        // Events already in the ring are still printed.
        sink.drain(ring, loaded)?;
        apply_watches(sink, links);
        return Ok(ended);
    }
}

/// Arms and removes the watchpoints the drained events asked for (`watchpoint:FUNC+argN`,
/// `unwatch`), resuming the processes their uprobes stopped.
fn apply_watches(sink: &mut EventSink, links: &mut Links) {
    for change in std::mem::take(&mut sink.watches) {
        match change {
            events::WatchChange::Arm(w) => {
                if let Err(message) = links.arm(w.id, w.addr, w.pid, w.stopped) {
                    crate::diagnostics::warn(message);
                }
            }
            events::WatchChange::Remove(addr) => links.unwatch(addr),
        }
    }
}

/// Reads slot `slot` of the per-CPU counters, summed over the CPUs.
fn read_counter(loaded: &Loaded, ncpus: usize, slot: Counter) -> Result<u64, RuntimeError> {
    let fd = loaded.map(COUNTERS_MAP)?;
    let mut buf = vec![0u8; 8 * ncpus];
    Ok(if sys::map_lookup(fd, &(slot as u32).to_le_bytes(), &mut buf).unwrap_or(false) {
        buf.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).sum()
    } else {
        0
    })
}

/// "Lost N events" for the events lost since the last report (the ring buffer was full).
fn report_lost_events(loaded: &Loaded, sink: &mut EventSink) -> Result<(), RuntimeError> {
    let total = read_counter(loaded, sink.ncpus, Counter::LostEvents)?;
    if total > sink.lost_reported {
        let lost = total - sink.lost_reported;
        sink.lost_reported = total;
        sink.notice("lost_events", serde_json::json!({ "events": lost }), &format!("Lost {lost} events"))?;
    }
    Ok(())
}

fn report_counters(loaded: &Loaded, sink: &mut EventSink) -> Result<(), RuntimeError> {
    let _ = std::io::stdout().flush();
    report_lost_events(loaded, sink)?;
    let failed = read_counter(loaded, sink.ncpus, Counter::FailedMapUpdates)?;
    if failed > 0 {
        // The first words are bpftrace's, which logs are grepped for.
        crate::diagnostics::warn(format_args!("Map full; can't update element: {failed} map updates failed: a map reached its size limit (raise it with BPFTRACE_MAX_MAP_KEYS=N, config max_map_keys, or the map's `let @m = hash(N)`)"));
    }
    let reads = read_counter(loaded, sink.ncpus, Counter::FailedReads)?;
    if reads > 0 {
        crate::diagnostics::warn(format_args!("{reads} memory reads failed (bpf_probe_read of a bad or paged-out address): each read as zeros or an empty string"));
    }
    let by_zero = read_counter(loaded, sink.ncpus, Counter::DividedByZero)?;
    if by_zero > 0 {
        crate::diagnostics::warn(format_args!("{by_zero} divisions or modulos by 0: 1 was used as each result, as bpftrace does"));
    }
    let stacks = read_counter(loaded, sink.ncpus, Counter::LostStacks)?;
    if stacks > 0 {
        crate::diagnostics::warn(format_args!("{stacks} stacks were not recorded: the stack map ({STACKS_MAX} stacks) was full, or another stack held the slot a stack hashed to; each prints as an empty stack"));
    }
    Ok(())
}
