//! `--metrics ADDR`: the script's maps in Prometheus' text exposition format (0.0.4) on
//! `http://ADDR/metrics`, read from the kernel when a scraper asks, so tracing pays nothing
//! per event for it. Maps are read and folded by the same code as the exit dump
//! (`events::read_user_map`, `output::entries`), so a scrape and the printed maps agree.
//!
//! Served by tiny_http from one thread of its own (no async runtime: one scraper every few
//! seconds needs none), with duplicates of the map file descriptors, so it does not share
//! anything with the event loop. The server stops when the handle is dropped, at the end of
//! `runtime::run`: the maps can be scraped until the exit dump has been printed.
//!
//! The mapping (documented in docs/metrics.md):
//! - `@m` becomes the family `rtrace_m` (`@` alone: `rtrace_map`); key parts become labels
//!   named as the script names them (`@x[comm, $fd]`: `comm`, `fd`), `key0`, `key1`... where
//!   it does not;
//! - `count()` and a `sum()` of unsigned values: counter `rtrace_m_total`; other integers,
//!   `sum()` of signed values, `min`, `max`, `avg`: gauge `rtrace_m`;
//!   `stats`: gauges `rtrace_m_count`, `rtrace_m_average`, `rtrace_m_sum`;
//! - `hist`/`lhist`: histogram `rtrace_m` (`_bucket{le}`, `_sum`, `_count`), `le` the largest
//!   integer a bucket holds, `_sum` from the sums the buckets keep beside their counts;
//! - maps of strings, tuples and other text: not exported (a comment says so);
//! - at most `max_series` series per map, the largest entries first; the others are counted
//!   in the counter `rtrace_metrics_dropped_series_total{map="m"}`;
//! - rtrace's own counters: `rtrace_lost_events_total`, `rtrace_failed_map_updates_total`,
//!   `rtrace_failed_reads_total`, `rtrace_lost_stacks_total`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::events::read_user_map;
use super::loader::Loaded;
use super::output::{entries, Entry, EntryValue};
use super::symbols::{SymbolCache, Symbols};
use super::RuntimeError;
use crate::artifact::{Counter, MapMeta, RuntimeMeta, COUNTERS_MAP, STACKS_MAP};
use crate::artifact::MapValue;

/// `--metrics`: where to serve, and the cardinality limit.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// `host:port`; port 0 picks a free one (the address served is printed).
    pub addr: String,
    /// Series one map may export per scrape.
    pub max_series: usize,
}

/// The default `--metrics-max-series`.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// The running server; dropping it stops it.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The address it listens on (the port chosen when 0 was asked for).
    pub addr: String,
}

/// What a scrape reads: every user map, with its own descriptors.
struct Source {
    maps: Vec<(MapMeta, OwnedFd)>,
    stacks: Option<OwnedFd>,
    /// rtrace's own per-CPU counters (`Counter`): lost events, failed map updates...
    counters: Option<OwnedFd>,
    ncpus: usize,
    strftimes: Vec<String>,
    trailer: String,
    debug_info: bool,
    max_series: usize,
    /// Series left out by the cardinality limit so far, per map.
    dropped: BTreeMap<String, u64>,
}

