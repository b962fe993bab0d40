//! `rtrace fmt` on every script users have: each example, each tool and each one-liner of
//! the docs (and of `--help`) formats to the same program (its tree, compared without
//! offsets), formats again to the same text, and keeps every comment. Then the command
//! itself: stdin, `--check`, `-w`, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rtrace::parser::{self, fmt};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scripts(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir).expect("examples dir").filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "bt")).collect();
    found.sort();
    found
}

/// The `-e '...'` programs in `text`.
fn one_liners(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("-e '") {
        rest = &rest[at + 4..];
        let Some(end) = rest.find('\'') else { break };
        out.push(rest[..end].to_string());
        rest = &rest[end + 1..];
    }
    out
}

/// The comments of a script, one per `//` or `/* */`, outside strings.
fn comments(src: &str) -> Vec<String> {
    let mut found = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        if in_str {
            match b[i] {
                b'\\' => i += 1,
                b'"' | b'\n' => in_str = false,
                _ => {}
            }
        } else if b[i] == b'"' {
            in_str = true;
        } else if src[i..].starts_with("//") {
            let end = src[i..].find('\n').map_or(src.len(), |n| i + n);
            found.push(src[i..end].trim_end().to_string());
            i = end;
            continue;
        } else if src[i..].starts_with("/*") {
            let end = src[i..].find("*/").map_or(src.len(), |n| i + n + 2);
            found.push(src[i..end].to_string());
            i = end;
            continue;
        }
        i += 1;
    }
    found
}

/// What is wrong with formatting `src`, if anything.
fn check(name: &str, src: &str) -> Result<(), String> {
    let before = parser::parse(src, 0).map_err(|e| format!("{name}: does not parse: {e:?}"))?;
    let once = fmt::format(src, 0).map_err(|e| format!("{name}: fmt failed: {e:?}"))?;
    let after = parser::parse(&once, 0).map_err(|e| format!("{name}: formatted text does not parse: {e:?}\n{once}"))?;
    if fmt::normalized(&before) != fmt::normalized(&after) {
        return Err(format!("{name}: a different program after formatting:\n{once}"));
    }
    let twice = fmt::format(&once, 0).map_err(|e| format!("{name}: second fmt failed: {e:?}"))?;
    if twice != once {
        return Err(format!("{name}: formatting is not idempotent:\n--- once\n{once}\n--- twice\n{twice}"));
    }
    // Compared with runs of blanks as one: a block comment's lines move with its indentation.
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let out = squeeze(&once);
    let lost: Vec<String> = comments(src).into_iter().filter(|c| !out.contains(&squeeze(c))).collect();
    if !lost.is_empty() {
        return Err(format!("{name}: comments lost: {lost:?}\n{once}"));
    }
    Ok(())
}

#[test]
fn every_example_tool_and_one_liner_formats_to_the_same_program() {
    let mut cases: Vec<(String, String)> = Vec::new();
    for dir in ["examples", "examples/tools"] {
        for path in scripts(&root().join(dir)) {
            let src = std::fs::read_to_string(&path).expect("script");
            cases.push((path.display().to_string(), src));
        }
    }
    for doc in ["docs/one-liners.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(doc)).expect("doc");
        cases.extend(one_liners(&text).into_iter().filter(|p| p.contains('{')).map(|p| (format!("{doc}: {p}"), p)));
    }
    // The end-to-end cases' programs (those that parse: some are there to be refused).
    let mut e2e: Vec<PathBuf> = std::fs::read_dir(root().join("tests/e2e")).expect("tests/e2e").filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "test")).collect();
    e2e.sort();
    for path in e2e {
        let text = std::fs::read_to_string(&path).expect("e2e case file");
        for prog in text.lines().filter_map(|l| l.strip_prefix("PROG ")) {
            if parser::parse(prog, 0).is_ok() {
                cases.push((format!("{}: {prog}", path.display()), prog.to_string()));
            }
        }
    }
    let help = Command::new(env!("CARGO_BIN_EXE_rtrace")).arg("--help").output().expect("rtrace --help");
    cases.extend(one_liners(&String::from_utf8_lossy(&help.stdout)).into_iter().map(|p| (format!("--help: {p}"), p)));
    assert!(cases.len() > 300, "only {} scripts found", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|(name, src)| check(name, src).err()).collect();
    assert!(failures.is_empty(), "{} of {} scripts:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
    eprintln!("fmt: {} scripts formatted to the same program, idempotent, comments kept", cases.len());
}

/// Every construct of the language, with comments in awkward places, directives and a C
/// definition: formatted as `tests/fmt/constructs.expected` says (regenerate it with
/// `rtrace fmt tests/fmt/constructs.bt > tests/fmt/constructs.expected` and read the diff).
#[test]
fn every_construct_formats_as_expected() {
    let src = std::fs::read_to_string(root().join("tests/fmt/constructs.bt")).expect("fixture");
    let expected = std::fs::read_to_string(root().join("tests/fmt/constructs.expected")).expect("expected");
    assert_eq!(fmt::format(&src, 0).expect("formats"), expected);
    check("tests/fmt/constructs.bt", &src).expect("round trip");
}

fn rtrace_fmt(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtrace"))
        .arg("fmt")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rtrace fmt");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("rtrace fmt");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn fmt_command_reads_stdin_checks_and_rewrites_in_place() {
    let messy = "BEGIN{@x[1,2]=count();// counted\nif(1){exit()}}\n";
    let tidy = "BEGIN {\n    @x[1, 2] = count(); // counted\n    if (1) {\n        exit();\n    }\n}\n";
    assert_eq!(rtrace_fmt(&["-"], messy), (0, tidy.to_string(), String::new()));

    let dir = std::env::temp_dir().join(format!("rtrace-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("messy.bt");
    std::fs::write(&file, messy).expect("write");
    let path = file.to_str().expect("utf-8 path");
    let (code, _, err) = rtrace_fmt(&["--check", path], "");
    assert_eq!(code, 1, "--check on an unformatted file");
    assert!(err.contains("not formatted"), "{err}");
    assert_eq!(rtrace_fmt(&["-w", path], "").0, 0);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), tidy);
    assert_eq!(rtrace_fmt(&["--check", path], ""), (0, String::new(), String::new()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fmt_refuses_a_script_that_does_not_parse_with_a_diagnostic() {
    let (code, out, err) = rtrace_fmt(&["-"], "BEGIN { @x = ; }\n");
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(err.contains("error[E0103]") && err.contains("stdin:1:"), "{err}");
}
