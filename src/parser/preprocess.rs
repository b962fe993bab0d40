//! The part of C's preprocessor that bpftrace scripts use, so that scripts written for
//! bpftrace (its `tools/*.bt` among them) run unchanged:
//!
//! - `#ifdef NAME` / `#ifndef NAME` / `#else` / `#endif`, with `BPFTRACE_HAVE_BTF` defined:
//!   rtrace always types from the kernel's BTF, so the C definitions bpftrace scripts keep
//!   for kernels without BTF are skipped, as bpftrace skips them there.
//! - `#define NAME VALUE` for integer and string constants.
//! - `#include <header>`: C types come from BTF (and the script's own definitions), so a
//!   header only contributes its integer constants (`AF_INET` from `<sys/socket.h>`), read
//!   from the `-I` directories, the system's headers, and the running kernel's when they are
//!   installed. A kernel header found nowhere adds nothing (BTF has its types); any other
//!   header found nowhere is an error, as it is for bpftrace's C compiler. `--include FILE`
//!   reads FILE before the script's own. A header's conditionals about the target are
//!   decided (x86_64, LP64, Linux: `<asm/unistd.h>` gives the 64-bit syscall numbers); the
//!   others are read through, the first definition winning.
//!
//! Directive lines and skipped regions are blanked (newlines kept), so every span of the
//! text the lexer sees is the script's own. The lexer replaces a defined name by its value.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::span::{FileId, Span};

/// A constant a `#define` gives a name.
#[derive(Debug, Clone, PartialEq)]
pub enum Constant {
    Int(u64),
    Str(String),
}

/// What the lexer reads: the text with directives blanked, and the constants defined.
#[derive(Debug, Default)]
pub struct Preprocessed {
    pub text: String,
    pub constants: HashMap<String, Constant>,
}

/// A directive rtrace does not understand, or an unbalanced conditional.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectiveError {
    pub span: Span,
    pub message: String,
}

/// The command line's part in `#include`: `--include FILE` headers read before the script,
/// and `-I DIR` directories searched first.
#[derive(Debug, Clone, Default)]
pub struct Includes {
    pub headers: Vec<String>,
    pub dirs: Vec<PathBuf>,
}

/// The kernel's own header trees: a header under one of them that is not installed is
/// skipped, since the kernel's BTF describes its types.
const KERNEL_HEADER_ROOTS: &[&str] =
    &["linux", "asm", "asm-generic", "uapi", "net", "trace", "generated", "crypto", "kvm", "acpi", "xen", "scsi", "sound", "keys", "media", "rdma", "drm", "vdso", "clocksource", "dt-bindings", "soc", "video", "misc", "ras", "target"];

/// Names every script sees defined.
const PREDEFINED: &[&str] = &["BPFTRACE_HAVE_BTF"];
/// Where `#include <...>` looks, as a C compiler on x86_64 Debian does.
const INCLUDE_DIRS: &[&str] = &["/usr/include", "/usr/include/x86_64-linux-gnu", "/usr/local/include"];
/// Most nested includes followed.
const MAX_INCLUDE_DEPTH: usize = 16;
/// The largest header read: the kernel's largest are a few hundred kB. Without a limit,
/// `#include </proc/self/pagemap>` (a "regular file" of 256 GiB) read until memory ran out.
const MAX_HEADER_BYTES: u64 = 4 << 20;

/// `text` as blanks, byte for byte (a multi-byte character becomes as many spaces), newlines
/// kept: every later offset stays the script's own.
pub(super) fn blank(text: &str) -> String {
    text.chars().map(|c| if c == '\n' { "\n".to_string() } else { " ".repeat(c.len_utf8()) }).collect()
}