impl MetricsServer {
    /// Binds `options.addr` and serves from a thread until dropped.
    pub fn start(options: &MetricsOptions, meta: &RuntimeMeta, loaded: &Loaded, ncpus: usize) -> Result<MetricsServer, RuntimeError> {
        let dup = |fd| {
            // SAFETY: `fd` is one of `loaded`'s open descriptors, alive for this call.
            unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned().map_err(RuntimeError::Io)
        };
        let mut maps = Vec::new();
        for m in &meta.maps {
            maps.push((m.clone(), dup(loaded.map(&m.symbol)?)?));
        }
        let stacks = loaded.map(STACKS_MAP).ok().map(dup).transpose()?;
        let counters = loaded.map(COUNTERS_MAP).ok().map(dup).transpose()?;
        let server = tiny_http::Server::http(&options.addr)
            .map_err(|e| RuntimeError::Setup { message: format!("--metrics: cannot serve on {}: {e}", options.addr) })?;
        let addr = server.server_addr().to_ip().map_or_else(|| options.addr.clone(), |a| a.to_string());
        let server = Arc::new(server);
        let mut source = Source {
            maps,
            stacks,
            counters,
            ncpus,
            strftimes: meta.strftimes.clone(),
            trailer: meta.str_trunc_trailer.clone(),
            debug_info: meta.show_debug_info,
            max_series: options.max_series.max(1),
            dropped: BTreeMap::new(),
        };
        let serving = Arc::clone(&server);
        // Frames of exited processes are named from the script's uprobe binaries, as in the
        // printed output (`SymbolCache::for_programs`).
        let programs = meta.programs.clone();
        let thread = std::thread::Builder::new()
            .name("rtrace-metrics".into())
            .spawn(move || {
                let cache = SymbolCache::for_programs(&programs);
                for request in serving.incoming_requests() {
                    source.answer(request, &cache);
                }
            })
            .map_err(RuntimeError::Io)?;
        Ok(MetricsServer { server, thread: Some(thread), addr })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Source {
    fn answer(&mut self, request: tiny_http::Request, cache: &SymbolCache) {
        let path = request.url().split('?').next().unwrap_or_default().to_string();
        let text = |body: String, status: u16, kind: &str| {
            let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes()).ok();
            let response = tiny_http::Response::from_string(body).with_status_code(status);
            match header {
                Some(h) => response.with_header(h),
                None => response,
            }
        };
        let response = match (request.method(), path.as_str()) {
            (tiny_http::Method::Get | tiny_http::Method::Head, "/metrics") => match self.scrape(cache) {
                Ok(body) => text(body, 200, "text/plain; version=0.0.4; charset=utf-8"),
                Err(e) => text(format!("reading the maps failed: {e}\n"), 500, "text/plain; charset=utf-8"),
            },
            (tiny_http::Method::Get | tiny_http::Method::Head, "/") => text("rtrace: the maps are at /metrics\n".into(), 200, "text/plain; charset=utf-8"),
            _ => text("not found: the maps are at /metrics\n".into(), 404, "text/plain; charset=utf-8"),
        };
        // A scraper that went away is no concern of the trace.
        let _ = request.respond(response);
    }

    /// Every map, read now.
    fn scrape(&mut self, cache: &SymbolCache) -> std::io::Result<String> {
        let symbols = Symbols { stacks: self.stacks.as_ref().map(AsRawFd::as_raw_fd), cache, strftimes: &self.strftimes, trailer: &self.trailer, debug_info: self.debug_info };
        let mut read = Vec::with_capacity(self.maps.len());
        for (meta, fd) in &self.maps {
            let raw = read_user_map(fd.as_raw_fd(), meta, self.ncpus)?;
            read.push((meta, entries(meta, &raw, &symbols)));
        }
        read.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let mut out = String::new();
        for (meta, entries) in &read {
            let dropped = family(meta, entries, self.max_series, &mut out);
            *self.dropped.entry(meta.name.clone()).or_default() += dropped as u64;
        }
        if let Some(fd) = &self.counters {
            for (slot, name, help) in COUNTERS {
                let mut buf = vec![0u8; 8 * self.ncpus];
                let n: u64 = if super::sys::map_lookup(fd.as_raw_fd(), &(slot as u32).to_le_bytes(), &mut buf)? {
                    buf.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).fold(0, u64::wrapping_add)
                } else {
                    0
                };
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}");
            }
        }
        let _ = writeln!(out, "# HELP rtrace_metrics_dropped_series_total Series left out by the limit of {} series per map (--metrics-max-series), over all scrapes.", self.max_series);
        let _ = writeln!(out, "# TYPE rtrace_metrics_dropped_series_total counter");
        for (name, n) in &self.dropped {
            let _ = writeln!(out, "rtrace_metrics_dropped_series_total{{map=\"{}\"}} {n}", escape(&format!("@{name}")));
        }
        Ok(out)
    }
}

/// rtrace's own counters, served with the maps: what the trace lost.
const COUNTERS: [(Counter, &str, &str); 4] = [
    (Counter::LostEvents, "rtrace_lost_events_total", "Events the ring buffer had no room for."),
    (Counter::FailedMapUpdates, "rtrace_failed_map_updates_total", "Map updates the kernel refused (a map was full)."),
    (Counter::FailedReads, "rtrace_failed_reads_total", "Memory reads of the script that failed (read as zeros)."),
    (Counter::LostStacks, "rtrace_lost_stacks_total", "Stacks the stack map had no room for (printed empty)."),
];

/// The family name of map `@name`.
pub fn family_name(name: &str) -> String {
    let name = if name.is_empty() { "map" } else { name };
    format!("rtrace_{}", name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect::<String>())
}

