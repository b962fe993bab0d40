//! Turns a `BpfArtifact` into kernel objects: creates every map of the object, patches each
//! program's map references with the map descriptors, and loads the programs.
//!
//! Programs load without a verifier log first (the kernel formats none, which is faster);
//! only a rejected program is loaded again with a log, so the diagnostic can quote the
//! verifier's reason.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::object::{MapDef, Object, INSN_SIZE};
use super::{sys, RuntimeError};
use crate::artifact::{Attach, BpfArtifact, ProgramMeta};

const BPF_PROG_TYPE_KPROBE: u32 = 2;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const BPF_PROG_TYPE_TRACING: u32 = 26;
pub const BPF_TRACE_RAW_TP: u32 = 23;
const BPF_TRACE_FENTRY: u32 = 24;
const BPF_TRACE_FEXIT: u32 = 25;
pub const BPF_TRACE_ITER: u32 = 28;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `src_reg` of a call of a kernel function by its BTF id.
const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
/// The log buffer of a first load, for the verifier's statistics line alone.
const STATS_LOG: usize = 512;
/// Verifier log buffer for a rejected program; doubled while the kernel says ENOSPC.
const LOG_START: usize = 1 << 20;
const LOG_MAX: usize = 1 << 28;

/// Maps and programs of one artifact, by ELF symbol. Dropping it releases them all.
pub struct Loaded {
    pub maps: HashMap<String, OwnedFd>,
    pub map_defs: HashMap<String, MapDef>,
    pub programs: HashMap<String, OwnedFd>,
    /// What each program cost the verifier, in load order.
    pub costs: Vec<VerifierCost>,
}

/// The verifier's limit on instructions processed for one program.
pub const VERIFIER_LIMIT: u32 = 1_000_000;

/// What loading one program cost: the instructions the verifier processed (from its
/// statistics line; None if it wrote none) and the time the load took.
#[derive(Debug, Clone)]
pub struct VerifierCost {
    pub probe: String,
    pub insns: Option<u32>,
    pub load: std::time::Duration,
}

impl VerifierCost {
    /// `-v`'s line: `verifier: PROBE: N instructions (P% of the 1M limit), T ms`.
    pub fn describe(&self) -> String {
        let insns = match self.insns {
            Some(n) => format!("{n} instructions ({:.2}% of the limit)", f64::from(n) * 100.0 / f64::from(VERIFIER_LIMIT)),
            None => "instructions not reported by the verifier".to_string(),
        };
        format!("verifier: {}: {insns}, loaded in {:.1} ms", self.probe, self.load.as_secs_f64() * 1e3)
    }

    /// A line of the `RTRACE_VERIFIER_STATS` file: instructions (or `-`), microseconds and
    /// the probe, tab-separated.
    pub fn record(&self) -> String {
        let insns = self.insns.map_or_else(|| "-".to_string(), |n| n.to_string());
        format!("{insns}\t{}\t{}", self.load.as_micros(), self.probe)
    }
}

impl Loaded {
    pub fn map(&self, symbol: &str) -> Result<RawFd, RuntimeError> {
        self.maps.get(symbol).map(AsRawFd::as_raw_fd).ok_or_else(|| RuntimeError::MissingObject { what: format!("map {symbol}") })
    }

    pub fn program(&self, function: &str) -> Result<RawFd, RuntimeError> {
        self.programs.get(function).map(AsRawFd::as_raw_fd).ok_or_else(|| RuntimeError::MissingObject { what: format!("program {function}") })
    }
}

