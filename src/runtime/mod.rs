//! Runs a `BpfArtifact` on the kernel: load (aya), run BEGIN, attach, stream events until
//! exit()/Ctrl-C/SIGTERM, detach, run END, print maps. aya types stay inside this module.
//!
//! BEGIN and END are raw_tp programs that are never attached: they run once each through
//! BPF_PROG_TEST_RUN, so they cost no attach/detach, and BEGIN runs strictly before any
//! other probe is attached. When BEGIN calls exit(), nothing else is attached at all.

mod error;
mod events;
pub mod output;
pub mod printf;
mod sys;
pub mod tracefs;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use aya::maps::{Map, MapData, RingBuf};
use aya::programs::perf_event::{PerfEventConfig, PerfEventLinkId, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{PerfEvent, Program, ProgramError, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};

use crate::codegen::artifact::{Attach, BpfArtifact, Counter, COUNTERS_MAP, EVENTS_MAP, START_MAP};
pub use error::RuntimeError;
use events::{EventSink, Outcome};
pub use tracefs::TraceFs;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print the verifier log of every program, not only of failing ones.
    pub verbose: bool,
}

enum Link {
    Tracepoint(String, TracePointLinkId),
    Perf(String, PerfEventLinkId),
}

/// Runs the artifact to completion; returns the process exit code.
pub fn run(artifact: &BpfArtifact, options: &RunOptions) -> Result<i32, RuntimeError> {
    preflight()?;
    let meta = &artifact.meta;
    let mut ebpf = EbpfLoader::new().btf(None).load(&artifact.object).map_err(|e| RuntimeError::Load {
        message: e.to_string(),
    })?;

    for p in &meta.programs {
        load_program(&mut ebpf, &p.function, &p.attach).map_err(|e| RuntimeError::from_program(e, p, options.verbose))?;
    }
    set_start_time(&ebpf)?;

    let ring = ebpf.take_map(EVENTS_MAP).ok_or(RuntimeError::MissingMap { name: EVENTS_MAP })?;
    let mut ring = RingBuf::try_from(ring).map_err(|e| RuntimeError::Load { message: e.to_string() })?;
    let mut sink = EventSink::new(meta)?;

    let n = meta.programs.len();
    eprintln!("Attaching {n} probe{}...", if n == 1 { "" } else { "s" });

    // Signals only set a flag and wake poll() through a socket pair.
    let (sig_rx, sig_tx) = UnixStream::pair().map_err(RuntimeError::Io)?;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let tx = sig_tx.try_clone().map_err(RuntimeError::Io)?;
        signal_hook::low_level::pipe::register(sig, tx).map_err(RuntimeError::Io)?;
    }
    sig_rx.set_nonblocking(true).map_err(RuntimeError::Io)?;

    for p in meta.programs.iter().filter(|p| p.attach == Attach::Begin) {
        test_run(&ebpf, &p.function)?;
    }
    let outcome = sink.drain(&mut ring, &ebpf)?;

    let mut links = Vec::new();
    if outcome == Outcome::Continue {
        for p in &meta.programs {
            match attach(&mut ebpf, &p.function, &p.attach) {
                Ok(Some(l)) => links.push(l),
                Ok(None) => {}
                Err(e) => {
                    detach_all(&mut ebpf, links);
                    return Err(RuntimeError::Attach { probe: p.probe_name.clone(), span: p.span, message: e.to_string() });
                }
            }
        }
        event_loop(&mut ring, &sig_rx, &mut sink, &ebpf)?;
    }
    detach_all(&mut ebpf, links);

    sink.reopen();
    for p in meta.programs.iter().filter(|p| p.attach == Attach::End) {
        test_run(&ebpf, &p.function)?;
    }
    // END's own events (and exit()) are delivered; anything after that is ignored.
    sink.drain(&mut ring, &ebpf)?;

    sink.print_all_maps(&ebpf)?;
    report_counters(&ebpf)?;
    Ok(0)
}

fn preflight() -> Result<(), RuntimeError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(RuntimeError::NotRoot);
    }
    Ok(())
}

