//! The first hour of a new user: `make install` puts the binary, its man pages and its
//! bash, zsh and fish completions where the system looks for them (under DESTDIR/PREFIX),
//! each of them usable; and every example `--help` shows compiles.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn make_install_puts_binary_man_pages_and_completions_under_destdir() {
    if !have("make") {
        eprintln!("skipped: no `make` on this machine");
        return;
    }
    let dest = std::env::temp_dir().join(format!("rtrace-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let out = Command::new("make")
        .current_dir(root())
        .args(["-s", "install", "PREFIX=/usr"])
        .arg(format!("DESTDIR={}", dest.display()))
        .arg(format!("RTRACE={}", env!("CARGO_BIN_EXE_rtrace")))
        .output()
        .expect("make install");
    assert!(out.status.success(), "make install failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let usr = dest.join("usr");

    // The binary, executable, and the same program.
    let bin = usr.join("bin/rtrace");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&bin).expect("bin/rtrace").permissions());
    assert_eq!(mode & 0o755, 0o755, "bin/rtrace mode {mode:o}");
    // rtrace-run, built beside it, too.
    let runner = std::path::Path::new(env!("CARGO_BIN_EXE_rtrace")).with_file_name("rtrace-run");
    if runner.exists() {
        assert!(usr.join("bin/rtrace-run").exists(), "rtrace-run was built beside rtrace but not installed");
    }
    let version = Command::new(&bin).arg("--version").output().expect("installed rtrace");
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("rtrace {}", env!("CARGO_PKG_VERSION")));

    // A page for the command and one per subcommand, with every option and the examples.
    let man = usr.join("share/man/man1");
    let page = read(&man.join("rtrace.1"));
    for wanted in [".TH rtrace 1", "\\-\\-dry\\-run", "\\-\\-probe\\-filter", "rtrace\\-fmt(1)", ".SH EXAMPLES", "sys_enter_openat"] {
        assert!(page.contains(wanted), "rtrace.1 lacks {wanted:?}:\n{page}");
    }
    assert!(!page.contains("generate\\-man") && !page.contains("generate\\-completions"), "rtrace.1 shows the hidden generators");
    let fmt_page = read(&man.join("rtrace-fmt.1"));
    assert!(fmt_page.contains("\\-\\-check") && fmt_page.contains("rtrace fmt"), "{fmt_page}");
    if have("man") {
        let shown = Command::new("man").env("MANWIDTH", "100").args(["-l"]).arg(man.join("rtrace.1")).output().expect("man -l");
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(shown.status.success() && text.contains("EXAMPLES") && text.contains("rtrace -e 'BEGIN"), "man -l rtrace.1:\n{text}");
    }

    // Completions, in each shell's place, that each shell accepts.
    let bash = usr.join("share/bash-completion/completions/rtrace");
    assert!(read(&bash).contains("--probe-filter"));
    if have("bash") {
        let loaded = Command::new("bash").arg("-c").arg(format!("source {} && complete -p rtrace", bash.display())).output().expect("bash");
        assert!(loaded.status.success(), "bash cannot load the completion: {}", String::from_utf8_lossy(&loaded.stderr));
        assert!(String::from_utf8_lossy(&loaded.stdout).contains("rtrace"));
    }
    let zsh = read(&usr.join("share/zsh/site-functions/_rtrace"));
    assert!(zsh.starts_with("#compdef rtrace") && zsh.contains("fmt"), "{zsh}");
    let fish = read(&usr.join("share/fish/vendor_completions.d/rtrace.fish"));
    assert!(fish.contains("complete -c rtrace") && fish.contains("dry-run"), "{fish}");
    let _ = std::fs::remove_dir_all(&dest);
}

/// The `rtrace -e '...'` lines of `--help`, as arguments.
fn help_examples() -> Vec<Vec<String>> {
    let help = Command::new(env!("CARGO_BIN_EXE_rtrace")).arg("--help").output().expect("rtrace --help");
    let text = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| l.starts_with("rtrace -e '")) {
        let rest = &line["rtrace -e '".len()..];
        let Some(end) = rest.find('\'') else { continue };
        let mut args = vec!["-e".to_string(), rest[..end].to_string()];
        // `-c 'ls /'` after the program.
        if let Some(cmd) = rest[end + 1..].trim().strip_prefix("-c '").and_then(|c| c.strip_suffix('\'')) {
            args.extend(["-c".to_string(), cmd.to_string()]);
        }
        found.push(args);
    }
    found
}

#[test]
fn every_example_in_help_compiles() {
    let examples = help_examples();
    assert!(examples.len() >= 5, "--help shows {} -e examples", examples.len());
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: compiling against this kernel's tracepoints needs root");
        return;
    }
    for args in examples {
        let out = Command::new(env!("CARGO_BIN_EXE_rtrace")).env("RTRACE_CACHE", "0").arg("--dry-run").args(&args).output().expect("rtrace --dry-run");
        assert!(out.status.success(), "rtrace --dry-run {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    }
}
