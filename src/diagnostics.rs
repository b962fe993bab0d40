//! What every stage's errors turn into: a codespan `Diagnostic` over the script's files, plus
//! the one "did you mean" helper all stages share.

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};

use crate::parser::Span;

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

/// Renders diagnostics to stderr, coloured when stderr is a terminal.
pub fn emit(files: &Files, diags: &[Diag]) {
    let choice = if std::io::IsTerminal::is_terminal(&std::io::stderr()) { termcolor::ColorChoice::Auto } else { termcolor::ColorChoice::Never };
    let writer = termcolor::StandardStream::stderr(choice);
    let config = term::Config::default();
    for d in diags {
        // A failure to write to stderr leaves nothing better to do.
        let _ = term::emit_to_write_style(&mut writer.lock(), &config, files, d);
    }
}

/// Renders without colour, for tests and snapshot files.
pub fn render_plain(files: &Files, diags: &[Diag]) -> String {
    let config = term::Config::default();
    diags.iter().filter_map(|d| term::emit_into_string(&config, files, d).ok()).collect()
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
