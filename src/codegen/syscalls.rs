//! Fusing syscall tracepoints into one raw tracepoint program per direction.
//!
//! `tracepoint:syscalls:sys_enter_*` is about 360 tracepoints. Attaching one perf event per
//! tracepoint is cheap, but detaching each costs the kernel an RCU grace period (about 65 ms,
//! serialised), so bpftrace needs ~27 s to exit such a script. Every syscall tracepoint is fed
//! by one of two raw tracepoints, `sys_enter(regs, id)` and `sys_exit(regs, ret)`, and a raw
//! tracepoint link detaches in well under a millisecond. So when a script has at least
//! `FUSE_MIN` syscall tracepoints of one direction, they become one `raw_tp/sys_enter` (or
//! `sys_exit`) program that switches on the syscall number and runs, in script order, each
//! probe attached to that syscall, with its own `probe` name, predicate and `args`.
//!
//! Each probe's code is emitted once, not once per syscall (360 copies cost LLVM about a
//! second): a per-syscall block writes the attach point's name and the `args` registers into
//! stack slots, then jumps to the shared body.
//!
//! Exactness: `args.F` is read from the same register the tracepoint copies it from
//! (`syscall_get_arguments`), `args.__syscall_nr` is the number, `args.ret` the return
//! value. (Sema exposes no `common_*` header field; should a probe ever read one, `fusable`
//! keeps that probe on its own tracepoints.) The kernel
//! skips syscall tracepoints for 32-bit (ia32) tasks, so the program does too, by their code
//! segment. Below `FUSE_MIN` each tracepoint keeps its own program: a fused program runs
//! (briefly) on every syscall of the system, which is not worth it to save a few detaches.
//! The syscall numbers are x86_64's (`abi::SYSCALLS`); other architectures never fuse.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::values::{IntValue, PointerValue};
use inkwell::IntPredicate;

use crate::artifact::{Attach, ProgramMeta};
use super::builder::{internal, BpfBuilder, Helper, R};
use super::maps::Maps;
use super::probe::{program_function, ArgsSource, Lower};
use crate::abi::pt_regs;
use crate::abi::SYSCALLS;
use crate::sema::hir::{self, AttachKind};

/// Fewest syscall tracepoints of one direction that are fused.
pub const FUSE_MIN: usize = 8;

/// The dispatch copies `pt_regs` from r10 to the end of cs once: every syscall argument
/// register and the code segment.
const REGS_START: usize = pt_regs::R10;
const REGS_END: usize = pt_regs::CS_END;
/// `__USER32_CS`: the code segment of a 32-bit task.
const USER32_CS: u64 = 0x23;
/// The tracefs record offsets of `__syscall_nr` and of the first argument (or `ret`).
const NR_OFFSET: usize = 8;
const FIRST_ARG_OFFSET: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    Enter,
    Exit,
}

impl Direction {
    fn raw_tracepoint(self) -> &'static str {
        match self {
            Direction::Enter => "sys_enter",
            Direction::Exit => "sys_exit",
        }
    }
}

/// One fused program: (syscall number, probe, attach point) in script order.
pub struct Fused {
    pub direction: Direction,
    pub cases: Vec<(u32, usize, usize)>,
}

/// Decides which attach points are fused; returns the fused programs and the set of
/// (probe, attach point) indices they cover.
pub fn plan(program: &hir::Program) -> (Vec<Fused>, HashSet<(usize, usize)>) {
    let mut by_direction: BTreeMap<Direction, Vec<(u32, usize, usize)>> = BTreeMap::new();
    for (pi, probe) in program.probes.iter().enumerate() {
        for (ai, ap) in probe.attach.iter().enumerate() {
            if let Some((direction, nr)) = syscall(ap).filter(|_| fusable(probe, ap)) {
                by_direction.entry(direction).or_default().push((nr, pi, ai));
            }
        }
    }
    let mut fused = Vec::new();
    let mut covered = HashSet::new();
    for (direction, aps) in by_direction {
        if aps.len() < FUSE_MIN {
            continue;
        }
        covered.extend(aps.iter().map(|(_, pi, ai)| (*pi, *ai)));
        fused.push(Fused { direction, cases: aps });
    }
    (fused, covered)
}

