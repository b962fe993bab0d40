//! What the suites that run the real binary share: what this machine can do, asked of
//! `rtrace --info` (the same probes sema and the runtime use), and the verifier's cost of
//! every program a suite loads, kept far from the kernel's limit.

#![allow(dead_code, reason = "each test binary uses its own part")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rtrace::features::{parse_info, Answer, Feature};

/// The share of the verifier's one-million-instruction limit a program may use: generated
/// code must verify with large headroom on every kernel, not just below the limit here.
pub const HEADROOM_LIMIT: u32 = 100_000;

/// What this machine can do, as `rtrace --info` says.
pub struct Machine {
    answers: BTreeMap<Feature, Answer>,
    /// /tmp on a block device (not tmpfs): a property of the machine's set-up, not its kernel.
    block_tmp: bool,
}

impl Machine {
    pub fn ask(bin: &Path) -> Machine {
        let out = Command::new(bin).arg("--info").output().expect("rtrace --info runs");
        assert!(out.status.success(), "rtrace --info failed: {}", String::from_utf8_lossy(&out.stderr));
        let answers: BTreeMap<Feature, Answer> = parse_info(&String::from_utf8_lossy(&out.stdout)).into_iter().collect();
        assert_eq!(answers.len(), Feature::ALL.len(), "rtrace --info answered {} of {} features", answers.len(), Feature::ALL.len());
        // A major device number of 0 is a filesystem without a device (tmpfs, 9p).
        let block_tmp = std::fs::metadata("/tmp").is_ok_and(|m| std::os::unix::fs::MetadataExt::dev(&m) >> 8 != 0);
        Machine { answers, block_tmp }
    }

    pub fn has(&self, f: Feature) -> bool {
        self.answers.get(&f).is_some_and(|a| a.present)
    }

    /// Why a case that requires `requires` (feature keys, `no-KEY` for a kernel without it,
    /// `block-tmp`) cannot run here; None when it can. Panics on a name it does not know, so
    /// a typo never skips a case silently.
    pub fn unmet(&self, requires: &[String]) -> Option<String> {
        let mut why = Vec::new();
        for r in requires {
            let (negated, key) = r.strip_prefix("no-").map_or((false, r.as_str()), |k| (true, k));
            if key == "block-tmp" {
                if self.block_tmp == negated {
                    why.push(format!("{r}: /tmp is {}", if self.block_tmp { "on a block device" } else { "not on a block device" }));
                }
                continue;
            }
            let feature = Feature::from_key(key).unwrap_or_else(|| panic!("unknown REQUIRES {r}: give a key of `rtrace --info` (or no-KEY, block-tmp)"));
            let answer = &self.answers[&feature];
            if answer.present == negated {
                why.push(format!("{r}: this kernel's {key} is {}", answer.show()));
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

impl Machine {
    /// Where rtrace refused a script because this kernel lacks what it needs (E0250, whose
    /// help names the feature), and `--info` agrees the feature is missing: the refusal's
    /// headline, the reason to skip the case. A refusal `--info` does not back is no reason:
    /// the case fails.
    pub fn refused(&self, stderr: &str) -> Option<String> {
        let headline = stderr.lines().find(|l| l.starts_with("error[E0250]"))?;
        let help = stderr.lines().find(|l| l.contains("run it on a kernel that has `"))?;
        let key = help.split('`').nth(1)?;
        let feature = Feature::from_key(key)?;
        (!self.has(feature)).then(|| headline.to_string())
    }
}

/// The file `RTRACE_VERIFIER_STATS` points rtrace at (each loaded program's verifier cost),
/// and the costs read from it so far, each labelled with the case that loaded it.
pub struct VerifierStats {
    pub path: PathBuf,
    costs: std::cell::RefCell<Vec<(u32, u64, String)>>,
    /// Programs whose cost the verifier did not report.
    unreported: std::cell::Cell<usize>,
}

impl VerifierStats {
    pub fn new(suite: &str) -> VerifierStats {
        let path = std::env::temp_dir().join(format!("rtrace-verifier-{suite}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        VerifierStats { path, costs: Default::default(), unreported: Default::default() }
    }

    /// Takes what the runs since the last call wrote (instructions, microseconds, probe),
    /// labelled with `case`.
    pub fn take(&self, case: &str) {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let _ = std::fs::remove_file(&self.path);
        for l in text.lines() {
            let mut parts = l.splitn(3, '\t');
            let (insns, micros, probe) = (parts.next().unwrap_or("-"), parts.next().unwrap_or("0"), parts.next().unwrap_or("?"));
            match insns.parse() {
                Ok(n) => self.costs.borrow_mut().push((n, micros.parse().unwrap_or(0), format!("{case}: {probe}"))),
                Err(_) => self.unreported.set(self.unreported.get() + 1),
            }
        }
    }

    /// Prints the ten costliest programs and fails the suite if any is above
    /// `HEADROOM_LIMIT`.
    pub fn check(&self, suite: &str) {
        let mut costs = self.costs.borrow().clone();
        if self.unreported.get() > 0 {
            eprintln!("{suite}: {} programs loaded without a verifier cost", self.unreported.get());
        }
        if costs.is_empty() {
            return;
        }
        costs.sort_by(|a, b| b.0.cmp(&a.0));
        eprintln!("{suite}: verifier cost of {} programs, the ten costliest (limit {HEADROOM_LIMIT} of the kernel's 1000000):", costs.len());
        for (insns, micros, probe) in costs.iter().take(10) {
            eprintln!("  {insns:>7} insns {:>8.1} ms  {probe}", *micros as f64 / 1e3);
        }
        let over: Vec<String> = costs.iter().filter(|c| c.0 > HEADROOM_LIMIT).map(|c| format!("{} ({} insns)", c.2, c.0)).collect();
        assert!(over.is_empty(), "{suite}: programs above {HEADROOM_LIMIT} verifier instructions: {over:?}");
    }
}

/// Whether tests that load BPF can run: they need root. Without it they fail, unless
/// RTRACE_SKIP_E2E=1 says to skip them (then this is false and the test returns).
pub fn can_run_bpf() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var("RTRACE_SKIP_E2E").is_ok(), "running BPF needs root; set RTRACE_SKIP_E2E=1 to skip");
        return false;
    }
    true
}
