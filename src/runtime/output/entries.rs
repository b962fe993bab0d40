//! A map's entries as values rather than text: what `--metrics`, `-f folded` and `--live`
//! read. They take the same folding across CPUs and the same order as the text format (one
//! decoder), then keep each key part's text and the value's numbers apart, so each can lay
//! them out its own way. Pure.

use super::{hist_bound, lhist_bounds, lhist_label, hist_label, push_key_part, resolved, sorted, value_text, Folded, Limits, RawEntries, Resolve};
use crate::artifact::MapMeta;
use crate::artifact::key_offsets;
use crate::artifact::MapValue;

/// One entry of a map: each key part as the text format prints it, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Vec<String>,
    pub value: EntryValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EntryValue {
    /// count, sum, min, max, or a plain integer.
    Int(i128),
    /// A value printed as text (a string, a tuple, a symbol...).
    Text(String),
    /// avg: how many values, and their total.
    Avg { count: i64, total: i64 },
    /// stats: how many values, and their total.
    Stats { count: i64, total: i64 },
    /// hist/lhist: the buckets from the first to the last one holding a value, and the sum of
    /// the values (None from an artifact whose map kept counts only).
    Hist { buckets: Vec<Bucket>, sum: Option<i64> },
}

impl EntryValue {
    /// The number entries sort by: an integer, an average, a histogram's count; 0 for text.
    pub fn magnitude(&self) -> i128 {
        match self {
            EntryValue::Int(n) => *n,
            EntryValue::Text(_) => 0,
            EntryValue::Avg { count, total } | EntryValue::Stats { count, total } => i128::from(if *count == 0 { 0 } else { total.wrapping_div(*count) }),
            EntryValue::Hist { buckets, .. } => buckets.iter().map(|b| i128::from(b.count)).sum(),
        }
    }
}

/// One histogram bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The bucket's number in the map's key (0: below the first bound).
    pub index: u64,
    /// As the text format labels it: `[4, 8)`.
    pub label: String,
    /// The largest value it holds (values are integers: `[4, 8)` holds up to 7); None for
    /// the last bucket of an lhist, which has no upper bound.
    pub le: Option<i128>,
    pub count: u64,
}

/// The entries of a map in the text format's order (ascending by value, ties by key).
pub fn entries(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve) -> Vec<Entry> {
    let sorted = sorted(meta, raw, Limits::default());
    let offsets = key_offsets(&meta.keys);
    sorted
        .order
        .iter()
        .map(|i| {
            let (key, value) = &sorted.entries[i.2 as usize];
            let key = meta
                .keys
                .iter()
                .zip(&offsets)
                .map(|(t, off)| {
                    let mut text = String::new();
                    push_key_part(&mut text, *t, *off, key, resolve);
                    text
                })
                .collect();
            let value = match value {
                Folded::Int(n) => match resolved(meta.value.scalar_type(), *n as u64, resolve) {
                    Some(text) => EntryValue::Text(text),
                    None => EntryValue::Int(*n),
                },
                Folded::Bytes(b) => EntryValue::Text(value_text(meta.value.scalar_type(), b, resolve)),
                Folded::Avg(count, total) => EntryValue::Avg { count: *count, total: *total },
                Folded::Stats(count, total) => EntryValue::Stats { count: *count, total: *total },
                Folded::Hist(h, sum) => {
                    let mut nonzero = h.iter().filter(|(_, n)| **n > 0).map(|(b, _)| *b);
                    let buckets = match (nonzero.next(), nonzero.next_back()) {
                        (Some(first), Some(last)) => first..last + 1,
                        (Some(only), None) => only..only + 1,
                        _ => 0..0,
                    };
                    EntryValue::Hist { buckets: buckets.map(|i| bucket(meta.value, i, h.get(&i).copied().unwrap_or(0))).collect(), sum: *sum }
                }
            };
            Entry { key, value }
        })
        .collect()
}