/// The direction and x86_64 number of a `syscalls:sys_{enter,exit}_NAME` tracepoint.
fn syscall(ap: &hir::AttachPoint) -> Option<(Direction, u32)> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let AttachKind::Tracepoint { category, event, .. } = &ap.kind else {
        return None;
    };
    if category != "syscalls" {
        return None;
    }
    let (direction, name) = match (event.strip_prefix("sys_enter_"), event.strip_prefix("sys_exit_")) {
        (Some(n), _) => (Direction::Enter, n),
        (_, Some(n)) => (Direction::Exit, n),
        _ => return None,
    };
    let i = SYSCALLS.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
    Some((direction, SYSCALLS[i].1))
}

/// Whether every `args` field the probe reads can be had without the tracepoint record.
fn fusable(probe: &hir::Probe, ap: &hir::AttachPoint) -> bool {
    let AttachKind::Tracepoint { format, .. } = &ap.kind else {
        return false;
    };
    probe.args_fields.iter().all(|name| format.field(name).is_some_and(|f| f.offset >= NR_OFFSET && f.size <= 8))
}

/// Lowers one fused program.
pub fn lower<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    maps: &Maps<'ctx>,
    program: &hir::Program,
    fused: &Fused,
    options: &super::Options,
) -> R<ProgramMeta> {
    let raw = fused.direction.raw_tracepoint();
    let name = format!("{raw}_fused");
    let bb = program_function(ctx, module, &name, &format!("raw_tp/{raw}"), options);
    let ctx_arg = bb.function.get_nth_param(0).map(|p| p.into_pointer_value()).ok_or_else(|| internal("no ctx"))?;
    // The raw tracepoint's arguments: (struct pt_regs *regs, long id_or_ret).
    let regs = bb.load_int(ctx_arg, 8, false)?;
    let second = bb.load_int(bb.gep(ctx_arg, 8)?, 8, false)?;
    let (nr, ret) = match fused.direction {
        Direction::Enter => (second, None),
        Direction::Exit => (read_u64(&bb, regs, pt_regs::ORIG_AX)?, Some(second)),
    };

    // Unmatched syscalls leave after one switch.
    let done = ctx.append_basic_block(bb.function, "done");
    let matched = ctx.append_basic_block(bb.function, "matched");
    let all: BTreeSet<u32> = fused.cases.iter().map(|(nr, _, _)| *nr).collect();
    let cases: Vec<_> = all.iter().map(|n| (bb.const_i64(u64::from(*n)), matched)).collect();
    bb.b.build_switch(nr, done, &cases)?;

    // One read of the registers from r10 to cs: the arguments and the code segment.
    bb.b.position_at_end(matched);
    let saved = bb.stack_buffer(REGS_END - REGS_START, "regs")?;
    let from = bb.b.build_int_to_ptr(bb.b.build_int_add(regs, bb.const_i64(REGS_START as u64), "from")?, bb.ptr(), "fromp")?;
    bb.helper(Helper::ProbeReadKernel, &[saved.into(), bb.const_i64((REGS_END - REGS_START) as u64).into(), from.into()])?;
    let cs = bb.load_int(bb.gep(saved, pt_regs::CS - REGS_START)?, 2, false)?;
    let compat = bb.b.build_int_compare(IntPredicate::EQ, cs, bb.const_i64(USER32_CS), "compat")?;
    let native = ctx.append_basic_block(bb.function, "native");
    bb.b.build_conditional_branch(compat, done, native)?;
    bb.b.position_at_end(native);

    for (pi, aps) in by_probe(fused) {
        let probe = &program.probes[pi];
        bb.reuse_stack(&[saved]);
        let size = hir::Builtin::Probe.ty().size();
        let probe_buf = bb.stack_buffer(size, "probe")?;
        // At entry every field but the number is an argument register; at exit the only
        // other field is `ret`, the raw tracepoint's own argument.
        let register_fields: Vec<&String> = match fused.direction {
            Direction::Enter => probe.args_fields.iter().filter(|f| !matches!(field_offset(probe, aps[0].1, f), Some(NR_OFFSET) | None)).collect(),
            Direction::Exit => Vec::new(),
        };
        let mut slots = Vec::new();
        for f in &register_fields {
            slots.push(((*f).clone(), bb.stack_i64("arg")?));
        }
        let body = ctx.append_basic_block(bb.function, "body");
        let next = ctx.append_basic_block(bb.function, "next");
        let blocks: Vec<_> = aps.iter().map(|(nr, _)| (bb.const_i64(u64::from(*nr)), ctx.append_basic_block(bb.function, &format!("nr{nr}")))).collect();
        bb.b.build_switch(nr, next, &blocks)?;
        for ((_, block), (_, ai)) in blocks.iter().zip(&aps) {
            bb.b.position_at_end(*block);
            bb.write_string(probe_buf, &probe.attach[*ai].name, size)?;
            for (field, slot) in &slots {
                let offset = field_offset(probe, *ai, field).ok_or_else(|| internal("fused field vanished"))?;
                let reg = register_of(offset).ok_or_else(|| internal(format!("no register for offset {offset}")))?;
                let value = bb.load_int(bb.gep(saved, reg - REGS_START)?, 8, false)?;
                bb.b.build_store(*slot, value)?;
            }
            bb.b.build_unconditional_branch(body)?;
        }
        bb.b.position_at_end(body);
        let args = ArgsSource::Syscall { nr, ret, slots };
        let mut lower = Lower::new(&bb, maps, program, &probe.attach[aps[0].1], ctx_arg, options);
        lower.done = Some(next);
        lower.args = args;
        lower.probe_name = Some(probe_buf);
        lower.pinned = vec![saved];
        lower.probe_code(probe).map_err(|e| e.in_probe(probe.span))?;
        bb.b.position_at_end(next);
    }
    bb.b.build_unconditional_branch(done)?;
    bb.b.position_at_end(done);
    bb.b.build_return(Some(&bb.const_i64(0)))?;
    bb.finish()?;

    let first = fused.cases.first().ok_or_else(|| internal("empty fused program"))?;
    Ok(ProgramMeta {
        function: name,
        attach: Attach::RawTracepoint { name: raw.to_string() },
        probe_name: format!("{} syscalls:{raw}_* tracepoints (fused into raw_syscalls:{raw})", fused.cases.len()),
        span: program.probes[first.1].span,
    })
}

