//! The one reader of the system rtrace runs on: tracefs (mounted when missing, root only),
//! the kernel's BTF (read on first use: most scripts need no C types), kallsyms, and the
//! binaries uprobes name; or, for `--btf`/`--tracefs`, another machine's kernel described by
//! files. The runtime reads it directly (attach, `facts::settle`); the compiler asks it through
//! `sema::KernelInfo` (`src/kernel_info.rs`).

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;

use crate::btf::Btf;

/// Where the running kernel describes its types.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

pub struct LiveKernel {
    /// The tracefs mount.
    root: PathBuf,
    btf: OnceCell<Option<Btf>>,
    /// Read on first use, once per run: many attach points or `kaddr()`s share them.
    kallsyms: OnceCell<String>,
    functions: OnceCell<Option<Vec<String>>>,
    /// rtrace's pid namespace, looked up once for every `pid` of the script.
    pid_namespace: OnceCell<Option<crate::system::PidNamespace>>,
    /// What the kernel answered for each feature asked so far (`runtime/features.rs`).
    features: RefCell<HashMap<crate::features::Feature, bool>>,
    /// Where the BTF is read from: the running kernel's, or none for a tracefs fixture.
    btf_path: Option<PathBuf>,
    /// `--dry-run`: check kprobe scripts as if the kernel had kprobes (they may be meant for
    /// another machine); their functions are still checked against this kernel's list.
    assume_kprobes: bool,
    /// Another machine's kernel, described by files (`--btf`, `--tracefs`): nothing is asked
    /// of the running one (features are taken as present, the running kernel checks them
    /// when the compiled script is run there; there are no kernel symbols).
    offline: bool,
}

impl LiveKernel {
    /// The tracefs at `/sys/kernel/tracing` (or the legacy debugfs path), mounting it if needed.
    pub fn open() -> LiveKernel {
        let modern = PathBuf::from("/sys/kernel/tracing");
        if !modern.join("events").exists() && std::fs::metadata("/sys/kernel/debug/tracing/events").is_ok() {
            return LiveKernel { btf_path: Some(PathBuf::from(VMLINUX_BTF)), ..LiveKernel::at("/sys/kernel/debug/tracing") };
        }
        // Only root can mount it; anyone else is told what is missing (runtime/privileges.rs).
        // SAFETY: geteuid has no preconditions.
        if !modern.join("events").exists() && unsafe { libc::geteuid() } == 0 {
            let _ = std::process::Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]).status();
        }
        LiveKernel { btf_path: Some(PathBuf::from(VMLINUX_BTF)), ..LiveKernel::at(modern) }
    }

    /// The tracefs at `root` (a fixture in tests), without BTF.
    pub fn at(root: impl Into<PathBuf>) -> LiveKernel {
        LiveKernel {
            root: root.into(),
            btf: OnceCell::new(),
            kallsyms: OnceCell::new(),
            functions: OnceCell::new(),
            pid_namespace: OnceCell::new(),
            features: RefCell::new(HashMap::new()),
            btf_path: None,
            assume_kprobes: false,
            offline: false,
        }
    }

    /// Another machine's kernel: its tracefs (a copy of its `events/` directory, or a
    /// tracefs root holding one) and its vmlinux BTF, either of which may be missing.
    pub fn described(tracefs: Option<PathBuf>, btf: Option<PathBuf>) -> LiveKernel {
        let root = match tracefs {
            Some(dir) if dir.join("events").is_dir() => dir,
            // The events directory itself: its parent is the root LiveKernel expects, unless
            // it is named otherwise, which a symbolic link would fix; take the parent.
            Some(dir) if dir.file_name().is_some_and(|n| n == "events") => dir.parent().map_or(dir.clone(), PathBuf::from),
            Some(dir) => dir,
            None => PathBuf::from("/nonexistent-tracefs"),
        };
        let kernel = LiveKernel { btf_path: btf, offline: true, assume_kprobes: true, ..LiveKernel::at(root) };
        let _ = kernel.kallsyms.set(String::new());
        let _ = kernel.pid_namespace.set(None);
        kernel
    }

    /// What the compiled program says it was compiled against: this kernel's release, or
    /// the BTF file given for another's.
    pub fn description(&self) -> String {
        match (&self.btf_path, self.offline) {
            (Some(p), true) => format!("--btf {}", p.display()),
            (None, true) => "--tracefs only (no BTF)".into(),
            _ => std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|r| r.trim().to_string()).unwrap_or_else(|_| "unknown".into()),
        }
    }

    /// The same kernel, with kprobes taken as available: see `assume_kprobes`.
    pub fn assuming_kprobes(self) -> LiveKernel {
        LiveKernel { assume_kprobes: true, ..self }
    }

    /// The perf event id of a tracepoint (`events/CATEGORY/EVENT/id`).
    pub fn event_id(&self, category: &str, event: &str) -> std::io::Result<u64> {
        let path = self.root.join("events").join(category).join(event).join("id");
        let text = std::fs::read_to_string(&path)?;
        text.trim().parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} holds {text:?}", path.display())))
    }
}

impl LiveKernel {
    /// /proc/kallsyms, read once per run ("" where unreadable).
    fn kallsyms(&self) -> &str {
        self.kallsyms.get_or_init(|| std::fs::read_to_string("/proc/kallsyms").unwrap_or_default())
    }