pub fn run(src: &str, file: FileId, includes: &Includes) -> Result<Preprocessed, DirectiveError> {
    // Scripts without directives (nearly all) are passed through untouched.
    if includes.headers.is_empty() && !src.lines().any(|l| l.trim_start().starts_with('#') && !l.starts_with("#!")) {
        return Ok(Preprocessed { text: src.to_string(), constants: HashMap::new() });
    }
    let mut defined: HashSet<String> = PREDEFINED.iter().map(|s| s.to_string()).collect();
    let mut raw: HashMap<String, String> = HashMap::new();
    let mut headers = Headers { extra_dirs: includes.dirs.clone(), ..Headers::default() };
    for header in &includes.headers {
        headers.include_top(header_name(header), &mut raw).map_err(|message| DirectiveError { span: Span::new(file, 0, 0), message: format!("--include: {message}") })?;
    }
    defined.extend(raw.keys().cloned());
    // One entry per open conditional: whether its current branch is kept.
    let mut stack: Vec<(bool, Span)> = Vec::new();
    let mut text = String::with_capacity(src.len());
    let mut at = 0;
    // Whether a line starts inside a `/* */` comment, where `#` is prose.
    let mut in_comment = false;
    for line in src.split_inclusive('\n') {
        let span = Span::new(file, at, at + line.trim_end().len());
        at += line.len();
        let active = stack.iter().all(|(keep, _)| *keep);
        let trimmed = line.trim();
        let commented = in_comment;
        in_comment = ends_in_comment(line, in_comment);
        let directive = trimmed.strip_prefix('#').filter(|_| !(commented || span.start == 0 && trimmed.starts_with("#!")));
        let Some(directive) = directive else {
            if active {
                text.push_str(line);
            } else {
                text.push_str(&blank(line));
            }
            continue;
        };
        text.push_str(&blank(line));
        let mut words = directive.trim_start().splitn(2, char::is_whitespace);
        let name = words.next().unwrap_or_default();
        let rest = words.next().unwrap_or_default().trim();
        let bad = |message: String| DirectiveError { span, message };
        match name {
            "ifdef" | "ifndef" => {
                let is_defined = defined.contains(first_word(rest));
                stack.push((is_defined == (name == "ifdef"), span));
            }
            "else" => match stack.last_mut() {
                Some((keep, _)) => *keep = !*keep,
                None => return Err(bad("`#else` without `#ifdef` or `#ifndef`".into())),
            },
            "endif" => {
                if stack.pop().is_none() {
                    return Err(bad("`#endif` without `#ifdef` or `#ifndef`".into()));
                }
            }
            _ if !active => {}
            "define" => {
                let Some((macro_name, value)) = object_like_define(rest) else {
                    return Err(bad("rtrace's `#define` gives a name to a constant (`#define NAME VALUE`); macros with parameters are written `macro name(a) { ... }`".into()));
                };
                defined.insert(macro_name.to_string());
                raw.insert(macro_name.to_string(), value.to_string());
            }
            "undef" => {
                defined.remove(first_word(rest));
                raw.remove(first_word(rest));
            }
            "include" => {
                headers.include_top(header_name(rest), &mut raw).map_err(bad)?;
                defined.extend(raw.keys().cloned());
            }
            "pragma" => {}
            other => {
                return Err(bad(format!(
                    "rtrace does not run C's preprocessor: `#{other}` is not one of the directives it understands (#include, #define NAME VALUE, #ifdef, #ifndef, #else, #endif)"
                )))
            }
        }
    }
    if let Some((_, span)) = stack.first() {
        return Err(DirectiveError { span: *span, message: "this conditional has no `#endif`".into() });
    }
    let constants = raw.keys().filter_map(|k| evaluate(k, &raw, 0).map(|v| (k.clone(), v))).collect();
    Ok(Preprocessed { text, constants })
}

/// Whether a `/* */` comment is still open at the end of `line`, given whether one was open
/// at its start (`//` comments and strings taken into account).
fn ends_in_comment(line: &str, mut open: bool) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < b.len() {
        match (open, in_string, b[i], b.get(i + 1)) {
            (true, _, b'*', Some(b'/')) => {
                open = false;
                i += 1;
            }
            (false, false, b'/', Some(b'*')) => {
                open = true;
                i += 1;
            }
            (false, false, b'/', Some(b'/')) => return false,
            (false, _, b'"', _) => in_string = !in_string,
            (false, true, b'\\', _) => i += 1,
            _ => {}
        }
        i += 1;
    }
    open
}

/// `NAME VALUE` of an object-like `#define` (the text after the directive's name); None for
/// a function-like macro or a missing name.
fn object_like_define(rest: &str) -> Option<(&str, &str)> {
    let mut parts = rest.trim_start().splitn(2, char::is_whitespace);
    let name = parts.next().filter(|n| !n.is_empty() && !n.contains('('))?;
    Some((name, strip_comment(parts.next().unwrap_or_default())))
}

