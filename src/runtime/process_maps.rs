//! The binaries a process has mapped, for `-p PID` attach points without a binary
//! (`usdt::provider:probe`, `uprobe:*:f`) and `-l -p PID`.

use std::os::unix::fs::MetadataExt;

/// The files `pid` has mapped executable, in the order of their first mapping (the program
/// first), by a path that opens the same file here: the process's own, or, when that names
/// another file or none (the process runs in another mount namespace), the same path under
/// `/proc/PID/root`. Empty when the process cannot be read.
pub fn binaries(pid: u32) -> Vec<String> {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode path
        let fields: Vec<&str> = line.splitn(6, char::is_whitespace).collect();
        let [_, perms, _, _, inode, path] = fields[..] else { continue };
        let path = path.trim_start();
        if !perms.contains('x') || !path.starts_with('/') || path.ends_with(" (deleted)") {
            continue;
        }
        let inode: u64 = inode.parse().unwrap_or(0);
        let here = std::fs::metadata(path).is_ok_and(|m| m.ino() == inode);
        let shown = if here { path.to_string() } else { format!("/proc/{pid}/root{path}") };
        if !out.contains(&shown) {
            out.push(shown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_process_maps_its_own_executable_first() {
        let ours = std::fs::canonicalize("/proc/self/exe").expect("exe");
        let found = super::binaries(std::process::id());
        assert_eq!(found.first().map(String::as_str), ours.to_str(), "{found:?}");
    }
}
