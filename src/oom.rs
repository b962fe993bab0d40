//! Running out of memory ends rtrace with a message and status 1, as every other error
//! does, instead of an abort (status 134) after Rust's "memory allocation of N bytes
//! failed", after "Rust cannot catch foreign exceptions" when LLVM's `operator new`
//! throws, or after LLVM's own "out of memory" (its bad-alloc handler, installed in
//! codegen/llvm_diagnostics.rs). The usual cause is a limited address space (`ulimit -v`), which the message
//! names; the rest of rtrace's memory errors (mapping the event ring) say so too
//! (`limit_note`).
//!
//! Nothing can be allocated on this path, so the message is formatted into a stack buffer
//! and written with write(2), and the process ends with `_exit`: what rtrace holds in the
//! kernel (maps, programs, attachments) is file descriptors, released with the process, and
//! the `-c` command ends through its parent-death signal (runtime/child.rs).

use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, ending rtrace cleanly when it fails.
pub struct Allocator;

// SAFETY: every method forwards to `System` with the same arguments and returns its result;
// a null result (failure) does not return at all.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are System's.
        checked(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        checked(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above, that is from System.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; the caller's guarantees for `new_size` are System's.
        checked(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
    }
}

#[global_allocator]
static GLOBAL: Allocator = Allocator;

fn checked(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() {
        out_of_memory(size);
    }
    ptr
}

/// Makes a failed `operator new` (LLVM's C++) end rtrace like a failed Rust allocation,
/// instead of throwing an exception Rust cannot catch. Called before LLVM first runs.
pub fn handle_cxx_new_failure() {
    extern "C" {
        /// `std::set_new_handler(void (*)())` (Itanium mangling; libstdc++ and libc++).
        #[link_name = "_ZSt15set_new_handlerPFvvE"]
        fn set_new_handler(handler: Option<extern "C" fn()>) -> Option<extern "C" fn()>;
    }
    extern "C" fn new_failed() {
        out_of_memory(0);
    }
    // SAFETY: installs a handler that never returns; called before LLVM allocates anything.
    unsafe { set_new_handler(Some(new_failed)) };
}

/// Writes why rtrace ends and ends it, without allocating.
pub(crate) fn out_of_memory(size: usize) -> ! {
    let mut buf = StackText { bytes: [0; 256], len: 0 };
    let _ = match size {
        0 => std::fmt::Write::write_str(&mut buf, "error: out of memory"),
        n => std::fmt::Write::write_fmt(&mut buf, format_args!("error: out of memory (allocating {n} bytes failed)")),
    };
    if let Some(limit) = address_space_limit() {
        let _ = std::fmt::Write::write_fmt(&mut buf, format_args!("; {}", LimitNote(limit)));
    }
    let _ = std::fmt::Write::write_str(&mut buf, "\n");
    // SAFETY: write(2) of our own buffer to stderr, then _exit, which runs nothing more.
    unsafe {
        libc::write(2, buf.bytes.as_ptr().cast(), buf.len);
        libc::_exit(1);
    }
}

/// Address space rtrace needs free when it starts: its main thread's stack grows into it,
/// and a stack that cannot grow is a SIGSEGV, not an allocation that fails (seen just above
/// the smallest `ulimit -v` rtrace loads under). Any run needs far more later (LLVM).
const START_HEADROOM: u64 = 16 << 20;

/// Ends rtrace with the out-of-memory message when `ulimit -v` leaves less than
/// `START_HEADROOM` free: called first thing, before the stack has grown.
pub fn ensure_headroom() {
    let Some(limit) = address_space_limit() else { return };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let used_kib = status.lines().find_map(|l| l.strip_prefix("VmSize:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    if used_kib.is_some_and(|kib| limit.saturating_sub(kib * 1024) < START_HEADROOM) {
        out_of_memory(0);
    }
}

/// `RLIMIT_AS` in bytes, when it is set.
fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

struct LimitNote(u64);

impl std::fmt::Display for LimitNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rtrace's address space is limited to {} KiB (`ulimit -v`): LLVM and the event buffers need more", self.0 / 1024)
    }
}

/// What to add to an out-of-memory error: the address space limit, when one is set.
pub fn limit_note() -> Option<String> {
    address_space_limit().map(|l| LimitNote(l).to_string())
}

/// A fixed buffer `fmt` writes into; what does not fit is dropped.
struct StackText {
    bytes: [u8; 256],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
