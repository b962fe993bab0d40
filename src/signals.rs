//! Linux's signal names, numbers and descriptions (x86_64), shared by sema
//! (`signal("SIGKILL")`) and the runtime (`signal_name(n)` prints `Interrupt`).

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

/// What glibc's strsignal(3) says of signals 1 to 31 (current bpftrace's `signal_name`).
const DESCRIPTIONS: &[&str] = &[
    "Hangup",
    "Interrupt",
    "Quit",
    "Illegal instruction",
    "Trace/breakpoint trap",
    "Aborted",
    "Bus error",
    "Floating point exception",
    "Killed",
    "User defined signal 1",
    "Segmentation fault",
    "User defined signal 2",
    "Broken pipe",
    "Alarm clock",
    "Terminated",
    "Stack fault",
    "Child exited",
    "Continued",
    "Stopped (signal)",
    "Stopped",
    "Stopped (tty input)",
    "Stopped (tty output)",
    "Urgent I/O condition",
    "CPU time limit exceeded",
    "File size limit exceeded",
    "Virtual timer expired",
    "Profiling timer expired",
    "Window changed",
    "I/O possible",
    "Power failure",
    "Bad system call",
];

/// A signal number as `signal_name(n)` prints it: strsignal(3)'s text, as current bpftrace
/// (`Interrupt`, `Real-time signal 2`, `Unknown signal 0` for numbers glibc has no signal
/// for, up to 64), and `N/A` past the kernel's last signal.
pub fn description(n: u64) -> String {
    match n {
        1..=31 => DESCRIPTIONS[n as usize - 1].to_string(),
        SIGRTMIN..=SIGRTMAX => format!("Real-time signal {}", n - SIGRTMIN),
        0 | 32 | 33 => format!("Unknown signal {n}"),
        _ => "N/A".to_string(),
    }
}

/// A signal's name as `kill -l` prints it (`SIGINT`,
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

    #[test]
    fn descriptions_are_strsignals() {
        assert_eq!(super::description(2), "Interrupt");
        assert_eq!(super::description(31), "Bad system call");
        assert_eq!(super::description(0), "Unknown signal 0");
        assert_eq!(super::description(33), "Unknown signal 33");
        assert_eq!(super::description(36), "Real-time signal 2");
        assert_eq!(super::description(64), "Real-time signal 30");
        assert_eq!(super::description(65), "N/A");
        assert_eq!(super::description(u64::MAX), "N/A");
    }
}