pub fn load(artifact: &BpfArtifact, verbose: bool) -> Result<Loaded, RuntimeError> {
    let object = Object::parse(&artifact.object).map_err(|message| RuntimeError::Load { message })?;
    let mut maps = HashMap::new();
    for (name, def) in &object.maps {
        let fd = sys::map_create(def.map_type, def.key_size, def.value_size, def.max_entries, def.map_flags, name).map_err(|e| match name.strip_prefix("rt_scratch_") {
            Some(program) => RuntimeError::Load {
                message: format!("program {program} needs {} bytes of per-CPU scratch space for its large values, which the kernel refuses ({e}): use shorter strings (config max_strlen) or split the probe", def.value_size),
            },
            None => {
                // A user map by the name the script gives it, with its size.
                let user = artifact.meta.maps.iter().find(|m| m.symbol == *name);
                let what = user.map_or_else(|| name.clone(), |m| format!("@{} of {} entries", m.name, def.max_entries));
                RuntimeError::Load { message: format!("could not create map {what}: {e}") }
            }
        })?;
        maps.insert(name.clone(), fd);
    }
    let mut programs = HashMap::new();
    let mut costs = Vec::new();
    // Loaded on first use: only programs with callbacks need it.
    let mut callback_btf: Option<OwnedFd> = None;
    let _progress = super::progress::Progress::start("loading programs", artifact.meta.programs.len());
    for p in &artifact.meta.programs {
        super::progress::advance();
        let linked = super::subprog::link(&object, &p.function).map_err(|message| RuntimeError::Load { message })?;
        let mut insns = linked.insns.clone();
        for (index, map) in &linked.map_refs {
            if let Some(fact) = map.strip_prefix(crate::artifact::FACT_PREFIX).and_then(|i| i.parse::<usize>().ok()) {
                // The fact's value on this kernel, plus the addend LLVM left in the immediate.
                let value = artifact.meta.facts.get(fact).map(|f| f.compiled).ok_or_else(|| RuntimeError::MissingObject { what: format!("kernel fact {fact}") })?;
                let at = index * INSN_SIZE;
                if insns.get(at) == Some(&super::object::BPF_CALL) {
                    // A call of a kernel function (a kfunc), by its vmlinux BTF id (offset 0:
                    // vmlinux's BTF).
                    let insn = insns.get_mut(at..at + INSN_SIZE).ok_or_else(|| RuntimeError::Load { message: format!("bad relocation in {}", p.function) })?;
                    insn[1] = (insn[1] & 0x0f) | (BPF_PSEUDO_KFUNC_CALL << 4);
                    insn[2..4].copy_from_slice(&0u16.to_le_bytes());
                    insn[4..8].copy_from_slice(&(value as u32).to_le_bytes());
                    continue;
                }
                let insn = insns.get_mut(at..at + 2 * INSN_SIZE).ok_or_else(|| RuntimeError::Load { message: format!("bad relocation in {}", p.function) })?;
                let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let addend = u64::from(word(&insn[4..8])) | u64::from(word(&insn[12..16])) << 32;
                let v = value.wrapping_add(addend);
                insn[4..8].copy_from_slice(&(v as u32).to_le_bytes());
                insn[12..16].copy_from_slice(&((v >> 32) as u32).to_le_bytes());
                continue;
            }
            if let Some(btf_id) = map.strip_prefix(crate::artifact::KSYM_PREFIX).and_then(|id| id.parse::<u32>().ok()) {
                // The kernel variable with that vmlinux BTF id (object fd 0: vmlinux).
                let at = index * INSN_SIZE;
                let insn = insns.get_mut(at..at + 2 * INSN_SIZE).ok_or_else(|| RuntimeError::Load { message: format!("bad relocation in {}", p.function) })?;
                insn[1] = (insn[1] & 0x0f) | (BPF_PSEUDO_BTF_ID << 4);
                insn[4..8].copy_from_slice(&btf_id.to_le_bytes());
                insn[12..16].copy_from_slice(&0u32.to_le_bytes());
                continue;
            }
            let fd = maps.get(map).ok_or_else(|| RuntimeError::MissingObject { what: format!("map {map}") })?.as_raw_fd();
            let at = index * INSN_SIZE;
            let insn = insns.get_mut(at..at + INSN_SIZE).ok_or_else(|| RuntimeError::Load { message: format!("bad relocation in {}", p.function) })?;
            insn[1] = (insn[1] & 0x0f) | (BPF_PSEUDO_MAP_FD << 4);
            insn[4..8].copy_from_slice(&fd.to_le_bytes());
        }
        let records = super::subprog::func_info(&linked);
        let funcs = match linked.callbacks.is_empty() {
            true => None,
            false => {
                if callback_btf.is_none() {
                    let fd = sys::btf_load(&super::subprog::btf())
                        .map_err(|e| RuntimeError::Load { message: format!("the kernel refused the BTF that `for ($kv : @map)` callbacks need: {e}") })?;
                    callback_btf = Some(fd);
                }
                callback_btf.as_ref().map(|fd| sys::FuncInfo { btf_fd: fd.as_raw_fd(), records: &records })
            }
        };
        let started = std::time::Instant::now();
        let (fd, insns) = load_program(p, &insns, verbose, funcs.as_ref())?;
        costs.push(VerifierCost { probe: p.probe_name.clone(), insns, load: started.elapsed() });
        programs.insert(p.function.clone(), fd);
    }
    Ok(Loaded { maps, map_defs: object.maps.into_iter().collect(), programs, costs })
}