/// The fused attach points grouped by probe, in script order: (probe, [(nr, attach point)]),
/// each syscall at most once per probe.
fn by_probe(fused: &Fused) -> BTreeMap<usize, Vec<(u32, usize)>> {
    let mut out: BTreeMap<usize, Vec<(u32, usize)>> = BTreeMap::new();
    for (nr, pi, ai) in &fused.cases {
        let aps = out.entry(*pi).or_default();
        if !aps.iter().any(|(n, _)| n == nr) {
            aps.push((*nr, *ai));
        }
    }
    out
}

fn field_offset(probe: &hir::Probe, ap: usize, field: &str) -> Option<usize> {
    let AttachKind::Tracepoint { format, .. } = &probe.attach[ap].kind else {
        return None;
    };
    format.field(field).map(|f| f.offset)
}

/// The `pt_regs` offset of the argument at tracefs record `offset` of a sys_enter record.
fn register_of(offset: usize) -> Option<usize> {
    let i = offset.checked_sub(FIRST_ARG_OFFSET)?;
    (i % 8 == 0).then(|| pt_regs::SYSCALL_ARGS.get(i / 8).copied()).flatten()
}

/// `args.FIELD` of a fused program: the same value, size and signedness the tracepoint's
/// record holds. `slot` holds the register of an argument field.
pub fn field<'ctx>(
    bb: &BpfBuilder<'ctx, '_>,
    offset: usize,
    size: usize,
    signed: bool,
    nr: IntValue<'ctx>,
    ret: Option<IntValue<'ctx>>,
    slot: Option<PointerValue<'ctx>>,
) -> R<IntValue<'ctx>> {
    let slot = match (slot, offset, ret) {
        (Some(slot), _, _) => slot,
        (None, NR_OFFSET, _) => store(bb, nr)?,
        (None, FIRST_ARG_OFFSET, Some(ret)) => store(bb, ret)?,
        _ => return Err(internal(format!("fused syscall field at offset {offset}"))),
    };
    // Through memory, so narrowing and extension are exactly those of a record load.
    bb.load_int(slot, size, signed)
}

