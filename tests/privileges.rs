//! Without root's capabilities rtrace says what is missing before anything else, and exits
//! 1. Runs rtrace as `nobody` through util-linux's `setpriv`; needs root to switch users.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

mod common;

#[test]
fn an_unprivileged_user_is_told_what_is_missing() {
    if !common::can_run_bpf() {
        return;
    }
    // A copy nobody can execute wherever the repository is (a clone under /root is not).
    let dir = std::env::temp_dir().join(format!("rtrace-privileges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let bin = dir.join("rtrace");
    std::fs::copy(env!("CARGO_BIN_EXE_rtrace"), &bin).expect("copy rtrace");
    let as_nobody = |args: &[&str]| {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
            .arg(&bin)
            .args(args)
            .output()
            .expect("setpriv (util-linux) runs");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let tracepoint = "tracepoint:syscalls:sys_enter_openat { @ = count(); }";
    let (status, stderr) = as_nobody(&["-e", tracepoint]);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("this process lacks CAP_BPF, CAP_PERFMON"), "{stderr}");
    assert!(!stderr.contains("does not exist") && !stderr.contains("mount"), "the real cause comes first and alone: {stderr}");
    // --dry-run needs no privileges: the kernel's BTF is world-readable; tracefs is not,
    // and the error says so.
    let (status, stderr) = as_nobody(&["--dry-run", "-e", "BEGIN { printf(\"%s\\n\", curtask->comm); }"]);
    assert_eq!(status, Some(0), "{stderr}");
    let (status, stderr) = as_nobody(&["--dry-run", "-e", tracepoint]);
    let _ = std::fs::remove_dir_all(&dir);
    let tracefs_open_to_all = std::fs::metadata("/sys/kernel/tracing/events").is_ok_and(|m| m.permissions().mode() & 0o005 == 0o005)
        && std::fs::metadata("/sys/kernel/tracing").is_ok_and(|m| m.permissions().mode() & 0o001 != 0);
    if tracefs_open_to_all {
        assert_eq!(status, Some(0), "tracefs is readable by everyone here: {stderr}");
    } else {
        assert_eq!(status, Some(1), "{stderr}");
        assert!(stderr.contains("error[E0251]: no tracepoint can be read here"), "{stderr}");
    }
}
