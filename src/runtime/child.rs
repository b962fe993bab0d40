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
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
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
        // Everything the child needs is made before the fork: after it, the child may only
        // make async-signal-safe calls (rtrace may have threads).
        let path = if program.contains('/') { std::path::PathBuf::from(program) } else { super::find_on_path(program).unwrap_or_default() };
        let cstr = |s: &[u8]| CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "-c: a word holds a NUL byte"));
        let path = cstr(path.as_os_str().as_bytes())?;
        let words = std::iter::once(program).chain(args).map(|w| cstr(w.as_bytes())).collect::<io::Result<Vec<_>>>()?;
        let mut word_ptrs: Vec<*const libc::c_char> = words.iter().map(|w| w.as_ptr()).collect();
        word_ptrs.push(std::ptr::null());
        let exec_failed = format!("rtrace: -c: cannot run `{program}`\n");
        // SAFETY: prctl with an integer argument; it only sets a flag of this process.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let (release_read, release_write) = pipe()?;
        let (ready_read, ready_write) = pipe()?;
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: fork; the child below only makes async-signal-safe system calls on memory
        // prepared before the fork, and ends in exec or _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // The child, held here rather than in a shell, so that nothing runs as `cpid` between
            // the release and the exec but the exec itself (a shell's own start-up made system
            // calls a script counted as the command's). It asks for SIGTERM when rtrace dies
            // (checking it did not die already), tells rtrace it is ready, waits for the release
            // (end of file instead: rtrace is gone, so it exits), and execs with the signal state
            // a spawned process gets (empty mask, SIGPIPE at its default: rtrace ignores it).
            // SAFETY: async-signal-safe calls only; see above.
            unsafe {
                libc::close(release_write.as_raw_fd());
                libc::close(ready_read.as_raw_fd());
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) < 0 || libc::getppid() != parent {
                    libc::_exit(125);
                }
                libc::write(ready_write.as_raw_fd(), b"r".as_ptr().cast(), 1);
                libc::close(ready_write.as_raw_fd());
                let mut byte = 0u8;
                if libc::read(release_read.as_raw_fd(), (&raw mut byte).cast(), 1) != 1 {
                    libc::_exit(125);
                }
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::execv(path.as_ptr(), word_ptrs.as_ptr());
                libc::write(2, exec_failed.as_ptr().cast(), exec_failed.len());
                libc::_exit(127);
            }
        }
        drop((release_read, ready_write));
        // Held until the child is ready: its own calls before the hold are all made before any
        // probe is attached. End of file without the byte: it has exited already.
        let mut byte = 0u8;
        // SAFETY: a one-byte read into a local from a pipe we own.
        let ready = unsafe { libc::read(ready_read.as_raw_fd(), (&raw mut byte).cast(), 1) } == 1;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if !ready || pidfd < 0 {
            let e = if ready { io::Error::last_os_error() } else { io::Error::new(io::ErrorKind::Other, format!("cannot run `{program}`: rtrace's child ended before the command started")) };
            end_descendants();
            return Err(e);
        }
        // SAFETY: the kernel just returned this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        Ok(HeldChild { pid, release: Some(release_write), pidfd, status: None })
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

/// A pipe whose ends close on exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
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
