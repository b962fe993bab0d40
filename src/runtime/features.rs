//! Asks the running kernel for each `features::Feature`: loads a two-instruction program
//! that calls the helper, creates the map, opens the perf event, makes the link (and closes
//! it at once). Nothing is inferred from the kernel's version. `LiveKernel` answers sema's
//! questions from here, `rtrace --info` prints every answer, and the test suites read that.
//! The kernel's BTF and kallsyms come from the `LiveKernel` asking, read once per run.

use std::os::fd::{AsRawFd, OwnedFd};

use super::LiveKernel;
use super::{links, loader, sys};
use crate::btf::{Btf, Namespace};
use crate::features::{Answer, Feature};


const BPF_PROG_TYPE_KPROBE: u32 = 2;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_TRACE_FENTRY: u32 = 24;
const BPF_TRACE_KPROBE_MULTI: u32 = 42;
const BPF_TRACE_UPROBE_MULTI: u32 = 48;
const BPF_TRACE_KPROBE_SESSION: u32 = 56;

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_MAP_TYPE_STACK_TRACE: u32 = 7;
const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const HW_BREAKPOINT_W: u8 = 2;

/// The kernel function the probes of kprobes, kprobe_multi and trampolines attach to for a
/// moment: present in every kernel rtrace runs on, and traceable.
const PROBED_FUNCTION: &str = "vfs_read";

/// `r0 = 0; exit`.
const RETURN_ZERO: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

/// Every feature, in `Feature::ALL`'s order.
pub fn probe_all() -> Vec<(Feature, Answer)> {
    let kernel = LiveKernel::open();
    Feature::ALL.iter().map(|f| (*f, probe(&kernel, *f))).collect()
}

/// Asks the kernel for one feature.
pub fn probe(kernel: &LiveKernel, feature: Feature) -> Answer {
    match check(kernel, feature) {
        Ok(()) => Answer { present: true, detail: String::new() },
        Err(detail) => Answer { present: false, detail },
    }
}

type Check = Result<(), String>;

