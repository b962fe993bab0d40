//! One program for a group of kprobes or uprobes that one kprobe_multi or uprobe_multi link
//! attaches (`hir::Probe::multi`, decided by `sema/multi.rs`). The group's attach points
//! differ only in their function, so the program is any one of theirs with what names the
//! function asked at run time: a kprobe's `func` address is `bpf_get_func_ip`, and `func` as
//! a name is chosen by the link's cookie for the function (its index in the group, which the
//! runtime sets) from a switch that writes the name, as the fused syscall program writes
//! `probe`.

use inkwell::context::Context;
use inkwell::module::Module;
use inkwell::values::IntValue;

use super::builder::{internal, Helper, R};
use super::expr::Val;
use super::maps::Maps;
use super::probe::{program_function, Lower};
use crate::artifact::{Attach, ProgramMeta};
use crate::sema::hir::{self, AttachKind, Builtin};

/// The program of the attach points `group` of probe `probe_index`.
pub fn lower_group<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    maps: &Maps<'ctx>,
    program: &hir::Program,
    probe_index: usize,
    group: &[usize],
    options: &super::Options,
) -> R<ProgramMeta> {
    let probe = &program.probes[probe_index];
    let aps: Vec<&hir::AttachPoint> = group.iter().map(|i| &probe.attach[*i]).collect();
    let first = aps.first().ok_or_else(|| internal("an empty multi-attach group"))?;
    let (prefix, section, attach) = match &first.kind {
        AttachKind::Kprobe { ret, .. } => {
            let functions = aps.iter().map(|ap| match &ap.kind {
                AttachKind::Kprobe { function, .. } => Ok(function.clone()),
                _ => Err(internal("a kprobe_multi group with another kind")),
            });
            let prefix = if *ret { "kretprobe" } else { "kprobe" };
            (prefix, format!("{prefix}.multi"), Attach::KprobeMulti { functions: functions.collect::<R<_>>()?, ret: *ret })
        }
        AttachKind::Uprobe { path, ret, .. } => {
            let offsets = aps.iter().map(|ap| match &ap.kind {
                AttachKind::Uprobe { offset, .. } => Ok(*offset),
                _ => Err(internal("a uprobe_multi group with another kind")),
            });
            let prefix = if *ret { "uretprobe" } else { "uprobe" };
            (prefix, format!("{prefix}.multi"), Attach::UprobeMulti { path: path.clone(), offsets: offsets.collect::<R<_>>()?, ret: *ret })
        }
        _ => return Err(internal("a multi-attach group of neither kprobes nor uprobes")),
    };
    let name = format!("{prefix}_{probe_index}_{}", group[0]);
    let bb = program_function(ctx, module, &name, &section, options);
    let ctx_arg = bb.function.get_nth_param(0).map(|p| p.into_pointer_value()).ok_or_else(|| internal("no ctx"))?;
    let mut lower = Lower::new(&bb, maps, program, first, ctx_arg, options);
    lower.multi = aps.iter().map(|ap| func_name(ap)).collect();
    lower.probe_code(probe).map_err(|e| e.in_probe(probe.span))?;
    bb.finish().map_err(|e| e.in_probe(probe.span))?;
    let probe_name = format!("{} and {} more", first.name, aps.len() - 1);
    Ok(ProgramMeta { function: name, attach, probe_name, span: probe.span })
}

/// What `func` is as a name at attach point `ap`: its kernel function, or the symbol of
/// `uprobe:BINARY:NAME`, where BINARY is the path as the script wrote it (it ends in the file's
/// name) and a demangled NAME may hold colons.
pub fn func_name(ap: &hir::AttachPoint) -> String {
    match &ap.kind {
        AttachKind::Kprobe { function, .. } => function.clone(),
        AttachKind::Uprobe { path, .. } => {
            let file = format!("{}:", path.rsplit('/').next().unwrap_or(path));
            let name = &ap.name;
            name.find(&file).map_or(name.as_str(), |at| &name[at + file.len()..]).to_string()
        }
        _ => ap.name.rsplit(':').next().unwrap_or_default().to_string(),
    }
}

impl<'ctx> Lower<'ctx, '_, '_> {
    /// `func` as a name in a multi-attach program: the name at the link's cookie.
    pub(super) fn multi_func(&self) -> R<Val<'ctx>> {
        let bb = self.bb;
        let size = Builtin::Func.ty().size();
        let buf = bb.stack_buffer(size, "func")?;
        let cookie = bb.helper(Helper::GetAttachCookie, &[self.ctx_arg.into()])?;
        let done = bb.ctx.append_basic_block(bb.function, "func_done");
        let cases: Vec<_> = (0..self.multi.len()).map(|i| (bb.const_i64(i as u64), bb.ctx.append_basic_block(bb.function, &format!("func{i}")))).collect();
        bb.b.build_switch(cookie, done, &cases)?;
        for ((_, block), name) in cases.iter().zip(&self.multi) {
            bb.b.position_at_end(*block);
            bb.write_string(buf, name, size)?;
            bb.b.build_unconditional_branch(done)?;
        }
        bb.b.position_at_end(done);
        Ok(Val::Str(buf, size))
    }

    /// A kprobe's `func` address in a multi-attach program: the function that fired.
    pub(super) fn multi_func_ip(&self) -> R<IntValue<'ctx>> {
        self.bb.helper(Helper::GetFuncIp, &[self.ctx_arg.into()])
    }
}
