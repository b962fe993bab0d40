//! What the integration tests that run BPF share.

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
