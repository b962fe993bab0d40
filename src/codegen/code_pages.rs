//! Unmaps the executable's read-only pages between phases of compiling, so that LLVM's code
//! does not stay in rtrace's resident set once it has run.
//!
//! rtrace links LLVM statically: 29 MB of code and 6 MB of read-only data in the executable's
//! file mappings. The kernel maps file pages around every page fault (`fault_around_bytes`,
//! 64 KiB), so running LLVM's ~360 static constructors, which are spread over all of it, maps
//! most of that code although each constructor runs once; the optimisation pipeline and the
//! BPF back end each map another 15 MB. `MADV_DONTNEED` on a private mapping that was never
//! written only drops the process's page-table entries: the pages stay in the page cache, and
//! code that runs again faults back in (a minor fault, no I/O). Calling [`release`] between
//! phases keeps the peak resident set near one phase's code instead of all of LLVM's.
//!
//! Only the segments the program headers mark read-only (no `PF_W`) are released; the
//! writable segment, which holds the relocated (RELRO) data, is never touched.

use std::sync::OnceLock;

/// The executable's read-only segments (code, constants) as page-aligned (start, length).
fn read_only_segments() -> &'static [(usize, usize)] {
    static SEGMENTS: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        let mut segments = Vec::new();
        // SAFETY: dl_iterate_phdr calls `first` with valid program-header tables; the first
        // call describes the executable itself, and `first` stops the walk there.
        unsafe { libc::dl_iterate_phdr(Some(first), (&raw mut segments).cast()) };
        segments
    })
}

unsafe extern "C" fn first(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `data` is the Vec passed above; `info` and its `dlpi_phnum` headers are the
    // loader's, valid for this call.
    let (segments, info) = unsafe { (&mut *data.cast::<Vec<(usize, usize)>>(), &*info) };
    let page = 4096usize.max(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize);
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0) {
        // Whole pages inside the segment only: a page it shares with a neighbour stays.
        let start = (info.dlpi_addr as usize + h.p_vaddr as usize).next_multiple_of(page);
        let end = (info.dlpi_addr as usize + (h.p_vaddr + h.p_memsz) as usize) / page * page;
        if end > start {
            segments.push((start, end - start));
        }
    }
    1
}

/// Drops the pages of the executable's read-only segments that the process has mapped so
/// far (see the module comment).
pub fn release() {
    for &(start, len) in read_only_segments() {
        // SAFETY: the range lies in one of this process's own read-only segments (program
        // headers without PF_W), a private file mapping never written: MADV_DONTNEED discards
        // page-table entries only, and later accesses fault the same file pages back in.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss_file_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
        let line = status.lines().find(|l| l.starts_with("RssFile:")).expect("RssFile line");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
    }

    #[test]
    fn finds_the_code_and_drops_its_pages() {
        let here = finds_the_code_and_drops_its_pages as fn() as usize;
        assert!(read_only_segments().iter().any(|&(start, len)| (start..start + len).contains(&here)), "the code segment is read-only");
        // Map a good part of the executable's read-only pages, then drop them.
        for &(start, len) in read_only_segments() {
            let mut sum = 0u8;
            for at in (start..start + len).step_by(65536) {
                // SAFETY: a mapped, readable page of this executable.
                sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(at as *const u8) });
            }
            std::hint::black_box(sum);
        }
        let before = rss_file_kb();
        release();
        // Still runs: the code faults back in.
        let after = rss_file_kb();
        assert!(after < before, "RssFile {before} kB -> {after} kB");
    }
}
