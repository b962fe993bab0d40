//! `--live[=INTERVAL]`: the maps redrawn in place every interval on a terminal, what a
//! bpftrace user scripts with `interval:s:1 { print(@x); clear(@x); }`, but without losing
//! the totals: each entry shows its total and its rate over the last interval, entries
//! sorted by that rate, histograms as bars of the interval's values, the whole cut to the
//! window (TIOCGWINSZ, asked every frame, so a resized window is followed).
//!
//! Without a terminal (a pipe, `-o FILE`, `-f json`) nothing is redrawn: every interval
//! prints every map in bpftrace's own format (text or JSON lines), as the `print()` of an
//! interval probe would, and the exit dump follows as usual.
//!
//! The frame is made by `frame` (pure, tested with fixed sizes); `Live::tick` reads the
//! maps through the event sink, the same reader the exit dump uses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::events::EventSink;
use super::loader::Loaded;
use super::output::{entries, Entry, EntryValue};
use super::RuntimeError;
use crate::artifact::MapMeta;

/// The interval `--live` alone redraws at.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// `--live`'s INTERVAL: `500ms`, `2s`, `1m`, or seconds alone (`2`).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().map_err(|_| format!("`{text}` is not an interval: give e.g. 500ms, 2s or 1m"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1e3,
        "m" => n * 60.0,
        _ => return Err(format!("`{text}`: the unit is ms, s or m")),
    };
    if !(0.05..=86_400.0).contains(&secs) {
        return Err(format!("`{text}`: the interval is 50ms to 24h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub struct Live {
    interval: Duration,
    next: Instant,
    last: Instant,
    started: Instant,
    /// Redraw in place (stdout is a terminal), or print the maps each interval.
    terminal: bool,
    /// The previous frame's values: each map's entries by key (histograms by bucket).
    previous: HashMap<(String, Vec<String>), Vec<i128>>,
}

/// The size of the terminal on stdout: (rows, columns).
fn window() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ writes one winsize into `w`.
    let mut w: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut w) } == 0;
    if ok && w.ws_row > 0 && w.ws_col > 0 {
        (usize::from(w.ws_row), usize::from(w.ws_col))
    } else {
        (24, 80)
    }
}

impl Live {
    /// `terminal`: stdout is a terminal and the output is text (not `-o`, not JSON).
    pub fn new(interval: Duration, terminal: bool) -> Live {
        let now = Instant::now();
        let interval = interval.max(Duration::from_millis(50));
        Live { interval, next: now + interval, last: now, started: now, terminal, previous: HashMap::new() }
    }

    /// Draws a frame if the interval has passed.
    pub fn tick(&mut self, sink: &mut EventSink, loaded: &Loaded, metas: &[MapMeta]) -> Result<(), RuntimeError> {
        let now = Instant::now();
        if now < self.next {
            return Ok(());
        }
        self.next = now + self.interval;
        let elapsed = now.duration_since(self.last);
        self.last = now;
        if !self.terminal {
            return sink.print_all_maps(loaded);
        }
        let mut maps = Vec::with_capacity(metas.len());
        for id in 0..metas.len() {
            let (meta, raw) = sink.read_map(id, loaded)?;
            let read = entries(&meta, &raw, &sink.symbols(loaded));
            maps.push((meta, read));
        }
        maps.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        let (rows, cols) = window();
        let header = format!("rtrace --live: every {:.1}s, {:.0}s traced (Ctrl-C ends)", self.interval.as_secs_f64(), now.duration_since(self.started).as_secs_f64());
        let lines = frame(&header, &maps, &mut self.previous, elapsed, rows, cols);
        // Home, each line cleared to its end, then everything below the frame cleared.
        let mut out = String::from("\x1b[H");
        for l in &lines {
            out.push_str(l);
            out.push_str("\x1b[K\n");
        }
        out.push_str("\x1b[J");
        sink.write_out(out.as_bytes());
        Ok(())
    }

    /// Leaves the frame in place: what follows (the exit dump) starts below it.
    pub fn finish(&self, sink: &mut EventSink) {
        if self.terminal {
            sink.write_out(b"\n");
        }
    }
}

/// Width of the bars of histogram buckets.
const BAR: usize = 30;

