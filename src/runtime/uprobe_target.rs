//! Where a uprobe goes: a binary named as bpftrace users name it (a path, a program on PATH,
//! or a library like `libc`), and a function of its symbol table (or `FUNCTION+OFFSET`, or a
//! `0xADDRESS`), turned into the file path and file offset the kernel's uprobe PMU wants.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use object::{Object, ObjectSegment, ObjectSymbol};

use crate::system::{glob_match, UprobeTarget};

/// Library directories searched for a bare library name, as the dynamic loader's defaults.
const LIBRARY_DIRS: &[&str] = &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"];

pub fn resolve(binary: &str, symbol: &str) -> Result<Vec<UprobeTarget>, String> {
    if binary.contains(['*', '?', '[']) {
        return resolve_each(binary, symbol);
    }
    let path = find_binary(binary)?;
    let shown = path.display().to_string();
    let data = read_binary_once(&path)?;
    let file = object::File::parse(&data[..]).map_err(|e| format!("{shown} is not an ELF file: {e}"))?;
    // Every function with an address, by symbol-table name and demangled name.
    let functions = || {
        file.symbols().chain(file.dynamic_symbols()).filter(|s| s.kind() == object::SymbolKind::Text && s.address() != 0).filter_map(|s| {
            let raw = s.name().ok()?;
            Some((raw.to_string(), demangle(raw), s.address(), s.size()))
        })
    };
    let to_offset = |address: u64| file_offset(&file, address).ok_or_else(|| format!("address {address:#x} is not in a loadable segment of {shown}"));

    if let Some(hex) = symbol.strip_prefix("0x") {
        let address = u64::from_str_radix(hex, 16).map_err(|_| format!("`{symbol}` is not a hex address"))?;
        return Ok(vec![UprobeTarget { path: shown.clone(), offset: to_offset(address)?, address, name: symbol.to_string() }]);
    }
    if symbol.contains(['*', '?', '[']) {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (raw, demangled, address, _) in functions() {
            let name = demangled.unwrap_or_else(|| raw.clone());
            if (glob_match(symbol, &raw) || glob_match(symbol, &name)) && seen.insert(address) {
                out.push(UprobeTarget { path: shown.clone(), offset: to_offset(address)?, address, name });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        if out.is_empty() {
            return Err(format!("no function of {shown} matches `{symbol}`"));
        }
        return Ok(out);
    }
    let (name, extra) = match symbol.split_once('+') {
        Some((n, o)) => (n, parse_offset(o).ok_or_else(|| format!("`{o}` is not an offset"))?),
        None => (symbol, 0),
    };
    let (_, _, address, size) =
        functions().find(|(raw, demangled, _, _)| raw == name || demangled.as_deref() == Some(name)).ok_or_else(|| format!("no function `{name}` in {shown}"))?;
    // Past the function's end is another function, or none (a symbol of size 0 has no known
    // end). bpftrace's words.
    if size > 0 && extra >= size {
        return Err(format!("Offset outside the function bounds ('{name}' size is {size})"));
    }
    let offset = to_offset(address + extra)?;
    Ok(vec![UprobeTarget { path: shown.clone(), offset, address: address + extra, name: symbol.to_string() }])
}

/// `uaddr`: the virtual address of `name` (any defined symbol, by its table name or demangled
/// one) in the file at `path`, and whether the file is relocatable (ET_DYN: PIE or library).
pub fn symbol(path: &str, name: &str) -> Result<(u64, bool), String> {
    let data = read_binary(Path::new(path))?;
    let file = object::File::parse(&*data).map_err(|e| format!("{path} is not an ELF file: {e}"))?;
    let found = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.is_definition() && s.address() != 0)
        .find(|s| s.name().is_ok_and(|raw| raw == name || demangle(raw).as_deref() == Some(name)))
        .ok_or_else(|| format!("no symbol `{name}` in {path}"))?;
    Ok((found.address(), file.kind() == object::ObjectKind::Dynamic))
}

/// The size the symbol table gives `name` (as `symbol` finds it).
pub fn symbol_size(path: &str, name: &str) -> Option<u64> {
    let data = read_binary(Path::new(path)).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let found = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.is_definition() && s.address() != 0)
        .find(|s| s.name().is_ok_and(|raw| raw == name || demangle(raw).as_deref() == Some(name)))?;
    Some(found.size())
}

/// A C++ (`_Z...`) or Rust (`_R...`, or legacy with a hash) symbol's readable name.
pub fn demangle(raw: &str) -> Option<String> {
    if raw.starts_with("_Z") {
        return cpp_demangle::Symbol::new(raw.as_bytes()).ok().and_then(|s| s.demangle().ok());
    }
    rustc_demangle::try_demangle(raw).ok().map(|d| format!("{d:#}"))
}