fn load_program(ebpf: &mut Ebpf, name: &str, attach: &Attach) -> Result<(), ProgramError> {
    let prog = program(ebpf, name)?;
    match attach {
        Attach::Begin | Attach::End => <&mut RawTracePoint>::try_from(prog)?.load(),
        Attach::Tracepoint { .. } => <&mut TracePoint>::try_from(prog)?.load(),
        Attach::Interval { .. } => <&mut PerfEvent>::try_from(prog)?.load(),
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Program, ProgramError> {
    ebpf.program_mut(name).ok_or(ProgramError::UnexpectedProgramType)
}

fn attach(ebpf: &mut Ebpf, name: &str, attach: &Attach) -> Result<Option<Link>, ProgramError> {
    let prog = program(ebpf, name)?;
    Ok(match attach {
        Attach::Begin | Attach::End => None,
        Attach::Tracepoint { category, event } => {
            let id = <&mut TracePoint>::try_from(prog)?.attach(category, event)?;
            Some(Link::Tracepoint(name.to_string(), id))
        }
        Attach::Interval { period_ns } => {
            // One timer on CPU 0, as bpftrace's interval probe.
            let id = <&mut PerfEvent>::try_from(prog)?.attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu: 0 },
                SamplePolicy::Period(*period_ns),
                false,
            )?;
            Some(Link::Perf(name.to_string(), id))
        }
    })
}

fn detach_all(ebpf: &mut Ebpf, links: Vec<Link>) {
    for link in links {
        // A failed detach still releases the link when `ebpf` is dropped.
        let _ = match link {
            Link::Tracepoint(name, id) => program(ebpf, &name).and_then(|p| <&mut TracePoint>::try_from(p)?.detach(id)),
            Link::Perf(name, id) => program(ebpf, &name).and_then(|p| <&mut PerfEvent>::try_from(p)?.detach(id)),
        };
    }
}

fn test_run(ebpf: &Ebpf, name: &str) -> Result<(), RuntimeError> {
    let prog = ebpf.program(name).ok_or(RuntimeError::MissingMap { name: "program" })?;
    let fd = prog.fd().map_err(|e| RuntimeError::Load { message: e.to_string() })?;
    sys::prog_test_run(fd.as_fd().as_raw_fd()).map_err(|e| RuntimeError::Load {
        message: format!("running {name} with BPF_PROG_TEST_RUN failed: {e}"),
    })
}

pub(crate) fn map_fd(ebpf: &Ebpf, name: &'static str) -> Result<RawFd, RuntimeError> {
    let map = ebpf.map(name).ok_or(RuntimeError::MissingMap { name })?;
    Ok(map_data(map).ok_or(RuntimeError::MissingMap { name })?.fd().as_fd().as_raw_fd())
}

pub(crate) fn map_data(map: &Map) -> Option<&MapData> {
    match map {
        Map::HashMap(d) | Map::PerCpuHashMap(d) | Map::Array(d) | Map::PerCpuArray(d) => Some(d),
        _ => None,
    }
}

fn set_start_time(ebpf: &Ebpf) -> Result<(), RuntimeError> {
    let fd = map_fd(ebpf, START_MAP)?;
    sys::map_update(fd, &0u32.to_le_bytes(), &sys::monotonic_ns().to_le_bytes()).map_err(RuntimeError::Io)
}

fn event_loop(ring: &mut RingBuf<MapData>, sig_rx: &UnixStream, sink: &mut EventSink, ebpf: &Ebpf) -> Result<Outcome, RuntimeError> {
    let mut fds = [
        libc::pollfd { fd: ring.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: sig_rx.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(RuntimeError::Io(e));
        }
        if fds[0].revents != 0 && sink.drain(ring, ebpf)? == Outcome::Exit {
            return Ok(Outcome::Exit);
        }
        if fds[1].revents != 0 {
            // Events already in the ring are still printed.
            sink.drain(ring, ebpf)?;
            return Ok(Outcome::Exit);
        }
    }
}

fn report_counters(ebpf: &Ebpf) -> Result<(), RuntimeError> {
    let fd = map_fd(ebpf, COUNTERS_MAP)?;
    let ncpus = aya::util::nr_cpus().map_err(|(_, e)| RuntimeError::Io(e))?;
    let read = |slot: Counter| -> u64 {
        let mut buf = vec![0u8; 8 * ncpus];
        if sys::map_lookup(fd, &(slot as u32).to_le_bytes(), &mut buf).unwrap_or(false) {
            buf.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).sum()
        } else {
            0
        }
    };
    let _ = std::io::stdout().flush();
    let lost = read(Counter::LostEvents);
    if lost > 0 {
        eprintln!("Lost {lost} events");
    }
    let failed = read(Counter::FailedMapUpdates);
    if failed > 0 {
        eprintln!(
            "WARNING: {failed} map updates failed: a map reached its limit of {} keys",
            crate::codegen::artifact::MAX_MAP_KEYS
        );
    }
    Ok(())
}
