//! `tseries` maps as bpftrace prints them: a graph per key in text, an array of
//! `{interval_start, value}` in JSON. Each BPF element is one bucket of one key (see
//! `codegen::tseries`); the CPUs' copies are folded, the buckets laid out by their epoch,
//! and every key shows the last `intervals` epochs up to the latest one of the whole map.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::json::{json_int, key_text};
use super::{json_event, key_offsets, u64_at, write_key, MapMeta, RawEntries, Resolve};
use crate::artifact::slot_size;
use crate::artifact::{MapValue, TsAgg};

/// Columns of the graph, its two borders included (bpftrace's).
const GRAPH_WIDTH: usize = 53;
/// Width of the minimum's column in the graph's header and footer.
const MIN_COLUMN: usize = 21;

/// One key's series: each epoch shown, with its value if one was stored in it.
struct Series<'a> {
    key: &'a [u8],
    points: Vec<(u64, Option<i128>)>,
}

/// The map's series in print order (least recently updated first).
fn series<'a>(meta: &MapMeta, raw: &'a RawEntries) -> Vec<Series<'a>> {
    let MapValue::Tseries { intervals, agg, signed, .. } = meta.value else { return Vec::new() };
    let user_len: usize = meta.keys.iter().map(|k| slot_size(*k)).sum();
    let stride = meta.layout.value_size.div_ceil(8) * 8;
    let mut by_key: BTreeMap<&[u8], BTreeMap<u64, i128>> = BTreeMap::new();
    for (key, value) in raw.iter() {
        let cpus: Vec<&[u8]> = if meta.layout.percpu { value.chunks(stride).collect() } else { vec![value] };
        let (epoch, v) = reduce(&cpus, agg, signed);
        by_key.entry(&key[..user_len.min(key.len())]).or_default().entry(epoch).or_insert(v);
    }
    let mut keys: Vec<(&[u8], BTreeMap<u64, i128>)> = by_key.into_iter().collect();
    keys.sort_by_key(|(_, values)| values.keys().next_back().copied().unwrap_or(0));
    let last = keys.last().map_or(u64::MAX, |(_, v)| v.keys().next_back().copied().unwrap_or(0));
    // As bpftrace, in u64: a map whose latest epoch is below `intervals` shows nothing.
    let first = last.wrapping_sub(intervals).wrapping_add(1);
    keys.into_iter()
        .map(|(key, values)| {
            let start = values.keys().copied().filter(|e| *e >= first).min().unwrap_or(last).min(last);
            let points = if first > last { Vec::new() } else { (start.max(first)..=last).map(|e| (e, values.get(&e).copied())).collect() };
            Series { key, points }
        })
        .collect()
}

/// One bucket's CPUs folded: the epoch most recently stored and its value (0, 0 when no CPU
/// stored any, as bpftrace).
fn reduce(cpus: &[&[u8]], agg: TsAgg, signed: bool) -> (u64, i128) {
    let int = |raw: u64| if signed { i128::from(raw as i64) } else { i128::from(raw) };
    let mut by_epoch: BTreeMap<u64, (i128, i128)> = BTreeMap::new();
    for c in cpus {
        let (v, m, epoch) = (int(u64_at(c, 0)), int(u64_at(c, 8)), u64_at(c, 16));
        if epoch == 0 {
            continue;
        }
        let Some(cur) = by_epoch.get_mut(&epoch) else {
            by_epoch.insert(epoch, (v, m));
            continue;
        };
        match agg {
            // The value stored last (meta is the time it was stored).
            TsAgg::Last if m > cur.1 => *cur = (v, m),
            TsAgg::Last => {}
            TsAgg::Avg => *cur = (cur.0 + v, cur.1 + m),
            TsAgg::Sum => cur.0 += v,
            TsAgg::Min => cur.0 = cur.0.min(v),
            TsAgg::Max => cur.0 = cur.0.max(v),
        }
    }
    let Some((&epoch, &(v, m))) = by_epoch.iter().next_back() else { return (0, 0) };
    let v = if agg == TsAgg::Avg && m != 0 { v / m } else { v };
    // Back to the value's 64-bit type, as bpftrace keeps it.
    (epoch, if signed { i128::from(v as i64) } else { i128::from(v as u64) })
}

/// The interval and whether the values are signed.
fn interval_ns(meta: &MapMeta) -> (u64, bool) {
    match meta.value {
        MapValue::Tseries { interval_ns, signed, .. } => (interval_ns, signed),
        _ => (1, true),
    }
}

/// The map as text: `@name[key]:` and its graph for each key.
pub(super) fn render(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve) -> String {
    let offsets = key_offsets(&meta.keys);
    let mut out = String::new();
    for s in series(meta, raw) {
        out.push('@');
        out.push_str(&meta.name);
        write_key(&mut out, &meta.keys, &offsets, s.key, resolve);
        out.push_str(":\n");
        let (interval, signed) = interval_ns(meta);
        out.push_str(&graph(&s.points, interval, signed, resolve));
        out.push('\n');
    }
    out
}

