//! `--bench`: each `bench:NAME` program runs in the kernel with BPF_PROG_TEST_RUN, its
//! repeat count raised (as bpftrace does: x1000, x100, x10, then x2) until the runs together
//! take at least a millisecond, and its average time per run is reported: a table in text,
//! a `benchmark_result` line per benchmark in JSON. A benchmark that returns nonzero (a
//! `return` with a value: bpftrace's way to skip one) is left out of the report.

use super::error::RuntimeError;
use super::events::EventSink;
use super::loader::Loaded;
use super::sys;

/// Width of the name column: at least this, else the longest name (bpftrace's).
const NAME_WIDTH: usize = 40;
/// Width of the time column.
const TIME_WIDTH: usize = 15;

/// Runs the benchmarks `names` (program function, bench name) in order and reports them.
pub fn run(loaded: &Loaded, benches: &[(&str, &str)], sink: &mut EventSink, json: bool) -> Result<(), RuntimeError> {
    let width = benches.iter().map(|(_, n)| n.len()).max().unwrap_or(0).max(NAME_WIDTH) + 1;
    for (i, (function, name)) in benches.iter().enumerate() {
        let Some((average, iters)) = measure(loaded, function)? else { continue };
        let line = if json {
            super::output::json_line(&serde_json::json!({ "type": "benchmark_result", "data": { *name: { "average": average, "iters": iters } } }))
        } else {
            let mut text = String::new();
            if i == 0 {
                text.push_str(&format!("{:<width$}{:<TIME_WIDTH$}Iterations\n", "Benchmark", "Time(ns)"));
                text.push_str(&"-".repeat(width + TIME_WIDTH + "Iterations".len()));
                text.push('\n');
            }
            text.push_str(&format!("{name:<width$}{average:<TIME_WIDTH$}{iters}\n"));
            text
        };
        sink.raw(line.as_bytes());
    }
    Ok(())
}

/// The average nanoseconds of one run and the repeat count that measured it; None when the
/// benchmark skipped itself (returned nonzero).
fn measure(loaded: &Loaded, function: &str) -> Result<Option<(u64, u64)>, RuntimeError> {
    let fd = loaded.program(function)?;
    let failed = |e: std::io::Error| RuntimeError::Load { message: format!("running {function} with BPF_PROG_TEST_RUN failed: {e}") };
    let mut iters: u64 = 1;
    loop {
        let (retval, average) = sys::prog_test_run_repeat(fd, iters.min(u64::from(u32::MAX)) as u32).map_err(failed)?;
        if retval != 0 {
            return Ok(None);
        }
        let total = u64::from(average) * iters;
        let factor = match total {
            t if t < 1_000 => 1000,
            t if t < 10_000 => 100,
            t if t < 100_000 => 10,
            t if t < 1_000_000 => 2,
            _ => return Ok(Some((u64::from(average), iters))),
        };
        if iters >= u64::from(u32::MAX) / factor {
            return Ok(Some((u64::from(average), iters)));
        }
        iters *= factor;
    }
}
