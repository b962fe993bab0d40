//! The compile cache: BPF artifacts stored on disk, keyed by the typed program.
//!
//! Compiling costs LLVM's start-up (its static constructors touch ~19 MB of code, see
//! codegen/llvm_init.rs) and its passes; SREs run the same scripts over and over. The key is a
//! 128-bit hash of everything codegen's output depends on: the `hir::Program` (which holds
//! every kernel fact sema looked up, such as tracepoint formats), the codegen options, and the
//! identity of the rtrace binary itself (a rebuilt rtrace never reuses an older one's output).
//! So a hit is exactly what compiling would have produced. Cache IO errors only cost a
//! recompile. Lives outside the pure stages: only the CLI calls it.
//!
//! rtrace runs as root and loads what it finds here into the kernel, so an entry is only
//! trusted where nobody else could have written it, as ssh trusts its keys: every directory
//! from `/` down to the entry and the entry itself must belong to root or to the running
//! user and must not be writable by group or others. The one exception is a root-owned
//! sticky directory such as `/tmp`, where others cannot remove or rename what is not theirs.
//! Anything else is ignored (and named under `-v`), for reading and for writing.
//!
//! An entry is a header line, `rtrace-cache 1 KEY LENGTH CHECKSUM`, then the artifact as JSON
//! of exactly LENGTH bytes whose 128-bit hash is CHECKSUM. An entry is only served when its
//! header names the key asked for and its bytes are whole and unchanged: a truncated write
//! (a full disk, a crash before the data reached the disk), a flipped bit that still parses
//! as JSON, or an entry copied under another key's name is a miss and is compiled again,
//! never loaded as the wrong program.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::artifact::BpfArtifact;
use crate::codegen::Options;
use crate::sema::hir;

/// Entries kept; older ones are removed when a new one is stored.
const MAX_ENTRIES: usize = 256;
/// Age after which a temporary file is a dead writer's, not one still writing.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(600);

pub struct Cache {
    /// Where the entries are.
    dir: PathBuf,
    /// The deepest directory that must already exist: the ones missing below it (down to
    /// `dir`) are created when an entry is stored, none above it.
    base: PathBuf,
}

/// What a lookup found.
pub enum Lookup {
    Hit(BpfArtifact),
    Miss,
    /// The directory or the entry is not safe to load from (see the module comment): why.
    Untrusted(String),
}

impl Cache {
    /// `$RTRACE_CACHE_DIR`, else `$XDG_CACHE_HOME/rtrace`, else `~/.cache/rtrace`; None when
    /// `RTRACE_CACHE=0` or no directory can be named. Only the last of these directories is
    /// ever created, and `.cache` in the home directory.
    pub fn from_env() -> Option<Cache> {
        if std::env::var("RTRACE_CACHE").is_ok_and(|v| v == "0") {
            return None;
        }
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(dir) = var("RTRACE_CACHE_DIR") {
            return Some(Cache::at(dir));
        }
        let (base, dir) = match (var("XDG_CACHE_HOME"), var("HOME")) {
            (Some(xdg), _) => (xdg.clone(), xdg.join("rtrace")),
            (None, Some(home)) => (home.clone(), home.join(".cache/rtrace")),
            (None, None) => return None,
        };
        Some(Cache { dir, base })
    }

    pub fn at(dir: impl Into<PathBuf>) -> Cache {
        let mut dir: PathBuf = dir.into();
        // A relative `dir` of one component has the parent "": spelt `./dir`, it has `.`.
        if dir.parent().is_some_and(|p| p.as_os_str().is_empty()) {
            dir = Path::new(".").join(dir);
        }
        let base = dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf);
        Cache { dir, base }
    }

    /// The cache key of compiling `program` with `options`.
    pub fn key(program: &hir::Program, options: &Options) -> String {
        let text = format!("{}\n{}\n{options:?}\n{program:?}", env!("CARGO_PKG_VERSION"), binary_identity());
        let half = |salt: u8| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            salt.hash(&mut h);
            text.hash(&mut h);
            h.finish()
        };
        format!("{:016x}{:016x}", half(1), half(2))
    }

    pub fn load(&self, key: &str) -> Lookup {
        let dir = match std::fs::canonicalize(&self.dir) {
            Ok(d) => d,
            Err(_) => return Lookup::Miss,
        };
        if let Err(why) = trusted_dir(&dir, true) {
            return Lookup::Untrusted(why);
        }
        let path = dir.join(format!("{key}.json"));
        // Not following a symbolic link: the name itself must be the entry checked.
        let Ok(mut file) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path) else {
            return Lookup::Miss;
        };
        match file.metadata().map(|m| trusted_entry(&path, &m)) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Lookup::Untrusted(why),
            Err(_) => return Lookup::Miss,
        }
        let mut bytes = Vec::new();
        if file.read_to_end(&mut bytes).is_err() {
            return Lookup::Miss;
        }
        match unseal(key, &bytes) {
            Some(json) => serde_json::from_slice(json).map_or(Lookup::Miss, Lookup::Hit),
            None => Lookup::Miss,
        }
    }

    /// Stores an artifact (without its LLVM IR). Failing costs only the next compile; the
    /// error says why, for `-v`.
    pub fn store(&self, key: &str, artifact: &BpfArtifact) -> Result<(), String> {
        let artifact = BpfArtifact { llvm_ir: None, ..artifact.clone() };
        let json = serde_json::to_vec(&artifact).map_err(|e| e.to_string())?;
        let entry = seal(key, &json);
        let dir = self.create_dir()?;
        // Written whole under a new name, then renamed: a concurrent reader sees all of it or
        // nothing.
        let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &entry))
            .and_then(|()| std::fs::rename(&tmp, dir.join(format!("{key}.json"))));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("cannot write {}: {e}", tmp.display()));
        }
        prune(&dir);
        Ok(())
    }

    /// The cache directory, trusted, created (mode 0700) below `base` where missing.
    fn create_dir(&self) -> Result<PathBuf, String> {
        let below = self.dir.strip_prefix(&self.base).map_err(|_| format!("{} is not below {}", self.dir.display(), self.base.display()))?;
        let parts: Vec<_> = below.components().collect();
        let mut dir = std::fs::canonicalize(&self.base).map_err(|e| format!("{}: {e}", self.base.display()))?;
        trusted_dir(&dir, parts.is_empty())?;
        for (i, part) in parts.iter().enumerate() {
            dir.push(part);
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
            }
            // What was already there may be anyone's: checked like the rest.
            dir = std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            trusted_dir(&dir, i + 1 == parts.len())?;
        }
        Ok(dir)
    }
}