/// The map as one JSON `tseries` line.
pub(super) fn render_json(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve) -> String {
    let all = series(meta, raw);
    if all.is_empty() {
        return String::new();
    }
    let (interval, _) = interval_ns(meta);
    let points = |s: &Series| -> Value {
        Value::Array(
            s.points
                .iter()
                .filter_map(|(e, v)| v.map(|v| json!({ "interval_start": utc_timestamp(e.wrapping_mul(interval)), "value": json_int(v) })))
                .collect(),
        )
    };
    let name = format!("@{}", meta.name);
    let data = if meta.keys.is_empty() {
        all.first().map(points).unwrap_or(Value::Null)
    } else {
        let mut by_key = Map::new();
        for s in &all {
            by_key.insert(key_text(&meta.keys, &key_offsets(&meta.keys), s.key, resolve), points(s));
        }
        Value::Object(by_key)
    };
    json_event("tseries", json!({ name: data }))
}

/// The digits of the fraction of a second shown for an interval: seconds show none.
fn fraction_digits(interval: u64) -> usize {
    match interval {
        1_000_000_000.. => 0,
        1_000_000.. => 3,
        1_000.. => 6,
        _ => 9,
    }
}

/// bpftrace's graph of one series: a header with the minimum and maximum, a row per epoch
/// with the point, and a footer.
fn graph(points: &[(u64, Option<i128>)], interval_ns: u64, signed: bool, resolve: &dyn Resolve) -> String {
    let values: Vec<i128> = points.iter().filter_map(|(_, v)| *v).collect();
    let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else { return "<no data>".into() };
    // A flat series gets a margin on both sides, within the range of the value's type.
    let (min, max) = if signed { (i128::from(i64::MIN), i128::from(i64::MAX)) } else { (0, i128::from(u64::MAX)) };
    let (lo, hi) = if lo == hi { ((lo - 1).max(min), (hi + 1).min(max)) } else { (lo, hi) };
    // The interval between rows decides the precision of the times.
    let (first, last) = (points[0].0.wrapping_mul(interval_ns), points[points.len() - 1].0.wrapping_mul(interval_ns));
    let step = last.wrapping_sub(first) / (points.len().max(2) as u64 - 1);
    let digits = fraction_digits(step);
    let time_head = match digits {
        0 => "hh:mm:ss".to_string(),
        3 => "hh:mm:ss.ms".to_string(),
        6 => "hh:mm:ss.μs".to_string(),
        _ => "hh:mm:ss.ns".to_string(),
    };
    // bpftrace pads by bytes (setw), so the µs header is one column short; so is this.
    let time_width = 8 + if digits > 0 { 1 + digits } else { 0 };
    let pad = |s: &str, width: usize| format!("{s}{}", " ".repeat(width.saturating_sub(s.len())));
    let bounds = |indent: usize| format!("{}{}{:>w$}\n", " ".repeat(indent), pad(&lo.to_string(), MIN_COLUMN), hi, w = GRAPH_WIDTH - MIN_COLUMN);
    let mut out = bounds(time_width + 1);
    out.push_str(&format!("{}|{}|\n", pad(&time_head, time_width + 1), "_".repeat(GRAPH_WIDTH - 2)));
    let span = (hi - lo) as f32;
    let zero = if lo < 0 && hi > 0 { (GRAPH_WIDTH as f32 * (-lo) as f32 / span) as usize } else { 0 };
    for (epoch, v) in points {
        let ns = epoch.wrapping_mul(interval_ns);
        let mut time = resolve.time_of_day((ns / 1_000_000_000) as i64);
        if digits > 0 {
            let frac = ns % 1_000_000_000 / 10u64.pow(9 - digits as u32);
            time.push_str(&format!(".{frac:0digits$}"));
        }
        let mut line = vec![b' '; GRAPH_WIDTH];
        line[0] = b'|';
        line[GRAPH_WIDTH - 1] = b'|';
        if zero > 0 {
            line[zero] = b'.';
        }
        let text = match v {
            Some(v) => {
                let at = ((GRAPH_WIDTH - 1) as f32 * (v - lo) as f32 / span) as usize;
                line[at.min(GRAPH_WIDTH - 1)] = b'*';
                v.to_string()
            }
            None => "-".into(),
        };
        out.push_str(&format!("{time} {} {text}\n", String::from_utf8_lossy(&line)));
    }
    let mut bottom = "_".repeat(GRAPH_WIDTH);
    bottom.replace_range(0..1, "v");
    bottom.replace_range(GRAPH_WIDTH - 1.., "v");
    out.push_str(&format!("{} {bottom}\n", " ".repeat(time_width)));
    out.push_str(&bounds(time_width + 1));
    out
}

