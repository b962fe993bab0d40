//! A compiled script on disk (`rtrace build`): the artifact, the script's source (for
//! diagnostics) and what it was compiled with, in a versioned file whose checksum is verified
//! before anything in it is used.
//!
//! ```text
//! #!/usr/bin/env rtrace-run
//! rtrace-compiled FORMAT SHA256 HEADER_LEN OBJECT_LEN
//! HEADER (JSON, HEADER_LEN bytes) OBJECT (the BPF ELF object, OBJECT_LEN bytes)
//! ```
//!
//! The first line makes a compiled script executable where `rtrace-run` is on PATH. SHA256 is
//! the hex SHA-256 of everything after the second line. FORMAT is `FORMAT_VERSION`: a reader
//! refuses a newer format, naming both; fields added to the header later must be optional
//! (`serde(default)`) so that older files still read, or the format version goes up.

use sha2::{Digest, Sha256};

use super::{BpfArtifact, RuntimeMeta};

/// The format this rtrace writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const SHEBANG: &str = "#!/usr/bin/env rtrace-run\n";
const MAGIC: &str = "rtrace-compiled";
/// The most bytes a compiled script may have (a BPF object is at most a few MB).
pub const MAX_FILE: u64 = 256 << 20;

/// Everything in a compiled script besides the object.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// The rtrace that compiled it, e.g. `rtrace 0.1.0`.
    pub compiler: String,
    /// The machine architecture it was compiled for (`x86_64`).
    pub arch: String,
    /// The kernel it was compiled against: a release (`uname -r`) or `--btf FILE`.
    pub kernel: String,
    /// The script's text (`-e` or the file), for diagnostics that point into it.
    pub sources: Vec<Source>,
    /// `$1`, `$2`... it was compiled with: they are constants in the program.
    pub params: Vec<String>,
    /// `--name[=value]` options (`getopt`) it was compiled with.
    pub named: Vec<(String, Option<String>)>,
    /// Compiled with `--unsafe` (it may run commands, send signals...): whoever runs it says
    /// `--unsafe` again.
    #[serde(default)]
    pub unsafe_ok: bool,
    pub meta: RuntimeMeta,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// A compiled script read back: its header and its artifact.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub header: Header,
    pub object: Vec<u8>,
}

impl Compiled {
    pub fn artifact(&self) -> BpfArtifact {
        BpfArtifact { object: self.object.clone(), meta: self.header.meta.clone(), llvm_ir: None }
    }
}

/// Why a file could not be read as a compiled script.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FileError {
    #[error("is not a compiled rtrace script")]
    NotCompiled,
    #[error("was compiled by a newer rtrace (format {found}; this rtrace reads format {FORMAT_VERSION} and older): run it with a newer rtrace, or compile the script again with this one")]
    Newer { found: u32 },
    #[error("has a damaged header line: {0}")]
    BadHeader(String),
    #[error("is truncated: {found} bytes of the {expected} its header announces")]
    Truncated { found: usize, expected: usize },
    #[error("is damaged or was altered after it was compiled (its checksum does not match): compile the script again")]
    Checksum,
    #[error("cannot be decoded: {0}")]
    Decode(String),
}

