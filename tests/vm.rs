//! Kernel features this host lacks (kprobes, trampolines) and the kernel matrix, tested in
//! VMs: tests/vm/run.sh boots one of Debian's stock kernels (11's 5.10, 12's 6.1, 13's 6.12)
//! under QEMU with rtrace and tests/vm/cases.sh in an initramfs, and each test here turns the
//! guest's `VM-RESULT` lines into its result, and its `VM-VERIFIER` lines into the same
//! headroom check the host suites make. A case whose script needs what that kernel lacks
//! must be refused with sema's E0250 (a SKIP line, with the reason), never by the verifier.
//! Needs root (apt-get, downloads) and about two minutes a kernel; `RTRACE_SKIP_VM=1` skips
//! them. The kernels boot one at a time: two TCG guests on two cores would starve each other.

use std::process::Command;
use std::sync::Mutex;

mod common;
use common::VerifierStats;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The runner without the compiler (`rtrace-run`, no default features), built once as
/// `make install` builds it (profile `runner`):
/// the guest runs the scripts this host compiled with it.
fn runner() -> &'static std::path::Path {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        let target = format!("{root}/target/runner");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root)
            .args(["build", "--quiet", "--profile", "runner", "--no-default-features", "--bin", "rtrace-run", "--target-dir", &target])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building rtrace-run without the compiler failed");
        std::path::PathBuf::from(format!("{target}/runner/rtrace-run"))
    })
}

fn smoke_cases_on(kernel: &str) {
    if std::env::var("RTRACE_SKIP_VM").is_ok() {
        eprintln!("RTRACE_SKIP_VM is set: skipping the VM tests");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "the VM tests need root (apt-get, QEMU); set RTRACE_SKIP_VM=1 to skip them");
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("sh")
        .arg(format!("{root}/tests/vm/run.sh"))
        .args(["-k", kernel])
        .arg(env!("CARGO_BIN_EXE_rtrace"))
        .env("RTRACE_RUNNER", runner())
        .output()
        .expect("tests/vm/run.sh starts");
    let console = String::from_utf8_lossy(&out.stdout);
    let shown = |l: &&str| l.starts_with("VM-RESULT ") || l.starts_with("VM-KERNEL ") || l.starts_with("  | ");
    for line in console.lines().filter(shown) {
        eprintln!("[{kernel}] {line}");
    }
    assert!(
        console.contains("VM-DONE"),
        "the VM ({kernel}) did not finish its cases (exit {:?})\n--- console ---\n{console}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |what: &str| console.lines().filter(|l| l.starts_with(what)).count();
    let failed: Vec<&str> = console.lines().filter(|l| l.starts_with("VM-RESULT FAIL")).collect();
    assert!(failed.is_empty(), "VM cases failed on {kernel}: {failed:?}");
    // Every case prints one result: a `run_traced` or `check` line, or an `if` of its own.
    let cases = std::fs::read_to_string(format!("{root}/tests/vm/cases.sh")).expect("tests/vm/cases.sh");
    let expected = cases
        .lines()
        .filter(|l| l.starts_with("run_traced ") || l.starts_with("check ") || l.starts_with("portable ") || (l.starts_with("if ") && l.contains("VM-RESULT PASS")))
        .count();
    let (passed, skipped) = (count("VM-RESULT PASS"), count("VM-RESULT SKIP"));
    assert_eq!(passed + skipped, expected, "expected all {expected} VM cases on {kernel} to pass or be refused with E0250: {passed} passed, {skipped} refused");
    eprintln!("vm {kernel}: {passed} passed, 0 failed, {skipped} skipped");
    // The run's record, which scripts/kernels-doc.sh turns into docs/kernels.md.
    let record: String = console.lines().filter(|l| l.starts_with("VM-")).map(|l| format!("{}\n", l.trim_end())).collect();
    let package = std::fs::read_to_string(format!("{root}/target/vm/{kernel}/kernel-package")).unwrap_or_default();
    let _ = std::fs::write(format!("{root}/target/vm/{kernel}/matrix.txt"), format!("VM-PACKAGE {package}{record}"));
    let stats = VerifierStats::new(&format!("vm-{kernel}"));
    let lines: String = console.lines().filter_map(|l| l.strip_prefix("VM-VERIFIER ")).map(|l| format!("{}\n", l.trim_end())).collect();
    std::fs::write(&stats.path, lines).expect("verifier stats written");
    stats.take(&format!("Linux {kernel}"));
    stats.check(&format!("vm {kernel}"));
}

#[test]
fn vm_debian_12_linux_6_1() {
    smoke_cases_on("6.1");
}

#[test]
fn vm_debian_11_linux_5_10() {
    smoke_cases_on("5.10");
}

#[test]
fn vm_debian_13_linux_6_12() {
    smoke_cases_on("6.12");
}
