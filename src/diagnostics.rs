//! What every stage's errors turn into: a codespan `Diagnostic` over the script's files, plus
//! the one "did you mean" helper all stages share.

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};

use crate::span::Span;

pub type Diag = Diagnostic<usize>;
pub type Files = SimpleFiles<String, String>;

/// Anything a stage reports to the user.
pub trait ToDiagnostic {
    fn to_diagnostic(&self) -> Diag;
}

pub fn primary(span: Span, message: impl std::fmt::Display) -> Label<usize> {
    Label::primary(span.file, span.range()).with_message(message)
}

pub fn secondary(span: Span, message: impl std::fmt::Display) -> Label<usize> {
    Label::secondary(span.file, span.range()).with_message(message)
}

static WARNINGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `--no-warnings`: from here on no warning is printed, at compile time or while tracing
/// (`warnf` included); errors still are.
pub fn silence_warnings() {
    WARNINGS.store(false, std::sync::atomic::Ordering::Relaxed);
}

pub fn warnings_shown() -> bool {
    WARNINGS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prints a warning that has no place in the script on stderr, as bpftrace does
/// (`WARNING: ...`), unless warnings are silenced.
pub fn warn(message: impl std::fmt::Display) {
    if warnings_shown() {
        stderr_line(&format!("WARNING: {message}"));
    }
}

/// Writes a line to stderr; a stderr that cannot be written (its reader gone) is ignored,
/// where eprintln! would panic. A progress line on the terminal (`runtime::progress`) is
/// erased first, and redrawn below by its next tick.
pub fn stderr_line(text: &str) {
    use std::io::Write;
    let mut e = std::io::stderr().lock();
    if PROGRESS_SHOWN.swap(false, std::sync::atomic::Ordering::Relaxed) {
        let _ = e.write_all(b"\r\x1b[K");
    }
    let _ = e.write_all(text.as_bytes()).and_then(|()| e.write_all(b"\n"));
}

/// Whether a progress line is on the terminal, unfinished (`runtime::progress` sets it after
/// each draw): `stderr_line` erases it first.
pub static PROGRESS_SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Renders diagnostics to stderr, coloured when stderr is a terminal (warnings only while
/// they are shown).
pub fn emit(files: &Files, diags: &[Diag]) {
    let choice = if std::io::IsTerminal::is_terminal(&std::io::stderr()) { termcolor::ColorChoice::Auto } else { termcolor::ColorChoice::Never };
    let writer = termcolor::StandardStream::stderr(choice);
    let config = term::Config::default();
    for d in diags.iter().filter(|d| d.severity != codespan_reporting::diagnostic::Severity::Warning || warnings_shown()) {
        let (shown, d) = Shown::new(files, d);
        // A failure to write to stderr leaves nothing better to do.
        let _ = term::emit_to_write_style(&mut writer.lock(), &config, &shown, &d);
    }
}

/// Renders without colour, for tests and snapshot files.
pub fn render_plain(files: &Files, diags: &[Diag]) -> String {
    let config = term::Config::default();
    diags
        .iter()
        .filter_map(|d| {
            let (shown, d) = Shown::new(files, d);
            term::emit_into_string(&config, &shown, &d).ok()
        })
        .collect()
}

/// A source line longer than this (in bytes) is shown as a window around its labels.
const MAX_SHOWN_LINE: usize = 200;
/// The longest underline: a label over more bytes is underlined on its first ones.
const MAX_UNDERLINE: usize = 80;
/// Bytes shown before the first label of a cut line.
const CONTEXT: usize = 40;
/// Marks what a cut line leaves out.
const ELLIPSIS: &str = "…";

/// The files as one diagnostic shows them: its labels cut to `MAX_UNDERLINE`, and the lines
/// they are on, when longer than `MAX_SHOWN_LINE`, cut to a window around them (a
/// 2,000-character string literal is not printed, nor underlined, whole). Locations are still
/// those of the real source.
struct Shown<'f> {
    files: &'f Files,
    /// Per file: the text shown and where its pieces come from, as (shown, source) offsets
    /// of piece starts, ascending.
    texts: Vec<(String, Vec<(usize, usize)>)>,
}

impl<'f> Shown<'f> {
    fn new(files: &'f Files, d: &Diag) -> (Shown<'f>, Diag) {
        let mut d = d.clone();
        let mut texts = Vec::new();
        for (id, file) in (0..).map_while(|id| files.get(id).ok().map(|f| (id, f))) {
            let source = file.source().as_str();
            for l in d.labels.iter_mut().filter(|l| l.file_id == id) {
                let end = l.range.end.min(l.range.start.saturating_add(MAX_UNDERLINE)).max(l.range.start);
                l.range.end = floor_char(source, end);
            }
            let (text, pieces) = window_lines(source, d.labels.iter().filter(|l| l.file_id == id).map(|l| l.range.clone()).collect());
            let shown = |at: usize| {
                let i = pieces.partition_point(|&(_, src)| src <= at).saturating_sub(1);
                pieces.get(i).map_or(at, |&(shown, src)| shown + (at - src))
            };
            for l in d.labels.iter_mut().filter(|l| l.file_id == id) {
                l.range = shown(l.range.start)..shown(l.range.end);
            }
            texts.push((text, pieces));
        }
        (Shown { files, texts }, d)
    }

    fn text(&self, id: usize) -> Result<&str, codespan_reporting::files::Error> {
        self.texts.get(id).map(|(t, _)| t.as_str()).ok_or(codespan_reporting::files::Error::FileMissing)
    }
}

/// `source` with every line longer than `MAX_SHOWN_LINE` that a label starts on cut to
/// windows around its labels; and the pieces of the result, as (shown, source) offsets.
fn window_lines(source: &str, labels: Vec<std::ops::Range<usize>>) -> (String, Vec<(usize, usize)>) {
    let mut text = String::with_capacity(source.len().min(1 << 16));
    let mut pieces = Vec::new();
    let mut start = 0;
    for line in source.split_inclusive('\n') {
        let end = start + line.trim_end_matches('\n').len();
        let mut windows: Vec<(usize, usize)> = labels
            .iter()
            .filter(|r| (start..=end).contains(&r.start))
            .map(|r| (floor_char(source, r.start.saturating_sub(CONTEXT).max(start)), ceil_char(source, (r.end.max(r.start) + CONTEXT).min(end))))
            .collect();
        if end - start <= MAX_SHOWN_LINE || windows.is_empty() {
            pieces.push((text.len(), start));
            text.push_str(line);
            start += line.len();
            continue;
        }
        windows.sort();
        // Overlapping windows, and gaps too short to be worth a cut, become one.
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (lo, hi) in windows {
            match merged.last_mut() {
                Some(last) if lo <= last.1 + CONTEXT => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let mut at = start;
        for (lo, hi) in merged {
            let lo = if lo - at <= CONTEXT { at } else { lo };
            if lo > at {
                pieces.push((text.len(), lo));
                text.push_str(ELLIPSIS);
            }
            pieces.push((text.len(), lo));
            text.push_str(&source[lo..hi]);
            at = hi;
        }
        if end - at > CONTEXT {
            pieces.push((text.len(), at));
            text.push_str(ELLIPSIS);
            at = end;
        }
        pieces.push((text.len(), at));
        text.push_str(&source[at..start + line.len()]);
        start += line.len();
    }
    (text, pieces)
}

fn floor_char(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char(s: &str, mut at: usize) -> usize {
    at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at += 1;
    }
    at
}

impl<'a> codespan_reporting::files::Files<'a> for Shown<'_> {
    type FileId = usize;
    type Name = String;
    type Source = &'a str;

    fn name(&'a self, id: usize) -> Result<String, codespan_reporting::files::Error> {
        self.files.name(id)
    }

    fn source(&'a self, id: usize) -> Result<&'a str, codespan_reporting::files::Error> {
        self.text(id)
    }

    fn line_index(&'a self, id: usize, byte_index: usize) -> Result<usize, codespan_reporting::files::Error> {
        let text = self.text(id)?;
        Ok(text.as_bytes()[..byte_index.min(text.len())].iter().filter(|&&b| b == b'\n').count())
    }

    fn line_range(&'a self, id: usize, line_index: usize) -> Result<std::ops::Range<usize>, codespan_reporting::files::Error> {
        let text = self.text(id)?;
        let mut starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1));
        let start = starts.nth(line_index).ok_or(codespan_reporting::files::Error::LineTooLarge { given: line_index, max: 0 })?;
        Ok(start..starts.next().unwrap_or(text.len()))
    }

    /// Where a shown offset is in the real source: the location a header names.
    fn location(&'a self, id: usize, byte_index: usize) -> Result<codespan_reporting::files::Location, codespan_reporting::files::Error> {
        let pieces = self.texts.get(id).map(|(_, p)| p.as_slice()).unwrap_or_default();
        let i = pieces.partition_point(|&(shown, _)| shown <= byte_index).saturating_sub(1);
        let at = pieces.get(i).map_or(byte_index, |&(shown, src)| src + (byte_index - shown));
        self.files.location(id, at)
    }
}

/// How close a candidate must be (normalised Levenshtein similarity, 0..1) to be suggested.
pub const SUGGESTION_SIMILARITY: f64 = 0.6;

/// Up to three candidates closest to `name`, best first.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates.into_iter().map(|c| (similarity(name, c), c)).filter(|(s, _)| *s >= SUGGESTION_SIMILARITY).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c.to_string()).collect()
}