/// The bytes of a compiled script.
pub fn write(header: &Header, object: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut body = json.clone();
    body.extend_from_slice(object);
    let sum = hex(&Sha256::digest(&body));
    let mut out = format!("{SHEBANG}{MAGIC} {FORMAT_VERSION} {sum} {} {}\n", json.len(), object.len()).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Whether `bytes` start like a compiled script (the caller then reads it with `read`).
pub fn is_compiled(bytes: &[u8]) -> bool {
    let rest = bytes.strip_prefix(SHEBANG.as_bytes()).unwrap_or(bytes);
    rest.starts_with(MAGIC.as_bytes())
}

/// Reads and verifies a compiled script: the format, the lengths, the checksum, then the
/// header. Nothing is decoded before the checksum holds.
pub fn read(bytes: &[u8]) -> Result<Compiled, FileError> {
    let rest = bytes.strip_prefix(SHEBANG.as_bytes()).unwrap_or(bytes);
    if !rest.starts_with(MAGIC.as_bytes()) {
        return Err(FileError::NotCompiled);
    }
    let end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| FileError::BadHeader("no end of line".into()))?;
    let line = std::str::from_utf8(&rest[..end]).map_err(|_| FileError::BadHeader("not text".into()))?;
    let words: Vec<&str> = line.split(' ').collect();
    let version: u32 = words.get(1).and_then(|w| w.parse().ok()).ok_or_else(|| FileError::BadHeader(line.into()))?;
    if version > FORMAT_VERSION {
        return Err(FileError::Newer { found: version });
    }
    let [_, _, sum, header_len, object_len] = words[..] else { return Err(FileError::BadHeader(line.into())) };
    let number = |w: &str| w.parse::<usize>().map_err(|_| FileError::BadHeader(line.into()));
    let (header_len, object_len) = (number(header_len)?, number(object_len)?);
    let body = &rest[end + 1..];
    let expected = header_len.checked_add(object_len).ok_or_else(|| FileError::BadHeader(line.into()))?;
    if body.len() < expected {
        return Err(FileError::Truncated { found: body.len(), expected });
    }
    if body.len() > expected || hex(&Sha256::digest(body)) != sum {
        return Err(FileError::Checksum);
    }
    let header: Header = serde_json::from_slice(&body[..header_len]).map_err(|e| FileError::Decode(e.to_string()))?;
    Ok(Compiled { header, object: body[header_len..].to_vec() })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let meta: RuntimeMeta = serde_json::from_str(
            r#"{"programs":[],"probe_count":0,"maps":[],"printfs":[],"strftimes":[],"skb_outputs":[],"glob_tables":[],"perf_rb_pages":64,
                "missing_probes":"Error","print_maps_on_exit":true,"max_cat_bytes":10240,"str_trunc_trailer":".."}"#,
        )
        .expect("meta");
        let header = Header {
            compiler: "rtrace test".into(),
            arch: "x86_64".into(),
            kernel: "6.1.0".into(),
            sources: vec![Source { name: "t.bt".into(), text: "BEGIN { exit(); }".into() }],
            params: vec!["1".into()],
            named: vec![],
            unsafe_ok: false,
            meta,
        };
        write(&header, b"\x7fELF object bytes")
    }

    #[test]
    fn a_written_script_reads_back_whole() {
        let bytes = sample();
        assert!(is_compiled(&bytes));
        let c = read(&bytes).expect("reads");
        assert_eq!(c.object, b"\x7fELF object bytes");
        assert_eq!(c.header.sources[0].text, "BEGIN { exit(); }");
        assert_eq!(c.header.params, ["1"]);
    }

    #[test]
    fn a_changed_byte_anywhere_after_the_header_line_is_refused() {
        let bytes = sample();
        let body = bytes.iter().skip(SHEBANG.len()).position(|&b| b == b'\n').expect("line") + SHEBANG.len() + 1;
        for at in [body, body + 10, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            assert_eq!(read(&bad).err(), Some(FileError::Checksum), "byte {at}");
        }
    }

    #[test]
    fn a_truncated_script_says_how_much_is_missing() {
        let bytes = sample();
        let Err(FileError::Truncated { found, expected }) = read(&bytes[..bytes.len() - 5]) else { panic!("not refused as truncated") };
        assert_eq!(expected - found, 5);
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let text = String::from_utf8_lossy(&sample()).replacen(&format!("{MAGIC} {FORMAT_VERSION} "), &format!("{MAGIC} {} ", FORMAT_VERSION + 1), 1);
        assert_eq!(read(text.as_bytes()).err(), Some(FileError::Newer { found: FORMAT_VERSION + 1 }));
        assert!(FileError::Newer { found: 2 }.to_string().contains("newer rtrace"));
    }

    #[test]
    fn script_text_is_not_a_compiled_script() {
        assert!(!is_compiled(b"BEGIN { exit(); }"));
        assert_eq!(read(b"#!/usr/bin/env bpftrace\nBEGIN {}").err(), Some(FileError::NotCompiled));
    }
}
