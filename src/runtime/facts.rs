//! Before a compiled script (`rtrace build`) is loaded: what it assumed about the kernel it
//! was compiled for, asked again of the running one (`artifact::facts`). Member offsets are
//! looked up by struct and member name in the running kernel's BTF and relocated; tracepoint
//! fields in its format files; kernel features are probed; attach points named by a BTF id
//! (fentry, iterators) get this kernel's id. A fact that no longer holds and cannot be
//! relocated, a missing struct, member, tracepoint field or feature is an error naming it,
//! before anything is loaded. A program compiled in this process skips all this: its facts
//! are the running kernel's already.

use crate::artifact::{Attach, BpfArtifact, FactKind};
use crate::btf::{Btf, Namespace};
use crate::features::Feature;
use crate::system::tracepoint_format::TracepointFormat;

use super::error::RuntimeError;
use super::LiveKernel;

/// Checks `artifact`'s facts against the running kernel and relocates them: afterwards each
/// fact's `compiled` value is this kernel's, which the loader writes into the program.
pub fn settle(artifact: &mut BpfArtifact, kernel: &LiveKernel) -> Result<(), RuntimeError> {
    let meta = &mut artifact.meta;
    let mut problems = Vec::new();
    for key in &meta.features {
        match Feature::from_key(key) {
            Some(f) => {
                let answer = super::features::probe(kernel, f);
                if !answer.present {
                    problems.push(format!("it needs {} ({}, Linux {}), which this kernel lacks: {}", f.key(), f.what(), f.since(), answer.detail));
                }
            }
            None => problems.push(format!("it needs kernel feature `{key}`, which this rtrace does not know")),
        }
    }
    let needs_btf = meta.facts.iter().any(|f| matches!(f.what, FactKind::MemberOffset { .. } | FactKind::KernelVariable { .. } | FactKind::KernelFunction { .. }))
        || meta.programs.iter().any(|p| matches!(p.attach, Attach::Fentry { .. } | Attach::Iter { .. } | Attach::BtfRawTracepoint { .. }));
    let btf = if needs_btf { kernel.btf() } else { None };
    if needs_btf && btf.is_none() {
        problems.push(format!("it reads kernel types, and this kernel has no BTF ({} is missing)", super::kernel::VMLINUX_BTF));
    }
    for fact in &mut meta.facts {
        let found = match &fact.what {
            FactKind::MemberOffset { .. } => match btf {
                Some(btf) => member_offset(btf, &fact.what),
                None => continue,
            },
            FactKind::KernelVariable { name } => match btf {
                Some(btf) => btf.find(Namespace::Var, name).map(u64::from).ok_or_else(|| format!("{} does not exist in this kernel's BTF", fact.what)),
                None => continue,
            },
            FactKind::KernelFunction { name } => match btf {
                Some(btf) => btf.find(Namespace::Func, name).map(u64::from).ok_or_else(|| format!("{} does not exist in this kernel's BTF", fact.what)),
                None => continue,
            },
            FactKind::TracepointField { category, event, field, size } => match kernel.tracepoint_format(category, event) {
                None => Err(format!("tracepoint {category}:{event} does not exist on this kernel")),
                Some(text) => match TracepointFormat::parse(&text).fields.iter().find(|f| &f.name == field) {
                    None => Err(format!("{} does not exist on this kernel", fact.what)),
                    Some(f) if f.size as u64 != *size => Err(format!("{} is {} bytes on this kernel, {size} where the script was compiled", fact.what, f.size)),
                    Some(f) => Ok(f.offset as u64),
                },
            },
            FactKind::KernelSymbol { name } => kernel.kernel_symbol(name).ok_or_else(|| format!("{} is not in this kernel's /proc/kallsyms", fact.what)),
            FactKind::CgroupId { path } => kernel.cgroup_id(path).ok_or_else(|| format!("{} does not exist on this machine", fact.what)),
            FactKind::Binary { path } => match super::uprobe_target::identity(path) {
                Ok(id) if id != fact.compiled => Err(format!("{path} is another build than the one the script was compiled against, and its uprobes are at that build's offsets")),
                Ok(id) => Ok(id),
                Err(e) => Err(e),
            },
        };
        match found {
            Ok(v) if v == fact.compiled => {}
            Ok(v) if !fact.fixed => fact.compiled = v,
            Ok(v) => problems.push(match fact.what {
                FactKind::KernelVariable { .. } => format!("{} has BTF id {v} on this kernel, {} where the script was compiled", fact.what, fact.compiled),
                _ => format!("{} is at offset {v} on this kernel, {} where the script was compiled, and this use of it cannot be relocated", fact.what, fact.compiled),
            }),
            Err(e) => problems.push(e),
        }
    }
    // Every tracepoint is still there (the ones whose fields the script reads were checked
    // with their fields).
    let kprobes = meta.programs.iter().any(|p| matches!(p.attach, Attach::Kprobe { .. } | Attach::KprobeMulti { .. }));
    let functions: Option<std::collections::HashSet<&str>> =
        if kprobes { kernel.kernel_functions().map(|all| all.iter().map(String::as_str).collect()) } else { None };
    if kprobes && !kernel.kprobes_available() {
        problems.push("it has kprobes, and this kernel cannot run them (built without CONFIG_KPROBES)".into());
    }
    for p in &meta.programs {
        match &p.attach {
            Attach::Tracepoint { category, event } if kernel.tracepoint_format(category, event).is_none() => {
                problems.push(format!("tracepoint {category}:{event} does not exist on this kernel"))
            }
            Attach::Kprobe { function, .. } if functions.as_ref().is_some_and(|f| !f.contains(function.as_str())) => {
                problems.push(format!("kernel function `{function}` does not exist on this kernel ({})", p.probe_name))
            }
            Attach::KprobeMulti { functions: wanted, .. } => {
                for function in wanted.iter().filter(|w| functions.as_ref().is_some_and(|f| !f.contains(w.as_str()))) {
                    problems.push(format!("kernel function `{function}` does not exist on this kernel ({})", p.probe_name))
                }
            }
            _ => {}
        }
    }
    if let Some(btf) = btf {
        for p in &mut meta.programs {
            match &mut p.attach {
                Attach::Fentry { function, btf_id, .. } => match btf.find(Namespace::Func, function) {
                    Some(id) => *btf_id = id,
                    None => problems.push(format!("kernel function `{function}` ({}) has no BTF on this kernel", p.probe_name)),
                },
                Attach::Iter { target, btf_id } => match btf.find(Namespace::Func, &format!("bpf_iter_{target}")) {
                    Some(id) => *btf_id = id,
                    None => problems.push(format!("this kernel has no `{target}` iterator ({})", p.probe_name)),
                },
                Attach::BtfRawTracepoint { name, btf_id } => match btf.find(Namespace::Typedef, &format!("btf_trace_{name}")) {
                    Some(id) => *btf_id = id,
                    None => problems.push(format!("tracepoint `{name}` ({}) has no BTF on this kernel", p.probe_name)),
                },
                _ => {}
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    match problems.is_empty() {
        true => Ok(()),
        false => Err(RuntimeError::Setup {
            message: format!(
                "the compiled script does not fit this machine: {}; compile it for this one (`rtrace build` here, or with this kernel's --btf and --tracefs)",
                problems.join("; ")
            ),
        }),
    }
}

/// The offset of a member on this kernel, or why it has none.
fn member_offset(btf: &Btf, what: &FactKind) -> Result<u64, String> {
    let FactKind::MemberOffset { record, union, member, size, bit } = what else { return Err("not a member".into()) };
    let ns = if *union { Namespace::Union } else { Namespace::Struct };
    let id = btf.find(ns, record).ok_or_else(|| format!("{} {record} does not exist on this kernel", if *union { "union" } else { "struct" }))?;
    let m = btf.member(id, member).ok_or_else(|| format!("{what} does not exist on this kernel"))?;
    if (m.bit_offset % 8) as u8 != *bit {
        return Err(format!("{what} is a bitfield at another bit on this kernel"));
    }
    if *size > 0 {
        let here = btf.size_of(m.ty).unwrap_or(0);
        if here != *size {
            return Err(format!("{what} is {here} bytes on this kernel, {size} where the script was compiled"));
        }
    }
    Ok(u64::from(m.bit_offset / 8))
}
