//! The `-c CMD` child: started before BEGIN (so `cpid` is known), held before it execs the
//! command until every probe is attached, watched through a pidfd so the trace ends when it
//! exits, and ended with the trace when the trace ends first.
//!
//! Whatever the command starts is ended too. The command stays in rtrace's process group, so
//! the terminal treats them as one job (it can read the terminal; Ctrl-C and Ctrl-Z reach
//! both), which rules out killing a group of its own. Instead rtrace becomes a child
//! subreaper: a process the command starts and leaves behind is re-parented to rtrace, not
//! to init, so "rtrace's descendants" (found in /proc) is everything the command started,
//! even what left its process group or session. And should rtrace itself be killed, the
//! command gets SIGTERM from the kernel (`PR_SET_PDEATHSIG`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long processes rtrace ends get between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(500);

pub struct HeldChild {
    pid: libc::pid_t,
    /// Writing a line lets the child exec; closing it unwritten makes it exit.
    release: Option<OwnedFd>,
    pidfd: OwnedFd,
    /// Its wait status, once reaped.
    status: Option<libc::c_int>,
}

impl HeldChild {
    pub fn spawn(argv: &[String]) -> io::Result<HeldChild> {
        let (program, args) = runnable_command(argv)?;
        // SAFETY: prctl with an integer argument; it only sets a flag of this process.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 returns.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 just returned these descriptors; nothing else owns them.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let (r, w) = (read_end.as_raw_fd(), write_end.as_raw_fd());
        // `sh` waits on fd 3 for the release, then execs the command in its own place: the pid
        // (`cpid`) stays the same. Without a release (rtrace is gone) it exits instead. (std's
        // spawn waits for the exec, so the hold cannot sit in a pre_exec hook.)
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg("read _ <&3 || exit 125; exec 3<&-; exec \"$0\" \"$@\"").arg(program).args(args);
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: runs in the forked child before exec and only makes async-signal-safe calls:
        // the read end becomes fd 3 (dup2 clears close-on-exec), the write end is closed, and
        // the child asks for SIGTERM when rtrace dies (checking it did not die already).
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(r, 3) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(w);
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) < 0 || libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot run `{program}`: {e}")))?;
        drop(read_end);
        // Waited for by pid (`reap`), never through `child`: the std handle is only dropped.
        let pid = child.id() as libc::pid_t;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if pidfd < 0 {
            let e = io::Error::last_os_error();
            end_descendants();
            return Err(e);
        }
        // SAFETY: the kernel just returned this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        Ok(HeldChild { pid, release: Some(write_end), pidfd, status: None })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Lets the child exec its command.
    pub fn release(&mut self) {
        if let Some(fd) = self.release.take() {
            // SAFETY: a one-line write to a pipe we own.
            unsafe { libc::write(fd.as_raw_fd(), b"\n".as_ptr().cast(), 1) };
        }
    }

    /// Readable once the child has exited.
    pub fn pidfd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    /// Reaps every child of rtrace that has exited: the command (keeping its status) and the
    /// processes it left behind, which the subreaper made rtrace's.
    pub fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid pointer; WNOHANG never blocks.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            if pid == self.pid {
                self.status = Some(status);
            }
        }
    }

    /// The command's exit status once it has exited, as a shell reports it: its code, or 128
    /// plus the number of the signal that ended it.
    pub fn exit_status(&self) -> Option<i32> {
        let status = self.status?;
        if libc::WIFEXITED(status) {
            Some(libc::WEXITSTATUS(status))
        } else {
            Some(128 + libc::WTERMSIG(status))
        }
    }

    /// Ends the command (released or not) and everything it started, and reaps them.
    pub fn end(&mut self) {
        // First the status of a command that has already exited: ending the rest reaps it.
        self.reap();
        // Closed unwritten: a held child exits by itself.
        self.release = None;
        end_descendants();
    }
}

