//! Attaching loaded programs to their events, and detaching them. Every attachment is one
//! file descriptor (a perf event with the program set on it, or a raw tracepoint link):
//! closing it detaches, so teardown is dropping `Links`, on every path, including a failed
//! attach halfway through.

use std::os::fd::{AsRawFd, OwnedFd};

use super::loader::Loaded;
use super::sys::{self, PerfEventAttr};
use super::{LiveKernel, RuntimeError};
use crate::artifact::{Attach, ProgramMeta};
use crate::artifact::MissingProbes;

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;

/// Attached programs; dropping this detaches them.
#[derive(Default)]
pub struct Links {
    fds: Vec<OwnedFd>,
    /// Iterator fds (`iter:` probes), to be read to the end.
    pub iterators: Vec<OwnedFd>,
    /// The programs of `watchpoint:FUNC+argN` probes by id: (program fd, length, mode,
    /// probe name), armed while tracing.
    armable: std::collections::HashMap<u32, (i32, u8, u8, String)>,
    /// Watchpoints armed so far, by (id, pid, address).
    armed: std::collections::HashMap<(u32, u32, u64), OwnedFd>,
    /// `watchpoint:ADDRESS` probes' perf events, by address.
    fixed_watches: std::collections::HashMap<u64, Vec<OwnedFd>>,
    /// Attach points the kernel refused and `missing_probes` let the trace run without.
    pub skipped: usize,
}

