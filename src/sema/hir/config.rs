//! The settings a script makes (its `config` block, `BPFTRACE_*` variables) that reach codegen
//! and the runtime, with their defaults.

use super::MissingProbes;

/// `max_strlen` unless the script sets it: bpftrace's since 0.23.
pub const DEFAULT_MAX_STRLEN: usize = 1024;
/// `max_strlen` unless the script sets it on a kernel that takes no map key over 512 bytes
/// (before Linux 5.11): bpftrace 0.17's.
pub const LEGACY_MAX_STRLEN: usize = 64;

/// The settings of bpftrace's config block and `BPFTRACE_*` variables that rtrace uses
/// (`sema::check::config` lists the ones it accepts without a use, and why).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Bytes of `str()` buffers (with the NUL).
    pub max_strlen: usize,
    /// How `kstack`/`ustack` print without a mode.
    pub stack_mode: crate::artifact::types::StackMode,
    /// Entries of keyed maps; None: codegen's default.
    pub max_map_keys: Option<u32>,
    /// Data pages of each CPU's perf buffer (`skboutput` packets).
    pub perf_rb_pages: usize,
    /// What an attach point that does not exist or cannot be attached does.
    pub missing_probes: MissingProbes,
    /// Whether the maps are printed when the trace ends.
    pub print_maps_on_exit: bool,
    /// The license string the BPF object declares (GPL-compatible ones only).
    pub license: String,
    /// The most bytes `cat` prints of a file.
    pub max_cat_bytes: u64,
    /// What follows a string printed whole from a buffer it filled (so it may have been
    /// cut short): `..` by default.
    pub str_trunc_trailer: String,
    /// Whether user stack frames show their source file and line, and the functions inlined
    /// at them (from the binary's DWARF), as bpftrace does by default.
    pub show_debug_info: bool,
    /// `unstable_tseries`: whether `tseries` is refused, warned about (bpftrace's default) or
    /// used silently.
    pub unstable_tseries: Unstable,
}

/// The value of one of bpftrace's `unstable_*` feature flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unstable {
    Error,
    #[default]
    Warn,
    Enable,
}

impl Unstable {
    pub fn parse(s: &str) -> Option<Unstable> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Unstable::Error),
            "warn" => Some(Unstable::Warn),
            "enable" => Some(Unstable::Enable),
            _ => None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_strlen: DEFAULT_MAX_STRLEN,
            stack_mode: crate::artifact::types::StackMode::Bpftrace,
            max_map_keys: None,
            perf_rb_pages: PERF_RB_PAGES,
            missing_probes: MissingProbes::Error,
            print_maps_on_exit: true,
            license: "GPL".into(),
            max_cat_bytes: 10_240,
            str_trunc_trailer: "..".into(),
            show_debug_info: true,
            unstable_tseries: Unstable::Warn,
        }
    }
}

/// The most bytes of one packet `skboutput` captures: a perf sample (its size is a u16) holds
/// the packet, rtrace's 24-byte header and the sample's own 12 bytes.
pub const MAX_PACKET: u64 = 65_496;

/// bpftrace's default perf buffer size: 64 pages (256 KiB) per CPU.
pub const PERF_RB_PAGES: usize = 64;
/// The largest `perf_rb_pages`: 64 MiB per CPU.
pub const MAX_PERF_RB_PAGES: usize = 16384;
