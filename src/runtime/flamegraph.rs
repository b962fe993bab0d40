//! `--flamegraph FILE.svg`: at the end of the trace, every map keyed by a stack, folded
//! (`output::folded`) and drawn by inferno into one interactive SVG. The maps are read by
//! the exit dump's reader; the SVG is written whole or not at all (a temporary file renamed).

use super::events::EventSink;
use super::loader::Loaded;
use super::output::folded;
use super::RuntimeError;
use crate::artifact::MapMeta;

/// Whether the SVG can be written where asked, checked before tracing: a wrong directory is
/// said at once, not after the trace.
pub fn check_writable(path: &std::path::Path) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("svg.tmp");
    std::fs::File::create(&tmp).and_then(|_| std::fs::remove_file(&tmp)).map_err(|error| RuntimeError::Output { path: path.to_path_buf(), error })
}

/// Writes the flame graph of the stack-keyed maps to `path`; warns, and writes nothing, when
/// no map is keyed by a stack or none holds a sample.
pub fn write(sink: &EventSink, loaded: &Loaded, metas: &[MapMeta], path: &std::path::Path) -> Result<(), RuntimeError> {
    let mut lines = Vec::new();
    let mut names = Vec::new();
    for (id, meta) in metas.iter().enumerate().filter(|(_, m)| folded::applies(m)) {
        let (meta_read, raw) = sink.read_map(id, loaded)?;
        lines.extend(folded::lines(&meta_read, &raw, &sink.symbols(loaded)));
        names.push(format!("@{}", meta.name));
    }
    if names.is_empty() {
        crate::diagnostics::warn(format_args!("--flamegraph: no map is keyed by a stack (e.g. `@[kstack] = count()`), so {} was not written", path.display()));
        return Ok(());
    }
    if lines.is_empty() {
        crate::diagnostics::warn(format_args!("--flamegraph: {} held no samples, so {} was not written", names.join(", "), path.display()));
        return Ok(());
    }
    let svg = folded::flamegraph_svg(&lines, &format!("rtrace: {}", names.join(", "))).map_err(|message| RuntimeError::Setup { message: format!("--flamegraph: {message}") })?;
    let tmp = path.with_extension("svg.tmp");
    std::fs::write(&tmp, &svg).and_then(|()| std::fs::rename(&tmp, path)).map_err(|error| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::Output { path: path.to_path_buf(), error }
    })
}