/// `<sys/socket.h>` or `"x.h"` as the header's path.
fn header_name(rest: &str) -> &str {
    rest.trim().trim_matches(|c| c == '<' || c == '>' || c == '"')
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or_default()
}

fn strip_comment(s: &str) -> &str {
    let s = s.split("//").next().unwrap_or_default();
    s.split("/*").next().unwrap_or_default().trim()
}

/// The constant a macro's text stands for: an integer (decimal, hex or octal, with C's
/// suffixes), a string, or another macro's name, possibly in parentheses. None otherwise.
fn evaluate(name: &str, raw: &HashMap<String, String>, depth: usize) -> Option<Constant> {
    let mut v = raw.get(name)?.trim();
    while let Some(inner) = v.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
        v = inner.trim();
    }
    if let Some(s) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Some(Constant::Str(s.to_string()));
    }
    let digits = v.trim_end_matches(['u', 'U', 'l', 'L']);
    let int = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse().ok()
    };
    if let Some(n) = int {
        return Some(Constant::Int(n));
    }
    if depth < 16 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return evaluate(v, raw, depth + 1);
    }
    None
}

/// The system's include directories, then the running kernel's own headers when they are
/// installed (`/lib/modules/RELEASE/build`, as bpftrace finds them): `<linux/sched.h>` there
/// has `TASK_RUNNING`.
fn include_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = INCLUDE_DIRS.iter().map(PathBuf::from).collect();
    if let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        let build = Path::new("/lib/modules").join(release.trim()).join("build");
        dirs.extend(["include", "arch/x86/include", "include/uapi", "arch/x86/include/uapi", "arch/x86/include/generated"].iter().map(|d| build.join(d)));
    }
    dirs
}

/// System headers read for their constants, each once.
#[derive(Default)]
struct Headers {
    seen: HashSet<PathBuf>,
    /// `-I` directories, searched first.
    extra_dirs: Vec<PathBuf>,
    /// Where to look, found on the first `#include`.
    dirs: Option<Vec<PathBuf>>,
}

impl Headers {
    /// An `#include` of the script or of `--include`: a header found nowhere is an error,
    /// unless the kernel's BTF stands for it.
    fn include_top(&mut self, header: &str, raw: &mut HashMap<String, String>) -> Result<(), String> {
        if self.include(header, raw, 0) || KERNEL_HEADER_ROOTS.contains(&header.split('/').next().unwrap_or_default()) {
            return Ok(());
        }
        Err(format!("header `{header}` not found in the -I directories, the system's include directories or the kernel's headers; add its directory with -I DIR"))
    }

    fn search_path(&mut self) -> Vec<PathBuf> {
        self.extra_dirs.iter().cloned().chain(self.dirs.get_or_insert_with(include_dirs).iter().cloned()).collect()
    }

    /// Reads the constants of `header`; whether it was found.
    fn include(&mut self, header: &str, raw: &mut HashMap<String, String>, depth: usize) -> bool {
        if depth > MAX_INCLUDE_DEPTH {
            return false;
        }
        let found = if Path::new(header).is_absolute() { Some(PathBuf::from(header)).filter(|p| p.is_file()) } else { self.search_path().into_iter().map(|d| d.join(header)).find(|p| p.is_file()) };
        let Some(path) = found else {
            return false;
        };
        if !self.seen.insert(path.clone()) {
            return true;
        }
        let Some(text) = read_header(&path) else { return true };
        // The header's conditionals, as far as they are about the target: a branch for
        // another architecture (`# ifdef __i386__ / # include <asm/unistd_32.h>`) is
        // skipped; one rtrace cannot decide is read, and the first definition wins.
        let mut frames: Vec<Frame> = Vec::new();
        for line in text.lines() {
            let Some(directive) = line.trim_start().strip_prefix('#') else { continue };
            let directive = directive.trim_start();
            let word = directive.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or_default();
            let rest = directive[word.len()..].trim();
            let reading = frames.iter().all(|f| f.reading);
            let decided = match word {
                "ifdef" => Some(is_defined(first_word(rest), raw)),
                "ifndef" => Some(is_defined(first_word(rest), raw).map(|d| !d)),
                "if" | "elif" => Some(condition(rest, raw)),
                _ => None,
            };
            match (word, decided) {
                ("if" | "ifdef" | "ifndef", Some(c)) => frames.push(Frame { reading: c != Some(false), done: c == Some(true) }),
                ("elif", Some(c)) => {
                    if let Some(f) = frames.last_mut() {
                        f.reading = !f.done && c != Some(false);
                        f.done |= c == Some(true);
                    }
                }
                ("else", _) => {
                    if let Some(f) = frames.last_mut() {
                        f.reading = !f.done;
                        f.done = true;
                    }
                }
                ("endif", _) => {
                    frames.pop();
                }
                _ => {}
            }
            if !reading {
                continue;
            }
            if let Some(rest) = directive.strip_prefix("define") {
                // The first definition wins, as the header's conditionals usually pick it.
                if let Some((name, value)) = object_like_define(rest).filter(|(n, _)| !raw.contains_key(*n)) {
                    raw.insert(name.to_string(), value.to_string());
                }
            } else if let Some(rest) = directive.strip_prefix("include") {
                self.include(header_name(rest), raw, depth + 1);
            }
        }
        true
    }
}

