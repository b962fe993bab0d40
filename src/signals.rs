//! Linux's signal names and numbers (x86_64), shared by sema (`signal("SIGKILL")`) and the
//! runtime (`signal_name(n)` prints `SIGINT`).

const NAMES: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP",
    "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// The first real-time signal as glibc numbers it (the kernel's 32 and 33 are glibc's own).
const SIGRTMIN: u64 = 34;
const SIGRTMAX: u64 = 64;

/// A signal by name (`SIGKILL`, `KILL`) or number text (1 to 64).
pub fn number(name: &str) -> Option<u64> {
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u64 + 1).or_else(|| name.parse().ok().filter(|n| (1..=SIGRTMAX).contains(n)))
}

/// A signal's name as `kill -l` and bpftrace's `signal_name` print it (`SIGINT`,
/// `SIGRTMIN+2`); None for a number that is no signal.
pub fn name(n: u64) -> Option<String> {
    match n {
        1..=31 => Some(format!("SIG{}", NAMES[n as usize - 1])),
        SIGRTMIN => Some("SIGRTMIN".into()),
        SIGRTMAX => Some("SIGRTMAX".into()),
        35..=63 => Some(format!("SIGRTMIN+{}", n - SIGRTMIN)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_numbers_round_trip() {
        for n in 1..=64 {
            if let Some(name) = super::name(n).filter(|s| !s.starts_with("SIGRT")) {
                assert_eq!(super::number(&name), Some(n));
            }
        }
        assert_eq!(super::name(2).as_deref(), Some("SIGINT"));
        assert_eq!(super::name(36).as_deref(), Some("SIGRTMIN+2"));
        assert_eq!(super::number("KILL"), Some(9));
        assert_eq!(super::name(0), None);
    }
}