/// Virtual address -> file offset, through the loadable segment that holds it.
pub(super) fn file_offset(file: &object::File<'_>, address: u64) -> Option<u64> {
    file.segments().find_map(|seg| {
        let (file_off, file_size) = seg.file_range();
        (address >= seg.address() && address < seg.address() + file_size).then(|| address - seg.address() + file_off)
    })
}

fn parse_offset(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `uprobe:./testprogs/uprobe*:f`: a wildcard in the binary's file name (not in its
/// directories) stands for every ELF file there it matches, in name order; those without the
/// function are left out.
fn resolve_each(binary: &str, symbol: &str) -> Result<Vec<UprobeTarget>, String> {
    let mut out = Vec::new();
    for path in glob_files(binary)? {
        out.extend(resolve(&path, symbol).unwrap_or_default());
    }
    if out.is_empty() {
        return Err(format!("no binary matching `{binary}` has a function matching `{symbol}`"));
    }
    Ok(out)
}

/// The regular files a wildcard in a binary's file name matches, in name order.
pub(super) fn glob_files(binary: &str) -> Result<Vec<String>, String> {
    let (dir, pattern) = binary.rsplit_once('/').unwrap_or((".", binary));
    if dir.contains(['*', '?', '[']) {
        return Err(format!("`{binary}`: a wildcard may stand in a binary's file name, not in its directories"));
    }
    let entries = std::fs::read_dir(if dir.is_empty() { "/" } else { dir }).map_err(|e| format!("cannot list {dir}: {e}"))?;
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| glob_match(pattern, n)).collect();
    names.sort();
    Ok(names.into_iter().map(|n| format!("{dir}/{n}")).filter(|p| Path::new(p).is_file()).collect())
}

/// Which build of a binary the file at `path` is: a 64-bit hash (FNV-1a) of its ELF build id,
/// or of its whole contents when it has none. A uprobe's file offset is only right in the
/// build it was found in: anywhere else it may land inside an instruction and corrupt the
/// traced process, so a compiled script checks this before attaching (`runtime/facts.rs`).
pub fn identity(path: &str) -> Result<u64, String> {
    use object::Object;
    let data = read_binary_once(Path::new(path))?;
    let id = object::File::parse(&data[..]).ok().and_then(|f| f.build_id().ok().flatten().map(<[u8]>::to_vec));
    let hashed: &[u8] = id.as_deref().unwrap_or(&data[..]);
    Ok(hashed.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)))
}

/// How many binaries `read_binary_once` keeps, and the largest it keeps: they stay in memory
/// as long as rtrace runs, so a large binary (a browser's 200 MB) is read again each time.
const READ_KEPT: usize = 4;
const READ_KEPT_BYTES: u64 = 32 << 20;

/// What tells a file's contents apart: device, inode, size, modification time.
type Stamp = (u64, u64, u64, i64, i64);

thread_local! {
    /// The binaries `resolve` and `identity` read last, newest last, with their stamps: a
    /// script's probes on a few libraries (`uprobe:libssl:SSL_read`, `uprobe:libcrypto:RSA_sign`,
    /// ... and their uretprobes) read each once, not once per probe.
    static READ: RefCell<Vec<(PathBuf, Stamp, Rc<Vec<u8>>)>> = const { RefCell::new(Vec::new()) };
    /// Library names (`libc`) as found in the library directories.
    static LIBRARIES: RefCell<HashMap<String, PathBuf>> = RefCell::new(HashMap::new());
}

/// `read_binary`, served again while the file is unchanged (see `READ`).
fn read_binary_once(path: &Path) -> Result<Rc<Vec<u8>>, String> {
    let stamp = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()));
    let hit = READ.with_borrow(|read| read.iter().find(|(p, s, _)| p == path && Some(*s) == stamp).map(|(_, _, data)| Rc::clone(data)));
    if let Some(data) = hit {
        return Ok(data);
    }
    let data = Rc::new(read_binary(path)?);
    if let Some(stamp) = stamp.filter(|s| s.2 <= READ_KEPT_BYTES) {
        READ.with_borrow_mut(|read| {
            read.retain(|(p, _, _)| p != path);
            if read.len() == READ_KEPT {
                read.remove(0);
            }
            read.push((path.to_path_buf(), stamp, Rc::clone(&data)));
        });
    }
    Ok(data)
}

