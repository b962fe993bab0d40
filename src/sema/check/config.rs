//! The config block (`config = { max_strlen = 128; stack_mode = perf }`) and the
//! `BPFTRACE_*` environment variables for the same settings. The environment wins: it is how
//! a user overrides a script's defaults without editing it.

use crate::diagnostics::did_you_mean;
use crate::parser::ast::{ConfigItem, ConfigValue};
use crate::parser::Span;
use crate::sema::error::SemaError;
use crate::sema::hir::{Config, MissingProbes, MAX_PERF_RB_PAGES, MAX_STR_LEN};
use crate::sema::types::StackMode;
use crate::sema::EnvConfig;

const KEYS: &[&str] = &["max_strlen", "stack_mode", "max_map_keys", "perf_rb_pages", "missing_probes"];

pub(super) fn settle(items: &[ConfigItem], env: &EnvConfig) -> Result<Config, Vec<SemaError>> {
    let mut config = Config::default();
    let mut errors = Vec::new();
    for item in items {
        if let Err(e) = apply(&mut config, &item.key, &item.value, item.span) {
            errors.push(e);
        }
    }
    config.max_strlen = env.max_strlen.unwrap_or(config.max_strlen);
    config.stack_mode = env.stack_mode.unwrap_or(config.stack_mode);
    config.max_map_keys = env.max_map_keys.or(config.max_map_keys);
    config.perf_rb_pages = env.perf_rb_pages.unwrap_or(config.perf_rb_pages);
    config.missing_probes = env.missing_probes.unwrap_or(config.missing_probes);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn apply(config: &mut Config, key: &str, value: &ConfigValue, span: Span) -> Result<(), SemaError> {
    let bad = |want: &str| SemaError::BadConfig { span, message: format!("`{key}` takes {want}") };
    match (key, value) {
        ("max_strlen", ConfigValue::Int(n)) if (1..=MAX_STR_LEN as u64).contains(n) => config.max_strlen = *n as usize,
        ("max_strlen", _) => return Err(bad(&format!("a number of bytes from 1 to {MAX_STR_LEN}"))),
        ("stack_mode", ConfigValue::Word(w)) => {
            config.stack_mode = match w.as_str() {
                "bpftrace" => StackMode::Bpftrace,
                "perf" => StackMode::Perf,
                "raw" => StackMode::Raw,
                _ => return Err(bad("`bpftrace`, `perf` or `raw`")),
            }
        }
        ("stack_mode", _) => return Err(bad("`bpftrace`, `perf` or `raw`")),
        ("max_map_keys", ConfigValue::Int(n)) if (1..=u64::from(u32::MAX)).contains(n) => config.max_map_keys = Some(*n as u32),
        ("max_map_keys", _) => return Err(bad("a positive number of keys")),
        ("perf_rb_pages", ConfigValue::Int(n)) if (1..=MAX_PERF_RB_PAGES as u64).contains(n) => config.perf_rb_pages = *n as usize,
        ("perf_rb_pages", _) => return Err(bad(&format!("a number of pages per CPU from 1 to {MAX_PERF_RB_PAGES}"))),
        ("missing_probes", ConfigValue::Word(w)) if MissingProbes::parse(w).is_some() => config.missing_probes = MissingProbes::parse(w).unwrap_or_default(),
        ("missing_probes", _) => return Err(bad(MissingProbes::VALUES)),
        _ => {
            let candidates = did_you_mean(key, KEYS.iter().copied());
            let hint =
                if candidates.is_empty() { format!("rtrace knows {}", KEYS.join(", ")) } else { format!("did you mean `{}`?", candidates.join("` or `")) };
            return Err(SemaError::BadConfig { span, message: format!("unknown config setting `{key}`: {hint}") });
        }
    }
    Ok(())
}
