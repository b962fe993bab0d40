//! Stacks and kernel addresses as text, the way bpftrace prints them. Stack ids are read back
//! from the stack trace map; addresses are symbolized with blazesym (kernel ones from
//! /proc/kallsyms, user ones from the process's mappings and their ELF symbols). The
//! symbolizer is made on first use, so scripts without stacks never pay for it.

use std::cell::OnceCell;
use std::os::fd::RawFd;

use blazesym::symbolize::source::{Kernel, Process, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use blazesym::{MaybeDefault, Pid};

use super::output::Resolve;
use super::sys;
use crate::artifact::types::{StackMode, StackSpec, MAX_STACK_FRAMES};

/// The symbolizer, kept across prints (it caches what it has parsed).
#[derive(Default)]
pub struct SymbolCache {
    symbolizer: OnceCell<Symbolizer>,
    /// One that also reads source lines and inlined functions from DWARF (`show_debug_info`).
    with_lines: OnceCell<Symbolizer>,
    /// The binaries the script's uprobes are in: where a frame of a process that has exited
    /// is looked up, when the binary is not position-independent (its addresses are the
    /// file's), as bpftrace's `cache_user_symbols = PER_PROGRAM` does.
    uprobe_binaries: Vec<String>,
    /// Those of them that are ET_EXEC ELF files, found on first need.
    fixed_binaries: OnceCell<Vec<String>>,
    /// For `build_id` stacks: addresses to files, build ids and file offsets.
    normalizer: OnceCell<blazesym::normalize::Normalizer>,
}

impl SymbolCache {
    /// A cache for a program whose uprobes are in `programs`.
    pub fn for_programs(programs: &[crate::artifact::ProgramMeta]) -> SymbolCache {
        use crate::artifact::Attach;
        let mut uprobe_binaries: Vec<String> = programs
            .iter()
            .filter_map(|p| match &p.attach {
                Attach::Uprobe { path, .. } | Attach::UprobeMulti { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        uprobe_binaries.sort();
        uprobe_binaries.dedup();
        SymbolCache { uprobe_binaries, ..SymbolCache::default() }
    }

    /// The uprobe binaries that are executables at fixed addresses (ELF type ET_EXEC).
    fn fixed_binaries(&self) -> &[String] {
        self.fixed_binaries.get_or_init(|| {
            let fixed = |path: &String| {
                let mut header = [0u8; 18];
                std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header)).is_ok()
                    && header[..4] == *b"\x7fELF"
                    && u16::from_le_bytes([header[16], header[17]]) == 2
            };
            self.uprobe_binaries.iter().filter(|p| fixed(p)).cloned().collect()
        })
    }
}

/// A resolver over one loaded program's stack map.
pub struct Symbols<'a> {
    pub stacks: Option<RawFd>,
    pub cache: &'a SymbolCache,
    /// The program's `strftime` formats.
    pub strftimes: &'a [String],
    /// What follows a string that filled its buffer (config `str_trunc_trailer`).
    pub trailer: &'a str,
    /// Whether user frames show `@file:line` and the functions inlined at them (config
    /// `show_debug_info`).
    pub debug_info: bool,
}

/// One frame as text: `function+offset`, or the address when no symbol covers it.
#[derive(Default)]
struct Frame {
    addr: u64,
    name: Option<(String, usize)>,
    module: Option<String>,
    /// `@dir/file:line` of the address, when the binary's DWARF has it.
    code: Option<String>,
    /// The functions inlined at the address, outermost first, each with its `@file:line`.
    inlined: Vec<(String, Option<String>)>,
}

/// bpftrace's `@dir/file:line` of a source location.
fn code_at(code: &blazesym::symbolize::CodeInfo<'_>) -> String {
    format!("@{}:{}", code.to_path().display(), code.line.unwrap_or(0))
}

impl Symbols<'_> {
    fn symbolizer(&self) -> &Symbolizer {
        if self.debug_info {
            return self.cache.with_lines.get_or_init(Symbolizer::new);
        }
        self.cache.symbolizer.get_or_init(|| Symbolizer::builder().enable_code_info(false).enable_inlined_fns(false).build())
    }

    /// Where addresses of `pid` (None: the kernel) are looked up; `debug` adds debug files
    /// (`/usr/lib/debug`), which name functions that stripped libraries only keep there.
    fn source(pid: Option<u32>, debug: bool) -> Source<'static> {
        match pid {
            Some(pid) => {
                let mut p = Process::new(Pid::from(pid));
                p.debug_syms = debug;
                Source::Process(p)
            }
            None => Source::Kernel(Kernel { vmlinux: MaybeDefault::None, debug_syms: false, ..Kernel::default() }),
        }
    }

    fn symbolize(&self, addrs: &[u64], pid: Option<u32>) -> Vec<Frame> {
        let symbolizer = self.symbolizer();
        let found = symbolizer.symbolize(&Self::source(pid, true), Input::AbsAddr(addrs));
        let mut found = found.or_else(|_| symbolizer.symbolize(&Self::source(pid, false), Input::AbsAddr(addrs))).unwrap_or_default();
        // A process gone before its stack prints: its frames in the script's fixed-address
        // uprobe binaries are still found there.
        let gone = pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
        if gone && !self.cache.fixed_binaries().is_empty() {
            found.resize_with(addrs.len(), || Symbolized::Unknown(blazesym::symbolize::Reason::Unsupported));
            for path in self.cache.fixed_binaries() {
                let mut elf = blazesym::symbolize::source::Elf::new(path);
                elf.debug_syms = true;
                let Ok(in_file) = symbolizer.symbolize(&Source::Elf(elf), Input::VirtOffset(addrs)) else { continue };
                // Only inside a symbol's extent: an address of another mapping (libc) lands
                // past the file's last symbol (`_end`, of size 0), which names nothing.
                for (slot, sym) in found.iter_mut().zip(in_file) {
                    let inside = matches!(&sym, Symbolized::Sym(s) if s.size.is_some_and(|size| s.offset < size));
                    if !matches!(slot, Symbolized::Sym(_)) && inside {
                        *slot = sym;
                    }
                }
            }
        }
        addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| match found.get(i) {
                Some(Symbolized::Sym(s)) => Frame {
                    addr,
                    name: Some((s.name.to_string(), s.offset)),
                    module: s.module.as_ref().map(|m| m.to_string_lossy().into_owned()),
                    code: s.code_info.as_deref().map(code_at),
                    inlined: s.inlined.iter().map(|f| (f.name.to_string(), f.code_info.as_ref().map(code_at))).collect(),
                },
                _ => Frame { addr, ..Frame::default() },
            })
            .collect()
    }

    /// The function an address of `pid` (None: the kernel) is in, without offset; the address
    /// itself if none is.
    fn function_name(&self, addr: u64, pid: Option<u32>) -> String {
        match self.symbolize(&[addr], pid).pop() {
            Some(Frame { name: Some((name, _)), .. }) => name,
            _ => format!("0x{addr:x}"),
        }
    }

    /// bpftrace's `build_id` stack: per frame the build id of the file the address is in and
    /// the offset in that file (`HEX 0xOFFSET`), or the bare address when the process's maps
    /// do not place it in a file with a build id.
    fn build_id_stack(&self, addrs: &[u64], pid: Option<u32>) -> String {
        use blazesym::normalize::{Normalizer, UserMeta};
        let normalizer = self.cache.normalizer.get_or_init(|| Normalizer::builder().enable_build_ids(true).build());
        let found = pid.and_then(|pid| normalizer.normalize_user_addrs(Pid::from(pid), addrs).ok());
        let mut out = String::from("\n");
        for (i, &addr) in addrs.iter().enumerate() {
            let in_file = found.as_ref().and_then(|n| {
                let (offset, meta) = *n.outputs.get(i)?;
                match n.meta.get(meta)? {
                    UserMeta::Elf(elf) => elf.build_id.as_ref().map(|id| (id.iter().map(|b| format!("{b:02x}")).collect::<String>(), offset)),
                    _ => None,
                }
            });
            match in_file {
                Some((id, offset)) => out.push_str(&format!("{id} 0x{offset:x}\n")),
                None => out.push_str(&format!("{addr:x}\n")),
            }
        }
        out
    }

    /// The frames of stack `id`, innermost first, at most `limit`.
    fn frames(&self, id: u32, limit: u8) -> Vec<u64> {
        let Some(fd) = self.stacks else {
            return Vec::new();
        };
        if id == u32::MAX {
            return Vec::new();
        }
        let mut value = vec![0u8; 8 * usize::from(MAX_STACK_FRAMES)];
        if !matches!(sys::map_lookup(fd, &id.to_le_bytes(), &mut value), Ok(true)) {
            return Vec::new();
        }
        value
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
            .take_while(|a| *a != 0)
            .take(usize::from(limit))
            .collect()
    }
}

