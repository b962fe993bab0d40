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
use crate::codegen::artifact::MapMeta;

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
    let mut lines = vec![header.to_string()];
    for (meta, entries) in maps {
        let name = format!("@{}", meta.name);
        let key_text = |e: &Entry| if e.key.is_empty() { name.clone() } else { format!("{name}[{}]", e.key.join(", ")) };
        let mut scalars: Vec<(f64, String)> = Vec::new();
        let mut hists: Vec<String> = Vec::new();
        for e in entries {
            let id = (meta.name.clone(), e.key.clone());
            match &e.value {
                EntryValue::Hist(buckets) => {
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
                    previous.insert(id, buckets.iter().flat_map(|b| [i128::from(b.index), i128::from(b.count)]).collect());
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
                    previous.insert(id, vec![i128::from(*count)]);
                }
                EntryValue::Int(n) => {
                    let before = previous.get(&id).and_then(|p| p.first()).copied().unwrap_or(0);
                    let rate = (n - before) as f64 / secs;
                    scalars.push((rate, format!("{:<40} {n:>14}   {rate:>10.1}/s", key_text(e))));
                    previous.insert(id, vec![*n]);
                }
            }
        }
        if scalars.is_empty() && hists.is_empty() {
            continue;
        }
        lines.push(String::new());
        // Highest rate first; entries in print order among equal rates, largest value first.
        scalars.reverse();
        scalars.sort_by(|a, b| b.0.total_cmp(&a.0));
        lines.extend(scalars.into_iter().map(|(_, l)| l));
        lines.extend(hists);
    }
    let room = rows.saturating_sub(1).max(1);
    if lines.len() > room {
        let cut = lines.len() - (room - 1);
        lines.truncate(room - 1);
        lines.push(format!("... {cut} more lines (a taller window shows them)"));
    }
    for l in &mut lines {
        if l.chars().count() > cols {
            *l = l.chars().take(cols).collect();
        }
    }
    lines
}