impl Links {
    /// Attaches every program that has an event (BEGIN and END have none). An attach point
    /// the kernel refuses is an error, or with `missing_probes` `warn` (`ignore`) skipped with
    /// (without) a warning, unless none is left. On an error the programs attached so far are
    /// detached before it is returned.
    /// `pid` (from `-p`) scopes uprobes to that process.
    /// `process` is the `-p` or `-c` process, which watchpoints watch.
    pub fn attach_all(
        loaded: &Loaded,
        programs: &[ProgramMeta],
        tracefs: &LiveKernel,
        pid: Option<u32>,
        process: Option<u32>,
        missing: MissingProbes,
    ) -> Result<Links, RuntimeError> {
        let mut links = Links::default();
        // Counted as bpftrace counts them: a multi-attach program once per function.
        let attachable: usize = programs.iter().filter(|p| !matches!(p.attach, Attach::Begin | Attach::End | Attach::Signal { .. } | Attach::Bench { .. })).map(|p| p.attach.functions()).sum();
        // What ftrace can trace now, for kprobe_multi links (read on first use).
        let mut traceable: Option<Option<std::collections::HashSet<&str>>> = None;
        let steps = programs.iter().filter(|p| !matches!(p.attach, Attach::Begin | Attach::End | Attach::Signal { .. } | Attach::Bench { .. })).count();
        let _progress = super::progress::Progress::start("attaching probes", steps);
        for p in attach_order(programs) {
            if !matches!(p.attach, Attach::Begin | Attach::End | Attach::Signal { .. }) {
                super::progress::advance();
            }
            let prog = loaded.program(&p.function)?;
            let one = |fd: std::io::Result<OwnedFd>| fd.map(|fd| vec![fd]).map_err(|e| e.to_string());
            let fds: Result<Vec<OwnedFd>, String> = match &p.attach {
                Attach::Begin | Attach::End | Attach::Signal { .. } | Attach::Bench { .. } => Ok(Vec::new()),
                Attach::Tracepoint { category, event } => {
                    one(tracefs.event_id(category, event).and_then(|id| perf_event(PERF_TYPE_TRACEPOINT, id, 1, false, 0, prog)))
                }
                // One timer on CPU 0, as bpftrace's interval probe.
                Attach::Interval { period_ns } => one(perf_event(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, *period_ns, false, 0, prog)),
                Attach::RawTracepoint { name } => one(sys::raw_tracepoint_open(Some(name), prog)),
                // The program names its tracepoint by BTF id.
                Attach::BtfRawTracepoint { .. } => one(sys::raw_tracepoint_open(None, prog)),
                Attach::Fentry { function, .. } => sys::raw_tracepoint_open(None, prog).map(|fd| vec![fd]).map_err(|e| match e.raw_os_error() {
                    Some(libc::EPERM) | Some(524) => super::loader::trampolines_refused(function),
                    _ => e.to_string(),
                }),
                Attach::Uprobe { path, offset, ret, semaphore } => one(probe_pmu("uprobe", path, *offset, *ret, *semaphore, pid, prog)),
                Attach::Kprobe { function, offset, ret } => probe_pmu("kprobe", function, *offset, *ret, None, None, prog).map(|fd| vec![fd]).map_err(|e| match e.raw_os_error() {
                    // The one EINVAL a loaded kprobe program gets at attach: override() on a
                    // function the kernel does not allow errors to be injected into.
                    Some(libc::EINVAL) => format!("{e}: a probe that calls override() can only attach to functions on the kernel's error-injection list (ALLOW_ERROR_INJECTION, e.g. syscalls); `{function}` is not one"),
                    _ => e.to_string(),
                }),
                Attach::KprobeMulti { functions, ret } => {
                    let traceable = traceable.get_or_insert_with(|| tracefs.kernel_functions().map(|f| f.iter().map(String::as_str).collect()));
                    super::multi::kprobe_multi(prog, functions, *ret, traceable.as_ref()).map(|(link, left_out)| {
                        links.skipped += left_out;
                        vec![link]
                    })
                }
                Attach::UprobeMulti { path, offsets, ret } => super::multi::uprobe_multi(prog, path, offsets, *ret, pid).map(|link| vec![link]),
                Attach::Iter { .. } => sys::iter_open(prog, super::loader::BPF_TRACE_ITER)
                    .map(|(link, iter)| {
                        links.iterators.push(iter);
                        vec![link]
                    })
                    .map_err(|e| e.to_string()),
                // Armed when its function runs (`arm`).
                Attach::ArmedWatchpoint { id, len, mode } => {
                    links.armable.insert(*id, (prog, *len, *mode, p.probe_name.clone()));
                    Ok(Vec::new())
                }
                // A user address in the -p/-c process; without one, a kernel address, on every CPU.
                // Kept by address, for `unwatch`.
                Attach::Watchpoint { addr, len, mode } => match process {
                    Some(pid) => process_watchpoints(*addr, *len, *mode, pid, prog).map_err(|e| e.to_string()),
                    None => sys::online_cpus()
                        .and_then(|cpus| cpus.into_iter().map(|cpu| watchpoint(*addr, *len, *mode, -1, cpu, prog)).collect())
                        .map_err(|e| format!("{e} (without -p or -c, {addr:#x} is watched as a kernel address)")),
                }
                .map(|fds| {
                    links.fixed_watches.entry(*addr).or_default().extend(fds);
                    Vec::new()
                }),
                Attach::PerfEvent { perf_type, config, period, frequency } => sys::online_cpus().map_err(|e| e.to_string()).and_then(|cpus| {
                    cpus.into_iter()
                        .map(|cpu| perf_event(*perf_type, *config, *period, *frequency, cpu, prog).map_err(|e| perf_event_error(*perf_type, e)))
                        .collect()
                }),
            };
            let error = |message| RuntimeError::Attach { probe: p.probe_name.clone(), span: p.span, message };
            match fds {
                Ok(fds) => links.fds.extend(fds),
                // On an error `links` is dropped, which detaches everything attached so far.
                Err(message) if missing == MissingProbes::Error => return Err(error(message)),
                Err(message) => {
                    links.skipped += p.attach.functions();
                    if links.skipped == attachable {
                        return Err(match attachable {
                            1 => error(message),
                            count => RuntimeError::NothingAttached { count, probe: p.probe_name.clone(), span: p.span, message },
                        });
                    }
                    if missing == MissingProbes::Warn {
                        crate::diagnostics::warn(format_args!("could not attach {}: {message}; skipping it (missing_probes = warn)", p.probe_name));
                    }
                }
            }
        }
        Ok(links)
    }
}

/// The order to attach `programs` in: theirs, except that uprobes (and uretprobes, USDT),
/// kprobes and fentry/fexit go in reverse among themselves. The kernel runs several of these
/// on one place newest first (a new uprobe consumer, kprobe or trampoline program goes to the
/// head of the place's list), so attached in reverse they run in the script's order, as
/// bpftrace's do (it reverses the same kinds; kretprobes it leaves in order).
fn attach_order(programs: &[ProgramMeta]) -> Vec<&ProgramMeta> {
    let stacked = |p: &ProgramMeta| {
        matches!(p.attach, Attach::Uprobe { .. } | Attach::UprobeMulti { .. } | Attach::Kprobe { ret: false, .. } | Attach::KprobeMulti { ret: false, .. } | Attach::Fentry { .. })
    };
    let mut order: Vec<&ProgramMeta> = programs.iter().collect();
    let places: Vec<usize> = (0..programs.len()).filter(|&i| stacked(&programs[i])).collect();
    for (&slot, &from) in places.iter().zip(places.iter().rev()) {
        order[slot] = &programs[from];
    }
    order
}