    fn read_kernel_functions(&self) -> Option<Vec<String>> {
        // "name" or "name [module]", one per line.
        if let Some(text) = std::fs::read_to_string(self.root.join("available_filter_functions")).ok().filter(|t| !t.is_empty()) {
            return Some(text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect());
        }
        // Without ftrace's list (a kernel without kprobes or ftrace), the text symbols of
        // kallsyms: "ffffffff81000000 T name [module]".
        let text = Some(self.kallsyms()).filter(|t| !t.is_empty())?;
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
                matches!(kind, "t" | "T").then(|| name.to_string())
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        Some(names)
    }
}

/// What sema asks of a kernel (`sema::KernelInfo`, implemented over these in
/// `src/kernel_info.rs`), and what the runtime itself reads: the same facts, one reader.
impl LiveKernel {
    pub fn tracepoint_format(&self, category: &str, event: &str) -> Option<String> {
        if [category, event].iter().any(|s| s.contains(['/', '.'])) {
            return None;
        }
        std::fs::read_to_string(self.root.join("events").join(category).join(event).join("format")).ok()
    }

    pub fn btf(&self) -> Option<&Btf> {
        self.btf.get_or_init(|| std::fs::read(self.btf_path.as_ref()?).ok().and_then(|data| Btf::parse(data).ok())).as_ref()
    }

    pub fn kernel_symbol(&self, name: &str) -> Option<u64> {
        self.kernel_symbols(&[name]).pop().flatten()
    }

    /// One pass over kallsyms for all of `names`; the first address of each name, as the
    /// kernel's own lookup by name finds it.
    pub fn kernel_symbols(&self, names: &[&str]) -> Vec<Option<u64>> {
        let mut found: HashMap<&str, Option<u64>> = names.iter().map(|n| (*n, None)).collect();
        let mut missing = found.len();
        // "ffffffff81000000 T _stext", maybe with " [module]".
        for l in self.kallsyms().lines() {
            if missing == 0 {
                break;
            }
            let mut parts = l.split_whitespace();
            let (Some(addr), Some(_), Some(sym)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if let Some(slot @ None) = found.get_mut(sym) {
                *slot = u64::from_str_radix(addr, 16).ok();
                missing -= 1;
            }
        }
        names.iter().map(|n| found.get(n).copied().flatten()).collect()
    }

    pub fn lists_data_symbols(&self) -> bool {
        // Without CONFIG_KALLSYMS_ALL only functions and a few section markers are listed:
        // no local data (`d`) or bss (`b`) symbol at all.
        self.kallsyms().lines().any(|l| matches!(l.split_whitespace().nth(1), Some("d" | "b")))
    }

    pub fn pid_namespace(&self) -> Option<crate::system::PidNamespace> {
        use std::os::unix::fs::MetadataExt;
        // PROC_PID_INIT_INO: the initial pid namespace's fixed inode number.
        const INIT_INO: u64 = 0xEFFF_FFFC;
        *self.pid_namespace.get_or_init(|| {
            let m = std::fs::metadata("/proc/self/ns/pid").ok()?;
            // stat's st_dev is the userspace encoding; the helper compares the kernel's dev_t.
            let dev = (u64::from(libc::major(m.dev())) << 20) | u64::from(libc::minor(m.dev()));
            Some(crate::system::PidNamespace { dev, ino: m.ino(), init: m.ino() == INIT_INO })
        })
    }

    pub fn cgroup_id(&self, path: &str) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().filter(|m| m.is_dir()).map(|m| m.ino())
    }

    pub fn has(&self, feature: crate::features::Feature) -> bool {
        if self.offline {
            return true;
        }
        *self.features.borrow_mut().entry(feature).or_insert_with(|| super::features::probe(self, feature).present)
    }

    pub fn kprobes_available(&self) -> bool {
        self.assume_kprobes || std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
    }

    pub fn kernel_functions(&self) -> Option<&[String]> {
        self.functions.get_or_init(|| self.read_kernel_functions()).as_deref()
    }

    pub fn uprobe_targets(&self, binary: &str, symbol: &str) -> Result<Vec<crate::system::UprobeTarget>, String> {
        super::uprobe_target::resolve(binary, symbol)
    }

    pub fn user_symbol(&self, path: &str, name: &str) -> Result<(u64, bool), String> {
        super::uprobe_target::symbol(path, name)
    }

    /// Which build of a binary the file at `path` is (`uprobe_target::identity`).
    pub fn binary_identity(&self, path: &str) -> Option<u64> {
        super::uprobe_target::identity(path).ok()
    }

    pub fn user_symbol_size(&self, path: &str, name: &str) -> Option<u64> {
        super::uprobe_target::symbol_size(path, name)
    }

    pub fn process_binaries(&self, pid: u32) -> Vec<String> {
        super::process_maps::binaries(pid)
    }

    pub fn usdt_probes(&self, binary: &str) -> Result<Vec<crate::system::UsdtProbe>, String> {
        super::usdt::probes(binary)
    }

    pub fn tracepoints(&self) -> Vec<(String, String)> {
        if let Ok(list) = std::fs::read_to_string(self.root.join("available_events")) {
            return list.lines().filter_map(|l| l.split_once(':')).map(|(c, e)| (c.to_string(), e.to_string())).collect();
        }
        // A copy of `events/` has no list: its directories are the list.
        let dirs = |p: &std::path::Path| -> Vec<String> {
            std::fs::read_dir(p).map(|d| d.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
        };
        let events = self.root.join("events");
        let mut out: Vec<(String, String)> =
            dirs(&events).into_iter().flat_map(|c| dirs(&events.join(&c)).into_iter().map(move |e| (c.clone(), e))).collect();
        out.sort();
        out
    }
}
