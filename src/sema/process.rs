//! `-p PID` and the binaries of uprobe and usdt attach points: a binary left out
//! (`usdt::tracetest:probe`) or given as a wildcard without a directory (`uprobe:*:f`)
//! stands for every file the process has mapped executable, as in bpftrace; an absolute path
//! that only the process sees (it runs in another mount namespace) is read through
//! `/proc/PID/root`.

use crate::system::glob_match;
use super::hir::AttachPoint;
use super::{KernelInfo, SemaError};
use crate::parser::ast;

/// Whether `binary` stands for the binaries of the -p process rather than names one.
pub fn names_the_process(binary: &str) -> bool {
    binary.is_empty() || (binary.contains(['*', '?', '[']) && !binary.contains('/'))
}

/// The binaries of process `pid` that `binary` (empty: all) matches, by full path or file
/// name.
pub fn matching_binaries(binary: &str, kernel: &dyn KernelInfo, pid: u32) -> Vec<String> {
    let pattern = if binary.is_empty() { "*" } else { binary };
    kernel
        .process_binaries(pid)
        .into_iter()
        .filter(|b| glob_match(pattern, b) || glob_match(pattern, b.rsplit('/').next().unwrap_or(b)))
        .collect()
}

/// Resolves `ap` with `resolve` once per binary its BINARY part stands for.
pub(super) fn each_binary(
    ap: &ast::AttachPoint,
    binary: &str,
    kernel: &dyn KernelInfo,
    pid: Option<u32>,
    resolve: impl Fn(&str) -> Result<Vec<AttachPoint>, SemaError>,
) -> Result<Vec<AttachPoint>, SemaError> {
    let Some(pid) = pid else { return resolve(binary) };
    if !names_the_process(binary) {
        return resolve(binary).or_else(|e| match binary.starts_with('/') {
            true => resolve(&format!("/proc/{pid}/root{binary}")).map_err(|_| e),
            false => Err(e),
        });
    }
    let binaries = matching_binaries(binary, kernel, pid);
    let found: Vec<AttachPoint> = binaries.iter().filter_map(|b| resolve(b).ok()).flatten().collect();
    if found.is_empty() {
        let which = if binary.is_empty() { String::new() } else { format!(" matching `{binary}`") };
        return Err(SemaError::MissingAttachPoint {
            span: ap.span,
            message: format!("no binary{which} mapped by process {pid} has `{}`", ap.raw),
            help: format!("process {pid} maps {} executable files; list their probes with `rtrace -l -p {pid}`", binaries.len()),
        });
    }
    Ok(found)
}