fn check(kernel: &LiveKernel, feature: Feature) -> Check {
    use Feature::*;
    match feature {
        Btf => vmlinux_btf(kernel).map(drop),
        ModuleBtf => {
            let modules = std::fs::read_dir("/sys/kernel/btf").map_err(|e| e.to_string())?.filter_map(Result::ok).any(|e| e.file_name() != "vmlinux");
            modules.then_some(()).ok_or_else(|| "no module has BTF".to_string())
        }
        KallsymsAll => kernel.lists_data_symbols().then_some(()).ok_or_else(|| "kallsyms lists functions only".to_string()),
        BtfPercpuVars => {
            let btf = vmlinux_btf(kernel)?;
            let any = btf.names(Namespace::Var).next().is_some();
            any.then_some(()).ok_or_else(|| "the BTF has no variables".to_string())
        }
        Tracefs => {
            // `LiveKernel::open` has mounted it where it could.
            ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"]
                .iter()
                .any(|p| std::path::Path::new(p).is_dir())
                .then_some(())
                .ok_or_else(|| "tracefs is not mounted and cannot be".to_string())
        }
        Tracepoints => load(BPF_PROG_TYPE_TRACEPOINT, &RETURN_ZERO, sys::LoadTarget::default()).map(drop),
        RawTracepoints => {
            let prog = load(BPF_PROG_TYPE_RAW_TRACEPOINT, &RETURN_ZERO, sys::LoadTarget::default())?;
            sys::raw_tracepoint_open(Some("sys_enter"), prog.as_raw_fd()).map(drop).map_err(errno)
        }
        TestRun => {
            let prog = load(BPF_PROG_TYPE_RAW_TRACEPOINT, &RETURN_ZERO, sys::LoadTarget::default())?;
            sys::prog_test_run(prog.as_raw_fd()).map_err(errno)
        }
        Kprobes => links::pmu_event("kprobe", PROBED_FUNCTION, 0, false, None, None).map(drop).map_err(|e| pmu_error("kprobe", e)),
        Uprobes => {
            let file = ProbeFile::new()?;
            links::pmu_event("uprobe", &file.path, 0, false, None, None).map(drop).map_err(|e| pmu_error("uprobe", e))
        }
        KprobeMulti => {
            let prog = load(BPF_PROG_TYPE_KPROBE, &RETURN_ZERO, sys::LoadTarget { expected_attach_type: BPF_TRACE_KPROBE_MULTI, attach_btf_id: 0 })?;
            let symbol = std::ffi::CString::new(PROBED_FUNCTION).map_err(|e| e.to_string())?;
            let symbols = [symbol.as_ptr() as u64];
            sys::link_create(prog.as_raw_fd(), BPF_TRACE_KPROBE_MULTI, [1u64 << 32, symbols.as_ptr() as u64, 0, 0, 0, 0]).map(drop).map_err(errno)
        }
        // A kprobe_multi link whose attach type is a session (the program runs on entry and
        // return).
        KprobeSession => {
            let prog = load(BPF_PROG_TYPE_KPROBE, &RETURN_ZERO, sys::LoadTarget { expected_attach_type: BPF_TRACE_KPROBE_SESSION, attach_btf_id: 0 })?;
            let symbol = std::ffi::CString::new(PROBED_FUNCTION).map_err(|e| e.to_string())?;
            let symbols = [symbol.as_ptr() as u64];
            sys::link_create(prog.as_raw_fd(), BPF_TRACE_KPROBE_SESSION, [1u64 << 32, symbols.as_ptr() as u64, 0, 0, 0, 0]).map(drop).map_err(errno)
        }
        // Asked without registering a uprobe (registering and removing one costs a launch
        // about 50 ms in RCU grace periods), as libbpf asks: a link on a directory fails with
        // EBADF only where the kernel has the link type, and one for pid -1 with EINVAL only
        // where it filters by process, not by thread (the first kernels had it wrong; -p
        // relies on it).
        UprobeMulti => {
            let prog = load(BPF_PROG_TYPE_KPROBE, &RETURN_ZERO, sys::LoadTarget { expected_attach_type: BPF_TRACE_UPROBE_MULTI, attach_btf_id: 0 })?;
            let root = c"/";
            let offsets = [0u64];
            let attempt = |pid: u32| match sys::link_create(prog.as_raw_fd(), BPF_TRACE_UPROBE_MULTI, [root.as_ptr() as u64, offsets.as_ptr() as u64, 0, 0, 1, u64::from(pid)]) {
                Ok(_) => Err("a uprobe_multi link on a directory was accepted".to_string()),
                Err(e) => Ok(e.raw_os_error()),
            };
            match (attempt(0)?, attempt(u32::MAX)?) {
                (Some(libc::EBADF), Some(libc::EINVAL)) => Ok(()),
                (Some(libc::EBADF), _) => Err("uprobe_multi filters by thread, not by process (a kernel before the fix)".to_string()),
                (e, _) => Err(errno(std::io::Error::from_raw_os_error(e.unwrap_or(libc::EINVAL)))),
            }
        }
        Trampolines => {
            let btf = vmlinux_btf(kernel)?;
            let id = function_id(btf, PROBED_FUNCTION)?;
            let prog = load(BPF_PROG_TYPE_TRACING, &RETURN_ZERO, sys::LoadTarget { expected_attach_type: BPF_TRACE_FENTRY, attach_btf_id: id })?;
            sys::raw_tracepoint_open(None, prog.as_raw_fd()).map(drop).map_err(errno)
        }
        // A tp_btf program on sys_enter, by its `btf_trace_sys_enter` typedef.
        BtfTracepoints => {
            let id = vmlinux_btf(kernel)?.find(Namespace::Typedef, "btf_trace_sys_enter").ok_or("no btf_trace_sys_enter in the kernel's BTF")?;
            let prog = load(BPF_PROG_TYPE_TRACING, &RETURN_ZERO, sys::LoadTarget { expected_attach_type: loader::BPF_TRACE_RAW_TP, attach_btf_id: id })?;
            sys::raw_tracepoint_open(None, prog.as_raw_fd()).map(drop).map_err(errno)
        }
        Iterators => {
            let btf = vmlinux_btf(kernel)?;
            let id = function_id(btf, "bpf_iter_task")?;
            let prog = load(BPF_PROG_TYPE_TRACING, &RETURN_ZERO, sys::LoadTarget { expected_attach_type: loader::BPF_TRACE_ITER, attach_btf_id: id })?;
            sys::iter_open(prog.as_raw_fd(), loader::BPF_TRACE_ITER).map(drop).map_err(errno)
        }
        IterTaskVma => function_id(vmlinux_btf(kernel)?, "bpf_iter_task_vma").map(drop),
        SoftwareEvents => links::counter_event(PERF_TYPE_SOFTWARE, 0, 1_000_000_000, false, 0).map(drop).map_err(errno),
        HardwareEvents => links::counter_event(PERF_TYPE_HARDWARE, 0, 1_000_000_000, false, 0).map(drop).map_err(errno),
        UserBreakpoints => {
            static WATCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            links::breakpoint_event(WATCHED.as_ptr() as u64, 8, HW_BREAKPOINT_W, 0, -1).map(drop).map_err(errno)
        }
        KernelBreakpoints => {
            // A kernel object's address, 8-aligned, as `watchpoint:0xADDR` scripts watch.
            let addr = kernel_address(kernel)?;
            links::breakpoint_event(addr & !7, 8, HW_BREAKPOINT_W, -1, 0).map(drop).map_err(errno)
        }
        RingBuf => map(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096),
        PercpuArray => map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1),
        PercpuHash => map(BPF_MAP_TYPE_PERCPU_HASH, 8, 8, 1),
        LruHash => map(BPF_MAP_TYPE_LRU_HASH, 8, 8, 16),
        BigMapKeys => map(BPF_MAP_TYPE_HASH, 1024, 8, 1),
        StackTrace => map(BPF_MAP_TYPE_STACK_TRACE, 4, 8, 1),
        PerfEventArray => map(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 1),
        MapBatch => {
            let fd = sys::map_create(BPF_MAP_TYPE_HASH, 8, 8, 1, 0, "rtrace_probe").map_err(errno)?;
            let (mut keys, mut values) = ([0u8; 8], [0u8; 8]);
            match sys::map_lookup_batch(fd.as_raw_fd(), &mut None, &mut keys, &mut values, 1) {
                Ok(_) => Ok(()),
                Err(e) => Err(errno(e)),
            }
        }
        ProbeReadKernel => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 113),
        Loop => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 181),
        ForEachMapElem => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 164),
        PercpuLookup => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 195),
        NsPidTgid => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 120),
        KtimeBoot => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 125),
        KtimeTai => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 208),
        FuncIp => helper(BPF_PROG_TYPE_KPROBE, 173),
        DPathIter => {
            let id = function_id(vmlinux_btf(kernel)?, "bpf_iter_task_file")?;
            helper_in(BPF_PROG_TYPE_TRACING, 147, sys::LoadTarget { expected_attach_type: loader::BPF_TRACE_ITER, attach_btf_id: id })
        }
        SocketCookieTracing => {
            // Tracing programs share their helpers: an iterator where the kernel refuses
            // trampolines (this kind of machine), else fentry.
            let btf = vmlinux_btf(kernel)?;
            let iter = function_id(btf, "bpf_iter_task").map(|id| sys::LoadTarget { expected_attach_type: loader::BPF_TRACE_ITER, attach_btf_id: id });
            let fentry = function_id(btf, PROBED_FUNCTION).map(|id| sys::LoadTarget { expected_attach_type: BPF_TRACE_FENTRY, attach_btf_id: id });
            iter.and_then(|t| helper_in(BPF_PROG_TYPE_TRACING, 46, t)).or_else(|_| helper_in(BPF_PROG_TYPE_TRACING, 46, fentry?))
        }
        SendSignal => helper(BPF_PROG_TYPE_RAW_TRACEPOINT, 109),
        OverrideReturn => helper(BPF_PROG_TYPE_KPROBE, 58),
        // Not by loading a program that calls it: the kernel logs a warning for each one
        // (`... is installing a program with bpf_probe_write_user helper`), which `--info`
        // would leave in dmesg. The helper is there since 4.8; kernel lockdown removes it.
        ProbeWriteUser => match lockdown() {
            Some(mode) if mode != "none" => Err(format!("the kernel is in lockdown ({mode}), which refuses it")),
            _ => Ok(()),
        },
        TaskFromPid => ["bpf_task_from_pid", "bpf_task_release"].iter().try_for_each(|f| function_id(vmlinux_btf(kernel)?, f).map(drop)),
    }
}