/// One open conditional of a header: whether its current branch is read, and whether a
/// branch of it was certainly taken (so `#else` and `#elif` are not).
struct Frame {
    reading: bool,
    done: bool,
}

/// Defined for an x86_64 Linux C compiler, as `cc -dM -E` says.
const TARGET_DEFINED: &[&str] = &["__x86_64__", "__x86_64", "__amd64__", "__amd64", "__LP64__", "_LP64", "__linux__", "__linux", "__unix__", "__unix", "__ELF__", "__GNUC__", "__STDC__"];
/// Not defined there: other architectures and data models.
const TARGET_UNDEFINED: &[&str] =
    &["__i386__", "__i386", "i386", "__ILP32__", "__x32__", "__arm__", "__aarch64__", "__powerpc__", "__powerpc64__", "__s390__", "__s390x__", "__mips__", "__riscv", "__sparc__", "__loongarch__"];

/// Whether `name` is defined in a header read for the target; None when rtrace cannot tell.
fn is_defined(name: &str, raw: &HashMap<String, String>) -> Option<bool> {
    if raw.contains_key(name) || TARGET_DEFINED.contains(&name) {
        Some(true)
    } else if TARGET_UNDEFINED.contains(&name) {
        Some(false)
    } else {
        None
    }
}

/// A `#if` condition: `defined(X)`, `defined X`, integers, `!`, `&&`, `||` and parentheses;
/// None (read it) for anything else.
fn condition(text: &str, raw: &HashMap<String, String>) -> Option<bool> {
    let text = strip_comment(text);
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' | ')' | '!' => tokens.push(c.to_string()),
            '&' | '|' if chars.peek().map(|(_, n)| *n) == Some(c) => {
                chars.next();
                tokens.push(format!("{c}{c}"));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, n)) = chars.peek() {
                    if !(n.is_ascii_alphanumeric() || n == '_') {
                        break;
                    }
                    end = j + n.len_utf8();
                    chars.next();
                }
                tokens.push(text[i..end].to_string());
            }
            _ => return None,
        }
    }
    let mut pos = 0;
    let value = or_expr(&tokens, &mut pos, raw);
    if pos == tokens.len() {
        value
    } else {
        None
    }
}

fn or_expr(t: &[String], pos: &mut usize, raw: &HashMap<String, String>) -> Option<bool> {
    let mut v = and_expr(t, pos, raw);
    while t.get(*pos).map(String::as_str) == Some("||") {
        *pos += 1;
        let r = and_expr(t, pos, raw);
        v = match (v, r) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        };
    }
    v
}

fn and_expr(t: &[String], pos: &mut usize, raw: &HashMap<String, String>) -> Option<bool> {
    let mut v = unary_expr(t, pos, raw);
    while t.get(*pos).map(String::as_str) == Some("&&") {
        *pos += 1;
        let r = unary_expr(t, pos, raw);
        v = match (v, r) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        };
    }
    v
}

