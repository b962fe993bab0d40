//! What a kernel can do for rtrace, by name: the one list that `rtrace --info` prints, sema
//! consults (through `sema::KernelInfo::has`) before it accepts a construct, and the test
//! suites read (through `rtrace --info`) to skip what a machine cannot run. Pure: the
//! probing, which loads tiny programs and opens perf events, is `runtime/features.rs`.
//!
//! A feature is asked of the running kernel, never inferred from its version: kernels are
//! built with different options, and machines of one kind refuse different things (a
//! hypervisor that keeps the debug registers, a lockdown that refuses trampolines). The
//! version in `since` is only for messages: "needs bpf_loop (Linux 5.17)".

/// How `--info` groups the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Kernel,
    Probes,
    Maps,
    Helpers,
}

impl Section {
    pub const ALL: [Section; 4] = [Section::Kernel, Section::Probes, Section::Maps, Section::Helpers];

    pub fn title(self) -> &'static str {
        match self {
            Section::Kernel => "Kernel",
            Section::Probes => "Probe types",
            Section::Maps => "Map types and operations",
            Section::Helpers => "Helpers",
        }
    }
}

macro_rules! features {
    ($($variant:ident => $key:literal, $section:ident, $since:literal, $what:literal;)*) => {
        /// A kernel capability rtrace uses. `key` is its name in `--info` and in the test
        /// suites' `REQUIRES`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Feature {
            $($variant,)*
        }

        impl Feature {
            pub const ALL: &'static [Feature] = &[$(Feature::$variant,)*];

            /// The name `--info` prints and `REQUIRES` takes.
            pub fn key(self) -> &'static str {
                match self { $(Feature::$variant => $key,)* }
            }

            pub fn section(self) -> Section {
                match self { $(Feature::$variant => Section::$section,)* }
            }

            /// The first Linux release that has it (upstream; a build may lack it).
            pub fn since(self) -> &'static str {
                match self { $(Feature::$variant => $since,)* }
            }

            /// What it is, for messages: "the bpf_loop helper".
            pub fn what(self) -> &'static str {
                match self { $(Feature::$variant => $what,)* }
            }
        }
    };
}

features! {
    Btf => "btf", Kernel, "5.2", "the kernel's BTF (/sys/kernel/btf/vmlinux)";
    ModuleBtf => "module_btf", Kernel, "5.11", "BTF of kernel modules";
    KallsymsAll => "kallsyms_all", Kernel, "2.6", "kernel variables in /proc/kallsyms (CONFIG_KALLSYMS_ALL)";
    BtfPercpuVars => "btf_percpu_vars", Kernel, "5.9", "per-CPU variables in the kernel's BTF (pahole 1.18 or newer)";
    Tracefs => "tracefs", Kernel, "4.1", "tracepoint formats in tracefs";
    Tracepoints => "tracepoints", Probes, "4.7", "tracepoint programs";
    RawTracepoints => "raw_tracepoints", Probes, "4.17", "raw tracepoint programs";
    TestRun => "prog_test_run", Probes, "5.10", "running raw tracepoint programs once (BEGIN, END)";
    Kprobes => "kprobes", Probes, "4.1", "kprobes (CONFIG_KPROBES)";
    KprobeMulti => "kprobe_multi", Probes, "5.18", "kprobe_multi links (many functions in one attach)";
    KprobeSession => "kprobe_session", Probes, "6.10", "kprobe session links (one program on a function's entry and return)";
    Uprobes => "uprobes", Probes, "4.3", "uprobes";
    UprobeMulti => "uprobe_multi", Probes, "6.6", "uprobe_multi links";
    Trampolines => "trampolines", Probes, "5.5", "BPF trampolines (fentry, fexit)";
    BtfTracepoints => "btf_tracepoints", Probes, "5.5", "BTF-typed raw tracepoint programs (tp_btf)";
    Iterators => "iterators", Probes, "5.8", "BPF iterators (iter:task)";
    IterTaskVma => "iter_task_vma", Probes, "5.12", "the task_vma iterator (iter:task_vma)";
    SoftwareEvents => "software_events", Probes, "4.9", "perf software events (interval, profile, software)";
    HardwareEvents => "hardware_events", Probes, "4.9", "a hardware PMU (hardware probes)";
    UserBreakpoints => "user_breakpoints", Probes, "4.9", "hardware breakpoints on user addresses (watchpoint)";
    KernelBreakpoints => "kernel_breakpoints", Probes, "4.9", "hardware breakpoints on kernel addresses (watchpoint)";
    RingBuf => "ringbuf", Maps, "5.8", "BPF ring buffers";
    PercpuArray => "percpu_array", Maps, "4.6", "per-CPU arrays";
    PercpuHash => "percpu_hash", Maps, "4.6", "per-CPU hashes";
    LruHash => "lru_hash", Maps, "4.10", "LRU hashes";
    BigMapKeys => "big_map_keys", Maps, "5.11", "hash map keys over 512 bytes (strings of max_strlen 1024 as keys)";
    StackTrace => "stack_trace", Maps, "4.6", "stack trace maps (kstack, ustack)";
    PerfEventArray => "perf_event_array", Maps, "4.4", "perf event arrays (skboutput)";
    MapBatch => "map_batch", Maps, "5.6", "batched map reads";
    ProbeReadKernel => "probe_read_kernel", Helpers, "5.5", "the bpf_probe_read_kernel helper";
    Loop => "bpf_loop", Helpers, "5.17", "the bpf_loop helper";
    ForEachMapElem => "for_each_map_elem", Helpers, "5.13", "the bpf_for_each_map_elem helper";
    PercpuLookup => "map_lookup_percpu_elem", Helpers, "5.19", "the bpf_map_lookup_percpu_elem helper";
    NsPidTgid => "get_ns_current_pid_tgid", Helpers, "5.7", "the bpf_get_ns_current_pid_tgid helper";
    KtimeBoot => "ktime_get_boot_ns", Helpers, "5.8", "the bpf_ktime_get_boot_ns helper";
    KtimeTai => "ktime_get_tai_ns", Helpers, "6.1", "the bpf_ktime_get_tai_ns helper";
    FuncIp => "get_func_ip", Helpers, "5.15", "the bpf_get_func_ip helper";
    DPathIter => "d_path_iter", Helpers, "5.12", "the bpf_d_path helper in iterator programs";
    SocketCookieTracing => "socket_cookie_tracing", Helpers, "5.12", "the bpf_get_socket_cookie helper in fentry and iterator programs";
    SendSignal => "send_signal", Helpers, "5.3", "the bpf_send_signal helper";
    OverrideReturn => "override_return", Helpers, "4.16", "the bpf_override_return helper (CONFIG_BPF_KPROBE_OVERRIDE)";
    ProbeWriteUser => "probe_write_user", Helpers, "4.8", "the bpf_probe_write_user helper (which kernel lockdown removes)";
    TaskFromPid => "task_from_pid", Helpers, "6.2", "the bpf_task_from_pid kfunc (comm(pid))";
}

