//! `sema::KernelInfo` over the live system: tracefs (mounted when missing, root only) and the
//! binaries uprobes name.

use std::path::PathBuf;

use crate::sema::KernelInfo;

pub struct TraceFs {
    root: PathBuf,
}

impl TraceFs {
    /// The tracefs at `/sys/kernel/tracing` (or the legacy debugfs path), mounting it if needed.
    pub fn open() -> TraceFs {
        let modern = PathBuf::from("/sys/kernel/tracing");
        if !modern.join("events").exists() && std::fs::metadata("/sys/kernel/debug/tracing/events").is_ok() {
            return TraceFs { root: PathBuf::from("/sys/kernel/debug/tracing") };
        }
        if !modern.join("events").exists() {
            let _ = std::process::Command::new("mount").args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"]).status();
        }
        TraceFs { root: modern }
    }

    pub fn at(root: impl Into<PathBuf>) -> TraceFs {
        TraceFs { root: root.into() }
    }

    /// The perf event id of a tracepoint (`events/CATEGORY/EVENT/id`).
    pub fn event_id(&self, category: &str, event: &str) -> std::io::Result<u64> {
        let path = self.root.join("events").join(category).join(event).join("id");
        let text = std::fs::read_to_string(&path)?;
        text.trim().parse().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{} holds {text:?}", path.display())))
    }
}

impl KernelInfo for TraceFs {
    fn tracepoint_format(&self, category: &str, event: &str) -> Option<String> {
        if [category, event].iter().any(|s| s.contains(['/', '.'])) {
            return None;
        }
        std::fs::read_to_string(self.root.join("events").join(category).join(event).join("format")).ok()
    }

    fn kprobes_available(&self) -> bool {
        std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
    }

    fn kernel_functions(&self) -> Option<Vec<String>> {
        // "name" or "name [module]", one per line.
        let text = std::fs::read_to_string(self.root.join("available_filter_functions")).ok().filter(|t| !t.is_empty())?;
        Some(text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
    }

    fn uprobe_target(&self, binary: &str, symbol: &str) -> Result<(String, u64), String> {
        super::uprobe_target::resolve(binary, symbol)
    }

    fn tracepoints(&self) -> Vec<(String, String)> {
        let list = std::fs::read_to_string(self.root.join("available_events")).unwrap_or_default();
        list.lines().filter_map(|l| l.split_once(':')).map(|(c, e)| (c.to_string(), e.to_string())).collect()
    }
}