/// The label names of a map's key parts: as the script names them, `keyN` where it does not
/// or where two parts share a name; never `le` (a histogram's own label).
pub fn label_names(meta: &MapMeta) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(meta.keys.len());
    for i in 0..meta.keys.len() {
        let given = meta.key_names.get(i).map(String::as_str).unwrap_or_default();
        let clean: String = given.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        let usable = !clean.is_empty() && !clean.starts_with(|c: char| c.is_ascii_digit()) && !clean.starts_with("__") && clean != "le";
        let name = if usable && !names.contains(&clean) { clean } else { format!("key{i}") };
        names.push(name);
    }
    names
}

/// A label value escaped for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `{a="x",b="y"}` (with `extra` last), or nothing without labels.
fn labels(names: &[String], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names.iter().zip(values).map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect();
    parts.extend(extra.map(|(n, v)| format!("{n}=\"{v}\"")));
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Appends map `meta`'s family (its HELP and TYPE lines and at most `max_series` series, the
/// largest entries first); returns how many series the limit left out.
pub fn family(meta: &MapMeta, entries: &[Entry], max_series: usize, out: &mut String) -> usize {
    let mut name = family_name(&meta.name);
    let names = label_names(meta);
    let what = format!("@{}", meta.name);
    let (kind, suffix) = match meta.value {
        MapValue::Count | MapValue::Sum { signed: false } => ("counter", "_total"),
        MapValue::Hist { .. } | MapValue::Lhist { .. } => ("histogram", ""),
        MapValue::Stats => ("gauge", ""),
        MapValue::Scalar(t) if t.prints_as_text() || t.symbolic() => {
            let _ = writeln!(out, "# rtrace: {what} is not exported: its values are not numbers");
            return 0;
        }
        _ => ("gauge", ""),
    };
    // A map whose series would be one of rtrace's own (`@lost_events = count()`) is
    // `rtrace_map_lost_events_total` instead.
    let own = |n: &str| n == "rtrace_metrics_dropped_series_total" || COUNTERS.iter().any(|c| c.1 == n);
    if own(&format!("{name}{suffix}")) {
        name = format!("rtrace_map_{}", &name["rtrace_".len()..]);
    }
    let series_of = |e: &Entry| match &e.value {
        EntryValue::Hist { buckets, .. } => buckets.len() + 3,
        EntryValue::Stats { .. } => 3,
        _ => 1,
    };
    // Largest first (entries come in print order: ascending); whole entries only.
    let mut budget = max_series;
    let mut kept: Vec<&Entry> = Vec::new();
    let mut dropped = 0;
    for e in entries.iter().rev() {
        let n = series_of(e);
        if n <= budget {
            budget -= n;
            kept.push(e);
        } else {
            budget = 0;
            dropped += n;
        }
    }
    if meta.value == MapValue::Stats {
        for (part, help) in [("_count", "how many values"), ("_average", "their average"), ("_sum", "their total")] {
            let _ = writeln!(out, "# HELP {name}{part} {what}: stats(), {help}\n# TYPE {name}{part} gauge");
            for e in &kept {
                if let EntryValue::Stats { count, total } = e.value {
                    let v = match part {
                        "_count" => count,
                        "_sum" => total,
                        _ => EntryValue::Stats { count, total }.magnitude() as i64,
                    };
                    let _ = writeln!(out, "{name}{part}{} {v}", labels(&names, &e.key, None));
                }
            }
        }
        return dropped;
    }
    let _ = writeln!(out, "# HELP {name}{suffix} {what}: {}\n# TYPE {name}{suffix} {kind}", meta.value.describe());
    for e in &kept {
        match &e.value {
            EntryValue::Hist { buckets, sum } => {
                let mut total = 0u64;
                let mut inf = false;
                for b in buckets {
                    total += b.count;
                    let le = b.le.map_or_else(|| "+Inf".to_string(), |n| n.to_string());
                    inf |= b.le.is_none();
                    let _ = writeln!(out, "{name}_bucket{} {total}", labels(&names, &e.key, Some(("le", &le))));
                }
                if !inf {
                    let _ = writeln!(out, "{name}_bucket{} {total}", labels(&names, &e.key, Some(("le", "+Inf"))));
                }
                if let Some(sum) = sum {
                    let _ = writeln!(out, "{name}_sum{} {sum}", labels(&names, &e.key, None));
                }
                let _ = writeln!(out, "{name}_count{} {total}", labels(&names, &e.key, None));
            }
            EntryValue::Text(_) => {}
            v => {
                let _ = writeln!(out, "{name}{suffix}{} {}", labels(&names, &e.key, None), v.magnitude());
            }
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::MapLayout;
    use crate::runtime::output::Bucket;
    use crate::artifact::Type;

    fn meta(name: &str, keys: Vec<Type>, key_names: &[&str], value: MapValue) -> MapMeta {
        let layout = MapLayout { key_size: 8, value_size: 8, percpu: false, max_entries: 16, array: false };
        MapMeta { symbol: String::new(), name: name.into(), keys, key_names: key_names.iter().map(|s| s.to_string()).collect(), value, layout }
    }

    fn int(key: &[&str], n: i128) -> Entry {
        Entry { key: key.iter().map(|s| s.to_string()).collect(), value: EntryValue::Int(n) }
    }

    #[test]
    fn counts_are_counters_labelled_by_the_scripts_names() {
        let m = meta("opens", vec![Type::Str(16), Type::I64, Type::I64], &["comm", "", "comm"], MapValue::Count);
        let mut out = String::new();
        family(&m, &[int(&["sh", "1", "2"], 3), int(&["a\"b", "1", "2"], 5)], 100, &mut out);
        assert_eq!(
            out,
            "# HELP rtrace_opens_total @opens: count()\n# TYPE rtrace_opens_total counter\n\
             rtrace_opens_total{comm=\"a\\\"b\",key1=\"1\",key2=\"2\"} 5\n\
             rtrace_opens_total{comm=\"sh\",key1=\"1\",key2=\"2\"} 3\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_and_end_at_infinity() {
        let m = meta("lat", vec![], &[], MapValue::Hist { k: 0 });
        let b = |le, count| Bucket { index: 0, label: String::new(), le: Some(le), count };
        let e = Entry { key: vec![], value: EntryValue::Hist { buckets: vec![b(0, 2), b(1, 0), b(3, 5)], sum: Some(17) } };
        let mut out = String::new();
        family(&m, &[e], 100, &mut out);
        assert!(out.contains("rtrace_lat_bucket{le=\"0\"} 2\nrtrace_lat_bucket{le=\"1\"} 2\nrtrace_lat_bucket{le=\"3\"} 7\nrtrace_lat_bucket{le=\"+Inf\"} 7\nrtrace_lat_sum 17\nrtrace_lat_count 7\n"), "{out}");
        assert!(out.contains("# TYPE rtrace_lat histogram\n"));
    }

    #[test]
    fn the_limit_keeps_the_largest_and_counts_the_rest() {
        let m = meta("", vec![Type::I64], &["pid"], MapValue::Scalar(Type::I64));
        let entries: Vec<Entry> = (1..=5).map(|i| int(&[&i.to_string()], i128::from(i) * 10)).collect();
        let mut out = String::new();
        assert_eq!(family(&m, &entries, 2, &mut out), 3);
        assert!(out.ends_with("# TYPE rtrace_map gauge\nrtrace_map{pid=\"5\"} 50\nrtrace_map{pid=\"4\"} 40\n"), "{out}");
    }

    #[test]
    fn stats_are_three_gauges_and_text_maps_are_left_out() {
        let m = meta("s", vec![], &[], MapValue::Stats);
        let mut out = String::new();
        family(&m, &[Entry { key: vec![], value: EntryValue::Stats { count: 3, total: 61 } }], 100, &mut out);
        assert!(out.contains("rtrace_s_count 3\n") && out.contains("rtrace_s_average 20\n") && out.contains("rtrace_s_sum 61\n"), "{out}");
        let m = meta("t", vec![], &[], MapValue::Scalar(Type::Str(8)));
        let mut out = String::new();
        family(&m, &[], 100, &mut out);
        assert_eq!(out, "# rtrace: @t is not exported: its values are not numbers\n");
    }

    #[test]
    fn a_map_named_like_rtrace_s_own_counters_moves_aside() {
        let m = meta("lost_events", vec![], &[], MapValue::Count);
        let mut out = String::new();
        family(&m, &[int(&[], 3)], 100, &mut out);
        assert!(out.ends_with("# TYPE rtrace_map_lost_events_total counter\nrtrace_map_lost_events_total 3\n"), "{out}");
    }

    #[test]
    fn label_names_are_valid_and_distinct() {
        let m = meta("x", vec![Type::I64; 4], &["le", "9a", "pid", "pid"], MapValue::Count);
        assert_eq!(label_names(&m), ["key0", "key1", "pid", "key3"]);
    }
}