/// Most threads that close attachments at once.
const CLOSERS: usize = 64;

impl Drop for Links {
    /// Detaches everything. Closing a tracepoint's perf event waits for the kernel to be done
    /// with the tracepoint (~75 ms here, partly under one kernel mutex): closed in turn, 104
    /// tracepoints took 8.5 s to detach; closed from many threads at once, 5.3 s, as the
    /// waits outside that mutex overlap.
    fn drop(&mut self) {
        let fds = std::mem::take(&mut self.fds);
        if fds.len() <= 1 {
            return;
        }
        let per_thread = fds.len().div_ceil(CLOSERS);
        // Thousands of uprobes take minutes to detach: the terminal says how far it got.
        let _progress = super::progress::Progress::start("detaching probes", fds.len());
        let mut fds = fds.into_iter();
        std::thread::scope(|s| {
            loop {
                let chunk: Vec<OwnedFd> = fds.by_ref().take(per_thread).collect();
                if chunk.is_empty() {
                    break;
                }
                // A thread that cannot start drops its share here, closing it in turn.
                let _ = std::thread::Builder::new().spawn_scoped(s, move || {
                    for fd in chunk {
                        drop(fd);
                        super::progress::advance();
                    }
                });
            }
        });
    }
}

impl Links {
    /// Arms watchpoint `id` (a `watchpoint:FUNC+argN` probe) at `addr` in process `pid`, once
    /// per address, then resumes the process if its uprobe stopped it. An error (the CPU has
    /// four debug registers) is returned after the process is resumed.
    pub fn arm(&mut self, id: u32, addr: u64, pid: u32, stopped: bool) -> Result<(), String> {
        let armed = match self.armable.get(&id) {
            Some(_) if self.armed.contains_key(&(id, pid, addr)) => Ok(()),
            Some((prog, len, mode, name)) => watchpoint(addr, *len, *mode, pid as i32, -1, *prog)
                .map(|fd| {
                    self.armed.insert((id, pid, addr), fd);
                })
                .map_err(|e| format!("{name}: cannot watch {addr:#x}: {e}")),
            None => Err(format!("no watchpoint program {id}")),
        };
        if stopped {
            resume(pid);
        }
        armed
    }

    /// `unwatch(addr)`: closes the watchpoints at `addr`, which detaches them. A
    /// `watchpoint:FUNC+argN` one is armed again by the next call of its function.
    pub fn unwatch(&mut self, addr: u64) {
        self.armed.retain(|(_, _, a), _| *a != addr);
        self.fixed_watches.remove(&addr);
    }
}

/// Resumes a process a watchpoint uprobe stopped (SIGSTOP) until its watchpoint was armed.
pub fn resume(pid: u32) {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
}

/// A kprobe or uprobe through its perf PMU: `target` is the kernel function or the binary's
/// path, `offset` the offset into it; for every process, or the `-p` one. `semaphore`: the
/// file offset of a USDT semaphore (the PMU's reference counter).
fn probe_pmu(pmu: &str, target: &str, offset: u64, ret: bool, semaphore: Option<u64>, pid: Option<u32>, prog: i32) -> std::io::Result<OwnedFd> {
    let fd = pmu_event(pmu, target, offset, ret, semaphore, pid)?;
    sys::perf_event_set_bpf(fd.as_raw_fd(), prog)?;
    Ok(fd)
}

/// The perf event of `probe_pmu`, without a program.
pub(super) fn pmu_event(pmu: &str, target: &str, offset: u64, ret: bool, semaphore: Option<u64>, pid: Option<u32>) -> std::io::Result<OwnedFd> {
    let pmu = format!("/sys/bus/event_source/devices/{pmu}");
    let read = |f: &str| std::fs::read_to_string(format!("{pmu}/{f}"));
    let type_: u32 = read("type")?.trim().parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{pmu}/type")))?;
    // A format file says which bits of `config` hold a field: "config:N" or "config:N-M".
    let field_shift = |f: &str| -> std::io::Result<u32> {
        let format = read(&format!("format/{f}"))?;
        let first = format.trim().trim_start_matches("config:").split('-').next().unwrap_or_default().to_string();
        first.parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{pmu}/format/{f}: {format:?}")))
    };
    let mut config = if ret { 1u64 << field_shift("retprobe")? } else { 0 };
    if let Some(s) = semaphore {
        config |= s << field_shift("ref_ctr_offset")?;
    }
    let target = std::ffi::CString::new(target).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let mut attr = PerfEventAttr { type_, config, config1: target.as_ptr() as u64, config2: offset, sample_period: 1, wakeup_events: 1, ..Default::default() };
    // For one process, on any CPU; for every process, on "CPU 0" (which still fires on all).
    let (pid, cpu) = pid.map_or((-1, 0), |p| (p as i32, -1));
    sys::perf_event_open(&mut attr, pid, cpu)
}

