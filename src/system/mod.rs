//! What a Linux system is made of, as the compiler and the runtime both describe it: the
//! places uprobes and USDT probes go in user binaries, the pid namespace, the wildcards attach
//! points are matched with. Pure types and functions; reading them from a live system is the
//! runtime's (`runtime/kernel.rs`, `uprobe_target.rs`, `usdt.rs`), asking for them is sema's
//! (`sema::KernelInfo`). `tracepoint_format` reads tracefs format files, for sema and for the
//! runtime, which checks them again when it runs a compiled script.

pub mod tracepoint_format;

/// A pid namespace as `bpf_get_ns_current_pid_tgid` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidNamespace {
    /// The nsfs device, in the kernel's encoding (`major << 20 | minor`).
    pub dev: u64,
    pub ino: u64,
    pub init: bool,
}

/// One place a uprobe goes: the binary's path, the file offset, and the function's name as
/// `probe` shows it (demangled).
#[derive(Debug, Clone, PartialEq)]
pub struct UprobeTarget {
    pub path: String,
    pub offset: u64,
    /// The same place as a virtual address of the ELF file (what `uaddr` is relative to).
    pub address: u64,
    pub name: String,
}

/// One USDT probe site: a `nop` the program's author marked with `DTRACE_PROBE*` /
/// `STAP_PROBE*`, described by an ELF note. A probe inlined in several places has one site per
/// place, each with its own argument locations.
#[derive(Debug, Clone, PartialEq)]
pub struct UsdtProbe {
    pub path: String,
    pub provider: String,
    pub name: String,
    /// File offset of the probe's instruction.
    pub offset: u64,
    /// Its virtual address in the ELF file.
    pub address: u64,
    /// File offset of the probe's semaphore, a u16 that tracers increment (the kernel does,
    /// through the uprobe's reference counter) and the program checks before costly argument
    /// set-up; None when the probe has none.
    pub semaphore: Option<u64>,
    pub args: Vec<UsdtArg>,
}

impl UsdtProbe {
    /// Its canonical name, what `probe` evaluates to: `usdt:PATH:PROVIDER:NAME`.
    pub fn probe_name(&self) -> String {
        format!("usdt:{}:{}:{}", self.path, self.provider, self.name)
    }
}

/// One argument of a USDT probe site, as the note's `SIZE@OPERAND` gives it (`-4@%eax`,
/// `8@-16(%rbp)`, `-4@$7`): a negative size is a signed value.
#[derive(Debug, Clone, PartialEq)]
pub struct UsdtArg {
    /// The note's text, for messages.
    pub spec: String,
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    pub signed: bool,
    /// None when rtrace cannot read this operand (e.g. `sym(%rip)`); using it is an error.
    pub location: Option<UsdtLocation>,
}

/// Where a USDT argument is. Registers are byte offsets into the task's `struct pt_regs` (the
/// uprobe's context), already adjusted for a sub-register such as `%ah`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UsdtLocation {
    Constant(i64),
    Register(usize),
    /// User memory at `base + displacement + index * scale`.
    Memory {
        base: usize,
        displacement: i64,
        index: Option<(usize, u8)>,
    },
}

/// Shell-style matching of `*` (any run), `?` (one character) and `[...]` classes, as
/// bpftrace matches attach points.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: (pattern index after it, text index it matched up to).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_match(&p[pi..], t[ti]).map(|len| pi + len),
            Some(c) if *c == t[ti] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ti += 1;
            }
            (None, Some((sp, st))) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `c` against the class at the start of `p` (`[abc]`, `[a-z]`, `[!x]`); returns the
/// class's length in the pattern when it matches.
fn class_match(p: &[char], c: char) -> Option<usize> {
    let end = p.iter().skip(1).position(|x| *x == ']')? + 1;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negate).then_some(end + 1)
}
