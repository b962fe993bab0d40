//! Map printing in bpftrace's text format. Pure: takes the raw key/value bytes read from the
//! kernel (all CPUs' values for per-CPU maps) and the map's metadata, returns text. The
//! format rules are written down in tests/e2e/NOTES-bpftrace-output.md.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::printf::c_str;
use crate::codegen::artifact::MapMeta;
use crate::codegen::maps::{key_offsets, slot_size};
use crate::sema::hir::MapValue;
use crate::sema::Type;

/// One map entry as read from the kernel.
pub struct RawEntry {
    pub key: Vec<u8>,
    /// One value, or `ncpus` values of `layout.value_size` (8-aligned) for per-CPU maps.
    pub value: Vec<u8>,
}

/// A value folded across CPUs.
enum Folded {
    Int(i128),
    Str(String),
    /// count, total
    Avg(i64, i64),
    Stats(i64, i64),
    Hist(BTreeMap<u64, u64>),
}

/// The little-endian u64 at `at`, 0 past the end.
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// Renders a map; empty maps render as nothing.
pub fn render(meta: &MapMeta, raw: &[RawEntry]) -> String {
    let user_key_len: usize = meta.keys.iter().map(|k| slot_size(*k)).sum();
    let stride = meta.layout.value_size.div_ceil(8) * 8;
    let cpus = |v: &[u8]| -> Vec<Vec<u8>> {
        if meta.layout.percpu {
            v.chunks(stride).map(|c| c.to_vec()).collect()
        } else {
            vec![v.to_vec()]
        }
    };

    // Fold CPUs, and group hist buckets under their user key.
    let mut folded: BTreeMap<Vec<u8>, Folded> = BTreeMap::new();
    for e in raw {
        let per_cpu = cpus(&e.value);
        match meta.value {
            MapValue::Hist | MapValue::Lhist { .. } => {
                let user = e.key[..user_key_len.min(e.key.len())].to_vec();
                let bucket = u64_at(&e.key, user_key_len);
                let n: u64 = per_cpu.iter().map(|c| u64_at(c, 0)).fold(0, u64::wrapping_add);
                if let Folded::Hist(h) = folded.entry(user).or_insert_with(|| Folded::Hist(BTreeMap::new())) {
                    *h.entry(bucket).or_default() += n;
                }
            }
            _ => {
                let v = fold(meta.value, &per_cpu);
                if let Some(v) = v {
                    folded.insert(e.key.clone(), v);
                }
            }
        }
    }
    if folded.is_empty() {
        return String::new();
    }

    // Ascending by value; ties by key bytes (BTreeMap order, kept by the stable sort).
    let mut entries: Vec<(Vec<u8>, Folded)> = folded.into_iter().collect();
    entries.sort_by_key(|(_, v)| match v {
        Folded::Int(n) => *n,
        Folded::Str(_) => 0,
        Folded::Avg(c, t) | Folded::Stats(c, t) => i128::from(if *c == 0 { 0 } else { t / c }),
        Folded::Hist(h) => h.values().map(|n| i128::from(*n)).sum(),
    });

    let mut out = String::new();
    for (key, value) in &entries {
        let name = format!("@{}{}", meta.name, format_key(&meta.keys, key));
        match value {
            Folded::Int(n) => {
                let _ = writeln!(out, "{name}: {n}");
            }
            Folded::Str(s) => {
                let _ = writeln!(out, "{name}: {s}");
            }
            Folded::Avg(c, t) => {
                let _ = writeln!(out, "{name}: {}", if *c == 0 { 0 } else { t / c });
            }
            Folded::Stats(c, t) => {
                let avg = if *c == 0 { 0 } else { t / c };
                let _ = writeln!(out, "{name}: count {c}, average {avg}, total {t}");
            }
            Folded::Hist(h) => {
                let _ = writeln!(out, "{name}:");
                out.push_str(&render_hist(meta.value, h));
                out.push('\n');
            }
        }
    }
    out
}

