//! Compiled scripts (`rtrace build`) run by the runner without the compiler (`rtrace-run`,
//! built here without the default `compiler` feature: no LLVM, parser, sema or codegen).
//! The kernel matrix part, a script built on this host run in VMs with other kernels, is in
//! tests/vm/cases.sh; here the "other kernel" is the checked-in BTF fixture, whose
//! `task_struct` is laid out nothing like this kernel's, so every member offset the script
//! reads must be relocated to print the right values.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The LLVM-free runner, built once per run of this file into target/runner.
fn runner() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = format!("{ROOT}/target/runner");
        let status = Command::new(cargo)
            .current_dir(ROOT)
            .args(["build", "--quiet", "--no-default-features", "--bin", "rtrace-run", "--target-dir", &target])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building rtrace-run without the compiler failed");
        PathBuf::from(format!("{target}/debug/rtrace-run"))
    })
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtrace-compiled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn rtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtrace")).args(args).env("RTRACE_CACHE", "0").output().expect("rtrace runs")
}

fn run(bin: &Path, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Builds `program` against the fixture kernel (BTF and tracefs files: no root, no kernel).
fn build_for_fixture(program: &str, out: &Path, extra: &[&str]) {
    let btf = format!("{ROOT}/tests/fixtures/btf/fixture.btf");
    let tracefs = format!("{ROOT}/tests/fixtures/tracefs");
    let mut args = vec!["build", "--btf", &btf, "--tracefs", &tracefs, "-e", program, "-o", out.to_str().expect("path")];
    args.extend_from_slice(extra);
    let o = rtrace(&args);
    assert!(o.status.success(), "build failed: {}", text(&o.stderr));
}

#[test]
fn the_runner_has_no_compiler_in_it() {
    let symbols = Command::new("nm").arg("--defined-only").arg(runner()).output();
    let Ok(symbols) = symbols else { return eprintln!("skipped: nm is not installed") };
    let names = text(&symbols.stdout);
    assert!(!names.is_empty(), "nm listed nothing in the runner");
    let full = text(&Command::new("nm").arg("--defined-only").arg(env!("CARGO_BIN_EXE_rtrace")).output().expect("nm").stdout);
    for compiler in ["LLVMInitializeBPFTarget", "lalrpop", "sema..check", "codegen..compile"] {
        assert!(full.contains(compiler), "the full rtrace has `{compiler}` (else this test proves nothing)");
        assert!(!names.contains(compiler), "rtrace-run contains `{compiler}`");
    }
}

#[test]
fn member_offsets_from_another_kernel_are_relocated_to_this_one() {
    if !common::can_run_bpf() {
        return;
    }
    let file = scratch("relocated.rtc");
    // The fixture's task_struct has tgid at 28, real_parent at 32, pid at 24, comm at 68.
    build_for_fixture(
        r#"BEGIN { printf("%d %d %d %s\n", curtask->tgid == pid, curtask->real_parent->tgid == ppid, curtask->pid == tid, curtask->comm); exit(); }"#,
        &file,
        &[],
    );
    let o = run(runner(), &[file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().next(), Some("1 1 1 rtrace-run"), "stderr: {}", text(&o.stderr));
}

#[test]
fn a_member_this_kernel_lacks_is_named_before_anything_loads() {
    if !common::can_run_bpf() {
        return;
    }
    let file = scratch("missing.rtc");
    // The fixture's task_struct has `utime_parts` (in an anonymous union); no real one has.
    build_for_fixture(r#"BEGIN { printf("%d\n", curtask->utime_parts[0]); exit(); }"#, &file, &[]);
    let o = run(runner(), &[file.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("struct task_struct's member `utime_parts` does not exist on this kernel"), "{err}");
    assert!(!err.contains("Attached") && !err.contains("verifier"), "{err}");
}

#[test]
fn a_compiled_script_runs_like_the_script_with_run_options() {
    if !common::can_run_bpf() {
        return;
    }
    let file = scratch("maps.rtc");
    let program = r#"BEGIN { @c = count(); @s[$1] = sum(5); @h = hist(1000); printf("param %s\n", str($1)); exit(); }"#;
    let o = rtrace(&["build", "-e", program, "alpha", "-o", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let direct = rtrace(&["-e", program, "alpha"]);
    for bin in [runner(), Path::new(env!("CARGO_BIN_EXE_rtrace"))] {
        let o = run(bin, &[file.to_str().expect("path")]);
        assert!(o.status.success(), "{}: {}", bin.display(), text(&o.stderr));
        assert_eq!(text(&o.stdout), text(&direct.stdout), "{} prints what the script prints", bin.display());
    }
    // The same parameters again are fine; JSON output and -q are run options.
    let o = run(runner(), &["-q", "-f", "json", file.to_str().expect("path"), "alpha"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(r#"{"type": "printf", "data": "param alpha\n"}"#), "{}", text(&o.stdout));
    assert!(text(&o.stderr).is_empty(), "-q: {}", text(&o.stderr));
    // Other parameters would not apply: refused.
    let o = run(runner(), &[file.to_str().expect("path"), "beta"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("it was built with `alpha`, not `beta`"), "{}", text(&o.stderr));
}

#[test]
fn damaged_truncated_and_newer_files_are_refused_before_anything_loads() {
    let file = scratch("damaged.rtc");
    build_for_fixture(r#"BEGIN { printf("hi\n"); exit(); }"#, &file, &[]);
    let good = std::fs::read(&file).expect("read");
    let path = file.to_str().expect("path");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        ({ let mut b = good.clone(); let n = b.len(); b[n - 100] ^= 0x20; b }, "is damaged or was altered after it was compiled"),
        (good[..good.len() - 7].to_vec(), "is truncated"),
        (String::from_utf8_lossy(&good).replacen("rtrace-compiled 1 ", "rtrace-compiled 9 ", 1).into_bytes(), "was compiled by a newer rtrace (format 9"),
    ];
    for (bytes, message) in cases {
        std::fs::write(&file, &bytes).expect("write");
        for bin in [runner(), Path::new(env!("CARGO_BIN_EXE_rtrace"))] {
            let o = run(bin, &[path]);
            assert_eq!(o.status.code(), Some(1), "{}", bin.display());
            let err = text(&o.stderr);
            assert!(err.contains(message), "{}: {err}", bin.display());
            assert!(!err.contains("Attached"), "{err}");
        }
    }
    let o = run(runner(), &[&format!("{ROOT}/examples/opensnoop.bt")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is not a compiled rtrace script"), "{}", text(&o.stderr));
}

#[test]
fn building_against_files_needs_no_root() {
    if !common::can_run_bpf() {
        return;
    }
    // As nobody, with no capabilities: a copy it can execute, writing where it can.
    let dir = std::env::temp_dir().join(format!("rtrace-compiled-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let bin = dir.join("rtrace");
    std::fs::copy(env!("CARGO_BIN_EXE_rtrace"), &bin).expect("copy");
    let out = dir.join("nobody.rtc");
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(&bin)
        .args(["build", "--btf", &format!("{ROOT}/tests/fixtures/btf/fixture.btf"), "--tracefs", &format!("{ROOT}/tests/fixtures/tracefs")])
        .args(["-e", "tracepoint:syscalls:sys_enter_openat { @[curtask->pid] = count(); }", "-o"])
        .arg(&out)
        .env("RTRACE_CACHE", "0")
        .output()
        .expect("setpriv (util-linux) runs");
    assert!(o.status.success(), "build as nobody: {}", text(&o.stderr));
    let compiled = std::fs::read(&out).expect("written");
    assert!(compiled.starts_with(b"#!/usr/bin/env rtrace-run\nrtrace-compiled 1 "));
}

#[test]
fn uprobes_refuse_another_build_of_their_binary() {
    if !common::can_run_bpf() {
        return;
    }
    // A uprobe is at a file offset of one build: in another it could split an instruction.
    let binary = scratch("traced-shell");
    std::fs::copy("/bin/bash", &binary).expect("copy bash");
    let file = scratch("uprobe.rtc");
    let program = format!("uprobe:{}:shell_version_string {{ @ = count(); }}", binary.display());
    let o = rtrace(&["build", "-e", &program, "-o", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::copy("/bin/dash", &binary).expect("copy dash");
    let o = run(runner(), &[file.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("is another build than the one the script was compiled against"), "{err}");
    assert!(!err.contains("Attached"), "{err}");
}

#[test]
fn tracepoint_fields_from_another_kernels_format_are_relocated() {
    if !common::can_run_bpf() {
        return;
    }
    let live = std::path::Path::new("/sys/kernel/tracing/events/sched/sched_process_fork/format");
    let Ok(format) = std::fs::read_to_string(live) else { return eprintln!("skipped: no readable tracefs") };
    // Another kernel's record: parent_pid and child_pid trade places.
    let offset = |field: &str| -> Option<String> {
        let line = format.lines().find(|l| l.contains(&format!(" {field};")))?;
        Some(line.split("offset:").nth(1)?.split(';').next()?.to_string())
    };
    let (Some(parent), Some(child)) = (offset("parent_pid"), offset("child_pid")) else { return eprintln!("skipped: unexpected format") };
    let swapped: String = format
        .lines()
        .map(|l| match l {
            l if l.contains(" parent_pid;") => l.replace(&format!("offset:{parent};"), &format!("offset:{child};")),
            l if l.contains(" child_pid;") => l.replace(&format!("offset:{child};"), &format!("offset:{parent};")),
            l => l.to_string(),
        })
        .map(|l| l + "\n")
        .collect();
    let dir = scratch("other-tracefs");
    let event = dir.join("events/sched/sched_process_fork");
    std::fs::create_dir_all(&event).expect("mkdir");
    std::fs::write(event.join("format"), swapped).expect("format");
    let file = scratch("fork.rtc");
    let program = "tracepoint:sched:sched_process_fork { printf(\"%d %d\\n\", args.parent_pid == tid, args.child_pid != tid); exit(); }";
    let o = rtrace(&["build", "--btf", "/sys/kernel/btf/vmlinux", "--tracefs", dir.to_str().expect("path"), "-e", program, "-o", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let forks = std::thread::spawn(|| {
        for _ in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let _ = Command::new("true").status();
        }
    });
    let o = run(runner(), &[file.to_str().expect("path")]);
    let _ = forks.join();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().next(), Some("1 1"), "the fields were read at this kernel's offsets; stderr: {}", text(&o.stderr));
}

#[test]
fn a_script_compiled_with_unsafe_runs_only_with_unsafe() {
    if !common::can_run_bpf() {
        return;
    }
    let file = scratch("unsafe.rtc");
    let o = rtrace(&["build", "--unsafe", "-e", r#"BEGIN { system("echo ran"); exit(); }"#, "-o", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = run(runner(), &[file.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("was compiled with --unsafe"), "{}", text(&o.stderr));
    assert!(!text(&o.stdout).contains("ran"));
    let o = run(runner(), &["--unsafe", file.to_str().expect("path")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().next(), Some("ran"));
}