impl Resolve for Symbols<'_> {
    fn str_trailer(&self) -> &str {
        self.trailer
    }

    /// bpftrace's text: empty for no stack, else a newline and one line per frame. With
    /// `show_debug_info`, a user frame is followed by `@file:line` (bpftrace mode) and
    /// preceded by the functions inlined at it, innermost first (`[inlined] f@file:line`, or
    /// `f (inlined)` in perf mode); `ustack(n)` counts addresses, as bpftrace does.
    fn stack(&self, spec: StackSpec, raw: u64) -> String {
        let pid = spec.user.then_some((raw >> 32) as u32);
        let addrs = self.frames(raw as u32, spec.limit);
        if addrs.is_empty() {
            return String::new();
        }
        if spec.mode == StackMode::BuildId {
            return self.build_id_stack(&addrs, pid);
        }
        let frames = if spec.mode == StackMode::Raw {
            addrs.iter().map(|&addr| Frame { addr, ..Frame::default() }).collect()
        } else {
            self.symbolize(&addrs, pid)
        };
        let debug = self.debug_info && spec.user;
        let mut out = String::from("\n");
        for f in frames {
            if debug && spec.mode != StackMode::Raw {
                for (name, code) in f.inlined.iter().rev() {
                    match spec.mode {
                        StackMode::Perf => out.push_str(&format!("\t{:x} {name} (inlined)\n", f.addr)),
                        _ => out.push_str(&format!("    [inlined] {name}{}\n", code.as_deref().unwrap_or(""))),
                    }
                }
            }
            let sym = match &f.name {
                Some((name, off)) => format!("{name}+{off}"),
                None => format!("0x{:x}", f.addr),
            };
            match spec.mode {
                StackMode::Bpftrace if debug => out.push_str(&format!("    {sym}{}\n", f.code.as_deref().unwrap_or(""))),
                StackMode::Bpftrace => out.push_str(&format!("    {sym}\n")),
                StackMode::Perf => match (&f.module, spec.user) {
                    (Some(m), true) => out.push_str(&format!("\t{:x} {sym} ({m})\n", f.addr)),
                    _ => out.push_str(&format!("\t{:x} {sym}\n", f.addr)),
                },
                StackMode::Raw | StackMode::BuildId => out.push_str(&format!("{:x}\n", f.addr)),
            }
        }
        out
    }

    fn usym(&self, addr: u64, pid: u32) -> String {
        self.function_name(addr, Some(pid))
    }

    /// Wall-clock time of a boot-clock (CLOCK_MONOTONIC) timestamp, in a strftime format
    /// where `%f` is the microseconds.
    fn timestamp(&self, format: u32, ns: u64) -> String {
        let Some(fmt) = self.strftimes.get(format as usize) else { return String::new() };
        let wall_ns = (realtime_ns() - monotonic_ns()).saturating_add(i128::from(ns));
        let secs = wall_ns.div_euclid(1_000_000_000) as libc::time_t;
        let micros = wall_ns.rem_euclid(1_000_000_000) / 1000;
        local_time(secs, &fmt.replace("%f", &format!("{micros:06}")))
    }

    fn ksym(&self, addr: u64) -> String {
        self.function_name(addr, None)
    }

    fn time_of_day(&self, secs: i64) -> String {
        local_time(secs as libc::time_t, "%H:%M:%S")
    }
}

/// `secs` (since the epoch) as local time in a strftime format: `time()` and `strftime()`.
pub fn local_time(secs: libc::time_t, format: &str) -> String {
    let Ok(fmt) = std::ffi::CString::new(format) else { return String::new() };
    let mut buf = vec![0u8; 256 + format.len() * 4];
    // SAFETY: localtime_r and strftime write only into the buffers given, sized here.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return String::new();
        }
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        buf.truncate(n);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub(super) fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

fn realtime_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME)
}

fn monotonic_ns() -> i128 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_addresses_of_this_process_resolve() {
        let cache = SymbolCache::default();
        let symbols = Symbols { stacks: None, cache: &cache, strftimes: &[], trailer: "..", debug_info: false };
        let addr = libc::getpid as *const () as usize as u64;
        let src = Symbols::source(Some(std::process::id()), true);
        let r = symbols.symbolizer().symbolize(&src, Input::AbsAddr(&[addr + 4]));
        eprintln!("{r:?}");
        let frames = symbols.symbolize(&[addr + 4], Some(std::process::id()));
        assert!(frames[0].name.as_ref().is_some_and(|(n, off)| n.contains("getpid") && *off == 4), "{:?}", frames[0].name);
    }
}
