//! The compile cache (src/cache.rs): a second run of the same program is served from the
//! cache, a different program is not, a cached artifact runs exactly like a fresh one, and
//! an entry someone else could have written is never loaded.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::can_run_bpf;

fn rtrace(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtrace")).env("RTRACE_CACHE_DIR", cache).env_remove("RTRACE_CACHE").args(args).output().expect("rtrace runs")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "json"));
    v.sort();
    v
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtrace-cache-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_repeated_program_is_a_hit_and_a_new_one_a_miss() {
    let dir = fresh_dir("hits");
    let prog = "interval:s:1 { @[comm] = count(); }";
    assert!(rtrace(&dir, &["--dry-run", "-e", prog]).status.success());
    let first = entries(&dir);
    assert_eq!(first.len(), 1, "one entry after the first compile");
    let inode = std::fs::metadata(&first[0]).expect("entry").ino();

    // A hit reads the entry; a miss would write (rename over) it and change its inode.
    assert!(rtrace(&dir, &["--dry-run", "-e", prog]).status.success());
    assert_eq!(entries(&dir), first);
    assert_eq!(std::fs::metadata(&first[0]).expect("entry").ino(), inode, "second run was served from the cache");

    assert!(rtrace(&dir, &["--dry-run", "-e", "interval:s:1 { @[pid] = count(); }"]).status.success());
    assert_eq!(entries(&dir).len(), 2, "a different program is compiled and stored");

    assert!(rtrace(&dir, &["--dry-run", "--no-cache", "-e", "interval:s:2 { @x = count(); }"]).status.success());
    assert_eq!(entries(&dir).len(), 2, "--no-cache neither reads nor writes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_entry_is_recompiled() {
    let dir = fresh_dir("corrupt");
    let prog = "interval:s:1 { @n = count(); }";
    assert!(rtrace(&dir, &["--dry-run", "-e", prog]).status.success());
    let entry = entries(&dir).pop().expect("an entry");
    std::fs::write(&entry, b"{ not json").expect("writable");
    assert!(rtrace(&dir, &["--dry-run", "-e", prog]).status.success());
    assert!(std::fs::read(&entry).expect("entry").starts_with(b"rtrace-cache "), "the entry was rewritten");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cached_artifact_runs_like_a_fresh_one() {
    if !can_run_bpf() {
        return;
    }
    let dir = fresh_dir("run");
    let prog = r#"BEGIN { @h = hist(100); @s[comm, 7] = sum(3); printf("begin %d\n", 42); exit(); } END { printf("end\n"); }"#;
    let fresh = rtrace(&dir, &["-e", prog]);
    let cached = rtrace(&dir, &["-e", prog]);
    assert!(fresh.status.success(), "{}", String::from_utf8_lossy(&fresh.stderr));
    assert_eq!(entries(&dir).len(), 1);
    assert_eq!(String::from_utf8_lossy(&fresh.stdout), String::from_utf8_lossy(&cached.stdout));
    assert!(String::from_utf8_lossy(&cached.stdout).contains("begin 42"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The key an entry is stored under: its file name.
fn key_of(entry: &Path) -> String {
    entry.file_stem().expect("a file name").to_string_lossy().into_owned()
}

/// The artifact's JSON in an entry (after its header line).
fn json_of(entry: &Path) -> String {
    let bytes = std::fs::read(entry).expect("entry");
    String::from_utf8(rtrace::cache::unseal(&key_of(entry), &bytes).expect("a whole entry").to_vec()).expect("UTF-8")
}

/// Replaces text in the one entry of `dir`, as someone who could write there might (and
/// seals it again, as they could).
fn tamper(dir: &Path, from: &str, to: &str) -> PathBuf {
    let entry = entries(dir).pop().expect("an entry");
    let text = json_of(&entry);
    assert!(text.contains(from), "the entry holds {from:?}");
    std::fs::write(&entry, rtrace::cache::seal(&key_of(&entry), text.replace(from, to).as_bytes())).expect("writable");
    entry
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn an_entry_others_could_have_written_is_not_loaded() {
    use std::os::unix::fs::PermissionsExt;
    if !can_run_bpf() {
        return;
    }
    let dir = fresh_dir("planted");
    let prog = r#"BEGIN { printf("v=%d\n", 42); exit(); }"#;
    let run = |dir: &Path| rtrace(dir, &["-v", "-e", prog]);
    assert!(run(&dir).status.success());
    let entry = tamper(&dir, r#"{"Lit":"v="}"#, r#"{"Lit":"planted="}"#);
    // The control: in a directory only root can write, an entry is what root wrote, and the
    // edited one is what runs.
    assert!(stdout(&run(&dir)).contains("planted=42"), "the edited entry is used where it is trusted");

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let o = run(&dir);
    assert!(stdout(&o).contains("v=42"), "compiled afresh: {}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is writable by group or others (mode 777)"), "-v says why");
    assert!(json_of(&entry).contains("planted="), "nothing is written there either");

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    assert!(stdout(&run(&dir)).contains("v=42"), "an entry others can write is not loaded");

    // A directory another user owns, even one only they can write.
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::chown(&dir, Some(65534), None).expect("chown");
    let o = run(&dir);
    assert!(stdout(&o).contains("v=42"), "{}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("belongs to uid 65534"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_home_that_does_not_exist_is_not_created() {
    let parent = fresh_dir("home");
    std::fs::create_dir(&parent).expect("mkdir");
    let home = parent.join("nonexistent");
    let o = Command::new(env!("CARGO_BIN_EXE_rtrace"))
        .env("HOME", &home)
        .env_remove("RTRACE_CACHE_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("RTRACE_CACHE")
        .args(["--dry-run", "-e", "interval:s:1 { @n = count(); }"])
        .output()
        .expect("rtrace runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!home.exists(), "{} was created", home.display());
    let _ = std::fs::remove_dir_all(&parent);
}
