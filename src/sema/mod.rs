//! `ast::Script` + kernel type information -> `hir::Program`. Pure: what it needs from the
//! kernel (tracepoint formats) comes through the `KernelInfo` trait, which the CLI implements
//! over tracefs and tests implement over checked-in fixtures.

mod attach;
mod cdefs;
mod check;
mod error;
pub mod glob;
pub mod hir;
mod list;
mod macros;
mod multi;
mod process;
pub mod reference;

pub use crate::system::tracepoint_format;

pub use attach::{HARDWARE_EVENTS, SOFTWARE_EVENTS};
pub use error::SemaError;
pub use crate::artifact::types::Type;
pub use list::{list_probes, list_process_probes};

use crate::parser::ast;
pub use crate::system::{glob_match, PidNamespace, UprobeTarget, UsdtArg, UsdtLocation, UsdtProbe};

/// What sema asks of the kernel.
pub trait KernelInfo {
    /// The text of tracefs `events/<category>/<event>/format`, if that tracepoint exists.
    fn tracepoint_format(&self, category: &str, event: &str) -> Option<String>;
    /// Every tracepoint as (category, event): wildcards expand over it, and misses get
    /// suggestions from it.
    fn tracepoints(&self) -> Vec<(String, String)>;
    /// Whether the kernel has a feature a construct needs (`rtrace --info`); sema refuses
    /// the construct where it does not, instead of leaving it to the verifier.
    fn has(&self, feature: crate::features::Feature) -> bool {
        let _ = feature;
        true
    }
    /// Whether the kernel can run kprobes at all (it may be built without CONFIG_KPROBES).
    fn kprobes_available(&self) -> bool {
        true
    }
    /// Kernel functions a kprobe can attach to; None when the kernel does not say.
    fn kernel_functions(&self) -> Option<&[String]> {
        None
    }
    /// The kernel's BTF (vmlinux), for C types: struct fields, casts, `curtask`. None when
    /// the kernel has none.
    fn btf(&self) -> Option<&crate::btf::Btf> {
        None
    }
    /// The address of a kernel symbol (`kaddr`), from kallsyms.
    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        let _ = name;
        None
    }
    /// The addresses of many kernel symbols at once (`func` of a wildcard kprobe).
    fn kernel_symbols(&self, names: &[&str]) -> Vec<Option<u64>> {
        names.iter().map(|n| self.kernel_symbol(n)).collect()
    }
    /// Whether kallsyms lists variables, not only functions (CONFIG_KALLSYMS_ALL).
    fn lists_data_symbols(&self) -> bool {
        true
    }
    /// rtrace's own pid namespace: the kernel's device number of nsfs and the namespace's
    /// inode, and whether it is the initial one. None when it cannot be read.
    fn pid_namespace(&self) -> Option<PidNamespace> {
        None
    }
    /// The id of the cgroup at `path` (`cgroupid`): its inode number in cgroupfs.
    fn cgroup_id(&self, path: &str) -> Option<u64> {
        let _ = path;
        None
    }
    /// Where uprobes on `symbol` of `binary` go. `symbol` is a function (by its symbol-table
    /// name or, for C++ and Rust, its demangled one), `FUNCTION+OFFSET`, `0xADDRESS`, or a
    /// glob over function names, which may match many. Err says why not, in one line.
    fn uprobe_targets(&self, binary: &str, symbol: &str) -> Result<Vec<UprobeTarget>, String> {
        let _ = (binary, symbol);
        Err("user binaries are not available here".into())
    }
    /// The virtual address of symbol `name` (a global variable or function) in the ELF file
    /// at `path`, and whether the file is position-independent (PIE or a library: the
    /// address is then relative to where it is loaded). Err says why not, in one line.
    fn user_symbol(&self, path: &str, name: &str) -> Result<(u64, bool), String> {
        let _ = (path, name);
        Err("user binaries are not available here".into())
    }
    /// Which build of the binary at `path` this is (a hash of its ELF build id): uprobe file
    /// offsets are only right in that build. None when it cannot be read.
    fn binary_identity(&self, path: &str) -> Option<u64> {
        let _ = path;
        None
    }
    /// The size of symbol `name` in the ELF file at `path` (`uaddr`'s pointer type).
    fn user_symbol_size(&self, path: &str, name: &str) -> Option<u64> {
        let _ = (path, name);
        None
    }
    /// The files process `pid` has mapped executable (its program, then its libraries), each
    /// by a path rtrace can open: the process's own when it names the same file here, else
    /// through `/proc/PID/root` (a process in another mount namespace).
    fn process_binaries(&self, pid: u32) -> Vec<String> {
        let _ = pid;
        Vec::new()
    }
    /// The kernel modules loaded (by the names `MODULE:` attach points use), or None where
    /// this is not known (then a module name is not checked).
    fn kernel_modules(&self) -> Option<Vec<String>> {
        None
    }
    /// Every USDT probe site of `binary` (named as for uprobes), from its `.note.stapsdt`
    /// ELF notes. Err says why not, in one line.
    fn usdt_probes(&self, binary: &str) -> Result<Vec<UsdtProbe>, String> {
        let _ = binary;
        Err("user binaries are not available here".into())
    }
}

