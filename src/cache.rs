//! The compile cache: BPF artifacts stored on disk, keyed by the typed program.
//!
//! Compiling costs LLVM's start-up (its static constructors touch ~19 MB of code, see
//! codegen/llvm_init.rs) and its passes; SREs run the same scripts over and over. The key is a
//! 128-bit hash of everything codegen's output depends on: the `hir::Program` (which holds
//! every kernel fact sema looked up, such as tracepoint formats), the codegen options, and the
//! identity of the rtrace binary itself (a rebuilt rtrace never reuses an older one's output).
//! So a hit is exactly what compiling would have produced. Cache IO errors only cost a
//! recompile. Lives outside the pure stages: only the CLI calls it.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use crate::codegen::artifact::BpfArtifact;
use crate::codegen::Options;
use crate::sema::hir;

/// Entries kept; older ones are removed when a new one is stored.
const MAX_ENTRIES: usize = 256;

pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// `$RTRACE_CACHE_DIR`, else `$XDG_CACHE_HOME/rtrace`, else `~/.cache/rtrace`; None when
    /// `RTRACE_CACHE=0` or no directory can be named.
    pub fn from_env() -> Option<Cache> {
        if std::env::var("RTRACE_CACHE").is_ok_and(|v| v == "0") {
            return None;
        }
        let dir = std::env::var_os("RTRACE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("rtrace")))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rtrace")))?;
        Some(Cache { dir })
    }

    pub fn at(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
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

    pub fn load(&self, key: &str) -> Option<BpfArtifact> {
        let bytes = std::fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores an artifact (without its LLVM IR); failures are ignored.
    pub fn store(&self, key: &str, artifact: &BpfArtifact) {
        let artifact = BpfArtifact { llvm_ir: None, ..artifact.clone() };
        let Ok(json) = serde_json::to_vec(&artifact) else {
            return;
        };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        // Written whole, then renamed: a concurrent reader sees all of it or nothing.
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, json).is_ok() && std::fs::rename(&tmp, self.dir.join(format!("{key}.json"))).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        self.prune();
    }

    fn prune(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if entries.len() <= MAX_ENTRIES {
            return;
        }
        entries.sort();
        for (_, path) in &entries[..entries.len() - MAX_ENTRIES] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Device, inode, size and modification time of the running executable.
fn binary_identity() -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self/exe") {
        Ok(m) => format!("{}:{}:{}:{}.{}", m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()),
        // Unknowable: make the key unique, so nothing is ever reused.
        Err(_) => format!("{:?}", std::time::SystemTime::now()),
    }
}