fn unary_expr(t: &[String], pos: &mut usize, raw: &HashMap<String, String>) -> Option<bool> {
    let tok = t.get(*pos)?.clone();
    *pos += 1;
    match tok.as_str() {
        "!" => unary_expr(t, pos, raw).map(|v| !v),
        "(" => {
            let v = or_expr(t, pos, raw);
            if t.get(*pos).map(String::as_str) != Some(")") {
                *pos = t.len() + 1;
                return None;
            }
            *pos += 1;
            v
        }
        "defined" => {
            let paren = t.get(*pos).map(String::as_str) == Some("(");
            *pos += usize::from(paren);
            let name = t.get(*pos)?.clone();
            *pos += 1;
            if paren {
                if t.get(*pos).map(String::as_str) != Some(")") {
                    *pos = t.len() + 1;
                    return None;
                }
                *pos += 1;
            }
            is_defined(&name, raw)
        }
        n if n.chars().all(|c| c.is_ascii_digit()) => Some(!n.trim_start_matches('0').is_empty()),
        _ => None,
    }
}

/// The text of a header, if it is UTF-8 and at most `MAX_HEADER_BYTES` long.
fn read_header(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path).ok()?.take(MAX_HEADER_BYTES + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > MAX_HEADER_BYTES {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btf_conditionals_defines_and_spans() {
        let src = "#ifndef BPFTRACE_HAVE_BTF\nstruct x { int a; };\n#else\n#define N 0x10\n#endif\n#define S \"hi\"\nBEGIN { }\n";
        let p = run(src, 0, &Includes::default()).expect("preprocesses");
        assert_eq!(p.text.len(), src.len());
        assert_eq!(p.text.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>(), ["BEGIN { }"]);
        assert_eq!(p.text.find("BEGIN"), src.find("BEGIN"));
        assert_eq!(p.constants.get("N"), Some(&Constant::Int(16)));
        assert_eq!(p.constants.get("S"), Some(&Constant::Str("hi".into())));
    }

    #[test]
    fn macro_chains_octal_and_suffixes() {
        let p = run("#define A B\n#define B (0100)\n#define C 7UL\n", 0, &Includes::default()).expect("preprocesses");
        assert_eq!(p.constants.get("A"), Some(&Constant::Int(64)));
        assert_eq!(p.constants.get("C"), Some(&Constant::Int(7)));
    }

    #[test]
    fn unknown_directives_and_unbalanced_conditionals_are_errors() {
        assert!(run("#if X > 1\n", 0, &Includes::default()).expect_err("refused").message.contains("#if"));
        assert!(run("#endif\n", 0, &Includes::default()).is_err());
        assert!(run("#ifdef X\nBEGIN {}\n", 0, &Includes::default()).expect_err("refused").message.contains("no `#endif`"));
        assert!(run("#define F(x) x\n", 0, &Includes::default()).is_err());
    }

    #[test]
    fn hashes_in_block_comments_are_prose() {
        let src = "/*\n # need changes\n */\nBEGIN { } /* a\n#x */\n";
        assert_eq!(run(src, 0, &Includes::default()).expect("preprocesses").text, src);
    }

    #[test]
    fn header_conditionals_about_the_target_are_decided() {
        let raw = HashMap::from([("X".to_string(), "1".to_string())]);
        assert_eq!(condition("defined(__i386__)", &raw), Some(false));
        assert_eq!(condition("defined __x86_64__ && !defined(__ILP32__)", &raw), Some(true));
        assert_eq!(condition("defined(X) || defined(__KERNEL__)", &raw), Some(true));
        assert_eq!(condition("defined(__KERNEL__)", &raw), None);
        assert_eq!(condition("__BITS_PER_LONG == 64", &raw), None);
        // <syscall.h> reaches <asm/unistd.h>, which picks the 64-bit numbers on x86_64.
        if Path::new("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").is_file() {
            let p = run("#include <syscall.h>\n", 0, &Includes::default()).expect("preprocesses");
            assert_eq!(p.constants.get("__NR_nanosleep"), Some(&Constant::Int(35)));
        }
    }

    #[test]
    fn endless_file_is_not_read_as_a_header() {
        // 8 bytes for every page of the address space: 256 GiB, read until memory ran out.
        let p = run("#include </proc/self/pagemap>\nBEGIN { }\n", 0, &Includes::default()).expect("preprocesses");
        assert!(p.constants.is_empty());
    }

    #[test]
    fn shebang_is_not_a_directive() {
        let p = run("#!/usr/bin/rtrace\nBEGIN { }\n", 0, &Includes::default()).expect("preprocesses");
        assert!(p.text.starts_with("#!"));
    }
}