fn fold(kind: MapValue, cpus: &[Vec<u8>]) -> Option<Folded> {
    let sum = |off: usize| cpus.iter().map(|c| u64_at(c, off)).fold(0u64, u64::wrapping_add);
    Some(match kind {
        MapValue::Scalar(Type::Str(_)) => Folded::Str(c_str(cpus.first()?)),
        MapValue::Scalar(Type::Int { signed: false, .. }) | MapValue::Count | MapValue::Sum { signed: false } => {
            Folded::Int(i128::from(sum(0)))
        }
        MapValue::Scalar(_) | MapValue::Sum { signed: true } => Folded::Int(i128::from(sum(0) as i64)),
        MapValue::Avg => Folded::Avg(sum(0) as i64, sum(8) as i64),
        MapValue::Stats => Folded::Stats(sum(0) as i64, sum(8) as i64),
        MapValue::Min | MapValue::Max => {
            let set = cpus.iter().filter(|c| u64_at(c, 8) != 0).map(|c| u64_at(c, 0) as i64);
            let v = if kind == MapValue::Min { set.min() } else { set.max() };
            // No CPU has a value only after zero(), which bpftrace prints as 0.
            Folded::Int(i128::from(v.unwrap_or(0)))
        }
        MapValue::Hist | MapValue::Lhist { .. } => return None,
    })
}

/// `""`, `[k]` or `[k1, k2]`.
pub fn format_key(types: &[Type], key: &[u8]) -> String {
    if types.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = types
        .iter()
        .zip(key_offsets(types))
        .map(|(t, off)| match t {
            Type::Str(n) => c_str(key.get(off..off + n).unwrap_or_default()),
            Type::Int { signed: true, .. } => (u64_at(key, off) as i64).to_string(),
            _ => u64_at(key, off).to_string(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

const BAR_WIDTH: u64 = 52;

fn render_hist(kind: MapValue, buckets: &BTreeMap<u64, u64>) -> String {
    let mut out = String::new();
    let nonzero: Vec<u64> = buckets.iter().filter(|(_, n)| **n > 0).map(|(b, _)| *b).collect();
    let (Some(&first), Some(&last)) = (nonzero.first(), nonzero.last()) else {
        return out;
    };
    let max = buckets.values().copied().max().unwrap_or(1).max(1);
    for i in first..=last {
        let n = buckets.get(&i).copied().unwrap_or(0);
        let label = match kind {
            MapValue::Lhist { min, max: hi, step } => lhist_label(i, min, hi, step),
            _ => hist_label(i),
        };
        let bar = "@".repeat((n as u128 * BAR_WIDTH as u128 / max as u128) as usize);
        let _ = writeln!(out, "{label:<16}{n:>8} |{bar:<52}|");
    }
    out
}

fn hist_label(i: u64) -> String {
    match i {
        0 => "(..., 0)".into(),
        1 => "[0]".into(),
        2 => "[1]".into(),
        _ => format!("[{}, {})", pow2_label(i - 2), pow2_label(i - 1)),
    }
}

fn pow2_label(power: u64) -> String {
    let (p, suffix) = match power {
        50.. => (power - 50, "P"),
        40.. => (power - 40, "T"),
        30.. => (power - 30, "G"),
        20.. => (power - 20, "M"),
        10.. => (power - 10, "K"),
        _ => (power, ""),
    };
    format!("{}{suffix}", 1u64 << p.min(63))
}

fn lhist_label(i: u64, min: i64, max: i64, step: i64) -> String {
    let buckets = ((max - min) / step) as u64;
    if i == 0 {
        format!("(..., {})", scaled(min))
    } else if i > buckets {
        format!("[{}, ...)", scaled(max))
    } else {
        let lo = min + (i as i64 - 1) * step;
        format!("[{}, {})", scaled(lo), scaled(lo + step))
    }
}

/// lhist bucket bounds: `M` when divisible by 2^20, `K` by 2^10, else plain.
fn scaled(n: i64) -> String {
    if n == 0 {
        "0".into()
    } else if n % (1 << 20) == 0 {
        format!("{}M", n / (1 << 20))
    } else if n % (1 << 10) == 0 {
        format!("{}K", n / (1 << 10))
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hist_labels_use_binary_suffixes() {
        let got: Vec<String> = [0, 1, 2, 3, 11, 12, 22, 32, 42].into_iter().map(hist_label).collect();
        assert_eq!(got, ["(..., 0)", "[0]", "[1]", "[2, 4)", "[512, 1K)", "[1K, 2K)", "[1M, 2M)", "[1G, 2G)", "[1T, 2T)"]);
    }

    #[test]
    fn lhist_labels_scale_only_exact_multiples() {
        assert_eq!(lhist_label(0, 0, 3000, 1000), "(..., 0)");
        assert_eq!(lhist_label(2, 0, 3000, 1000), "[1000, 2000)");
        assert_eq!(lhist_label(4, 0, 3000, 1000), "[3000, ...)");
        assert_eq!(lhist_label(1, 1024, 4096, 1024), "[1K, 2K)");
        assert_eq!(lhist_label(1, 0, 2 << 20, 1 << 20), "[0, 1M)");
    }
}
