//! One BPF program per attach point: its ELF section (which tells aya the program type), the
//! predicate, and the lowering state shared by expressions and statements.

use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::values::PointerValue;

use super::artifact::{Attach, ProgramMeta};
use super::builder::{BpfBuilder, R};
use super::maps::{slot_size, Maps};
use crate::sema::hir::{self, AttachKind};
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
}

pub fn lower_probe<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    maps: &Maps<'ctx>,
    program: &hir::Program,
    probe_index: usize,
) -> R<Vec<ProgramMeta>> {
    let probe = &program.probes[probe_index];
    let mut metas = Vec::new();
    for (ap_index, ap) in probe.attach.iter().enumerate() {
        let (prefix, section, attach) = match &ap.kind {
            AttachKind::Begin => ("begin", "raw_tp/rtrace_begin".to_string(), Attach::Begin),
            AttachKind::End => ("end", "raw_tp/rtrace_end".to_string(), Attach::End),
            AttachKind::Tracepoint { category, event, .. } => (
                "tp",
                format!("tracepoint/{category}/{event}"),
                Attach::Tracepoint { category: category.clone(), event: event.clone() },
            ),
            AttachKind::Interval { period_ns } => ("interval", "perf_event".to_string(), Attach::Interval { period_ns: *period_ns }),
        };
        let name = format!("{prefix}_{probe_index}_{ap_index}");
        let bb = program_function(ctx, module, &name, &section);
        let ctx_arg = bb.function.get_nth_param(0).map(|p| p.into_pointer_value()).ok_or_else(|| super::builder::internal("no ctx"))?;
        let mut vars = Vec::new();
        for (i, ty) in probe.vars.iter().enumerate() {
            vars.push(bb.stack_buffer(slot_size(*ty).max(8), &format!("var{i}"))?);
        }
        let mut lower = Lower { bb: &bb, maps, program, attach: ap, ctx_arg, vars, var_types: probe.vars.clone() };
        if let Some(pred) = &probe.predicate {
            let v = lower.expr(pred)?.int()?;
            let pass = bb.truthy(v)?;
            let run = ctx.append_basic_block(bb.function, "run");
            let skip = ctx.append_basic_block(bb.function, "skip");
            bb.b.build_conditional_branch(pass, run, skip)?;
            bb.b.position_at_end(skip);
            bb.b.build_return(Some(&bb.const_i64(0)))?;
            bb.b.position_at_end(run);
        }
        lower.block(&probe.body)?;
        bb.b.build_return(Some(&bb.const_i64(0)))?;
        bb.finish()?;
        metas.push(ProgramMeta { function: name, attach, probe_name: ap.name.clone(), span: probe.span });
    }
    Ok(metas)
}

fn program_function<'ctx, 'm>(ctx: &'ctx Context, module: &'m Module<'ctx>, name: &str, section: &str) -> BpfBuilder<'ctx, 'm> {
    let ptr = ctx.ptr_type(inkwell::AddressSpace::default());
    let fn_type = ctx.i64_type().fn_type(&[ptr.into()], false);
    let function = module.add_function(name, fn_type, None);
    function.set_section(Some(section));
    // Without nounwind LLVM emits .eh_frame, which BPF loaders reject.
    let nounwind = ctx.create_enum_attribute(inkwell::attributes::Attribute::get_named_enum_kind_id("nounwind"), 0);
    function.add_attribute(inkwell::attributes::AttributeLoc::Function, nounwind);
    BpfBuilder::new(ctx, module, function)
}