fn program_type(attach: &Attach) -> u32 {
    match attach {
        Attach::Begin | Attach::End | Attach::Signal { .. } | Attach::RawTracepoint { .. } => BPF_PROG_TYPE_RAW_TRACEPOINT,
        Attach::Tracepoint { .. } => BPF_PROG_TYPE_TRACEPOINT,
        Attach::Bench { .. } => BPF_PROG_TYPE_XDP,
        Attach::Interval { .. } | Attach::PerfEvent { .. } | Attach::Watchpoint { .. } | Attach::ArmedWatchpoint { .. } => BPF_PROG_TYPE_PERF_EVENT,
        Attach::Uprobe { .. } | Attach::Kprobe { .. } | Attach::KprobeMulti { .. } | Attach::UprobeMulti { .. } => BPF_PROG_TYPE_KPROBE,
        Attach::Fentry { .. } | Attach::Iter { .. } | Attach::BtfRawTracepoint { .. } => BPF_PROG_TYPE_TRACING,
    }
}

/// What the kernel must know at load time about where a program will attach: the expected
/// attach type and BTF id of fentry/fexit programs.
fn attach_target(attach: &Attach) -> sys::LoadTarget {
    match attach {
        Attach::Fentry { btf_id, ret, .. } => {
            sys::LoadTarget { expected_attach_type: if *ret { BPF_TRACE_FEXIT } else { BPF_TRACE_FENTRY }, attach_btf_id: *btf_id }
        }
        Attach::Iter { btf_id, .. } => sys::LoadTarget { expected_attach_type: BPF_TRACE_ITER, attach_btf_id: *btf_id },
        Attach::BtfRawTracepoint { btf_id, .. } => sys::LoadTarget { expected_attach_type: BPF_TRACE_RAW_TP, attach_btf_id: *btf_id },
        Attach::KprobeMulti { .. } => sys::LoadTarget { expected_attach_type: super::multi::BPF_TRACE_KPROBE_MULTI, attach_btf_id: 0 },
        Attach::UprobeMulti { .. } => sys::LoadTarget { expected_attach_type: super::multi::BPF_TRACE_UPROBE_MULTI, attach_btf_id: 0 },
        _ => sys::LoadTarget::default(),
    }
}

/// Why an fentry/fexit program cannot run here, and what can.
pub fn trampolines_refused(function: &str) -> String {
    format!(
        "this kernel refuses BPF trampolines (EPERM), which fentry and fexit need: it may be locked down or built without them\nhelp: trace `{function}` with `kprobe:{function}` / `kretprobe:{function}` where the kernel has kprobes, or use a tracepoint"
    )
}

/// Loads one program: its descriptor and, where the verifier's statistics said, the
/// instructions it processed.
fn load_program(p: &ProgramMeta, insns: &[u8], verbose: bool, funcs: Option<&sys::FuncInfo<'_>>) -> Result<(OwnedFd, Option<u32>), RuntimeError> {
    let ty = program_type(&p.attach);
    let target = attach_target(&p.attach);
    // The first load asks only for the verifier's closing statistics, which every kernel
    // since 4.20 writes at no cost: the program's cost, on every kernel of the matrix (the
    // program info's `verified_insns` holds the same number, from 5.16 on only).
    let mut stats = [0u8; STATS_LOG];
    let first = sys::prog_load(ty, insns, &p.function, &mut stats, sys::LogLevel::Stats, target, funcs);
    let error = match first {
        Ok(fd) => {
            let end = stats.iter().position(|b| *b == 0).unwrap_or(stats.len());
            return Ok((fd, processed_insns(&String::from_utf8_lossy(&stats[..end]))));
        }
        Err(e) => e,
    };
    if error.raw_os_error() == Some(libc::EPERM) {
        if let Attach::Fentry { function, .. } = &p.attach {
            return Err(RuntimeError::Attach { probe: p.probe_name.clone(), span: p.span, message: trampolines_refused(function) });
        }
        return Err(RuntimeError::Load { message: format!("permission denied loading {}: run as root with BPF enabled", p.probe_name) });
    }
    let mut log = vec![0u8; LOG_START];
    loop {
        match sys::prog_load(ty, insns, &p.function, &mut log, sys::LogLevel::Walk, target, funcs) {
            // Loads with a log but not without one: report the first error anyway.
            Ok(_) => return Err(RuntimeError::verifier(p, &error, "", verbose)),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && log.len() < LOG_MAX => log = vec![0u8; log.len() * 2],
            Err(e) => {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                return Err(RuntimeError::verifier(p, &e, &String::from_utf8_lossy(&log[..end]), verbose));
            }
        }
    }
}

/// N of the verifier's "processed N insns (limit 1000000) ..." statistics line.
fn processed_insns(log: &str) -> Option<u32> {
    let at = log.find("processed ")? + "processed ".len();
    log[at..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_statistics_line_gives_the_cost() {
        let log = "processed 1234 insns (limit 1000000) max_states_per_insn 0 total_states 10 peak_states 10 mark_read 3\n";
        assert_eq!(super::processed_insns(log), Some(1234));
        assert_eq!(super::processed_insns("verification time 12 usec\n"), None);
    }
}
