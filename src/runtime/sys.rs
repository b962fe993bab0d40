//! Every system call the runtime makes to the kernel's BPF and perf subsystems, each as one
//! small safe function over a `#[repr(C)]` prefix of the kernel's attribute union; callers
//! deal in slices and `OwnedFd`s. (The ring buffer's shared pages are in ringbuf.rs.)

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: u32 = 0;
const BPF_PROG_LOAD: u32 = 5;
const BPF_RAW_TRACEPOINT_OPEN: u32 = 17;
const BPF_BTF_LOAD: u32 = 18;
const BPF_MAP_LOOKUP_BATCH: u32 = 24;
const BPF_LINK_CREATE: u32 = 28;
const BPF_ITER_CREATE: u32 = 33;

const BPF_MAP_LOOKUP_ELEM: u32 = 1;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_MAP_GET_NEXT_KEY: u32 = 4;
const BPF_PROG_TEST_RUN: u32 = 10;

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    _pad: u32,
}

/// BTF for a program with functions besides its own (callbacks): the BTF object, and a
/// `struct bpf_func_info` (instruction index, FUNC type id) per function.
pub struct FuncInfo<'a> {
    pub btf_fd: RawFd,
    pub records: &'a [[u32; 2]],
}

#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
}

/// Loads a BTF blob into the kernel.
pub fn btf_load(blob: &[u8]) -> io::Result<OwnedFd> {
    let mut attr = BtfLoadAttr { btf: blob.as_ptr() as u64, btf_size: blob.len() as u32, ..Default::default() };
    bpf(BPF_BTF_LOAD, &mut attr).map(owned)
}

/// Where a program will attach, as BPF_PROG_LOAD must be told for fentry/fexit (zero for the
/// rest).
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadTarget {
    pub expected_attach_type: u32,
    pub attach_btf_id: u32,
}

#[repr(C)]
#[derive(Default)]
struct RawTracepointAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

/// BPF_LINK_CREATE's attributes, as far as iterator links use them (no iterator options).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    iter_info: u64,
    iter_info_len: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// `struct perf_event_attr` up to PERF_ATTR_SIZE_VER5.
#[repr(C)]
#[derive(Default)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    pub config1: u64,
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub _reserved: u16,
}

fn name16(name: &str) -> [u8; 16] {
    // The kernel accepts [A-Za-z0-9_.] and 15 bytes plus NUL.
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(name.bytes().filter(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.').take(15)) {
        *o = c;
    }
    out
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// Lifts RLIMIT_MEMLOCK for this process, once. Before Linux 5.11 the kernel charged BPF
/// maps and programs against it (64 KiB by default), so without this every map creation
/// fails with EPERM there; later kernels charge the memory cgroup and ignore it.
pub fn lift_memlock() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: setrlimit reads the struct it is given. A failure (no CAP_SYS_RESOURCE)
        // surfaces as the EPERM of the first map, which says what to do.
        unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
    });
}

pub fn map_create(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, map_flags: u32, name: &str) -> io::Result<OwnedFd> {
    lift_memlock();
    let mut attr = MapCreateAttr { map_type, key_size, value_size, max_entries, map_flags, map_name: name16(name), ..Default::default() };
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// What the verifier writes to a program's log buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Nothing (an empty buffer): the fast path.
    None = 0,
    /// Every instruction it walks: for a rejected program's diagnostic.
    Walk = 1,
    /// Only its closing statistics ("processed N insns"), which cost it nothing to write.
    Stats = 4,
}

/// Loads a program; returns the error and whatever the verifier wrote to `log` at `level`
/// (an empty buffer: no log).
pub fn prog_load(
    prog_type: u32,
    insns: &[u8],
    name: &str,
    log: &mut [u8],
    level: LogLevel,
    target: LoadTarget,
    funcs: Option<&FuncInfo<'_>>,
) -> io::Result<OwnedFd> {
    lift_memlock();
    let license = b"GPL\0";
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: if log.is_empty() { 0 } else { level as u32 },
        log_size: log.len() as u32,
        log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
        prog_name: name16(name),
        expected_attach_type: target.expected_attach_type,
        attach_btf_id: target.attach_btf_id,
        ..Default::default()
    };
    if let Some(f) = funcs {
        attr.prog_btf_fd = f.btf_fd as u32;
        attr.func_info_rec_size = 8;
        attr.func_info = f.records.as_ptr() as u64;
        attr.func_info_cnt = f.records.len() as u32;
    }
    // The verifier gives up with EAGAIN when a signal arrives while it works (Ctrl-C during a
    // long load, a child's SIGCHLD): the handler has run by then, so load again, as libbpf does.
    let mut tries = 0;
    loop {
        match bpf(BPF_PROG_LOAD, &mut attr) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < 5 => tries += 1,
            r => return r.map(owned),
        }
    }
}

/// Attaches a raw_tp program to a raw tracepoint; closing the returned link detaches it.
/// With no name, attaches a tracing program (fentry/fexit) where it was loaded for.
pub fn raw_tracepoint_open(name: Option<&str>, prog_fd: RawFd) -> io::Result<OwnedFd> {
    let name = name.map(CString::new).transpose().map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut attr = RawTracepointAttr { name: name.as_ref().map_or(0, |n| n.as_ptr() as u64), prog_fd: prog_fd as u32, _pad: 0 };
    bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr).map(owned)
}

