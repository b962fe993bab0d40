//! One BPF program per attach point: its ELF section (which names the program type for tools
//! like bpftool), the predicate, and the lowering state shared by expressions and statements.
//! Syscall tracepoints may instead be fused into one program: see `syscalls.rs`.

use std::collections::HashSet;

use inkwell::basic_block::BasicBlock;
use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::values::{IntValue, PointerValue};

use crate::artifact::{Attach, ProgramMeta};
use super::builder::{BpfBuilder, R};
use super::maps::{slot_size, Maps};
use crate::sema::hir::{self, AttachKind, PerfSample};
use crate::sema::Type;

/// Lowering state for one program.
pub struct Lower<'ctx, 'm, 'p> {
    pub bb: &'p BpfBuilder<'ctx, 'm>,
    pub maps: &'p Maps<'ctx>,
    pub program: &'p hir::Program,
    pub attach: &'p hir::AttachPoint,
    pub ctx_arg: PointerValue<'ctx>,
    pub vars: Vec<PointerValue<'ctx>>,
    pub var_types: Vec<Type>,
    /// Where the probe's code goes when it is done (predicate false, exit()): None returns
    /// from the program; in a fused program, the next probe of the same event.
    pub done: Option<BasicBlock<'ctx>>,
    pub args: ArgsSource<'ctx>,
    /// A stack buffer holding what `probe` evaluates to, when that depends on which attach
    /// point fired (a fused program); otherwise `attach.name`.
    pub probe_name: Option<PointerValue<'ctx>>,
    /// `-p`: leave unless the current process is the global `FilterPid` (not in BEGIN, END or
    /// interval, which belong to no process).
    pub filter_pid: bool,
    /// `Options::portable`: tracepoint fields at relocated offsets.
    pub portable: bool,
    /// Enclosing loops, innermost last: where `continue` and `break` go.
    pub loops: Vec<(BasicBlock<'ctx>, BasicBlock<'ctx>)>,
    /// Stack slots besides the variables that outlive every statement (a fused program's
    /// saved registers).
    pub pinned: Vec<PointerValue<'ctx>>,
    /// Inside a `for ($kv : @map)` body: the word of the caller's context block that `return`
    /// sets, so the caller leaves the probe after the loop.
    pub returned: Option<PointerValue<'ctx>>,
    /// In a multi-attach program (`multi.rs`), `func` of each attach point by the link's
    /// cookie; empty otherwise.
    pub multi: Vec<String>,
}