fn similarity(a: &str, b: &str) -> f64 {
    let len = a.chars().count().max(b.chars().count());
    if len == 0 {
        return 1.0;
    }
    1.0 - levenshtein(a, b) as f64 / len as f64
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "`a`, `b` or `c`"
pub fn one_of(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// The source line holding byte `start` of `text`, and below it `~` under `start..end` (to
/// the end of the line when the range goes on), as bpftrace shows the site of a problem met
/// while tracing.
pub fn underlined(text: &str, start: usize, end: usize) -> Vec<String> {
    let start = start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[line_start..line_end];
    let from = text[line_start..start].chars().count();
    let width = text[start..end.clamp(start, line_end)].chars().count().max(1);
    vec![line.to_string(), format!("{}{}", " ".repeat(from), "~".repeat(width))]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, labels: &[(std::ops::Range<usize>, &str)]) -> String {
        let mut files = Files::new();
        files.add("-e".to_string(), src.to_string());
        let labels = labels.iter().map(|(r, m)| Label::primary(0, r.clone()).with_message(*m)).collect();
        render_plain(&files, &[Diagnostic::error().with_message("m").with_labels(labels)])
    }

    #[test]
    fn long_lines_show_a_window_around_the_label_at_its_real_column() {
        let src = format!("BEGIN {{ $s = \"{}\"; {}x; }}\nEND {{ }}\n", "a".repeat(3000), "b ".repeat(200));
        let x = src.find('x').expect("x");
        let shown = render(&src, &[(14..3016, "the string"), (x..x + 1, "here")]);
        assert!(shown.lines().all(|l| l.chars().count() < 2 * MAX_SHOWN_LINE), "{shown}");
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn short_lines_are_shown_whole() {
        insta::assert_snapshot!(render("BEGIN { printf(\"%d\\n\", nope); }", &[(23..27, "not a builtin")]));
    }
}