impl Drop for HeldChild {
    /// Every path out of a run ends the command: an error, a signal, the script's exit().
    fn drop(&mut self) {
        self.end();
    }
}

/// Ends every process that descends from rtrace: SIGTERM (and SIGCONT, should one be
/// stopped), then SIGKILL for what is left after `TERM_GRACE`; reaps rtrace's own children.
fn end_descendants() {
    let deadline = Instant::now() + TERM_GRACE;
    let mut termed = HashSet::new();
    loop {
        // SAFETY: waitpid with a null status pointer and WNOHANG.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        let live = descendants();
        if live.is_empty() {
            return;
        }
        let late = Instant::now() >= deadline;
        for pid in live {
            // SAFETY: plain kill(2) of a process rtrace started.
            unsafe {
                if late {
                    libc::kill(pid, libc::SIGKILL);
                } else if termed.insert(pid) {
                    libc::kill(pid, libc::SIGTERM);
                    libc::kill(pid, libc::SIGCONT);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The live processes (not zombies) descending from rtrace, from /proc/PID/stat.
fn descendants() -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: HashMap<libc::pid_t, Vec<libc::pid_t>> = HashMap::new();
    for entry in dir.filter_map(|e| e.ok()) {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace();
        let (Some(state), Some(ppid)) = (fields.next(), fields.next().and_then(|p| p.parse().ok())) else {
            continue;
        };
        if state != "Z" {
            children.entry(ppid).or_default().push(pid);
        }
    }
    // SAFETY: getpid has no preconditions.
    let mut todo = vec![unsafe { libc::getpid() }];
    let mut found = Vec::new();
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            found.push(c);
            todo.push(c);
        }
    }
    found
}

/// The executable of the process rtrace traces: `-p PID`'s, or the program `-c CMD` runs
/// (found as exec would find it). None without either, or when it cannot be found.
pub fn traced_executable(pid: Option<u32>, command: Option<&str>) -> Option<String> {
    let path = match (pid, command) {
        (Some(pid), _) => std::fs::read_link(format!("/proc/{pid}/exe")).ok()?,
        (None, Some(command)) => {
            let program = shlex::split(command)?.into_iter().next()?;
            if program.contains('/') {
                std::fs::canonicalize(&program).ok()?
            } else {
                super::find_on_path(&program)?
            }
        }
        (None, None) => return None,
    };
    Some(path.to_string_lossy().into_owned())
}

/// What `-c` and `-p` name, checked before the script is compiled, so that `--dry-run`
/// refuses them too: the command's program exists, the process does.
pub fn check_target(pid: Option<u32>, command: Option<&[String]>) -> io::Result<()> {
    if let Some(argv) = command {
        runnable_command(argv)?;
    }
    if let Some(pid) = pid {
        Watched::pid(pid)?;
    }
    Ok(())
}

/// The program of `-c`'s words and its arguments, if exec can find it.
fn runnable_command(argv: &[String]) -> io::Result<(&String, &[String])> {
    let (program, args) = argv.split_first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "-c needs a command"))?;
    if !runnable(program) {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("-c: no program `{program}` (not a file, nor on PATH)")));
    }
    Ok((program, args))
}

/// Whether `program` names an existing file, directly or through PATH, as exec would find it.
fn runnable(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    super::find_on_path(program).is_some()
}

/// A process named with `-p`, watched through a pidfd: readable once it has exited.
pub struct Watched {
    pidfd: OwnedFd,
}

impl Watched {
    pub fn pid(pid: u32) -> io::Result<Watched> {
        if pid == 0 || libc::pid_t::try_from(pid).is_err() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("-p {pid}: not a process id")));
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("-p {pid}: {e}")));
        }
        // SAFETY: the kernel just returned this descriptor.
        Ok(Watched { pidfd: unsafe { OwnedFd::from_raw_fd(fd as RawFd) } })
    }

    pub fn fd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }
}
