//! kprobe_multi and uprobe_multi links: one BPF_LINK_CREATE attaches a program to many kernel
//! functions or many offsets of one binary, where a perf event each took ~10 ms per kprobe
//! (hundreds of functions: seconds to attach and as long to detach). The cookie of the i-th
//! function is i: the program names `func` by it (`codegen/multi.rs`). Closing the link
//! detaches every function at once.
//!
//! A kprobe_multi link fails whole if the kernel refuses one symbol, so functions ftrace
//! cannot trace (not in `available_filter_functions` now: a module unloaded since the script
//! was compiled) are left out first, as bpftrace does.

use std::os::fd::OwnedFd;

use super::sys;

/// `expected_attach_type` of kprobe_multi programs, and their link's attach type.
pub const BPF_TRACE_KPROBE_MULTI: u32 = 42;
/// `expected_attach_type` of uprobe_multi programs, and their link's attach type.
pub const BPF_TRACE_UPROBE_MULTI: u32 = 48;
/// kprobe_multi's flag for return probes.
const BPF_F_KPROBE_MULTI_RETURN: u64 = 1;
/// uprobe_multi's flag for return probes.
const BPF_F_UPROBE_MULTI_RETURN: u64 = 1;

/// Attaches `prog` to `functions` (those `traceable` keeps) with one kprobe_multi link.
/// Returns the link and how many functions were left out.
pub fn kprobe_multi(prog: i32, functions: &[String], ret: bool, traceable: Option<&std::collections::HashSet<&str>>) -> Result<(OwnedFd, usize), String> {
    let mut names = Vec::with_capacity(functions.len());
    let mut cookies = Vec::with_capacity(functions.len());
    for (i, f) in functions.iter().enumerate() {
        if traceable.is_none_or(|t| t.contains(f.as_str())) {
            names.push(std::ffi::CString::new(f.as_str()).map_err(|_| format!("`{f}` holds a NUL"))?);
            cookies.push(i as u64);
        }
    }
    if names.is_empty() {
        return Err(format!("none of the {} functions can be traced now (not in available_filter_functions)", functions.len()));
    }
    let symbols: Vec<u64> = names.iter().map(|n| n.as_ptr() as u64).collect();
    let flags = if ret { BPF_F_KPROBE_MULTI_RETURN } else { 0 };
    // flags (u32), count (u32), symbols, addresses, cookies.
    let words = [flags | (symbols.len() as u64) << 32, symbols.as_ptr() as u64, 0, cookies.as_ptr() as u64, 0, 0];
    let link = sys::link_create(prog, BPF_TRACE_KPROBE_MULTI, words).map_err(|e| kprobe_multi_error(e, symbols.len()))?;
    Ok((link, functions.len() - names.len()))
}

/// Attaches `prog` to `offsets` of the binary at `path` with one uprobe_multi link, for every
/// process or the `pid` one.
pub fn uprobe_multi(prog: i32, path: &str, offsets: &[u64], ret: bool, pid: Option<u32>) -> Result<OwnedFd, String> {
    let c_path = std::ffi::CString::new(path).map_err(|_| format!("{path:?} holds a NUL"))?;
    let cookies: Vec<u64> = (0..offsets.len() as u64).collect();
    let flags = if ret { BPF_F_UPROBE_MULTI_RETURN } else { 0 };
    // path, offsets, reference counter offsets, cookies, count (u32) and flags (u32), pid.
    let words = [c_path.as_ptr() as u64, offsets.as_ptr() as u64, 0, cookies.as_ptr() as u64, offsets.len() as u64 | flags << 32, u64::from(pid.unwrap_or(0))];
    sys::link_create(prog, BPF_TRACE_UPROBE_MULTI, words).map_err(|e| format!("uprobe_multi link on {} offsets of {path}: {e}", offsets.len()))
}

/// Why a kprobe_multi link was refused.
fn kprobe_multi_error(e: std::io::Error, count: usize) -> String {
    match e.raw_os_error() {
        // ftrace found no address for a symbol, or refused one.
        Some(libc::ENOENT | libc::ESRCH) => format!("kprobe_multi link on {count} functions: {e} (a function is not traceable)"),
        Some(libc::EBUSY) => format!("kprobe_multi link on {count} functions: {e} (a function is already traced in a way that excludes another tracer)"),
        _ => format!("kprobe_multi link on {count} functions: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_ftrace_cannot_trace_are_left_out_and_none_is_an_error() {
        let traceable: std::collections::HashSet<&str> = ["b"].into_iter().collect();
        // prog -1: link creation fails (EBADF), after the filtering this test is about.
        let e = kprobe_multi(-1, &["a".into(), "c".into()], false, Some(&traceable)).map(|_| ()).expect_err("no function is traceable");
        assert!(e.starts_with("none of the 2 functions"), "{e}");
        let e = kprobe_multi(-1, &["a".into(), "b".into()], false, Some(&traceable)).map(|_| ()).expect_err("prog -1 cannot be linked");
        assert!(e.contains("kprobe_multi link on 1 functions"), "{e}");
    }
}
