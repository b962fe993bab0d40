//! The config block (`config = { max_strlen = 128; stack_mode = perf }`) and the
//! `BPFTRACE_*` environment variables for the same settings. The environment wins: it is how
//! a user overrides a script's defaults without editing it. A key may be written as bpftrace
//! allows: `stack_mode`, `STACK_MODE` or `BPFTRACE_STACK_MODE`; the names bpftrace renamed
//! (`strlen`, `map_keys_max`...) still work.

use crate::diagnostics::did_you_mean;
use crate::parser::ast::{ConfigItem, ConfigValue};
use crate::sema::error::SemaError;
use crate::sema::hir::{Config, MissingProbes, Unstable, MAX_PERF_RB_PAGES, MAX_STR_LEN};
use crate::artifact::types::StackMode;
use crate::sema::EnvConfig;

/// Every setting of current bpftrace. Those after `ACCEPTED` are checked and have no effect
/// in rtrace, each for its reason:
/// - `on_stack_limit`, `log_size`: rtrace places large values in scratch maps and sizes the
///   verifier's log by its own rules (see ARCHITECTURE.md);
/// - `cache_user_symbols`, `lazy_symbolication`, `use_blazesym`: rtrace always symbolizes
///   with blazesym, lazily, per process;
/// - `max_bpf_progs`, `max_probes`: rtrace attaches wildcards with multi-attach links and
///   reports what cannot attach, so it needs no cap;
/// - `cpp_demangle`: stack frames are always demangled;
/// - the `unstable_*` feature flags: what they guard is either supported or refused by sema.
pub const KEYS: &[&str] = &[
    "max_strlen",
    "stack_mode",
    "max_map_keys",
    "perf_rb_pages",
    "missing_probes",
    "print_maps_on_exit",
    "license",
    "max_cat_bytes",
    "str_trunc_trailer",
    // ACCEPTED
    "on_stack_limit",
    "log_size",
    "cache_user_symbols",
    "lazy_symbolication",
    "use_blazesym",
    "max_bpf_progs",
    "max_probes",
    "show_debug_info",
    "cpp_demangle",
    "unstable_import_statement",
    "unstable_tseries",
    "unstable_typeinfo",
    "unstable_dw_ustack",
];

/// Names bpftrace renamed, and their current ones.
const RENAMED: &[(&str, &str)] =
    &[("strlen", "max_strlen"), ("no_cpp_demangle", "cpp_demangle"), ("cat_bytes_max", "max_cat_bytes"), ("map_keys_max", "max_map_keys")];

/// The licenses the kernel counts as GPL-compatible, which bpftrace accepts.
const LICENSES: &[&str] = &["GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"];

/// The setting a key names (`BPFTRACE_MAX_STRLEN`, `MAX_STRLEN`, `strlen`: `max_strlen`), if
/// it is one.
pub fn canonical_key(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    let bare = lower.strip_prefix("bpftrace_").unwrap_or(&lower);
    let bare = RENAMED.iter().find(|(old, _)| *old == bare).map_or(bare, |(_, new)| new);
    KEYS.iter().copied().find(|k| *k == bare)
}

/// Whether the script's config block or the environment sets `max_strlen`.
pub(super) fn sets_max_strlen(items: &[ConfigItem], env: &EnvConfig) -> bool {
    items.iter().any(|i| canonical_key(&i.key) == Some("max_strlen")) || env.items.iter().any(|i| canonical_key(&i.var) == Some("max_strlen"))
}

pub(super) fn settle(items: &[ConfigItem], env: &EnvConfig) -> Result<Config, Vec<SemaError>> {
    let mut config = Config::default();
    let mut errors = Vec::new();
    for item in items {
        if let Err(message) = apply(&mut config, &item.key, &item.value) {
            errors.push(SemaError::BadConfig { span: item.span, message });
        }
    }
    for item in &env.items {
        if let Err(message) = apply(&mut config, &item.var, &item.value) {
            errors.push(SemaError::BadEnvConfig { var: item.var.clone(), value: item.text.clone(), message });
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn apply(config: &mut Config, key: &str, value: &ConfigValue) -> Result<(), String> {
    let Some(name) = canonical_key(key) else {
        let candidates = did_you_mean(&key.to_ascii_lowercase(), KEYS.iter().copied());
        let hint = if candidates.is_empty() { format!("rtrace knows {}", KEYS.join(", ")) } else { format!("did you mean `{}`?", candidates.join("` or `")) };
        return Err(format!("unknown config setting `{key}`: {hint}"));
    };
    let bad = |want: &str| format!("`{key}` takes {want}");
    let int = |min: u64, max: u64, want: &str| match value {
        ConfigValue::Int(n) if (min..=max).contains(n) => Ok(*n),
        _ => Err(bad(want)),
    };
    let word = || match value {
        ConfigValue::Word(w) => Some(w.as_str()),
        ConfigValue::Int(_) => None,
    };
    let flag = || match value {
        ConfigValue::Int(n @ (0 | 1)) => Ok(*n == 1),
        ConfigValue::Word(w) if w.eq_ignore_ascii_case("true") => Ok(true),
        ConfigValue::Word(w) if w.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(bad("`true` or `false` (or 1 or 0)")),
    };
    let one_of = |values: &[&str], want: &str| word().filter(|w| values.iter().any(|v| v.eq_ignore_ascii_case(w))).map(|_| ()).ok_or_else(|| bad(want));
    match name {
        "max_strlen" => config.max_strlen = int(1, MAX_STR_LEN as u64, &format!("a number of bytes from 1 to {MAX_STR_LEN}"))? as usize,
        "stack_mode" => {
            config.stack_mode = word().and_then(StackMode::parse).ok_or_else(|| bad("`bpftrace`, `perf`, `raw` or `build_id`"))?
        }
        "max_map_keys" => config.max_map_keys = Some(int(1, u64::from(u32::MAX), "a positive number of keys")? as u32),
        "perf_rb_pages" => {
            config.perf_rb_pages = int(1, MAX_PERF_RB_PAGES as u64, &format!("a number of pages per CPU from 1 to {MAX_PERF_RB_PAGES}"))? as usize
        }
        "missing_probes" => config.missing_probes = word().and_then(MissingProbes::parse).ok_or_else(|| bad(MissingProbes::VALUES))?,
        "print_maps_on_exit" => config.print_maps_on_exit = flag()?,
        "license" => match word().and_then(|w| LICENSES.iter().find(|l| **l == w)) {
            Some(l) => config.license = (*l).to_string(),
            None => return Err(bad(&format!("a GPL-compatible license: {}", LICENSES.join(", ")))),
        },
        "max_cat_bytes" => config.max_cat_bytes = int(1, u64::MAX, "a positive number of bytes")?,
        "on_stack_limit" | "log_size" | "max_bpf_progs" | "max_probes" => {
            int(0, u64::MAX, "a number")?;
        }
        "show_debug_info" => config.show_debug_info = flag()?,
        "lazy_symbolication" | "use_blazesym" | "cpp_demangle" => {
            flag()?;
        }
        "cache_user_symbols" => one_of(&["PER_PROGRAM", "PER_PID", "NONE"], "`PER_PROGRAM`, `PER_PID` or `NONE`")?,
        "str_trunc_trailer" => config.str_trunc_trailer = word().ok_or_else(|| bad("a string"))?.to_string(),
        "unstable_tseries" => config.unstable_tseries = word().and_then(Unstable::parse).ok_or_else(|| bad("`error`, `warn` or `enable`"))?,
        _ => one_of(&["error", "warn", "enable"], "`error`, `warn` or `enable`")?,
    }
    Ok(())
}