/// The names bpftrace's `--info` gives what rtrace also probes, for tools that read
/// bpftrace's lines (its runtime test suite among them): each is `yes` when every feature
/// listed is present.
pub const BPFTRACE_NAMES_TITLE: &str = "bpftrace's names for the above";

pub const BPFTRACE_NAMES: &[(&str, &[Feature])] = &[
    ("btf", &[Feature::Btf]),
    ("Loop support", &[Feature::Loop]),
    ("probe_read_kernel", &[Feature::ProbeReadKernel]),
    ("fentry", &[Feature::Trampolines]),
    ("dpath", &[Feature::DPathIter]),
    ("send_signal", &[Feature::SendSignal]),
    ("iter", &[Feature::Iterators]),
    ("kprobe_multi", &[Feature::KprobeMulti]),
    ("kprobe_session", &[Feature::KprobeSession]),
    ("uprobe_multi", &[Feature::UprobeMulti]),
    ("skboutput", &[Feature::Trampolines, Feature::PerfEventArray]),
    ("get_func_ip", &[Feature::FuncIp]),
    ("lookup_percpu_elem", &[Feature::PercpuLookup]),
];

impl Feature {
    pub fn from_key(key: &str) -> Option<Feature> {
        Feature::ALL.iter().copied().find(|f| f.key() == key)
    }
}

/// What the kernel answered for a feature: whether it has it, and if not, why not in a few
/// words ("EPERM", "no kprobe PMU").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub present: bool,
    pub detail: String,
}

impl Answer {
    /// `--info`'s form: `yes`, or `no (why)`.
    pub fn show(&self) -> String {
        match (self.present, self.detail.is_empty()) {
            (true, _) => "yes".to_string(),
            (false, true) => "no".to_string(),
            (false, false) => format!("no ({})", self.detail),
        }
    }
}

/// Reads `--info`'s feature lines back (`  key: yes`, `  key: no (why)`): what the test
/// suites do instead of probing the kernel themselves.
pub fn parse_info(text: &str) -> Vec<(Feature, Answer)> {
    text.lines()
        .take_while(|l| !l.starts_with(BPFTRACE_NAMES_TITLE))
        .filter_map(|l| {
            let (key, value) = l.trim().split_once(": ")?;
            let feature = Feature::from_key(key)?;
            let present = value == "yes";
            let detail = value.strip_prefix("no (").and_then(|v| v.strip_suffix(')')).unwrap_or_default().to_string();
            Some((feature, Answer { present, detail }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_round_trip() {
        for f in Feature::ALL {
            assert_eq!(Feature::from_key(f.key()), Some(*f));
        }
    }

    #[test]
    fn info_lines_parse_back() {
        let text = "Probe types\n  kprobes: no (no kprobe PMU)\n  uprobes: yes\n  other: yes\n";
        let got = parse_info(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (Feature::Kprobes, Answer { present: false, detail: "no kprobe PMU".into() }));
        assert!(got[1].1.present);
    }
}