/// One frame: `header`, then each map (entries by their rate over `elapsed`, highest first;
/// histograms as the interval's bucket counts), at most `rows - 1` lines of at most `cols`
/// characters (the last row stays free for the cursor). `previous` holds the values of the
/// last frame and is updated.
pub fn frame(
    header: &str,
    maps: &[(MapMeta, Vec<Entry>)],
    previous: &mut HashMap<(String, Vec<String>), Vec<i128>>,
    elapsed: Duration,
    rows: usize,
    cols: usize,
) -> Vec<String> {
    let secs = elapsed.as_secs_f64().max(1e-3);
    // Only the keys of this frame are kept: a map whose keys come and go (pids) does not
    // grow the memory of the view.
    let mut next: HashMap<(String, Vec<String>), Vec<i128>> = HashMap::new();
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for (meta, entries) in maps {
        let name = format!("@{}", meta.name);
        let key_text = |e: &Entry| if e.key.is_empty() { name.clone() } else { format!("{name}[{}]", e.key.join(", ")) };
        let mut scalars: Vec<(f64, String)> = Vec::new();
        let mut hists: Vec<String> = Vec::new();
        for e in entries {
            let id = (meta.name.clone(), e.key.clone());
            match &e.value {
                EntryValue::Hist { buckets, .. } => {
                    // Stored as (bucket index, count) pairs: the range of buckets shown moves.
                    let before = previous.get(&id);
                    let prev_count = |index: u64| before.and_then(|p| p.chunks(2).find(|c| c[0] == i128::from(index)).map(|c| c[1])).unwrap_or(0);
                    let deltas: Vec<i128> = buckets.iter().map(|b| i128::from(b.count) - prev_count(b.index)).collect();
                    let total: i128 = buckets.iter().map(|b| i128::from(b.count)).sum();
                    let interval: i128 = deltas.iter().sum();
                    hists.push(format!("{}: {total} values, {:.1}/s", key_text(e), interval as f64 / secs));
                    let max = deltas.iter().copied().max().unwrap_or(0).max(1);
                    for (b, d) in buckets.iter().zip(&deltas) {
                        let bar = (*d as f64 / max as f64 * BAR as f64).round().max(0.0) as usize;
                        hists.push(format!("  {:<16}{:>10} |{:<BAR$}|", b.label, d, "@".repeat(bar)));
                    }
                    next.insert(id, buckets.iter().flat_map(|b| [i128::from(b.index), i128::from(b.count)]).collect());
                }
                EntryValue::Text(t) => scalars.push((f64::NEG_INFINITY, format!("{}: {t}", key_text(e)))),
                EntryValue::Stats { count, .. } | EntryValue::Avg { count, .. } => {
                    let before = previous.get(&id).and_then(|p| p.first()).copied().unwrap_or(0);
                    let rate = (i128::from(*count) - before) as f64 / secs;
                    let value = match &e.value {
                        EntryValue::Stats { count, total } => format!("count {count}, average {}, total {total}", e.value.magnitude()),
                        v => v.magnitude().to_string(),
                    };
                    scalars.push((rate, format!("{:<40} {value:>14}   {rate:>10.1} values/s", key_text(e))));
                    next.insert(id, vec![i128::from(*count)]);
                }
                EntryValue::Int(n) => {
                    let before = previous.get(&id).and_then(|p| p.first()).copied().unwrap_or(0);
                    let rate = (n - before) as f64 / secs;
                    scalars.push((rate, format!("{:<40} {n:>14}   {rate:>10.1}/s", key_text(e))));
                    next.insert(id, vec![*n]);
                }
            }
        }
        if scalars.is_empty() && hists.is_empty() {
            continue;
        }
        // Highest rate first; entries in print order among equal rates, largest value first.
        scalars.reverse();
        scalars.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut block: Vec<String> = scalars.into_iter().map(|(_, l)| l).collect();
        block.extend(hists);
        blocks.push((name, block));
    }
    *previous = next;
    // The window is shared: each map gets rows in turn until all fit or the window is full
    // (a blank line before each map, the header and the cursor's row taken first), so a map
    // of many keys cannot push the others out of view.
    let mut room = rows.saturating_sub(2 + blocks.len());
    let mut shown = vec![0usize; blocks.len()];
    while room > 0 {
        let before = room;
        for (n, (_, b)) in shown.iter_mut().zip(&blocks) {
            if room > 0 && *n < b.len() {
                *n += 1;
                room -= 1;
            }
        }
        if room == before {
            break;
        }
    }
    let mut lines = vec![header.to_string()];
    for ((name, block), n) in blocks.iter().zip(shown) {
        lines.push(String::new());
        if n >= block.len() {
            lines.extend(block.iter().cloned());
        } else if n > 0 {
            // The last row it was given says what did not fit.
            lines.extend(block[..n - 1].iter().cloned());
            lines.push(format!("... {} more lines of {name} (a taller window shows them)", block.len() - (n - 1)));
        }
    }
    lines.truncate(rows.saturating_sub(1).max(1));
    for l in &mut lines {
        if l.chars().count() > cols {
            *l = l.chars().take(cols).collect();
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::MapLayout;
    use crate::runtime::output::Bucket;
    use crate::artifact::MapValue;
    use crate::artifact::Type;

    fn meta(name: &str, keys: Vec<Type>, value: MapValue) -> MapMeta {
        let layout = MapLayout { key_size: 8, value_size: 8, percpu: false, max_entries: 16, array: false };
        MapMeta { symbol: String::new(), name: name.into(), keys, key_names: vec![], value, layout }
    }

    fn ints(n: usize, value: impl Fn(usize) -> i128) -> Vec<Entry> {
        (0..n).map(|i| Entry { key: vec![i.to_string()], value: EntryValue::Int(value(i)) }).collect()
    }

    #[test]
    fn rates_are_over_the_interval_and_sorted() {
        let m = meta("c", vec![Type::I64], MapValue::Count);
        let mut prev = HashMap::new();
        frame("h", &[(m.clone(), ints(3, |i| 10 * i as i128))], &mut prev, Duration::from_secs(1), 30, 120);
        // Key 0 grows by 30 over 2 s, key 2 by 2.
        let entries = vec![
            Entry { key: vec!["0".into()], value: EntryValue::Int(30) },
            Entry { key: vec!["1".into()], value: EntryValue::Int(10) },
            Entry { key: vec!["2".into()], value: EntryValue::Int(22) },
        ];
        let lines = frame("h", &[(m, entries)], &mut prev, Duration::from_secs(2), 30, 120);
        let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows, [vec!["@c[0]", "30", "15.0/s"], vec!["@c[2]", "22", "1.0/s"], vec!["@c[1]", "10", "0.0/s"]]);
        // Keys gone from the map are forgotten.
        frame("h", &[(meta("c", vec![Type::I64], MapValue::Count), ints(1, |_| 1))], &mut prev, Duration::from_secs(1), 30, 120);
        assert_eq!(prev.len(), 1);
    }

    #[test]
    fn the_window_is_shared_between_maps() {
        let big = meta("big", vec![Type::I64], MapValue::Count);
        let small = meta("small", vec![], MapValue::Count);
        let one = vec![Entry { key: vec![], value: EntryValue::Int(1) }];
        let lines = frame("h", &[(big, ints(100, |i| i as i128)), (small, one)], &mut HashMap::new(), Duration::from_secs(1), 12, 40);
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert!(lines[8].starts_with("... 94 more lines of @big"), "{lines:#?}");
        assert!(lines[10].starts_with("@small"), "{lines:#?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 40));
    }

    #[test]
    fn histograms_show_the_interval_s_values() {
        let m = meta("h", vec![], MapValue::Hist { k: 0 });
        let b = |index, count| Bucket { index, label: format!("[{index}]"), le: Some(index as i128), count };
        let mut prev = HashMap::new();
        frame("h", &[(m.clone(), vec![Entry { key: vec![], value: EntryValue::Hist { buckets: vec![b(1, 4)], sum: None } }])], &mut prev, Duration::from_secs(1), 30, 120);
        let lines = frame("h", &[(m, vec![Entry { key: vec![], value: EntryValue::Hist { buckets: vec![b(1, 5), b(2, 3)], sum: None } }])], &mut prev, Duration::from_secs(1), 30, 120);
        assert_eq!(lines[2], "@h: 8 values, 4.0/s");
        assert!(lines[3].contains("[1]") && lines[3].contains(" 1 |"), "{lines:#?}");
        assert!(lines[4].contains(" 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|"), "{lines:#?}");
    }

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_interval("1h").is_err() && parse_interval("0s").is_err() && parse_interval("x").is_err());
    }
}
