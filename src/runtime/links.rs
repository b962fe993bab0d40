//! Attaching loaded programs to their events, and detaching them. Every attachment is one
//! file descriptor (a perf event with the program set on it, or a raw tracepoint link):
//! closing it detaches, so teardown is dropping `Links`, on every path, including a failed
//! attach halfway through.

use std::os::fd::{AsRawFd, OwnedFd};

use super::loader::Loaded;
use super::sys::{self, PerfEventAttr};
use super::{RuntimeError, TraceFs};
use crate::codegen::artifact::{Attach, ProgramMeta};

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;

/// Attached programs; dropping this detaches them.
#[derive(Default)]
pub struct Links {
    fds: Vec<OwnedFd>,
}

impl Links {
    /// Attaches every program that has an event (BEGIN and END have none). On an error the
    /// programs attached so far are detached before it is returned.
    pub fn attach_all(loaded: &Loaded, programs: &[ProgramMeta], tracefs: &TraceFs) -> Result<Links, RuntimeError> {
        let mut links = Links::default();
        for p in programs {
            let prog = loaded.program(&p.function)?;
            let fd = match &p.attach {
                Attach::Begin | Attach::End => continue,
                Attach::Tracepoint { category, event } => tracefs
                    .event_id(category, event)
                    .and_then(|id| perf_event(PERF_TYPE_TRACEPOINT, id, 1, prog)),
                // One timer on CPU 0, as bpftrace's interval probe.
                Attach::Interval { period_ns } => perf_event(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, *period_ns, prog),
                Attach::RawTracepoint { name } => sys::raw_tracepoint_open(name, prog),
            };
            let fd = fd.map_err(|e| RuntimeError::Attach { probe: p.probe_name.clone(), span: p.span, message: e.to_string() })?;
            links.fds.push(fd);
        }
        Ok(links)
    }
}

/// A perf event on CPU 0 for all processes, running `prog` on every sample.
fn perf_event(type_: u32, config: u64, sample_period: u64, prog: i32) -> std::io::Result<OwnedFd> {
    let mut attr = PerfEventAttr { type_, config, sample_period, wakeup_events: 1, ..Default::default() };
    let fd = sys::perf_event_open(&mut attr, -1, 0)?;
    sys::perf_event_set_bpf(fd.as_raw_fd(), prog)?;
    Ok(fd)
}