/// The error's name, as short as `--info` wants it ("EPERM").
fn errno(e: std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::EINVAL) => "EINVAL".into(),
        Some(libc::ENOENT) => "ENOENT".into(),
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP".into(),
        Some(libc::ENODEV) => "ENODEV".into(),
        Some(libc::EBUSY) => "EBUSY".into(),
        _ => e.to_string(),
    }
}

/// A kprobe or uprobe PMU that is not there is the kernel's build, not a failure.
fn pmu_error(pmu: &str, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound && !std::path::Path::new(&format!("/sys/bus/event_source/devices/{pmu}")).exists() {
        return format!("no {pmu} PMU: the kernel is built without them");
    }
    errno(e)
}

fn load(prog_type: u32, insns: &[u8], target: sys::LoadTarget) -> Result<OwnedFd, String> {
    sys::prog_load(prog_type, insns, "rtrace_probe", &mut [], sys::LogLevel::None, target, None).map_err(errno)
}

fn map(map_type: u32, key: u32, value: u32, entries: u32) -> Check {
    sys::map_create(map_type, key, value, entries, 0, "rtrace_probe").map(drop).map_err(errno)
}

/// Whether programs of `prog_type` may call helper `id`: `call id; exit`, which a kernel
/// with the helper rejects for other reasons (its arguments) or accepts, and one without it
/// rejects naming the helper as unknown.
fn helper(prog_type: u32, id: i32) -> Check {
    helper_in(prog_type, id, sys::LoadTarget::default())
}

