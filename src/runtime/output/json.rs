//! `-f json`: one JSON object per line, with the shapes bpftrace prints (`printf`, `map`,
//! `hist`, `stats`, `attached_probes`, `lost_events`...). Maps go through the same fold and
//! sort as the text output, so both print the same entries in the same order.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::super::printf::c_str;
use super::{key_offsets, sorted, u64_at, value_text, Folded, Limits, RawEntries, Resolve, Sorted};
use crate::codegen::artifact::MapMeta;
use crate::sema::hir::MapValue;
use crate::sema::Type;

/// `{"type": kind, "data": data}` as one line, spaced as bpftrace spaces it (`", "`, `": "`).
pub fn json_event(kind: &str, data: Value) -> String {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
    let _ = serde::Serialize::serialize(&json!({ "type": kind, "data": data }), &mut ser);
    let mut line = String::from_utf8(out).unwrap_or_default();
    line.push('\n');
    line
}

/// serde_json's compact output with a space after `,` and `:`.
struct Spaced;

impl serde_json::ser::Formatter for Spaced {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// A map as one `map`, `hist` or `stats` line; empty maps render as nothing.
pub fn render_json(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve, limits: Limits) -> String {
    let Sorted { entries, order } = sorted(meta, raw, limits);
    if entries.is_empty() {
        return String::new();
    }
    let kind = match meta.value {
        MapValue::Hist { .. } | MapValue::Lhist { .. } => "hist",
        MapValue::Avg | MapValue::Stats => "stats",
        _ => "map",
    };
    let offsets = key_offsets(&meta.keys);
    let value_of = |v: &Folded| -> Value {
        match v {
            Folded::Int(n) if meta.value.scalar_type() == Type::Bool => Value::Bool(*n != 0),
            Folded::Int(n) => i64::try_from(*n).map(Value::from).unwrap_or_else(|_| Value::from(*n as u64)),
            Folded::Bytes(b) => value_json(meta.value.scalar_type(), b, resolve),
            Folded::Avg(c, t) => Value::from(if *c == 0 { 0 } else { t / c }),
            Folded::Stats(c, t) => json!({ "count": c, "average": if *c == 0 { 0 } else { t / c }, "total": t }),
            Folded::Hist(h) => hist_json(meta.value, h),
        }
    };
    let name = format!("@{}", meta.name);
    let data = if meta.keys.is_empty() {
        order.first().map(|i| value_of(&entries[*i as usize].1)).unwrap_or(Value::Null)
    } else {
        let mut by_key = Map::new();
        for (key, value) in order.iter().map(|i| &entries[*i as usize]) {
            by_key.insert(key_text(&meta.keys, &offsets, key, resolve), value_of(value));
        }
        Value::Object(by_key)
    };
    json_event(kind, json!({ name: data }))
}

/// A value as bpftrace's JSON writes it: numbers, strings, tuples as arrays, structs as
/// objects; what userspace resolves (stacks, symbols) as its text.
pub fn value_json(ty: Type, bytes: &[u8], resolve: &dyn Resolve) -> Value {
    match ty {
        Type::Int { signed: true, .. } => Value::from(u64_at(bytes, 0) as i64),
        Type::Int { signed: false, .. } | Type::Ptr { .. } => Value::from(u64_at(bytes, 0)),
        // Numbers, as bpftrace keeps its JSON (printf's `%s` still names them).
        Type::Enum(e) if e.layout().signed => Value::from(u64_at(bytes, 0) as i64),
        Type::Enum(_) => Value::from(u64_at(bytes, 0)),
        Type::Bool => Value::Bool(u64_at(bytes, 0) != 0),
        Type::Tuple(t) => {
            let items = t.items().iter().zip(t.offsets()).map(|(item, off)| value_json(*item, bytes.get(off..).unwrap_or_default(), resolve));
            match t.names() {
                // A record is an object, its fields in their order.
                Some(names) => Value::Object(names.iter().cloned().zip(items).collect()),
                None => Value::Array(items.collect()),
            }
        }
        Type::Struct(st) => super::structs::struct_json(st, bytes, resolve),
        t => Value::from(value_text(t, bytes, resolve)),
    }
}

/// A key as bpftrace's JSON writes it: the parts joined by commas.
fn key_text(types: &[Type], offsets: &[usize], key: &[u8], resolve: &dyn Resolve) -> String {
    let parts: Vec<String> = types
        .iter()
        .zip(offsets)
        .map(|(t, off)| match t {
            Type::Str(n) => c_str(key.get(*off..off + n).unwrap_or_default()),
            Type::Int { signed: true, .. } => (u64_at(key, *off) as i64).to_string(),
            _ => value_text(*t, key.get(*off..).unwrap_or_default(), resolve),
        })
        .collect();
    parts.join(",")
}

/// Buckets from the first to the last non-empty one, each with its inclusive bounds.
fn hist_json(kind: MapValue, buckets: &BTreeMap<u64, u64>) -> Value {
    let nonzero: Vec<u64> = buckets.iter().filter(|(_, n)| **n > 0).map(|(b, _)| *b).collect();
    let (Some(&first), Some(&last)) = (nonzero.first(), nonzero.last()) else { return Value::Array(vec![]) };
    let rows = (first..=last)
        .map(|i| {
            let count = buckets.get(&i).copied().unwrap_or(0);
            let (min, max): (Option<i128>, Option<i128>) = match kind {
                MapValue::Lhist { min, max, step } => {
                    let n = ((max - min) / step) as u64;
                    if i == 0 {
                        (None, Some(i128::from(min) - 1))
                    } else if i > n {
                        (Some(i128::from(max)), None)
                    } else {
                        let lo = i128::from(min) + (i as i128 - 1) * i128::from(step);
                        (Some(lo), Some(lo + i128::from(step) - 1))
                    }
                }
                MapValue::Hist { k } if i > 0 => {
                    let (low, high) = (super::hist_bound(i - 1, k).0, super::hist_bound(i, k).0);
                    (Some(low as i128), Some(high as i128 - 1))
                }
                _ => (None, Some(-1)),
            };
            let mut row = Map::new();
            if let Some(m) = min {
                row.insert("min".into(), Value::from(m as i64));
            }
            if let Some(m) = max {
                row.insert("max".into(), Value::from(m.min(i128::from(i64::MAX)) as i64));
            }
            row.insert("count".into(), Value::from(count));
            Value::Object(row)
        })
        .collect();
    Value::Array(rows)
}