/// `ns` since the epoch as C++'s `operator<<` of a system_clock time: UTC,
/// `YYYY-MM-DD hh:mm:ss.nnnnnnnnn`.
pub(super) fn utc_timestamp(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:09}", rest / 3600, rest % 3600 / 60, rest % 60, ns % 1_000_000_000)
}

/// The UTC time of day of `secs` since the epoch, `hh:mm:ss`: what `Resolve::time_of_day`
/// gives without a local time zone.
pub(super) fn utc_time_of_day(secs: i64) -> String {
    let rest = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::MapLayout;

    fn meta(keys: Vec<crate::artifact::Type>, agg: TsAgg, intervals: u64) -> MapMeta {
        let layout = MapLayout { key_size: 8 + keys.len() * 8, value_size: 24, percpu: true, max_entries: 64, array: false };
        MapMeta { symbol: String::new(), name: "a".into(), keys, key_names: Vec::new(), value: MapValue::Tseries { interval_ns: 100_000_000, intervals, agg, signed: true }, layout }
    }

    /// One bucket element: (value, meta, epoch) per CPU.
    fn element(cpus: &[(i64, i64, u64)]) -> Vec<u8> {
        cpus.iter().flat_map(|(v, m, e)| [v.to_le_bytes(), m.to_le_bytes(), e.to_le_bytes()].concat()).collect()
    }

    #[test]
    fn a_scalar_series_graphs_its_last_intervals() {
        let m = meta(vec![], TsAgg::Last, 3);
        let mut raw = RawEntries::new(8, 48);
        for (bucket, epoch, v) in [(0u64, 3u64, -1i64), (1, 4, 1), (2, 5, 0)] {
            raw.push(&bucket.to_le_bytes(), &element(&[(v, 10, epoch), (0, 0, 0)]));
        }
        let text = render(&m, &raw, &super::super::NoSymbols);
        let want = "@a:
             -1                                                  1
hh:mm:ss.ms  |___________________________________________________|
00:00:00.300 *                         .                         | -1
00:00:00.400 |                         .                         * 1
00:00:00.500 |                         *                         | 0
             v___________________________________________________v
             -1                                                  1

";
        assert_eq!(text, want);
        assert_eq!(
            render_json(&m, &raw, &super::super::NoSymbols),
            "{\"type\": \"tseries\", \"data\": {\"@a\": [{\"interval_start\": \"1970-01-01 00:00:00.300000000\", \"value\": -1},\
             {\"interval_start\": \"1970-01-01 00:00:00.400000000\", \"value\": 1},{\"interval_start\": \"1970-01-01 00:00:00.500000000\", \"value\": 0}]}}\n"
        );
    }

    #[test]
    fn cpus_fold_by_the_aggregation_and_the_latest_store_wins_without_one() {
        let cpus = [(4, 2, 7), (10, 3, 7), (99, 1, 6)];
        assert_eq!(reduce(&element(&cpus).chunks(24).collect::<Vec<_>>(), TsAgg::Last, true), (7, 10));
        assert_eq!(reduce(&element(&cpus).chunks(24).collect::<Vec<_>>(), TsAgg::Avg, true), (7, 2));
        assert_eq!(reduce(&element(&cpus).chunks(24).collect::<Vec<_>>(), TsAgg::Min, true), (7, 4));
        assert_eq!(reduce(&element(&cpus).chunks(24).collect::<Vec<_>>(), TsAgg::Sum, true), (7, 14));
        assert_eq!(reduce(&element(&[(5, 1, 0)]).chunks(24).collect::<Vec<_>>(), TsAgg::Max, true), (0, 0));
    }

    #[test]
    fn empty_intervals_of_a_key_show_a_dash_and_a_zeroed_map_has_no_data() {
        let m = meta(vec![crate::artifact::Type::U64], TsAgg::Last, 4);
        let mut raw = RawEntries::new(16, 48);
        let key = |k: u64, b: u64| [k.to_le_bytes(), b.to_le_bytes()].concat();
        raw.push(&key(1, 0), &element(&[(5, 1, 4), (0, 0, 0)]));
        raw.push(&key(2, 3), &element(&[(6, 1, 7), (0, 0, 0)]));
        let text = render(&m, &raw, &super::super::NoSymbols);
        assert!(text.starts_with("@a[1]:\n"), "{text}");
        assert!(text.contains("00:00:00.400 |                         *                         | 5\n00:00:00.500 |                                                   | -\n"), "{text}");
        let mut zeroed = RawEntries::new(16, 48);
        zeroed.push(&key(1, 0), &element(&[(0, 0, 0), (0, 0, 0)]));
        assert_eq!(render(&m, &zeroed, &super::super::NoSymbols), "@a[1]:\n<no data>\n");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_timestamp(500_000_000), "1970-01-01 00:00:00.500000000");
        assert_eq!(utc_timestamp(1_700_000_000_123_456_789), "2023-11-14 22:13:20.123456789");
    }
}
