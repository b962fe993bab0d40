//! `hir::Program` -> `BpfArtifact`: LLVM IR through inkwell, optimised and emitted as a BPF
//! ELF object, plus the `RuntimeMeta` that tells the runtime how to attach each program and
//! decode each map and event. Pure: no kernel, no files. inkwell types stay inside this module.

mod builder;
mod debugf;
mod error;
mod expr;
mod glob;
mod llvm_diagnostics;
mod llvm_init;
mod loops;
mod map_loop;
mod map_read;
pub mod maps;
mod multi;
mod probe;
mod stmt;
mod strings;
mod syscalls;
mod tracepoint;
mod trusted;
mod tseries;
mod usdt;
mod watchpoint;
mod write_user;

pub use crate::artifact::BpfArtifact;
pub use error::CodegenError;

use inkwell::context::Context;
use inkwell::passes::PassBuilderOptions;
use inkwell::module::Module;
use inkwell::targets::{CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetData, TargetTriple};
use inkwell::values::InstructionOpcode;
use inkwell::OptimizationLevel;

use crate::sema::hir;
use crate::artifact::{MapLayout, MapMeta, PrintfMeta, RuntimeMeta, CONTROL_EVENTS_BYTES, EVENTS_BYTES, MAX_MAP_KEYS};
use builder::internal;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the optimised LLVM IR text in the artifact.
    pub keep_llvm_ir: bool,
    /// Keys per map (bpftrace's `max_map_keys`); 0 means the default, `MAX_MAP_KEYS`.
    pub max_map_keys: u32,
    /// Every probe but BEGIN/END/interval first checks that the current process is the `-p` one (its
    /// pid is a runtime global, so one compiled script serves any pid).
    pub filter_pid: bool,
    /// Buffers in per-CPU scratch maps instead of the stack: set by `compile` itself when a
    /// script does not fit in the 512-byte BPF stack.
    pub scratch: bool,
    /// A compiled script for other kernels (`rtrace build`): tracepoint fields are read with
    /// `bpf_probe_read_kernel` at offsets relocated at load, instead of loaded directly at
    /// offsets the verifier requires to be constant (a helper call more per field read).
    pub portable: bool,
}

/// Compiles with buffers on the stack (fastest); a script whose probes need more than the
/// 512-byte BPF stack is compiled again with its buffers in per-CPU scratch maps. A function
/// with one buffer larger than the whole stack (a string of the default `max_strlen`) is
/// known not to fit once it is lowered, so that attempt stops before LLVM's pipeline, which
/// is most of a compile's time.
pub fn compile(program: &hir::Program, options: &Options) -> Result<BpfArtifact, CodegenError> {
    if !options.scratch {
        match compile_once(program, options) {
            Ok(Some(artifact)) => return Ok(artifact),
            Ok(None) => {}
            Err(e) if e.is_stack_overflow() => {}
            Err(e) => return Err(e),
        }
    }
    compile_once(program, &Options { scratch: true, ..options.clone() })?.ok_or_else(|| internal("scratch maps did not take the buffers"))
}

/// Whether a function of `module` has one stack slot larger than the whole BPF stack, which
/// the back end is sure to refuse.
fn outgrows_stack(module: &Module, data: &TargetData) -> bool {
    module
        .get_functions()
        .filter_map(|f| f.get_first_basic_block())
        .flat_map(|entry| entry.get_instructions())
        .filter(|i| i.get_opcode() == InstructionOpcode::Alloca)
        .filter_map(|i| i.get_allocated_type().ok())
        .any(|ty| data.get_store_size(&ty) > crate::artifact::BPF_STACK_BYTES as u64)
}

