//! The progress line: what rtrace is doing before tracing starts (compiling, loading N
//! programs, attaching N probes, listing) and after it (detaching N probes), on stderr when it is a terminal, once a step has
//! taken more than a second; erased when the step ends, so what follows (the "Attached N
//! probes" line, the trace) starts on a clean line. Nothing at all without a terminal, or
//! for steps that end in under a second.
//!
//! A warning while a line is shown (`diagnostics::stderr_line`) erases it first, so the
//! warning has a line of its own and the progress line is redrawn below it.
//!
//! One step at a time, process-wide: `Progress::start` begins one, the loops of the loader
//! and the attacher call `advance()` (a relaxed atomic add, whether or not a line is shown),
//! and dropping the `Progress` ends it. A thread draws the line ten times a second.
//! `RTRACE_PROGRESS_AFTER_MS` changes the one-second delay (the tests set it).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long a step runs before its line is shown.
const DELAY: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

struct Step {
    done: AtomicUsize,
    ended: Mutex<bool>,
    wake: Condvar,
    shown: AtomicBool,
}

/// The current step's counter, for `advance`.
static CURRENT: Mutex<Option<Arc<Step>>> = Mutex::new(None);

/// A step in progress; dropping it ends the step and erases its line.
pub struct Progress {
    step: Arc<Step>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    /// Starts a step called `what` (`attaching`), of `total` units (0: not counted).
    pub fn start(what: &str, total: usize) -> Progress {
        let step = Arc::new(Step { done: AtomicUsize::new(0), ended: Mutex::new(false), wake: Condvar::new(), shown: AtomicBool::new(false) });
        if let Ok(mut current) = CURRENT.lock() {
            *current = Some(Arc::clone(&step));
        }
        let thread = if std::io::stderr().is_terminal() {
            let delay = std::env::var("RTRACE_PROGRESS_AFTER_MS").ok().and_then(|v| v.parse().ok()).map_or(DELAY, Duration::from_millis);
            let (what, shared) = (what.to_string(), Arc::clone(&step));
            std::thread::Builder::new().name("rtrace-progress".into()).spawn(move || draw(&shared, &what, total, delay)).ok()
        } else {
            None
        };
        Progress { step, thread }
    }
}

/// One more unit of the current step done.
pub fn advance() {
    if let Some(step) = CURRENT.lock().ok().and_then(|c| c.clone()) {
        step.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// The line: `attaching probes: 1200/4000 (30%), 2.4 s`.
pub fn line(what: &str, done: usize, total: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    match (done * 100).checked_div(total) {
        Some(percent) => format!("{what}: {done}/{total} ({percent}%), {secs:.1} s"),
        None => format!("{what}... {secs:.1} s"),
    }
}

fn draw(step: &Step, what: &str, total: usize, delay: Duration) {
    let started = Instant::now();
    let Ok(mut ended) = step.ended.lock() else { return };
    let mut wait = delay;
    loop {
        match step.wake.wait_timeout(ended, wait) {
            Ok((guard, _)) => ended = guard,
            Err(_) => return,
        }
        if *ended {
            return;
        }
        let text = line(what, step.done.load(Ordering::Relaxed), total, started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text}\x1b[K");
        let _ = err.flush();
        step.shown.store(true, Ordering::Relaxed);
        crate::diagnostics::PROGRESS_SHOWN.store(true, Ordering::Relaxed);
        wait = REDRAW;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Ok(mut ended) = self.step.ended.lock() {
            *ended = true;
            self.step.wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Ok(mut current) = CURRENT.lock() {
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.step)) {
                *current = None;
            }
        }
        if self.step.shown.load(Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            if crate::diagnostics::PROGRESS_SHOWN.swap(false, Ordering::Relaxed) {
                let _ = write!(err, "\r\x1b[K");
                let _ = err.flush();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_when_the_step_has_a_total() {
        assert_eq!(line("attaching probes", 1200, 4000, Duration::from_millis(2400)), "attaching probes: 1200/4000 (30%), 2.4 s");
        assert_eq!(line("compiling", 0, 0, Duration::from_millis(1500)), "compiling... 1.5 s");
    }

    #[test]
    fn advance_counts_for_the_current_step_only() {
        let p = Progress::start("x", 10);
        advance();
        advance();
        assert_eq!(p.step.done.load(Ordering::Relaxed), 2);
        drop(p);
        advance();
    }
}