/// The first word of an entry, and the format's version.
const MAGIC: &str = "rtrace-cache 1";

/// An entry's bytes: the header line (key, length and checksum of `json`), then `json`.
pub fn seal(key: &str, json: &[u8]) -> Vec<u8> {
    let mut entry = format!("{MAGIC} {key} {} {}\n", json.len(), checksum(json)).into_bytes();
    entry.extend_from_slice(json);
    entry
}

/// The JSON of an entry read for `key`, if its header names `key` and its bytes are whole
/// and unchanged.
pub fn unseal<'a>(key: &str, entry: &'a [u8]) -> Option<&'a [u8]> {
    let newline = entry.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&entry[..newline]).ok()?;
    let json = &entry[newline + 1..];
    let rest = header.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let mut fields = rest.split(' ');
    let (k, len, sum) = (fields.next()?, fields.next()?, fields.next()?);
    (fields.next().is_none() && k == key && len.parse::<usize>().ok()? == json.len() && sum == checksum(json)).then_some(json)
}

/// A 128-bit hash of `bytes` (two SipHash passes with different salts), as hex.
fn checksum(bytes: &[u8]) -> String {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        bytes.hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// Removes the oldest entries beyond `MAX_ENTRIES`.
/// Also removes temporary files older than `STALE_TMP`: a writer killed mid-write (or a
/// full disk) leaves one, which no reader ever opens.
fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    let mut kept = Vec::new();
    for e in entries.filter_map(|e| e.ok()) {
        let (path, Some(modified)) = (e.path(), e.metadata().ok().and_then(|m| m.modified().ok())) else { continue };
        match path.extension().and_then(|x| x.to_str()) {
            Some("json") => kept.push((modified, path)),
            Some("tmp") if now.duration_since(modified).is_ok_and(|age| age > STALE_TMP) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
    let mut entries = kept;
    if entries.len() <= MAX_ENTRIES {
        return;
    }
    entries.sort();
    for (_, path) in &entries[..entries.len() - MAX_ENTRIES] {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether nobody but root and the running user can change what `dir` (a canonical path)
/// holds: checked from `/` down, as ssh checks the directories above its keys. `entries`:
/// `dir` is where entries are, not only above them.
fn trusted_dir(dir: &Path, entries: bool) -> Result<(), String> {
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    for (i, path) in ancestors.iter().enumerate() {
        let m = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !m.is_dir() {
            return Err(format!("{} is not a directory", path.display()));
        }
        // A sticky directory (`/tmp`) is shared, but when root owns it others cannot remove
        // or rename what they do not own: trusted above the cache directory.
        let above = i + 1 < ancestors.len() || !entries;
        let sticky = m.mode() & libc::S_ISVTX != 0 && m.uid() == 0 && above;
        only_ours(path, &m, sticky)?;
    }
    Ok(())
}

/// Whether an entry's metadata shows a file only root or the running user could have written.
fn trusted_entry(path: &Path, m: &std::fs::Metadata) -> Result<(), String> {
    if !m.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    only_ours(path, m, false)
}

/// Owned by root or by the user rtrace runs as, and (unless `shared_ok`) writable by no one
/// else.
fn only_ours(path: &Path, m: &std::fs::Metadata, shared_ok: bool) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if m.uid() != 0 && m.uid() != euid {
        return Err(format!("{} belongs to uid {}, not to root or to this user", path.display(), m.uid()));
    }
    if m.mode() & 0o022 != 0 && !shared_ok {
        return Err(format!("{} is writable by group or others (mode {:o})", path.display(), m.mode() & 0o7777));
    }
    Ok(())
}

/// Device, inode, size and modification time of the running executable.
fn binary_identity() -> String {
    match std::fs::metadata("/proc/self/exe") {
        Ok(m) => format!("{}:{}:{}:{}.{}", m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()),
        // Unknowable: make the key unique, so nothing is ever reused.
        Err(_) => format!("{:?}", std::time::SystemTime::now()),
    }
}

#[cfg(test)]
mod tests {
    use super::{seal, unseal};

    #[test]
    fn a_sealed_entry_is_served_for_its_key_only_and_only_whole() {
        let json = br#"{"object":[127,69,76,70]}"#;
        let entry = seal("k1", json);
        assert_eq!(unseal("k1", &entry), Some(&json[..]));
        assert_eq!(unseal("k2", &entry), None, "another key's entry");
        assert_eq!(unseal("k1", &entry[..entry.len() - 1]), None, "truncated");
        let mut flipped = entry.clone();
        let at = flipped.len() - 3;
        flipped[at] = b'8';
        assert_eq!(unseal("k1", &flipped), None, "a changed byte that still parses");
        assert_eq!(unseal("k1", json), None, "no header (an entry of an older rtrace)");
        assert_eq!(unseal("k1", b""), None);
    }
}
