//! Formats a large map's lines on every core: the sorted entries are cut into one contiguous
//! run per thread, each thread writes its run's lines into its own string, and the strings are
//! joined in order, so the text is byte for byte what one thread would write.
//!
//! Only maps whose lines need nothing from the resolver but the string trailer (integer and
//! string keys, integer values: counts, sums, min, max, plain integers) are split: symbols and
//! stacks go through the runtime's caches, which are not shared between threads.

use super::{render_lines, Folded, Ranked, Resolve, Sorted};
use crate::artifact::types::StackSpec;
use crate::artifact::{MapMeta, MapValue, Type};

/// Below this many lines one thread formats faster than starting others.
const MIN_LINES: usize = 50_000;
/// Lines per thread at least, so that small maps do not spread over many cores.
const MIN_PER_THREAD: usize = 25_000;

/// The map's text, formatted by several threads; None when it should be formatted by one
/// (a small map, one core, or a type that needs the resolver).
pub(super) fn render(meta: &MapMeta, sorted: &Sorted, resolve: &dyn Resolve) -> Option<String> {
    let lines = sorted.order.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(lines / MIN_PER_THREAD).min(8);
    if lines < MIN_LINES || threads < 2 || !plain(meta) || !sorted.entries.iter().all(|(_, v)| matches!(v, Folded::Int(_))) {
        return None;
    }
    let trailer = Trailer(resolve.str_trailer().to_string());
    let runs: Vec<&[Ranked]> = sorted.order.chunks(lines.div_ceil(threads)).collect();
    let format = |run: &[Ranked], resolve: &dyn Resolve| {
        let mut out = String::with_capacity(run.len() * 32);
        render_lines(meta, sorted, run, resolve, &mut out);
        out
    };
    let texts: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = runs[1..]
            .iter()
            .map(|run| {
                let (trailer, format) = (&trailer, &format);
                std::thread::Builder::new().name("rtrace-print".into()).spawn_scoped(s, move || format(run, trailer))
            })
            .collect();
        let mut texts = vec![format(runs[0], resolve)];
        for (run, worker) in runs[1..].iter().zip(workers) {
            texts.push(match worker.map(|w| w.join()) {
                Ok(Ok(text)) => text,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                // The thread could not start: this one formats its run.
                Err(_) => format(run, resolve),
            });
        }
        texts
    });
    // Appended to the first run's text: growing a large allocation remaps it in place
    // (mremap), so the join copies only the other runs and never holds the map's text twice.
    let mut texts = texts.into_iter();
    let mut out = texts.next().unwrap_or_default();
    for t in texts {
        out.push_str(&t);
    }
    Some(out)
}

/// Whether every line of the map is integers and strings only.
fn plain(meta: &MapMeta) -> bool {
    let key_ok = |t: &Type| matches!(t, Type::Int { .. } | Type::Str(_));
    let value_ok = match meta.value {
        MapValue::Scalar(t) => matches!(t, Type::Int { .. }),
        MapValue::Count | MapValue::Sum { .. } | MapValue::Min { .. } | MapValue::Max { .. } => true,
        _ => false,
    };
    value_ok && meta.keys.iter().all(key_ok)
}

/// The resolver of a plain map's lines on the other threads: the string trailer only.
struct Trailer(String);

impl Resolve for Trailer {
    fn stack(&self, _: StackSpec, raw: u64) -> String {
        unreachable!("plain() maps hold no stacks ({raw:#x})")
    }
    fn ksym(&self, addr: u64) -> String {
        unreachable!("plain() maps hold no symbols ({addr:#x})")
    }
    fn usym(&self, addr: u64, _: u32) -> String {
        unreachable!("plain() maps hold no symbols ({addr:#x})")
    }
    fn timestamp(&self, _: u32, ns: u64) -> String {
        unreachable!("plain() maps hold no timestamps ({ns})")
    }
    fn str_trailer(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::{sorted, Limits, RawEntries};
    use super::*;
    use crate::artifact::{slot_size, MapLayout};

    /// A counter keyed by (integer, 4-byte string), `n` entries with repeated counts.
    fn counts(n: u64) -> (MapMeta, RawEntries) {
        let keys = vec![Type::I64, Type::Str(4)];
        let key_size = keys.iter().map(|k| slot_size(*k)).sum::<usize>();
        let layout = MapLayout { key_size, value_size: 8, percpu: false, max_entries: n as u32, array: false };
        let meta = MapMeta { key_names: Vec::new(), symbol: String::new(), name: "c".into(), keys, value: MapValue::Count, layout };
        let mut raw = RawEntries::new(key_size, 8);
        for i in 0..n {
            let mut key = (i * 7919 % n).to_le_bytes().to_vec();
            key.extend_from_slice(if i % 3 == 0 { b"abcd" } else { b"ab\0\0" });
            key.resize(key_size, 0);
            raw.push(&key, &(i % 1000).to_le_bytes());
        }
        (meta, raw)
    }

    #[test]
    fn split_text_is_what_one_thread_writes() {
        let (meta, raw) = counts(120_000);
        let sorted = sorted(&meta, &raw, Limits::default());
        let mut one = String::new();
        render_lines(&meta, &sorted, &sorted.order, &Trailer("~".into()), &mut one);
        assert_eq!(one.lines().count(), 120_000);
        assert!(one.contains("@c[0, abcd~]: 0\n"), "{}", &one[..200]);
        match render(&meta, &sorted, &Trailer("~".into())) {
            Some(split) => assert!(split == one, "the split text differs"),
            None => assert_eq!(std::thread::available_parallelism().map_or(1, |n| n.get()), 1, "a plain map of 120k lines is split"),
        }
    }

    #[test]
    fn lines_written_from_the_order_alone_are_the_same() {
        let keys = vec![Type::I64];
        let layout = MapLayout { key_size: 8, value_size: 8, percpu: false, max_entries: 1 << 17, array: false };
        let meta = MapMeta { key_names: Vec::new(), symbol: String::new(), name: String::new(), keys, value: MapValue::Count, layout };
        let mut raw = RawEntries::new(8, 8);
        for i in 0..100_000u64 {
            raw.push(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) as i64 >> 3).to_le_bytes(), &(i % 97).to_le_bytes());
        }
        let mut sorted = sorted(&meta, &raw, Limits { top: 90_000, div: 3 });
        assert!(sorted.direct);
        let mut direct = String::new();
        render_lines(&meta, &sorted, &sorted.order, &Trailer(String::new()), &mut direct);
        sorted.direct = false;
        let mut indexed = String::new();
        render_lines(&meta, &sorted, &sorted.order, &Trailer(String::new()), &mut indexed);
        assert_eq!(direct.lines().count(), 90_000);
        assert!(direct == indexed, "the lines differ");
        assert!(direct.starts_with("@["), "{}", &direct[..100]);
    }

    #[test]
    fn small_maps_and_symbols_stay_on_one_thread() {
        let (meta, raw) = counts(1000);
        assert!(render(&meta, &sorted(&meta, &raw, Limits::default()), &Trailer(String::new())).is_none());
        let (mut meta, raw) = counts(120_000);
        meta.keys[0] = Type::Ksym;
        assert!(!plain(&meta));
        assert!(render(&meta, &sorted(&meta, &raw, Limits::default()), &Trailer(String::new())).is_none());
    }
}
