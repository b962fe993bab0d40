//! Kernel features this host lacks (kprobes, kretprobes) and a second kernel version, tested in
//! a VM: tests/vm/run.sh boots Debian's stock 6.1 kernel under QEMU with rtrace and
//! tests/vm/cases.sh in an initramfs, and this test turns the guest's `VM-RESULT` lines into
//! the result. Needs root (apt-get, downloads) and about a minute; `RTRACE_SKIP_VM=1` skips it.

use std::process::Command;

#[test]
fn kernel_features_in_a_vm() {
    if std::env::var("RTRACE_SKIP_VM").is_ok() {
        eprintln!("RTRACE_SKIP_VM is set: skipping the VM tests");
        return;
    }
    // SAFETY: geteuid has no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "the VM tests need root (apt-get, QEMU); set RTRACE_SKIP_VM=1 to skip them");
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("sh").arg(format!("{root}/tests/vm/run.sh")).arg(env!("CARGO_BIN_EXE_rtrace")).output().expect("tests/vm/run.sh starts");
    let console = String::from_utf8_lossy(&out.stdout);
    let results: Vec<&str> = console.lines().filter(|l| l.starts_with("VM-RESULT ") || l.starts_with("VM-KERNEL ") || l.starts_with("  | ")).collect();
    for line in &results {
        eprintln!("{line}");
    }
    let passed = console.lines().filter(|l| l.starts_with("VM-RESULT PASS")).count();
    let failed: Vec<&str> = console.lines().filter(|l| l.starts_with("VM-RESULT FAIL")).collect();
    assert!(
        console.contains("VM-DONE"),
        "the VM did not finish its cases (exit {:?})\n--- console ---\n{console}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(failed.is_empty(), "VM cases failed: {failed:?}");
    // Every case prints one result: a `run_traced` or `check` line, or an `if` of its own.
    let cases = std::fs::read_to_string(format!("{root}/tests/vm/cases.sh")).expect("tests/vm/cases.sh");
    let expected =
        cases.lines().filter(|l| l.starts_with("run_traced ") || l.starts_with("check ") || (l.starts_with("if ") && l.contains("VM-RESULT PASS"))).count();
    assert_eq!(passed, expected, "expected all {expected} VM cases to pass, {passed} did");
}