fn store<'ctx>(bb: &BpfBuilder<'ctx, '_>, value: IntValue<'ctx>) -> R<PointerValue<'ctx>> {
    let slot = bb.stack_i64("field")?;
    bb.b.build_store(slot, value)?;
    Ok(slot)
}

/// Reads the u64 at `base + offset` of kernel memory.
fn read_u64<'ctx>(bb: &BpfBuilder<'ctx, '_>, base: IntValue<'ctx>, offset: usize) -> R<IntValue<'ctx>> {
    let slot = bb.stack_i64("reg")?;
    let addr = bb.b.build_int_add(base, bb.const_i64(offset as u64), "addr")?;
    let addr = bb.b.build_int_to_ptr(addr, bb.ptr(), "addrp")?;
    bb.helper(Helper::ProbeReadKernel, &[slot.into(), bb.const_i64(8).into(), addr.into()])?;
    bb.load_int(slot, 8, false)
}

#[cfg(test)]
mod tests {
    use crate::artifact::Attach;
    use crate::runtime::LiveKernel;

    fn programs(src: &str) -> Vec<(String, Attach)> {
        let script = crate::parser::parse(src, 0).expect("parses");
        let tracefs = LiveKernel::at(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracefs"));
        let program = crate::sema::analyse(&script, &tracefs).expect("checks");
        let artifact = crate::codegen::compile(&program, &Default::default()).expect("compiles");
        artifact.meta.programs.into_iter().map(|p| (p.function, p.attach)).collect()
    }

    #[test]
    fn many_syscall_tracepoints_become_one_raw_tracepoint_program() {
        let p = programs("tracepoint:syscalls:sys_enter_* { @[probe] = count(); } tracepoint:syscalls:sys_enter_openat { @o[args.dfd] = count(); }");
        assert_eq!(p, vec![("sys_enter_fused".to_string(), Attach::RawTracepoint { name: "sys_enter".into() })]);
    }

    #[test]
    fn few_syscall_tracepoints_keep_their_own_programs() {
        let p = programs("tracepoint:syscalls:sys_enter_openat, tracepoint:syscalls:sys_enter_read { @[probe] = count(); }");
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|(_, a)| matches!(a, Attach::Tracepoint { .. })));
    }

    #[test]
    fn directions_are_fused_separately_and_other_tracepoints_are_left_alone() {
        let p = programs("tracepoint:syscalls:sys_enter_* { @[probe] = count(); } tracepoint:syscalls:sys_exit_* { @x = count(); } tracepoint:sched:sched_switch { @s = count(); }");
        let names: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        // Two sys_exit tracepoints in the fixture: below FUSE_MIN, so not fused.
        assert_eq!(names.iter().filter(|n| n.starts_with("tp_")).count(), 3, "{names:?}");
        assert!(names.contains(&"sys_enter_fused"), "{names:?}");
    }
}
