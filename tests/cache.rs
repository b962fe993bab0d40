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

// ---------------------------------------------------------------------------------------
// Under stress: racing writers, damaged entries, a home that cannot be written, a full disk.
// Whatever happens, a run works (or says why under -v) and never runs another program.

const HELLO: &str = r#"BEGIN { printf("hello %d\n", 42); exit(); }"#;

/// Runs `prog` (for real with root, else --dry-run) with the cache in `dir`; asserts it
/// worked and, when it ran, printed `expect`.
fn run_checked(dir: &Path, prog: &str, expect: &str) -> Output {
    // SAFETY: geteuid has no preconditions.
    let real = unsafe { libc::geteuid() } == 0;
    let o = if real { rtrace(dir, &["-v", "-e", prog]) } else { rtrace(dir, &["-v", "--dry-run", "-e", prog]) };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    if real {
        // (The trace's output ends with bpftrace's two newlines.)
        assert_eq!(stdout(&o).trim_end(), expect.trim_end(), "the program that ran");
    }
    o
}

#[test]
fn racing_compiles_of_one_program_store_one_whole_entry() {
    let dir = fresh_dir("race");
    let prog = "interval:s:1 { @[comm, pid] = count(); }";
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_rtrace"))
                .env("RTRACE_CACHE_DIR", &dir)
                .env_remove("RTRACE_CACHE")
                .args(["--dry-run", "-e", prog])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("rtrace starts")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let all: Vec<PathBuf> = std::fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    assert_eq!(all.len(), 1, "one entry, no temporary files left: {all:?}");
    json_of(&all[0]);
    eprintln!("RELIABILITY cache race: 6 compiles of one program at once: all succeeded, 1 whole entry, 0 temporary files");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_entry_is_never_served() {
    let dir = fresh_dir("damaged");
    run_checked(&dir, HELLO, "hello 42\n");
    let entry = entries(&dir).pop().expect("an entry");
    let whole = std::fs::read(&entry).expect("entry");
    // Truncated (a write cut short), and one byte changed so that it still parses (the
    // format string's 42 is the program's own, its object bytes are numbers in the JSON).
    let text = String::from_utf8(whole.clone()).expect("UTF-8");
    let flipped = text.replacen(r#"{"Lit":"hello "}"#, r#"{"Lit":"jello "}"#, 1);
    assert_ne!(flipped, text, "the entry holds the format");
    for (what, bytes) in [("truncated", whole[..whole.len() / 2].to_vec()), ("changed", flipped.into_bytes()), ("emptied", Vec::new())] {
        std::fs::write(&entry, &bytes).expect("writable");
        run_checked(&dir, HELLO, "hello 42\n");
        assert_eq!(std::fs::read(&entry).expect("entry"), whole, "{what}: compiled again and stored whole");
        eprintln!("RELIABILITY cache {what} entry: not served; compiled again, stored whole");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_entry_under_another_programs_name_is_not_served() {
    let dir = fresh_dir("swapped");
    let other = r#"BEGIN { printf("other %d\n", 7); exit(); }"#;
    run_checked(&dir, HELLO, "hello 42\n");
    let hello = entries(&dir).pop().expect("an entry");
    run_checked(&dir, other, "other 7\n");
    let other_entry = entries(&dir).into_iter().find(|e| *e != hello).expect("a second entry");
    // A whole, sealed entry, but for another key (a copy, a rename, a hash collision).
    std::fs::copy(&hello, &other_entry).expect("copy");
    run_checked(&dir, other, "other 7\n");
    assert!(json_of(&other_entry).contains("other "), "compiled again and stored under its own name");
    eprintln!("RELIABILITY cache entry under another key: not served; compiled again");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs mounted for a test (root only), unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// None (and why, on stderr) when this process cannot mount.
    fn tmpfs(name: &str, options: &str) -> Option<Mount> {
        let dir = fresh_dir(name);
        std::fs::create_dir(&dir).expect("mkdir");
        let o = Command::new("mount").args(["-t", "tmpfs", "-o", options, "rtrace-test", &dir.to_string_lossy()]).output();
        match o {
            Ok(o) if o.status.success() => Some(Mount(dir)),
            Ok(o) => {
                eprintln!("skipped: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&o.stderr).trim());
                let _ = std::fs::remove_dir(&dir);
                None
            }
            Err(e) => {
                eprintln!("skipped: no mount(8): {e}");
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", &self.0.to_string_lossy()]).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_read_only_home_costs_only_the_cache() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a read-only home needs root");
        return;
    }
    let Some(home) = Mount::tmpfs("ro-home", "ro,size=64k,mode=0755") else { return };
    let o = Command::new(env!("CARGO_BIN_EXE_rtrace"))
        .env("HOME", &home.0)
        .env_remove("RTRACE_CACHE_DIR")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("RTRACE_CACHE")
        .args(["-v", "-e", HELLO])
        .output()
        .expect("rtrace runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout(&o).trim_end(), "hello 42");
    assert!(String::from_utf8_lossy(&o.stderr).contains("Read-only file system"), "-v says why: {}", String::from_utf8_lossy(&o.stderr));
    let why = String::from_utf8_lossy(&o.stderr).lines().find(|l| l.starts_with("cache:")).unwrap_or_default().to_string();
    eprintln!("RELIABILITY cache read-only home: ran; -v: {why}");
}

#[test]
fn a_full_disk_leaves_no_partial_entry() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small file system needs root");
        return;
    }
    let Some(disk) = Mount::tmpfs("full", "size=64k,mode=0700") else { return };
    // Fill it: directories and empty files still fit (tmpfs keeps them in memory), an
    // entry's bytes do not.
    let filler = disk.0.join("filler");
    let mut f = std::fs::File::create(&filler).expect("filler");
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    let dir = disk.0.join("cache");
    let o = run_checked(&dir, HELLO, "hello 42\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("No space left on device"), "-v says why: {}", String::from_utf8_lossy(&o.stderr));
    let left: Vec<PathBuf> = std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing partial is left: {left:?}");
    let why = String::from_utf8_lossy(&o.stderr).lines().find(|l| l.starts_with("cache:")).unwrap_or_default().to_string();
    eprintln!("RELIABILITY cache full disk: ran, nothing partial left; -v: {why}");
    // With room again, the next run stores a whole entry.
    std::fs::remove_file(&filler).expect("rm filler");
    run_checked(&dir, HELLO, "hello 42\n");
    let stored = entries(&dir).pop().expect("an entry");
    json_of(&stored);
}

#[test]
fn a_dead_writers_temporary_file_is_removed() {
    let dir = fresh_dir("stale");
    assert!(rtrace(&dir, &["--dry-run", "-e", "interval:s:1 { @a = count(); }"]).status.success());
    // A writer killed mid-write an hour ago, and one writing now.
    let stale = dir.join(".0123.99999.tmp");
    let fresh = dir.join(".4567.99998.tmp");
    for p in [&stale, &fresh] {
        std::fs::write(p, b"{ partial").expect("write");
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&stale).and_then(|f| f.set_modified(hour_ago)).expect("set mtime");
    assert!(rtrace(&dir, &["--dry-run", "-e", "interval:s:1 { @b = count(); }"]).status.success());
    assert!(!stale.exists(), "the dead writer's file is removed when an entry is stored");
    assert!(fresh.exists(), "a file being written now is left alone");
    let _ = std::fs::remove_dir_all(&dir);
}