/// `helper` for programs that must say where they attach (fentry).
fn helper_in(prog_type: u32, id: i32, target: sys::LoadTarget) -> Check {
    let mut insns = [0u8; 16];
    insns[0] = super::object::BPF_CALL;
    insns[4..8].copy_from_slice(&id.to_le_bytes());
    insns[8] = 0x95;
    let mut log = vec![0u8; 4096];
    match sys::prog_load(prog_type, &insns, "rtrace_probe", &mut log, sys::LogLevel::Walk, target, None) {
        Ok(_) => Ok(()),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]);
            if ["invalid func", "unknown func", "cannot use helper", "cannot call", "not allowed in probe"].iter().any(|m| log.contains(m)) {
                return Err("the kernel does not know it".into());
            }
            if e.raw_os_error() == Some(libc::EPERM) {
                return Err(errno(e));
            }
            Ok(())
        }
    }
}

/// The kernel's lockdown mode (`none`, `integrity`, `confidentiality`) from securityfs, which
/// is mounted when it is not (as tracefs is); None without the lockdown LSM.
fn lockdown() -> Option<String> {
    const LOCKDOWN: &str = "/sys/kernel/security/lockdown";
    if !std::path::Path::new(LOCKDOWN).exists() {
        let _ = std::process::Command::new("mount").args(["-t", "securityfs", "securityfs", "/sys/kernel/security"]).stderr(std::process::Stdio::null()).status();
    }
    let text = std::fs::read_to_string(LOCKDOWN).ok()?;
    text.split_whitespace().find_map(|w| w.strip_prefix('[')?.strip_suffix(']')).map(str::to_string)
}

fn vmlinux_btf(kernel: &LiveKernel) -> Result<&Btf, String> {
    kernel.btf().ok_or_else(|| format!("{} is missing or unreadable", super::kernel::VMLINUX_BTF))
}

fn function_id(btf: &Btf, name: &str) -> Result<u32, String> {
    btf.find(Namespace::Func, name).ok_or_else(|| format!("no function {name} in the kernel's BTF"))
}

/// An address inside the kernel's data: `init_task`'s (its symbol is listed even where
/// kallsyms has no other variables, as it is exported), else a kernel function's.
fn kernel_address(kernel: &LiveKernel) -> Result<u64, String> {
    let nonzero = |name| kernel.kernel_symbol(name).filter(|a| *a != 0);
    nonzero("init_task").or_else(|| nonzero(PROBED_FUNCTION)).ok_or_else(|| "no kernel address in kallsyms (kptr_restrict?)".to_string())
}

/// A small file nothing maps, for uprobes that are registered and removed at once.
struct ProbeFile {
    path: String,
}

impl ProbeFile {
    fn new() -> Result<ProbeFile, String> {
        let path = std::env::temp_dir().join(format!("rtrace-probe-{}", std::process::id()));
        std::fs::write(&path, [0u8; 64]).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(ProbeFile { path: path.display().to_string() })
    }
}

impl Drop for ProbeFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
