//! `-f json`: one JSON object per line, with the shapes bpftrace prints (`printf`, `map`,
//! `hist`, `stats`, `attached_probes`, `lost_events`...). Maps go through the same fold and
//! sort as the text output, so both print the same entries in the same order.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::{key_offsets, sorted, u64_at, value_text, Folded, Limits, RawEntries, Resolve, Sorted};
use crate::artifact::MapMeta;
use crate::artifact::MapValue;
use crate::artifact::Type;

/// `{"type": kind, "data": data}` as one line, written as bpftrace writes it.
pub fn json_event(kind: &str, data: Value) -> String {
    json_line(&json!({ "type": kind, "data": data }))
}

/// One JSON line as bpftrace's `-f json` writes it: objects spaced (`{"a": 1, "b": 2}`),
/// arrays not (`[1,2]`), strings with only `"`, `\`, `\n`, `\r`, `\t` and other control
/// bytes (`\u0008`) escaped, everything else as it is.
pub fn json_line(value: &Value) -> String {
    let mut out = String::with_capacity(64);
    write_json(value, &mut out);
    out.push('\n');
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            out.push('{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(key, out);
                out.push_str(": ");
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An integer as bpftrace's JSON writes it: a number when a double holds it exactly (what
/// a JSON reader turns numbers into), else its digits as a string (RFC 8259).
pub fn json_int(n: i128) -> Value {
    if let Ok(v) = i64::try_from(n) {
        let d = v as f64;
        if d < 9.223_372_036_854_775_808e18 && d as i64 == v {
            return Value::from(v);
        }
    } else if let Ok(v) = u64::try_from(n) {
        let d = v as f64;
        if d < 1.844_674_407_370_955_161_6e19 && d as u64 == v {
            return Value::from(v);
        }
    }
    Value::from(n.to_string())
}

/// A map as one `map`, `hist` or `stats` line; empty maps render as nothing, except avg and
/// stats maps, which bpftrace writes as an empty object (`{"@s": {}}`).
pub fn render_json(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve, limits: Limits) -> String {
    if let MapValue::Tseries { .. } = meta.value {
        return super::tseries::render_json(meta, raw, resolve);
    }
    let sorted = sorted(meta, raw, limits);
    let Sorted { entries, order, .. } = &sorted;
    if entries.is_empty() {
        return match meta.value {
            MapValue::Avg | MapValue::Stats => json_event("stats", json!({ format!("@{}", meta.name): {} })),
            _ => String::new(),
        };
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
            Folded::Int(n) => json_int(sorted.int(*n)),
            Folded::Bytes(b) => value_json(meta.value.scalar_type(), b, resolve),
            Folded::Avg(c, t) => json_int(i128::from(sorted.average(*c, *t))),
            Folded::Stats(c, t) => json!({ "count": json_int(i128::from(*c)), "average": json_int(i128::from(sorted.average(*c, *t))), "total": json_int(i128::from(*t)) }),
            Folded::Hist(h, _) => hist_json(meta.value, h, &sorted),
        }
    };
    let name = format!("@{}", meta.name);
    let data = if meta.keys.is_empty() {
        order.first().map(|r| value_of(&entries[r.2 as usize].1)).unwrap_or(Value::Null)
    } else {
        let mut by_key = Map::new();
        for (key, value) in order.iter().map(|r| &entries[r.2 as usize]) {
            by_key.insert(key_text(&meta.keys, &offsets, key, resolve), value_of(value));
        }
        Value::Object(by_key)
    };
    json_event(kind, json!({ name: data }))
}

/// A value as bpftrace's JSON writes it: numbers, strings, tuples as arrays, structs as
/// objects, buffers as arrays of their bytes; what userspace resolves (stacks, symbols) as
/// its text.
pub fn value_json(ty: Type, bytes: &[u8], resolve: &dyn Resolve) -> Value {
    match ty {
        Type::Int { bits, signed } => json_int(super::int_at(bytes, bits, signed)),
        Type::Ptr { .. } => json_int(i128::from(u64_at(bytes, 0))),
        // Numbers, as bpftrace keeps its JSON (printf's `%s` still names them).
        Type::Enum(e) if e.layout().signed => json_int(i128::from(u64_at(bytes, 0) as i64)),
        Type::Enum(_) => json_int(i128::from(u64_at(bytes, 0))),
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
        Type::Buf(n) => {
            let len = (u64_at(bytes, 0) as usize).min(n);
            Value::Array(bytes.get(8..8 + len).unwrap_or_default().iter().map(|b| Value::from(*b)).collect())
        }
        t => Value::from(value_text(t, bytes, resolve)),
    }
}

/// A key as bpftrace's JSON writes it: its parts joined by commas, without the spaces the
/// text has between a tuple's or struct's items (`"1,(2,3)"`); strings keep theirs (bpftrace
/// drops every space, so `"a b"` and `"ab"` would be one key).
pub(super) fn key_text(types: &[Type], offsets: &[usize], key: &[u8], resolve: &dyn Resolve) -> String {
    let parts: Vec<String> = types
        .iter()
        .zip(offsets)
        .map(|(t, off)| match t {
            Type::Str(n) => super::str_text(*n, key.get(*off..).unwrap_or_default(), resolve),
            Type::Int { signed: true, .. } => (u64_at(key, *off) as i64).to_string(),
            _ => value_text(*t, key.get(*off..).unwrap_or_default(), resolve).replace(' ', ""),
        })
        .collect();
    parts.join(",")
}

/// Buckets from the first to the last non-empty one, each with its inclusive bounds.
fn hist_json(kind: MapValue, buckets: &BTreeMap<u64, u64>, sorted: &Sorted) -> Value {
    let nonzero: Vec<u64> = buckets.iter().filter(|(_, n)| **n > 0).map(|(b, _)| *b).collect();
    let (Some(&first), Some(&last)) = (nonzero.first(), nonzero.last()) else { return Value::Array(vec![]) };
    let rows = (first..=last)
        .map(|i| {
            let count = sorted.bucket(kind, buckets.get(&i).copied().unwrap_or(0));
            let (min, max): (Option<i128>, Option<i128>) = match kind {
                MapValue::Lhist { min, max, step } => {
                    let (lo, hi) = super::lhist_bounds(i, min, max, step);
                    (lo.map(i128::from), hi.map(|h| i128::from(h) - 1))
                }
                MapValue::Hist { k } if i > 0 => {
                    let (low, high) = (super::hist_bound(i - 1, k).0, super::hist_bound(i, k).0);
                    (Some(low as i128), Some(high as i128 - 1))
                }
                _ => (None, Some(-1)),
            };
            let mut row = Map::new();
            if let Some(m) = min {
                row.insert("min".into(), json_int(m));
            }
            if let Some(m) = max {
                row.insert("max".into(), json_int(m.min(i128::from(i64::MAX))));
            }
            row.insert("count".into(), json_int(i128::from(count)));
            Value::Object(row)
        })
        .collect();
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_spaced_and_arrays_not() {
        let v = json!({ "type": "map", "data": { "@": [1, "a", [4, 5], { "x": true }] } });
        assert_eq!(json_line(&v), "{\"type\": \"map\", \"data\": {\"@\": [1,\"a\",[4,5],{\"x\": true}]}}\n");
    }

    #[test]
    fn strings_escape_what_bpftrace_escapes() {
        assert_eq!(json_line(&Value::from("a\"b\\c\n\r\t\u{8}\u{1}é")), "\"a\\\"b\\\\c\\n\\r\\t\\u0008\\u0001é\"\n");
    }

    #[test]
    fn an_empty_stats_map_is_an_empty_object() {
        let layout = crate::artifact::MapLayout { key_size: 8, value_size: 16, percpu: false, max_entries: 1, array: false };
        let meta = MapMeta { symbol: String::new(), name: "s".into(), keys: vec![], key_names: vec![], value: MapValue::Stats, layout };
        use super::super::NoSymbols;
        assert_eq!(render_json(&meta, &RawEntries::new(8, 16), &NoSymbols, Limits::default()), "{\"type\": \"stats\", \"data\": {\"@s\": {}}}\n");
    }

    #[test]
    fn integers_a_double_cannot_hold_are_strings() {
        assert_eq!(json_int(5), Value::from(5));
        assert_eq!(json_int(-(1 << 53)), Value::from(-(1i64 << 53)));
        assert_eq!(json_int((1 << 53) + 1), Value::from("9007199254740993"));
        assert_eq!(json_int(i128::from(u64::MAX)), Value::from("18446744073709551615"));
        assert_eq!(json_int(i128::from(i64::MAX)), Value::from("9223372036854775807"));
        assert_eq!(json_int(i128::from(i64::MIN)), Value::from(i64::MIN));
    }
}
