//! `sema::KernelInfo` over `runtime::LiveKernel`: the running system's tracefs, BTF, kallsyms
//! and binaries, or another machine's described by files (`--btf`, `--tracefs`). The facts
//! are read by the runtime's one reader; this adapter is the compiler's side of it, so that
//! the runtime does not depend on sema (and a build without the compiler has no sema).

use crate::btf::Btf;
use crate::features::Feature;
use crate::runtime::LiveKernel;
use crate::sema::KernelInfo;
use crate::system::{PidNamespace, UprobeTarget, UsdtProbe};

impl KernelInfo for LiveKernel {
    fn tracepoint_format(&self, category: &str, event: &str) -> Option<String> {
        LiveKernel::tracepoint_format(self, category, event)
    }
    fn tracepoints(&self) -> Vec<(String, String)> {
        LiveKernel::tracepoints(self)
    }
    fn has(&self, feature: Feature) -> bool {
        LiveKernel::has(self, feature)
    }
    fn kprobes_available(&self) -> bool {
        LiveKernel::kprobes_available(self)
    }
    fn kernel_functions(&self) -> Option<&[String]> {
        LiveKernel::kernel_functions(self)
    }
    fn btf(&self) -> Option<&Btf> {
        LiveKernel::btf(self)
    }
    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        LiveKernel::kernel_symbol(self, name)
    }
    fn kernel_symbols(&self, names: &[&str]) -> Vec<Option<u64>> {
        LiveKernel::kernel_symbols(self, names)
    }
    fn lists_data_symbols(&self) -> bool {
        LiveKernel::lists_data_symbols(self)
    }
    fn pid_namespace(&self) -> Option<PidNamespace> {
        LiveKernel::pid_namespace(self)
    }
    fn cgroup_id(&self, path: &str) -> Option<u64> {
        LiveKernel::cgroup_id(self, path)
    }
    fn uprobe_targets(&self, binary: &str, symbol: &str) -> Result<Vec<UprobeTarget>, String> {
        LiveKernel::uprobe_targets(self, binary, symbol)
    }
    fn user_symbol(&self, path: &str, name: &str) -> Result<(u64, bool), String> {
        LiveKernel::user_symbol(self, path, name)
    }
    fn binary_identity(&self, path: &str) -> Option<u64> {
        LiveKernel::binary_identity(self, path)
    }
    fn user_symbol_size(&self, path: &str, name: &str) -> Option<u64> {
        LiveKernel::user_symbol_size(self, path, name)
    }
    fn process_binaries(&self, pid: u32) -> Vec<String> {
        LiveKernel::process_binaries(self, pid)
    }
    fn usdt_probes(&self, binary: &str) -> Result<Vec<UsdtProbe>, String> {
        LiveKernel::usdt_probes(self, binary)
    }
    fn kernel_modules(&self) -> Option<Vec<String>> {
        // Those with BTF, and those /proc/modules lists (none when the kernel has no module
        // support: then it has none loaded).
        let btf = std::fs::read_dir("/sys/kernel/btf").ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != "vmlinux");
        let listed = std::fs::read_to_string("/proc/modules").unwrap_or_default();
        let mut names: Vec<String> = btf.chain(listed.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string)).collect();
        names.sort();
        names.dedup();
        Some(names)
    }
}