/// The bytes of the binary at `path`, which must be a regular file, read up to the size
/// it has. A device or a FIFO is refused (`/dev/zero` read until memory ran out, a FIFO
/// until a writer came), and a `/proc` file, whose size is 0 however much it yields (256
/// GiB from `/proc/self/pagemap`), reads as empty, which is not ELF.
pub(super) fn read_binary(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let cannot = |e: std::io::Error| format!("cannot read {shown}: {e}");
    // Non-blocking: opening a FIFO would otherwise wait for a writer.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("cannot read {shown}: not a regular file"));
    }
    let mut data = Vec::new();
    file.take(meta.len()).read_to_end(&mut data).map_err(cannot)?;
    Ok(data)
}

/// A path as given; else a program on PATH; else a library (`libc`, `libc.so.6`).
pub(super) fn find_binary(binary: &str) -> Result<PathBuf, String> {
    if binary.contains('/') {
        return canonical(Path::new(binary)).map_err(|e| format!("cannot use {binary}: {e}"));
    }
    if let Some(p) = super::find_on_path(binary) {
        return p.canonicalize().map_err(|e| format!("cannot use {}: {e}", p.display()));
    }
    if let Some(found) = LIBRARIES.with_borrow(|known| known.get(binary).cloned()) {
        return Ok(found);
    }
    let found = find_library(binary)?;
    LIBRARIES.with_borrow_mut(|known| known.insert(binary.to_string(), found.clone()));
    Ok(found)
}

/// A library by name (`libc`, `libc.so.6`) in the library directories.
fn find_library(binary: &str) -> Result<PathBuf, String> {
    let stem = if binary.starts_with("lib") { binary.to_string() } else { format!("lib{binary}") };
    for dir in LIBRARY_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        names.sort();
        // The versioned file the loader maps (`libc.so.6`) before the bare `.so`, which is
        // often a linker script for the compiler.
        let hit = names
            .iter()
            .find(|n| *n == binary)
            .or_else(|| names.iter().find(|n| n.starts_with(&format!("{stem}.so."))))
            .or_else(|| names.iter().find(|n| **n == format!("{stem}.so")));
        if let Some(n) = hit {
            let p = Path::new(dir).join(n);
            return p.canonicalize().map_err(|e| format!("cannot use {}: {e}", p.display()));
        }
    }
    Err(format!("no binary or library `{binary}` (give a path, a program on PATH, or a library name like `libc`)"))
}

/// `path` made absolute with its links resolved, except a path into another process's root
/// (`/proc/PID/root/usr/bin/app`: a process in another mount namespace, or chrooted), which is
/// kept as it is once it names a file: resolving the `root` link would leave the process's
/// mount namespace for ours, where the file is another or none.
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    let mut parts = path.components().skip(1).map(|c| c.as_os_str().to_string_lossy().into_owned());
    let into_root = path.is_absolute()
        && parts.next().as_deref() == Some("proc")
        && parts.next().is_some_and(|p| p == "self" || p.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().as_deref() == Some("root");
    if into_root {
        std::fs::metadata(path)?;
        return Ok(path.to_path_buf());
    }
    path.canonicalize()
}

#[cfg(test)]
mod tests {
    use super::{read_binary, resolve};

    #[test]
    fn files_that_never_end_are_not_binaries() {
        // /proc says 0 bytes and yields 256 GiB; a FIFO's open and read wait for a writer.
        assert_eq!(read_binary(std::path::Path::new("/proc/self/pagemap")), Ok(Vec::new()));
        let dir = std::env::temp_dir().join(format!("rtrace-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: mkfifo of a NUL-terminated path in our own directory.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let read = read_binary(&fifo);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(read.is_err_and(|e| e.ends_with("not a regular file")));
    }

    #[test]
    fn a_path_into_a_process_root_keeps_its_root() {
        // Resolving `/proc/self/root` would give `/bin/sh`'s path here, not through the root.
        let sh = super::canonical(std::path::Path::new("/proc/self/root/bin/sh")).expect("sh exists");
        assert_eq!(sh, std::path::Path::new("/proc/self/root/bin/sh"));
        assert!(super::canonical(std::path::Path::new("/proc/self/root/no/such/file")).is_err());
    }

    #[test]
    fn libc_functions_resolve_by_library_name() {
        let t = resolve("libc", "malloc").expect("libc has malloc").remove(0);
        assert!(t.path.contains("libc.so"), "{}", t.path);
        assert!(t.offset > 0);
        let plus = resolve("libc", "malloc+4").expect("offsets add").remove(0);
        assert_eq!(plus.offset, t.offset + 4);
        let many = resolve("libc", "mallo?").expect("a glob matches");
        assert!(many.iter().any(|m| m.name == "malloc"), "{many:?}");
    }

    #[test]
    fn misses_say_what_is_missing() {
        assert!(resolve("libc", "no_such_function_rtrace").expect_err("no such function").contains("no function `no_such_function_rtrace`"));
        assert!(resolve("no-such-binary-rtrace", "f").expect_err("no such binary").contains("no binary or library"));
    }
}
