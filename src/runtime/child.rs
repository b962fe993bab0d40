//! The `-c CMD` child: started before BEGIN (so `cpid` is known), held before it execs the
//! command until every probe is attached, and watched through a pidfd so the trace ends when
//! it exits.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

pub struct HeldChild {
    child: Child,
    /// Writing a byte (or closing it) lets the child exec.
    release: Option<OwnedFd>,
    pidfd: OwnedFd,
}

impl HeldChild {
    pub fn spawn(argv: &[String]) -> io::Result<HeldChild> {
        let (program, args) = argv.split_first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "-c needs a command"))?;
        if !runnable(program) {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("-c: no program `{program}` (not a file, nor on PATH)")));
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
        // (`cpid`) stays the same. (std's spawn waits for the exec, so the hold cannot sit
        // in a pre_exec hook.)
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg("read _ <&3; exec 3<&-; exec \"$0\" \"$@\"").arg(program).args(args);
        // SAFETY: runs in the forked child before exec and only makes async-signal-safe calls:
        // the read end becomes fd 3 (dup2 clears close-on-exec), the write end is closed.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(r, 3) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::close(w);
                Ok(())
            });
        }
        let child = command.spawn().map_err(|e| io::Error::new(e.kind(), format!("cannot run `{program}`: {e}")))?;
        drop(read_end);
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
        if pidfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        Ok(HeldChild { child, release: Some(write_end), pidfd })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the child exec its command.
    pub fn release(&mut self) {
        if let Some(fd) = self.release.take() {
            // SAFETY: a one-byte write to a pipe we own.
            unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        }
    }

    /// Readable once the child has exited.
    pub fn pidfd(&self) -> RawFd {
        self.pidfd.as_raw_fd()
    }

    /// Reaps the child once it has exited.
    pub fn reap(&mut self) {
        let _ = self.child.wait();
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        // A child never released (an attach failed, BEGIN called exit()) must not run.
        if self.release.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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