/// Why a perf event could not be opened, in the user's terms.
fn perf_event_error(perf_type: u32, e: std::io::Error) -> String {
    match (perf_type, e.raw_os_error()) {
        (PERF_TYPE_HARDWARE, Some(libc::ENOENT | libc::EOPNOTSUPP)) => {
            format!("this machine has no hardware performance counters (a VM without a virtual PMU?): {e}; software events and `profile` still work")
        }
        _ => e.to_string(),
    }
}

/// Watchpoints on `addr` in every thread process `pid` has (a breakpoint is per thread), each
/// inherited by the threads that thread creates, as bpftrace attaches them.
fn process_watchpoints(addr: u64, len: u8, mode: u8, pid: u32, prog: i32) -> std::io::Result<Vec<OwnedFd>> {
    let mut tids: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/task"))?.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    if tids.is_empty() {
        tids.push(pid as i32);
    }
    tids.into_iter().map(|tid| watchpoint(addr, len, mode, tid, -1, prog)).collect()
}

/// A hardware breakpoint (the `breakpoint` PMU) on `len` bytes at `addr`: in thread `pid` (and
/// the threads it creates later) on any CPU, or (pid -1) a kernel address on `cpu`.
fn watchpoint(addr: u64, len: u8, mode: u8, pid: i32, cpu: i32, prog: i32) -> std::io::Result<OwnedFd> {
    let fd = breakpoint_event(addr, len, mode, pid, cpu)?;
    sys::perf_event_set_bpf(fd.as_raw_fd(), prog)?;
    Ok(fd)
}

/// The perf event of `watchpoint`, without a program.
pub(super) fn breakpoint_event(addr: u64, len: u8, mode: u8, pid: i32, cpu: i32) -> std::io::Result<OwnedFd> {
    const PERF_TYPE_BREAKPOINT: u32 = 5;
    const HW_BREAKPOINT_X: u8 = 4;
    const INHERIT: u64 = 1 << 1;
    let mut attr = PerfEventAttr {
        type_: PERF_TYPE_BREAKPOINT,
        sample_period: 1,
        wakeup_events: 1,
        bp_type: u32::from(mode),
        config1: addr,
        // An execute breakpoint covers one instruction, whatever its length: the kernel
        // takes only sizeof(long) for it (perf_event_open(2)); `x` probes name 1.
        config2: if mode & HW_BREAKPOINT_X != 0 { 8 } else { u64::from(len) },
        // A process's threads created after attaching are watched too.
        flags: if pid >= 0 { INHERIT } else { 0 },
        ..Default::default()
    };
    sys::perf_event_open(&mut attr, pid, cpu)
}

/// A perf event on `cpu` for all processes, running `prog` on every sample (every `period`
/// events, or `period` times a second when `frequency`).
fn perf_event(type_: u32, config: u64, period: u64, frequency: bool, cpu: i32, prog: i32) -> std::io::Result<OwnedFd> {
    let fd = counter_event(type_, config, period, frequency, cpu)?;
    sys::perf_event_set_bpf(fd.as_raw_fd(), prog)?;
    Ok(fd)
}

/// The perf event of `perf_event`, without a program.
pub(super) fn counter_event(type_: u32, config: u64, period: u64, frequency: bool, cpu: i32) -> std::io::Result<OwnedFd> {
    const FREQ: u64 = 1 << 10;
    let flags = if frequency { FREQ } else { 0 };
    let mut attr = PerfEventAttr { type_, config, sample_period: period, flags, wakeup_events: 1, ..Default::default() };
    sys::perf_event_open(&mut attr, -1, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pmu_is_named_as_the_cause() {
        let e = perf_event_error(PERF_TYPE_HARDWARE, std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(e.starts_with("this machine has no hardware performance counters"), "{e}");
        let e = perf_event_error(PERF_TYPE_SOFTWARE, std::io::Error::from_raw_os_error(libc::ENOENT));
        assert!(!e.contains("hardware"), "{e}");
    }
}