/// A BPF iterator: a link for the iterator program (attach type BPF_TRACE_ITER), and an
/// iterator fd made from it, whose reads run the program over the kernel's objects.
pub fn iter_open(prog_fd: RawFd, attach_type: u32) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut attr = LinkCreateAttr { prog_fd: prog_fd as u32, attach_type, ..Default::default() };
    let link = bpf(BPF_LINK_CREATE, &mut attr).map(owned)?;
    let mut attr = IterCreateAttr { link_fd: link.as_raw_fd() as u32, flags: 0 };
    let iter = bpf(BPF_ITER_CREATE, &mut attr).map(owned)?;
    Ok((link, iter))
}

/// BPF_LINK_CREATE's attributes with the attach type's own part as six words (kprobe_multi:
/// flags and count, symbols, addresses, cookies; uprobe_multi: path, offsets, reference
/// counters, cookies, count and flags, pid).
#[repr(C)]
#[derive(Default)]
struct LinkCreateWordsAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    words: [u64; 6],
}

/// Creates a link of `attach_type` for a loaded program; `words` is the attach type's part
/// of the attributes. Closing the link detaches it.
pub fn link_create(prog_fd: RawFd, attach_type: u32, words: [u64; 6]) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateWordsAttr { prog_fd: prog_fd as u32, attach_type, words, ..Default::default() };
    bpf(BPF_LINK_CREATE, &mut attr).map(owned)
}

/// Reads up to `count` entries of a map in one call, resuming after `cursor` (None: from the
/// start). Returns the number read and whether the map has more; ENOENT marks the end.
pub fn map_lookup_batch(fd: RawFd, cursor: &mut Option<u64>, keys: &mut [u8], values: &mut [u8], count: u32) -> io::Result<(u32, bool)> {
    let mut in_batch = cursor.unwrap_or(0);
    let mut out_batch = 0u64;
    let mut attr = BatchAttr {
        in_batch: if cursor.is_some() { &mut in_batch as *mut u64 as u64 } else { 0 },
        out_batch: &mut out_batch as *mut u64 as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count,
        map_fd: fd as u32,
        ..Default::default()
    };
    match bpf(BPF_MAP_LOOKUP_BATCH, &mut attr) {
        Ok(_) => {
            *cursor = Some(out_batch);
            Ok((attr.count, true))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok((attr.count, false)),
        Err(e) => Err(e),
    }
}

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

pub fn perf_event_open(attr: &mut PerfEventAttr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    // SAFETY: `attr` is a valid perf_event_attr of the size it declares.
    let r = unsafe { libc::syscall(libc::SYS_perf_event_open, attr as *mut PerfEventAttr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(owned(r))
    }
}

/// Runs `prog_fd` on every event of the perf event `fd`, and enables it.
pub fn perf_event_set_bpf(fd: RawFd, prog_fd: RawFd) -> io::Result<()> {
    const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
    const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;
    // SAFETY: plain ioctls on a perf event descriptor we own.
    if unsafe { libc::ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) } < 0 || unsafe { libc::ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The online CPUs (`/sys/devices/system/cpu/online`, e.g. "0-3,6").
pub fn online_cpus() -> io::Result<Vec<i32>> {
    cpu_list("/sys/devices/system/cpu/online")
}

/// The number of possible CPUs: per-CPU map values hold one slot per possible CPU. The count
/// is one past the highest possible CPU.
pub fn possible_cpus() -> io::Result<usize> {
    Ok(cpu_list("/sys/devices/system/cpu/possible")?.into_iter().max().map_or(0, |c| c as usize + 1))
}

/// Reads a sysfs CPU list: ranges and single CPUs separated by commas ("0-3,6").
fn cpu_list(path: &str) -> io::Result<Vec<i32>> {
    let text = std::fs::read_to_string(path)?;
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("cannot read {path}: {text:?}"));
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (i32, i32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

fn bpf<T>(cmd: u32, attr: &mut T) -> io::Result<i64> {
    // SAFETY: `attr` is a live, correctly laid out bpf_attr prefix for `cmd`.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Runs a loaded raw_tp program once, in this thread, with an empty context.
pub fn prog_test_run(prog_fd: RawFd) -> io::Result<()> {
    let mut attr = TestRunAttr { prog_fd: prog_fd as u32, ..Default::default() };
    bpf(BPF_PROG_TEST_RUN, &mut attr).map(|_| ())
}

/// Runs a loaded XDP program `repeat` times in the kernel on a dummy 14-byte packet (an
/// Ethernet header: the least the kernel's input check takes); returns the last run's return
/// value and the average time of one run in nanoseconds.
pub fn prog_test_run_repeat(prog_fd: RawFd, repeat: u32) -> io::Result<(u32, u32)> {
    let packet = [0u8; 14];
    let mut attr = TestRunAttr { prog_fd: prog_fd as u32, data_in: packet.as_ptr() as u64, data_size_in: packet.len() as u32, repeat, ..Default::default() };
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok((attr.retval, attr.duration))
}

/// The key after `key` (the first key when `key` is None); None at the end.
pub fn map_next_key(fd: RawFd, key: Option<&[u8]>, next: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: key.map_or(0, |k| k.as_ptr() as u64), value: next.as_mut_ptr() as u64, ..Default::default() };
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads the value (all CPUs' values for per-CPU maps) into `value`; false if absent.
pub fn map_lookup(fd: RawFd, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: key.as_ptr() as u64, value: value.as_mut_ptr() as u64, ..Default::default() };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

pub fn map_update(fd: RawFd, key: &[u8], value: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: key.as_ptr() as u64, value: value.as_ptr() as u64, ..Default::default() };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

pub fn map_delete(fd: RawFd, key: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr { map_fd: fd as u32, key: key.as_ptr() as u64, ..Default::default() };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// CLOCK_MONOTONIC in nanoseconds, the clock bpf_ktime_get_ns reads.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
