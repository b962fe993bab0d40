//! Stack-keyed maps as folded stacks (`-f folded`), one line per entry:
//! `comm;root_fn;...;leaf_fn 42`, the input of flamegraph.pl and inferno; and the flame graph
//! SVG of those lines (`--flamegraph`), drawn by inferno. Pure.
//!
//! Key parts are frames in key order: a stack becomes its frames, outermost first, each a
//! function name without its `+offset` (so samples in one function merge); any other part
//! (a `comm`, a pid) becomes one frame. An entry's value is its count (an integer), the
//! average of an `avg`/`stats`, or the number of values of a histogram.

use super::{entries, EntryValue, RawEntries, Resolve};
use crate::artifact::MapMeta;
use crate::artifact::MapValue;
use crate::artifact::Type;

/// Whether `-f folded` prints the map as folded stacks: it has a stack in its key and
/// numbers as values.
pub fn applies(meta: &MapMeta) -> bool {
    let numeric = match meta.value {
        MapValue::Scalar(t) => t.is_int() && !t.prints_as_text() && !t.symbolic(),
        _ => true,
    };
    numeric && meta.keys.iter().any(|k| matches!(k, Type::Stack(_)))
}

/// The folded lines of a map `applies` to (entries with a value of 0 or less are left out,
/// as a flame graph has nothing to draw for them), largest first.
pub fn lines(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries(meta, raw, resolve).into_iter().rev() {
        let n = match &e.value {
            EntryValue::Hist { buckets: b, .. } => b.iter().map(|b| i128::from(b.count)).sum(),
            v => v.magnitude(),
        };
        if n <= 0 {
            continue;
        }
        let mut frames: Vec<String> = Vec::new();
        for (part, ty) in e.key.iter().zip(&meta.keys) {
            match ty {
                Type::Stack(_) => frames.extend(stack_frames(part)),
                _ => frames.push(frame(part)),
            }
        }
        if frames.is_empty() {
            frames.push("[unknown]".into());
        }
        out.push(format!("{} {n}", frames.join(";")));
    }
    out
}

/// A map's folded lines as text.
pub fn render(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve) -> String {
    lines(meta, raw, resolve).into_iter().map(|l| l + "\n").collect()
}

/// A stack as the text format prints it (a newline, then one frame per line, innermost
/// first, in any `stack_mode`) -> its function names, outermost first.
fn stack_frames(text: &str) -> Vec<String> {
    let mut frames: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            // perf mode: `addr symbol+off (module)`; bpftrace mode: `symbol+off`.
            let mut words = line.splitn(2, char::is_whitespace);
            let first = words.next().unwrap_or_default();
            let rest = words.next().map(str::trim);
            let symbol = match rest {
                Some(rest) if u64::from_str_radix(first, 16).is_ok() => rest.split(" (").next().unwrap_or(rest),
                _ => line,
            };
            frame(strip_offset(symbol))
        })
        .collect();
    frames.reverse();
    frames
}

/// `function+123` -> `function`.
fn strip_offset(symbol: &str) -> &str {
    match symbol.rsplit_once('+') {
        Some((name, off)) if !name.is_empty() && !off.is_empty() && off.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => symbol,
    }
}

/// One frame: no `;` (the separator) and no line breaks; empty is `[unknown]`.
fn frame(text: &str) -> String {
    let t: String = text.trim().chars().map(|c| if c == ';' || c == '\n' || c == '\r' { ':' } else { c }).collect();
    if t.is_empty() {
        "[unknown]".into()
    } else {
        t
    }
}

/// The flame graph of folded `lines` as an interactive SVG (inferno's: search, zoom, a
/// tooltip per frame), titled `title`.
pub fn flamegraph_svg(lines: &[String], title: &str) -> Result<Vec<u8>, String> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_string();
    options.count_name = "samples".to_string();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg).map_err(|e| e.to_string())?;
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::MapLayout;
    use crate::artifact::types::{StackMode, StackSpec};

    /// Stack id N is frames `f{N}_leaf+4`, `f{N}_mid+8`, `main+1` (innermost first).
    struct Stacks;
    impl Resolve for Stacks {
        fn stack(&self, _: StackSpec, raw: u64) -> String {
            format!("\n    f{raw}_leaf+4\n    f{raw}_mid+8\n    main+1\n")
        }
        fn ksym(&self, _: u64) -> String {
            String::new()
        }
        fn usym(&self, _: u64, _: u32) -> String {
            String::new()
        }
        fn timestamp(&self, _: u32, _: u64) -> String {
            String::new()
        }
    }

    #[test]
    fn stacks_fold_outermost_first_after_the_other_key_parts() {
        let spec = StackSpec { user: false, mode: StackMode::Bpftrace, limit: 127 };
        let keys = vec![Type::Str(8), Type::Stack(spec)];
        let layout = MapLayout { key_size: 16, value_size: 8, percpu: false, max_entries: 16, array: false };
        let meta = MapMeta { symbol: String::new(), name: String::new(), keys, key_names: vec![], value: MapValue::Count, layout };
        assert!(applies(&meta));
        let mut raw = RawEntries::new(16, 8);
        for (comm, id, n) in [(b"sh\0\0\0\0\0\0", 1u64, 3u64), (b"a;b\0\0\0\0\0", 2, 7), (b"zero\0\0\0\0", 3, 0)] {
            let mut key = comm.to_vec();
            key.extend_from_slice(&id.to_le_bytes());
            raw.push(&key, &n.to_le_bytes());
        }
        assert_eq!(render(&meta, &raw, &Stacks), "a:b;main;f2_mid;f2_leaf 7\nsh;main;f1_mid;f1_leaf 3\n");
    }

    #[test]
    fn perf_and_raw_frames_keep_the_symbol() {
        assert_eq!(stack_frames("\n\tffffffff8100 do_sys_open+12\n\t7f00 read+3 (/usr/lib/libc.so.6)\n"), ["read", "do_sys_open"]);
        assert_eq!(stack_frames("\nffffffff8100\n"), ["ffffffff8100"]);
        assert_eq!(strip_offset("operator+"), "operator+");
    }

    #[test]
    fn the_svg_has_a_frame_per_function() {
        let svg = String::from_utf8(flamegraph_svg(&["main;work 3".into(), "main;idle 1".into()], "t").unwrap_or_default()).unwrap_or_default();
        assert!(svg.starts_with("<?xml") && svg.contains(">work<") || svg.contains("work (3 samples"), "{svg}");
        assert!(svg.contains("main (4 samples"), "{}", &svg[..svg.len().min(2000)]);
    }
}