/// What the command line tells sema.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--unsafe`: allow `system`, `signal` and the other functions that change the system.
    pub unsafe_ok: bool,
    /// `$1`, `$2`...
    pub params: Vec<String>,
    /// `--name[=value]` after the script, for `getopt`.
    pub named: Vec<(String, Option<String>)>,
    /// Settings from the environment (`BPFTRACE_MAX_STRLEN`...): they override the script's
    /// config block.
    pub env: EnvConfig,
    /// The executable of the -p PID or -c CMD process: where `watchpoint:FUNC+argN` finds
    /// FUNC.
    pub target: Option<String>,
    /// `--probe-filter REGEX`: only the attach points whose name matches are compiled (BEGIN
    /// and END always are).
    pub probe_filter: Option<regex_lite::Regex>,
    /// `BPFTRACE_DUMMY_TS_MAP=@name`: `tseries` reads its time from that map (for tests).
    pub dummy_ts_map: Option<String>,
    /// `-p PID`: uprobe and usdt attach points without a binary (`usdt::p:n`, `uprobe:*:f`)
    /// mean every binary the process has mapped.
    pub pid: Option<u32>,
    /// `-k`: a map read of a key the map does not hold is told at its site while tracing.
    pub helper_errors: bool,
}

/// Config settings given in the environment (`BPFTRACE_MAX_STRLEN=128`); sema checks them
/// as it checks the config block, and they override it.
#[derive(Debug, Clone, Default)]
pub struct EnvConfig {
    pub items: Vec<EnvSetting>,
}

/// One `BPFTRACE_*` variable that names a config setting.
#[derive(Debug, Clone)]
pub struct EnvSetting {
    /// The variable, e.g. `BPFTRACE_MAX_STRLEN`.
    pub var: String,
    /// Its value as it was set.
    pub text: String,
    /// Its value as a config block would hold it: a number when it is all digits.
    pub value: crate::parser::ast::ConfigValue,
}

impl EnvConfig {
    /// The `BPFTRACE_*` variables among `vars` that name config settings.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> EnvConfig {
        let items = vars
            .into_iter()
            .filter(|(var, _)| var.starts_with("BPFTRACE_") && check::config::canonical_key(var).is_some())
            .map(|(var, text)| {
                let trimmed = text.trim();
                let value = match trimmed.parse::<u64>() {
                    Ok(n) => crate::parser::ast::ConfigValue::Int(n),
                    Err(_) => crate::parser::ast::ConfigValue::Word(trimmed.to_string()),
                };
                EnvSetting { var, text, value }
            })
            .collect();
        EnvConfig { items }
    }
}

/// Resolves names and types; all errors of the stage are returned together.
/// The most statements `unroll` may make of one probe, and macros of one script. Both copy
/// code, and copies of copies grow exponentially: without a limit, four nested
/// `unroll(100)` or six macros that each call the next eight times take all memory. A BPF
/// program this long is already past what one of its jumps can reach.
pub(crate) const MAX_EXPANDED_STATEMENTS: usize = 4096;

pub fn analyse(script: &ast::Script, kernel: &dyn KernelInfo) -> Result<hir::Program, Vec<SemaError>> {
    analyse_with(script, kernel, &Options::default())
}

pub fn analyse_with(script: &ast::Script, kernel: &dyn KernelInfo, options: &Options) -> Result<hir::Program, Vec<SemaError>> {
    // Passes, in order: macros are expanded before anything is typed.
    if script.macros.is_empty() {
        return check::check_types(script, kernel, options);
    }
    let mut expanded = script.clone();
    macros::expand_macros(&mut expanded)?;
    check::check_types(&expanded, kernel, options)
}

#[cfg(test)]
mod tests;