fn bucket(kind: MapValue, index: u64, count: u64) -> Bucket {
    let (label, le) = match kind {
        MapValue::Lhist { min, max, step } => (lhist_label(index, min, max, step), lhist_bounds(index, min, max, step).1.map(|hi| i128::from(hi) - 1)),
        MapValue::Hist { k } => (hist_label(index, k), Some(if index == 0 { -1 } else { hist_bound(index, k).0 as i128 - 1 })),
        _ => (hist_label(index, 0), Some(if index == 0 { -1 } else { hist_bound(index, 0).0 as i128 - 1 })),
    };
    Bucket { index, label, le, count }
}

#[cfg(test)]
mod tests {
    use super::super::NoSymbols;
    use super::*;
    use crate::artifact::MapLayout;
    use crate::artifact::Type;

    fn meta(keys: Vec<Type>, value: MapValue) -> MapMeta {
        let layout = MapLayout { key_size: 16, value_size: 8, percpu: false, max_entries: 16, array: false };
        MapMeta { symbol: String::new(), name: "m".into(), keys, key_names: vec![], value, layout }
    }

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn hist_buckets_carry_their_inclusive_upper_bound() {
        let m = meta(vec![], MapValue::Hist { k: 0 });
        let mut raw = RawEntries::new(8, 8);
        // Buckets 1 ([0]), 3 ([2, 4)) and 11 ([512, 1K)); the ones between are there with 0.
        for (b, n) in [(1u64, 2u64), (3, 5), (11, 1)] {
            raw.push(&words(&[b]), &words(&[n]));
        }
        let got = entries(&m, &raw, &NoSymbols);
        let EntryValue::Hist { buckets, .. } = &got[0].value else { panic!("{got:?}") };
        assert_eq!(buckets.len(), 11);
        assert_eq!((buckets[0].le, buckets[0].count, buckets[0].label.as_str()), (Some(0), 2, "[0]"));
        assert_eq!((buckets[2].le, buckets[2].count, buckets[2].label.as_str()), (Some(3), 5, "[2, 4)"));
        assert_eq!((buckets[10].le, buckets[10].count, buckets[10].label.as_str()), (Some(1023), 1, "[512, 1K)"));
        assert_eq!(got[0].value.magnitude(), 8);
    }

    #[test]
    fn a_hist_whose_buckets_keep_sums_has_its_total() {
        let mut m = meta(vec![], MapValue::Hist { k: 0 });
        m.layout.value_size = 16;
        let mut raw = RawEntries::new(8, 16);
        raw.push(&words(&[1]), &words(&[2, 0]));
        raw.push(&words(&[4]), &words(&[3, 15]));
        let got = entries(&m, &raw, &NoSymbols);
        assert!(matches!(&got[0].value, EntryValue::Hist { sum: Some(15), buckets } if buckets.len() == 4), "{got:?}");
        // Counts only (an artifact from before): no sum.
        m.layout.value_size = 8;
        let mut raw = RawEntries::new(8, 8);
        raw.push(&words(&[1]), &words(&[2]));
        assert!(matches!(&entries(&m, &raw, &NoSymbols)[0].value, EntryValue::Hist { sum: None, .. }));
    }

    #[test]
    fn lhist_last_bucket_has_no_upper_bound() {
        let m = meta(vec![], MapValue::Lhist { min: 0, max: 10, step: 5 });
        let mut raw = RawEntries::new(8, 8);
        raw.push(&words(&[0]), &words(&[1]));
        raw.push(&words(&[3]), &words(&[4]));
        let got = entries(&m, &raw, &NoSymbols);
        let EntryValue::Hist { buckets, .. } = &got[0].value else { panic!("{got:?}") };
        let les: Vec<Option<i128>> = buckets.iter().map(|b| b.le).collect();
        assert_eq!(les, [Some(-1), Some(4), Some(9), None]);
    }

    #[test]
    fn keys_are_split_into_their_parts() {
        let m = meta(vec![Type::I64, Type::Str(8)], MapValue::Count);
        let mut raw = RawEntries::new(16, 8);
        let mut key = words(&[(-3i64) as u64]);
        key.extend_from_slice(b"bash\0\0\0\0");
        raw.push(&key, &words(&[7]));
        assert_eq!(entries(&m, &raw, &NoSymbols), [Entry { key: vec!["-3".into(), "bash".into()], value: EntryValue::Int(7) }]);
    }
}
