//! `watchpoint:FUNC+argN:LEN:MODE`: the address to watch is only known when FUNC runs, so a
//! uprobe on FUNC reports argN to userspace in a `Watch` event, which arms the watchpoint
//! (`runtime::links::Links::arm`) and attaches the probe's program to it. With `watchpoint`
//! the uprobe also stops the process (SIGSTOP), and userspace resumes it once the watchpoint
//! is armed, so that no access is missed; `asyncwatchpoint` lets it run on.

use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::IntPredicate;

use crate::artifact::{Attach, EventKind, Global, ProgramMeta};
use super::builder::{internal, Helper, Wakeup, R};
use super::maps::Maps;
use super::probe::{program_function, Lower};
use crate::abi::pt_regs;
use crate::parser::Span;
use crate::sema::hir::{self, Builtin};

const SIGSTOP: u64 = 19;

/// The id a `Watch` event names its watchpoint by: the attach point's place in the script.
pub fn id(probe: usize, attach_point: usize) -> u32 {
    ((probe as u32) << 16) | attach_point as u32
}

/// The uprobe on FUNC that reports the address in argument `arg` of the traced process (the
/// -p one, or -c's child), and stops it when `stop`.
#[allow(clippy::too_many_arguments)]
pub fn arming_program<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    maps: &Maps<'ctx>,
    program: &hir::Program,
    ap: &hir::AttachPoint,
    span: Span,
    (path, offset): (&str, u64),
    id: u32,
    arg: u8,
    stop: bool,
    options: &super::Options,
) -> R<ProgramMeta> {
    let name = format!("watcharm_{}_{}", id >> 16, id & 0xffff);
    let bb = program_function(ctx, module, &name, "uprobe", options);
    let ctx_arg = bb.function.get_nth_param(0).map(|p| p.into_pointer_value()).ok_or_else(|| internal("no ctx"))?;
    let mut lower = Lower::new(&bb, maps, program, ap, ctx_arg, options);
    let pid = lower.builtin(Builtin::Pid)?.int()?;
    let filter = lower.global(Global::FilterPid)?;
    let child = lower.global(Global::Cpid)?;
    let by_p = bb.b.build_int_compare(IntPredicate::NE, filter, bb.const_i64(0), "by_p")?;
    let traced = bb.b.build_select(by_p, filter, child, "traced")?.into_int_value();
    let ours = bb.b.build_int_compare(IntPredicate::EQ, pid, traced, "ours")?;
    lower.continue_if(ours)?;

    let at = *pt_regs::FUNCTION_ARGS.get(usize::from(arg)).ok_or_else(|| internal("watched argument past arg5"))?;
    let addr = bb.load_int(bb.gep(ctx_arg, at)?, 8, false)?;
    let event = bb.stack_uninit(24, "watch")?;
    bb.store_i64(event, super::stmt::header(EventKind::Watch, id, &bb))?;
    bb.store_i64(bb.gep(event, 8)?, addr)?;
    let who = bb.b.build_or(pid, bb.const_i64(u64::from(stop) << 32), "who")?;
    bb.store_i64(bb.gep(event, 16)?, who)?;
    bb.ringbuf_output(maps.events, event, 24, maps.counters, Wakeup::Now)?;
    if stop {
        bb.helper(Helper::SendSignal, &[bb.const_i64(SIGSTOP).into()])?;
    }
    lower.leave()?;
    bb.finish()?;
    Ok(ProgramMeta {
        function: name,
        attach: Attach::Uprobe { path: path.to_string(), offset, ret: false, semaphore: None },
        probe_name: ap.name.clone(),
        span,
    })
}