/// Where `args.FIELD` is read from.
#[derive(Clone)]
pub enum ArgsSource<'ctx> {
    /// The tracepoint's record, which the context points at (tracefs format offsets).
    Context,
    /// A fused syscall program: there is no record; the syscall number, its return value
    /// (at exit) and, per field, a stack slot the dispatch filled from the right register.
    Syscall { nr: IntValue<'ctx>, ret: Option<IntValue<'ctx>>, slots: Vec<(String, PointerValue<'ctx>)> },
}

impl<'ctx, 'm, 'p> Lower<'ctx, 'm, 'p> {
    /// The state for a probe's own program: it returns when done and reads `args` from the
    /// context. A fused program changes `done`, `args` and `probe_name`.
    pub fn new(
        bb: &'p BpfBuilder<'ctx, 'm>,
        maps: &'p Maps<'ctx>,
        program: &'p hir::Program,
        attach: &'p hir::AttachPoint,
        ctx_arg: PointerValue<'ctx>,
        options: &super::Options,
    ) -> Self {
        Lower {
            bb,
            maps,
            program,
            attach,
            ctx_arg,
            vars: Vec::new(),
            var_types: Vec::new(),
            done: None,
            args: ArgsSource::Context,
            probe_name: None,
            pinned: Vec::new(),
            returned: None,
            multi: Vec::new(),
            filter_pid: options.filter_pid,
            portable: options.portable,
            loops: Vec::new(),
        }
    }
}

impl<'ctx> Lower<'ctx, '_, '_> {
    /// Leaves the probe: returns, or jumps to the next probe of a fused program.
    pub fn leave(&self) -> R<()> {
        match self.done {
            Some(next) => self.bb.b.build_unconditional_branch(next)?,
            None => self.bb.b.build_return(Some(&self.bb.const_i64(0)))?,
        };
        Ok(())
    }

    /// Goes on where `cond` (an i1) holds, and leaves the probe where it does not.
    pub(super) fn continue_if(&self, cond: IntValue<'ctx>) -> R<()> {
        let bb = self.bb;
        let run = bb.ctx.append_basic_block(bb.function, "run");
        let skip = bb.ctx.append_basic_block(bb.function, "skip");
        bb.b.build_conditional_branch(cond, run, skip)?;
        bb.b.position_at_end(skip);
        self.leave()?;
        bb.b.position_at_end(run);
        Ok(())
    }

    /// The `-p` filter, the predicate and the body of the probe, ending wherever `leave` goes.
    pub fn probe_code(&mut self, probe: &hir::Probe) -> R<()> {
        let bb = self.bb;
        self.vars = Vec::new();
        for (i, ty) in probe.vars.iter().enumerate() {
            self.vars.push(bb.stack_buffer(slot_size(*ty).max(8), &format!("var{i}"))?);
        }
        self.var_types = probe.vars.clone();
        // An iterator runs once more after the last object, with the object pointer (the
        // context's member after `meta`) NULL: that call is not a visit.
        if let AttachKind::Iter { .. } = self.attach.kind {
            let object = bb.load_int(bb.gep(self.ctx_arg, 8)?, 8, false)?;
            let visit = bb.b.build_int_compare(inkwell::IntPredicate::NE, object, bb.const_i64(0), "visit")?;
            self.continue_if(visit)?;
        }
        // After exit(), probes still attached until userspace detaches them do nothing, so
        // the maps printed are as exit() left them (bpftrace lets them run: its output
        // depends on how fast it detaches). BEGIN probes run in order before anything is
        // attached, END after everything is detached.
        if !matches!(self.attach.kind, AttachKind::Begin | AttachKind::End | AttachKind::Bench { .. }) {
            let exited = self.global(crate::artifact::Global::Exited)?;
            let running = bb.b.build_int_compare(inkwell::IntPredicate::EQ, exited, bb.const_i64(0), "running")?;
            self.continue_if(running)?;
        }
        // The pid filter concerns the traced process; iterators run in rtrace's own.
        if self.filter_pid && !matches!(self.attach.kind, AttachKind::Begin | AttachKind::End | AttachKind::SelfSignal { .. } | AttachKind::Bench { .. } | AttachKind::Interval { .. } | AttachKind::Iter { .. }) {
            let pid = self.builtin(hir::Builtin::Pid)?.int()?;
            let wanted = self.global(crate::artifact::Global::FilterPid)?;
            // No -p (a compiled script run without one): every process.
            let ours = bb.b.build_int_compare(inkwell::IntPredicate::EQ, pid, wanted, "ours")?;
            let unfiltered = bb.b.build_int_compare(inkwell::IntPredicate::EQ, wanted, bb.const_i64(0), "unfiltered")?;
            let ours = bb.b.build_or(ours, unfiltered, "ours")?;
            self.continue_if(ours)?;
        }
        if let Some(pred) = &probe.predicate {
            let v = self.expr(pred)?.int()?;
            let pass = bb.truthy(v)?;
            self.continue_if(pass)?;
        }
        for stmt in &probe.body {
            self.stmt(stmt)?;
            // A finished statement's temporaries are dead: the next statement reuses their
            // slots, so a long probe needs its largest statement's stack, not the sum.
            bb.reuse_stack(&self.live_slots());
        }
        self.leave()
    }

    /// The stack slots that hold state across statements: variables, `probe` and `args` of
    /// a fused program, and whatever else is pinned.
    fn live_slots(&self) -> Vec<PointerValue<'ctx>> {
        let args = match &self.args {
            ArgsSource::Syscall { slots, .. } => slots.iter().map(|(_, p)| *p).collect(),
            ArgsSource::Context => Vec::new(),
        };
        self.vars.iter().copied().chain(self.probe_name).chain(args).chain(self.pinned.iter().copied()).collect()
    }
}