/// One attempt; `None` when the program cannot fit the stack without scratch maps.
fn compile_once(program: &hir::Program, options: &Options) -> Result<Option<BpfArtifact>, CodegenError> {
    llvm_init::ensure();
    llvm_diagnostics::on_fatal_error();
    Target::initialize_bpf(&InitializationConfig::default());
    let triple = TargetTriple::create("bpfel");
    let target = Target::from_triple(&triple).map_err(internal)?;
    let machine = target
        .create_target_machine(&triple, "v3", "", OptimizationLevel::Aggressive, RelocMode::Default, CodeModel::Default)
        .ok_or_else(|| internal("LLVM has no BPF target machine"))?;

    let ctx = Context::create();
    let diagnostics = llvm_diagnostics::capture(&ctx);
    let module = ctx.create_module("rtrace");
    // The data layout must be the BPF target's before any IR is built, or i64 loads of
    // context fields get split into two 32-bit loads the verifier rejects.
    module.set_triple(&triple);
    module.set_data_layout(&machine.get_target_data().get_data_layout());

    let license = ctx.const_string(program.config.license.as_bytes(), true);
    let g = module.add_global(license.get_type(), None, "_license");
    g.set_initializer(&license);
    g.set_section(Some("license"));

    let events_bytes = if program.printfs.is_empty() { CONTROL_EVENTS_BYTES } else { EVENTS_BYTES };
    let max_map_keys = if options.max_map_keys == 0 { MAX_MAP_KEYS } else { options.max_map_keys };
    let maps =
        maps::define(&module, &program.maps, events_bytes, max_map_keys, program.uses_stacks, !program.skb_outputs.is_empty(), program.globs.len() as u32);
    let (fused, covered) = syscalls::plan(program);
    let mut programs = Vec::new();
    for i in 0..program.probes.len() {
        programs.extend(probe::lower_probe(&ctx, &module, &maps, program, i, &covered, options)?);
    }
    for f in &fused {
        programs.push(syscalls::lower(&ctx, &module, &maps, program, f, options)?);
    }
    module.verify().map_err(|e| internal(format!("invalid IR: {e}")))?;
    if !options.scratch && outgrows_stack(&module, &machine.get_target_data()) {
        return Ok(None);
    }
    module.run_passes("default<O2>", &machine, PassBuilderOptions::create()).map_err(|e| internal(format!("optimisation failed: {e}")))?;
    let object = machine.write_to_memory_buffer(&module, FileType::Object);
    let failures = diagnostics.errors();
    if !failures.is_empty() {
        // Name the probe when LLVM names the function.
        let span =
            programs.iter().find(|p| failures.iter().any(|m| m.contains(&p.function))).map(|p| p.span).or_else(|| program.probes.first().map(|p| p.span));
        return Err(CodegenError::Backend { span, messages: failures });
    }
    let object = object.map_err(|e| internal(format!("object emission failed: {e}")))?.as_slice().to_vec();
    let llvm_ir = options.keep_llvm_ir.then(|| module.print_to_string().to_string());

    let meta = RuntimeMeta {
        // As bpftrace counts them: a USDT probe inlined at several sites is one probe.
        probe_count: program.probes.iter().map(|p| p.attach.iter().map(|a| a.name.as_str()).collect::<std::collections::HashSet<_>>().len()).sum(),
        programs,
        maps: program
            .maps
            .iter()
            .enumerate()
            .map(|(i, d)| MapMeta {
                symbol: maps::symbol(i),
                name: d.name.clone(),
                keys: d.keys.clone(),
                key_names: d.key_names.clone(),
                value: d.value,
                layout: match maps::layout(d) {
                    l if l.array => l,
                    l => MapLayout { max_entries: max_map_keys, ..l },
                },
            })
            .collect(),
        printfs: program
            .printfs
            .iter()
            .map(|p| {
                let (offsets, _) = stmt::printf_layout(p.args.iter().copied());
                PrintfMeta { format: p.format.clone(), args: offsets.into_iter().zip(p.args.iter().copied()).collect(), action: p.action }
            })
            .collect(),
        strftimes: program.strftimes.clone(),
        glob_tables: program.globs.iter().map(|g| crate::sema::glob::accept_table(g)).collect(),
        skb_outputs: program.skb_outputs.clone(),
        perf_rb_pages: program.config.perf_rb_pages.next_power_of_two(),
        missing_probes: program.config.missing_probes,
        print_maps_on_exit: program.config.print_maps_on_exit,
        max_cat_bytes: program.config.max_cat_bytes,
        str_trunc_trailer: program.config.str_trunc_trailer.clone(),
        show_debug_info: program.config.show_debug_info,
        facts: program.facts.iter().cloned().chain(tracepoint_facts(program, options.portable)).collect(),
        features: program.features.iter().map(|f| f.key().to_string()).collect(),
    };
    Ok(Some(BpfArtifact { object, meta, llvm_ir }))
}

/// The fields each tracepoint program reads from its record, as facts the runtime checks
/// against the running kernel's format: fact `program.facts.len() + i` is the i-th. Direct
/// context loads hold their offsets as constants the verifier requires, so those facts are
/// checked, not relocated; `portable` programs read fields at relocated offsets
/// (`Lower::tracepoint_field`).
pub(crate) fn tracepoint_facts(program: &hir::Program, portable: bool) -> Vec<crate::artifact::Fact> {
    use crate::artifact::{Fact, FactKind};
    let mut out: Vec<Fact> = Vec::new();
    for probe in &program.probes {
        for ap in &probe.attach {
            let hir::AttachKind::Tracepoint { category, event, format } = &ap.kind else { continue };
            for f in format.fields.iter().filter(|f| probe.args_fields.contains(&f.name)) {
                let what = FactKind::TracepointField { category: category.clone(), event: event.clone(), field: f.name.clone(), size: f.size as u64 };
                let fact = Fact { what, compiled: f.offset as u64, fixed: !portable };
                if !out.contains(&fact) {
                    out.push(fact);
                }
            }
        }
    }
    out
}