pub fn lower_probe<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    maps: &Maps<'ctx>,
    program: &hir::Program,
    probe_index: usize,
    fused: &HashSet<(usize, usize)>,
    options: &super::Options,
) -> R<Vec<ProgramMeta>> {
    let probe = &program.probes[probe_index];
    let mut metas = Vec::new();
    for group in &probe.multi {
        metas.push(super::multi::lower_group(ctx, module, maps, program, probe_index, group, options)?);
    }
    for (ap_index, ap) in probe.attach.iter().enumerate() {
        if fused.contains(&(probe_index, ap_index)) || probe.multi.iter().any(|g| g.contains(&ap_index)) {
            continue;
        }
        let (prefix, section, attach) = match &ap.kind {
            AttachKind::Begin => ("begin", "raw_tp/rtrace_begin".to_string(), Attach::Begin),
            AttachKind::End => ("end", "raw_tp/rtrace_end".to_string(), Attach::End),
            AttachKind::SelfSignal { signal } => ("signal", "raw_tp/rtrace_signal".to_string(), Attach::Signal { signal: *signal }),
            AttachKind::Bench { name } => ("bench", "xdp".to_string(), Attach::Bench { name: name.clone() }),
            AttachKind::Tracepoint { category, event, .. } => {
                ("tp", format!("tracepoint/{category}/{event}"), Attach::Tracepoint { category: category.clone(), event: event.clone() })
            }
            AttachKind::Interval { period_ns } => ("interval", "perf_event".to_string(), Attach::Interval { period_ns: *period_ns }),
            AttachKind::RawTracepoint { name, btf_id: None } => ("rawtp", format!("raw_tp/{name}"), Attach::RawTracepoint { name: name.clone() }),
            AttachKind::RawTracepoint { name, btf_id: Some(id) } => ("rawtp", format!("tp_btf/{name}"), Attach::BtfRawTracepoint { name: name.clone(), btf_id: *id }),
            AttachKind::Fentry { function, btf_id, ret, .. } => (
                if *ret { "fexit" } else { "fentry" },
                format!("{}/{function}", if *ret { "fexit" } else { "fentry" }),
                Attach::Fentry { function: function.clone(), btf_id: *btf_id, ret: *ret },
            ),
            AttachKind::Kprobe { function, offset, ret, .. } => (
                if *ret { "kretprobe" } else { "kprobe" },
                format!("{}/{function}", if *ret { "kretprobe" } else { "kprobe" }),
                Attach::Kprobe { function: function.clone(), offset: *offset, ret: *ret },
            ),
            AttachKind::Uprobe { path, offset, ret, .. } => (
                if *ret { "uretprobe" } else { "uprobe" },
                if *ret { "uretprobe" } else { "uprobe" }.to_string(),
                Attach::Uprobe { path: path.clone(), offset: *offset, ret: *ret, semaphore: None },
            ),
            AttachKind::Iter { target, btf_id } => ("iter", format!("iter/{target}"), Attach::Iter { target: target.clone(), btf_id: *btf_id }),
            AttachKind::Usdt { probe } => {
                ("usdt", "usdt".to_string(), Attach::Uprobe { path: probe.path.clone(), offset: probe.offset, ret: false, semaphore: probe.semaphore })
            }
            AttachKind::Watchpoint { addr, len, mode } => ("watchpoint", "perf_event".to_string(), Attach::Watchpoint { addr: *addr, len: *len, mode: *mode }),
            AttachKind::ArgWatchpoint { path, offset, arg, len, mode, stop } => {
                let id = super::watchpoint::id(probe_index, ap_index);
                metas.push(super::watchpoint::arming_program(ctx, module, maps, program, ap, probe.span, (path, *offset), id, *arg, *stop, options)?);
                ("watchpoint", "perf_event".to_string(), Attach::ArmedWatchpoint { id, len: *len, mode: *mode })
            }
            AttachKind::PerfEvent { event, sample } => {
                let (period, frequency) = match sample {
                    PerfSample::Period(p) => (*p, false),
                    PerfSample::Frequency(f) => (*f, true),
                };
                ("perf", "perf_event".to_string(), Attach::PerfEvent { perf_type: event.perf_type, config: event.config, period, frequency })
            }
        };
        let name = format!("{prefix}_{probe_index}_{ap_index}");
        let bb = program_function(ctx, module, &name, &section, options);
        let ctx_arg = bb.function.get_nth_param(0).map(|p| p.into_pointer_value()).ok_or_else(|| super::builder::internal("no ctx"))?;
        let mut lower = Lower::new(&bb, maps, program, ap, ctx_arg, options);
        lower.probe_code(probe).map_err(|e| e.in_probe(probe.span))?;
        bb.finish().map_err(|e| e.in_probe(probe.span))?;
        metas.push(ProgramMeta { function: name, attach, probe_name: ap.name.clone(), span: probe.span });
    }
    Ok(metas)
}

pub fn program_function<'ctx, 'm>(ctx: &'ctx Context, module: &'m Module<'ctx>, name: &str, section: &str, options: &super::Options) -> BpfBuilder<'ctx, 'm> {
    bpf_function(ctx, module, name, section, 1, None).with_scratch(options.scratch)
}

/// A BPF function of `params` pointer arguments returning i64, in `section`: a program
/// (external linkage, section naming its type) or a callback (internal, in `.text`).
pub fn bpf_function<'ctx, 'm>(
    ctx: &'ctx Context,
    module: &'m Module<'ctx>,
    name: &str,
    section: &str,
    params: usize,
    linkage: Option<inkwell::module::Linkage>,
) -> BpfBuilder<'ctx, 'm> {
    let ptr = ctx.ptr_type(inkwell::AddressSpace::default());
    let fn_type = ctx.i64_type().fn_type(&vec![ptr.into(); params], false);
    let function = module.add_function(name, fn_type, linkage);
    function.set_section(Some(section));
    // Without nounwind LLVM emits .eh_frame, which BPF loaders reject.
    let nounwind = ctx.create_enum_attribute(inkwell::attributes::Attribute::get_named_enum_kind_id("nounwind"), 0);
    function.add_attribute(inkwell::attributes::AttributeLoc::Function, nounwind);
    // BPF has no indirect jumps, and a switch turned into a lookup table would need .rodata.
    function.add_attribute(inkwell::attributes::AttributeLoc::Function, ctx.create_string_attribute("no-jump-tables", "true"));
    BpfBuilder::new(ctx, module, function)
}
