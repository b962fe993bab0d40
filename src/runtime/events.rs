//! Everything userspace does in response to the programs: decode ring buffer records,
//! format printf, carry out print/clear/zero, and print maps. Output goes through one
//! buffered stdout writer, flushed once per drained batch.

use std::io::{BufWriter, Write};

use std::os::fd::RawFd;

use super::loader::Loaded;
use super::output::{buf_hex, folded, json_event, json_line, render, render_json, u64_at, value_json, value_text, Limits, RawEntries};
use crate::printf::{self, Arg};
use super::ringbuf::RingBuf;
use super::symbols::{local_time, SymbolCache, Symbols};
use super::{sys, RuntimeError};
use crate::artifact::{EventKind, MapMeta, RuntimeMeta, STACKS_MAP};
use crate::artifact::{MapValue, PrintfAction, JOIN_ARGS, STR_LEN};
use crate::printf::{Conv, Segment};
use crate::artifact::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    Exit,
}

/// How the output looks and where it goes (`-f`, `-o`, `-B`).
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    pub json: bool,
    /// `-f folded`: maps keyed by a stack print as folded stacks (`output::folded`).
    pub folded: bool,
    /// `-o FILE`: instead of stdout.
    pub file: Option<std::path::PathBuf>,
    pub buffering: Buffering,
}

/// `-B`: when output is written out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Buffering {
    /// After each batch of events (at most `DRAIN_INTERVAL_MS` late) and at exit: every line
    /// appears whole.
    #[default]
    Line,
    /// Only when the buffer fills, and at exit.
    Full,
    /// After every event.
    None,
}

impl Buffering {
    /// `-B MODE`: `full`, `none`, or anything else (the CLI allows only `line`) line.
    pub fn named(mode: &str) -> Buffering {
        match mode {
            "full" => Buffering::Full,
            "none" => Buffering::None,
            _ => Buffering::Line,
        }
    }
}

pub struct EventSink {
    meta: RuntimeMeta,
    out: BufWriter<Box<dyn Write>>,
    /// The first write of the output that failed (a full disk, a closed pipe): from then on
    /// nothing is written, the trace ends, and every line is counted in `unwritten`.
    pub broken: Option<std::io::Error>,
    /// Lines of output not written because of `broken`.
    pub unwritten: u64,
    /// Lines in `out`'s buffer since it was last written out, lost with it if that fails.
    pending_lines: u64,
    /// Lost events already reported ("Lost N events" is told as they happen).
    pub lost_reported: u64,
    options: OutputOptions,
    /// Possible CPUs: the slots of a per-CPU map value.
    pub ncpus: usize,
    exited: bool,
    line: String,
    symbols: SymbolCache,
    /// The status of the first `exit(status)`.
    pub status: Option<i32>,
    /// Watchpoints to arm (`watchpoint:FUNC+argN` reached FUNC) or remove (`unwatch`), in
    /// event order, taken by the event loop.
    pub watches: Vec<WatchChange>,
    /// The `SiteWarning` printfs already told (each site once).
    sites_told: std::collections::HashSet<usize>,
    /// `%gr`'s names of this kernel's GFP flags, read from its BTF on first use.
    gfp: std::cell::OnceCell<Option<super::gfp::Table>>,
}

/// The running kernel's GFP flag names (`%gr`), if its BTF says them.
fn gfp_table() -> Option<super::gfp::Table> {
    let data = std::fs::read("/sys/kernel/btf/vmlinux").ok()?;
    super::gfp::table(&crate::btf::Btf::parse(data).ok()?)
}

#[derive(Debug, Clone, Copy)]
pub enum WatchChange {
    Arm(WatchRequest),
    /// `unwatch(addr)`.
    Remove(u64),
}

/// A `Watch` event: arm watchpoint `id` at `addr` in process `pid`, then resume the process
/// if the uprobe `stopped` it.
#[derive(Debug, Clone, Copy)]
pub struct WatchRequest {
    pub id: u32,
    pub addr: u64,
    pub pid: u32,
    pub stopped: bool,
}

impl EventSink {
    pub fn new(meta: &RuntimeMeta, options: &OutputOptions) -> Result<Self, RuntimeError> {
        let ncpus = sys::possible_cpus().map_err(RuntimeError::Io)?;
        let target: Box<dyn Write> = match &options.file {
            Some(path) => Box::new(std::fs::File::create(path).map_err(|e| RuntimeError::Output { path: path.clone(), error: e })?),
            None => Box::new(std::io::stdout()),
        };
        Ok(EventSink {
            meta: meta.clone(),
            out: BufWriter::with_capacity(1 << 16, target),
            broken: None,
            unwritten: 0,
            pending_lines: 0,
            lost_reported: 0,
            options: options.clone(),
            ncpus,
            exited: false,
            line: String::new(),
            symbols: SymbolCache::for_programs(&meta.programs),
            status: None,
            watches: Vec::new(),
            sites_told: Default::default(),
            gfp: Default::default(),
        })
    }

    /// Where the output goes: the `-o` file, or stdout.
    pub fn target(&self) -> std::path::PathBuf {
        self.options.file.clone().unwrap_or_else(|| "stdout".into())
    }

    /// Writes output (buffered); once a write has failed, only counts its lines.
    /// Writes already formatted lines (`--bench`'s report) to the output, now.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.write(bytes);
        self.flush();
    }

    fn write(&mut self, bytes: &[u8]) {
        let lines = bytecount_lines(bytes);
        if self.broken.is_some() {
            self.unwritten += lines;
            return;
        }
        let buffered = self.out.buffer().len();
        match self.out.write_all(bytes) {
            // The buffer was written out to make room (or `bytes` went past it): what it
            // holds now is all that is pending.
            Ok(()) if self.out.buffer().len() < buffered + bytes.len() => self.pending_lines = bytecount_lines(self.out.buffer()),
            Ok(()) => self.pending_lines += lines,
            Err(e) => {
                self.pending_lines += lines;
                self.fail(e);
            }
        }
    }

    /// Writes `bytes` out now (`--live`'s frames).
    pub(super) fn write_out(&mut self, bytes: &[u8]) {
        self.write(bytes);
        self.flush();
    }

    /// Writes out what is buffered.
    fn flush(&mut self) {
        if self.broken.is_some() {
            return;
        }
        match self.out.flush() {
            Ok(()) => self.pending_lines = 0,
            Err(e) => self.fail(e),
        }
    }

    /// The output failed: the buffered lines are lost (and counted), nothing more is tried.
    /// An interrupted or would-block write never gets here (write_all retries the first;
    /// the output is blocking).
    fn fail(&mut self, error: std::io::Error) {
        self.unwritten += std::mem::take(&mut self.pending_lines);
        self.broken = Some(error);
        // Dropped without writing out its buffer again.
        let old = std::mem::replace(&mut self.out, BufWriter::new(Box::new(std::io::sink())));
        drop(old.into_parts());
    }

    /// Accepts events again after an exit(): END's output must still be printed.
    pub fn reopen(&mut self) {
        self.exited = false;
    }

    /// Handles every record in the ring; after an exit event the rest are discarded, except
    /// `Watch` events: a process their uprobe stopped must still be resumed. A failed write
    /// of the output ends the trace like exit() (the events after it are formatted only to
    /// count their lines).
    pub fn drain(&mut self, ring: &mut RingBuf, maps: &Loaded) -> Result<Outcome, RuntimeError> {
        let mut result = Ok(());
        ring.consume(|record| {
            if !self.exited || u64_at(record, 0) as u32 == EventKind::Watch as u32 {
                result = self.handle(record, maps);
            }
            result.is_ok()
        });
        result?;
        if self.options.buffering != Buffering::Full {
            self.flush();
        }
        Ok(if self.exited || self.broken.is_some() { Outcome::Exit } else { Outcome::Continue })
    }

    /// Writes one piece of output: as it is, or as a JSON line of type `kind`.
    fn emit(&mut self, kind: &str, text: &[u8]) -> Result<(), RuntimeError> {
        if self.options.json {
            let line = json_event(kind, serde_json::Value::from(String::from_utf8_lossy(text)));
            self.write(line.as_bytes());
        } else {
            self.write(text);
        }
        if self.options.buffering == Buffering::None {
            self.flush();
        }
        Ok(())
    }

    /// A message bpftrace prints on stderr in text mode and as a JSON line with `-f json`,
    /// where its number is there twice, as `count` and in `data`:
    /// `{"type": "attached_probes", "count": 1, "data": {"probes": 1}}`.
    pub fn notice(&mut self, kind: &str, data: serde_json::Value, text: &str) -> Result<(), RuntimeError> {
        if self.options.json {
            let count = data.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(serde_json::Value::Null);
            let line = json_line(&serde_json::json!({ "type": kind, "count": count, "data": data }));
            self.write(line.as_bytes());
            self.flush();
        } else {
            self.flush();
            crate::diagnostics::stderr_line(text);
        }
        self.flush();
        Ok(())
    }

    fn handle(&mut self, record: &[u8], maps: &Loaded) -> Result<(), RuntimeError> {
        let Some(header) = record.get(..8) else {
            return Ok(());
        };
        let header = u64::from_le_bytes(header.try_into().unwrap_or([0; 8]));
        let id = (header >> 32) as usize;
        match EventKind::from_u32(header as u32) {
            Some(EventKind::Exit) => {
                self.exited = true;
                // The first exit() decides the status. One the process cannot have (the
                // shell would see 300 as 44, 256 as success) is 255, with a warning.
                if self.status.is_none() {
                    let status = u64_at(record, 8) as i64;
                    self.status = Some(u8::try_from(status).map_or_else(
                        |_| {
                            crate::diagnostics::warn(format_args!("exit({status}): an exit status is 0 to 255, so rtrace exits with 255"));
                            255
                        },
                        i32::from,
                    ));
                }
            }
            Some(EventKind::Printf) => {
                let Some(p) = self.meta.printfs.get(id) else {
                    return Ok(());
                };
                // Arguments userspace renders (all but plain strings and integers) become text
                // first; most printf calls have none, and skip this.
                // A bool is `true`/`false` to `%s`.
                // A string that fills its buffer gets the trailer (config `str_trunc_trailer`).
                let rendered = |off: usize, ty: &Type, conv: Conv| {
                    conv == Conv::GfpFlags
                        || (ty.prints_as_text() && !matches!(ty, Type::Str(_)))
                        || (ty.symbolic() && conv.wants_string())
                        || matches!(ty, Type::Str(n) if record.get(off..off + n).is_some_and(|b| !b.contains(&0)))
                };
                let texts: Vec<Option<String>> = if p.args.iter().zip(p.format.specs()).any(|((off, ty), s)| rendered(*off, ty, s.conv)) {
                    let symbols = self.symbols(maps);
                    let gfp = p.format.specs().any(|s| s.conv == Conv::GfpFlags).then(|| self.gfp.get_or_init(gfp_table).as_ref()).flatten();
                    p.args
                        .iter()
                        .zip(p.format.specs().map(|s| s.conv))
                        .map(|((off, ty), conv)| {
                            let bytes = record.get(*off..).unwrap_or_default();
                            rendered(*off, ty, conv).then(|| match (ty, conv) {
                                (Type::Buf(n), Conv::BufHex | Conv::BufHexSpaced) => buf_hex(*n, bytes, conv == Conv::BufHexSpaced),
                                (_, Conv::GfpFlags) => super::gfp::format(u64_at(bytes, 0), gfp),
                                _ => value_text(*ty, bytes, &symbols),
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let args: Vec<Arg<'_>> = p
                    .args
                    .iter()
                    .enumerate()
                    .map(|(i, (off, ty))| match (ty, texts.get(i).and_then(Option::as_ref)) {
                        (_, Some(t)) => Arg::Str(t.as_bytes()),
                        (Type::Str(n), None) => Arg::Str(record.get(*off..off + n).unwrap_or_default()),
                        (_, None) => Arg::Int { bits: u64_at(record, *off), signed: ty.is_signed() },
                    })
                    .collect();
                self.line.clear();
                printf::format(&p.format, &args, &mut self.line);
                let line = std::mem::take(&mut self.line);
                match p.action {
                    PrintfAction::Print => self.emit("printf", line.as_bytes())?,
                    PrintfAction::Message { error, .. } if self.options.json => {
                        if error || crate::diagnostics::warnings_shown() {
                            let label = match p.format.segments.first() {
                                Some(Segment::Lit(l)) => l.as_str(),
                                _ => "",
                            };
                            let line = message_json(error, label, &line);
                            self.write(line.as_bytes());
                        }
                    }
                    PrintfAction::Message { error, .. } => {
                        if error || crate::diagnostics::warnings_shown() {
                            self.flush();
                            crate::diagnostics::stderr_line(line.trim_end_matches('\n'));
                        }
                    }
                    PrintfAction::SiteWarning { .. } => {
                        if crate::diagnostics::warnings_shown() && self.sites_told.insert(id) {
                            if self.options.json {
                                let label = match p.format.segments.first() {
                                    Some(Segment::Lit(l)) => l.as_str(),
                                    _ => "",
                                };
                                // The message's first line; the source lines are for people.
                                let first = line.lines().next().unwrap_or_default();
                                let line = message_json(false, label, first).replacen("\"warnf\"", "\"runtime_error\"", 1);
                                self.write(line.as_bytes());
                            } else {
                                self.flush();
                                crate::diagnostics::stderr_line(line.trim_end_matches('\n'));
                            }
                        }
                    }
                    PrintfAction::Value if self.options.json => {
                        let (off, ty) = p.args.first().copied().unwrap_or((0, Type::I64));
                        let value = value_json(ty, record.get(off..).unwrap_or_default(), &self.symbols(maps));
                        self.write(json_event("value", value).as_bytes());
                    }
                    PrintfAction::Value => self.emit("printf", line.as_bytes())?,
                    PrintfAction::Join => {
                        let count = (u64_at(record, 8) as usize).min(JOIN_ARGS);
                        let parts: Vec<String> =
                            (0..count).map(|i| printf::c_str(record.get(16 + i * STR_LEN..16 + (i + 1) * STR_LEN).unwrap_or_default())).collect();
                        // The text has a newline after it, the JSON line's data none.
                        let mut joined = parts.join(&line);
                        if !self.options.json {
                            joined.push('\n');
                        }
                        self.emit("join", joined.as_bytes())?;
                    }
                    PrintfAction::Time => {
                        // SAFETY: time(NULL) has no preconditions.
                        let now = unsafe { libc::time(std::ptr::null_mut()) };
                        self.emit("time", local_time(now, &line).as_bytes())?
                    }
                    PrintfAction::Cat => match read_head(&line, self.meta.max_cat_bytes) {
                        Ok(bytes) => self.emit("cat", &bytes)?,
                        Err(e) => crate::diagnostics::stderr_line(&format!("ERROR: failed to open file '{line}' ({})", os_message(&e))),
                    },
                    PrintfAction::System => match std::process::Command::new("sh").arg("-c").arg(&line).stderr(std::process::Stdio::inherit()).output() {
                        // bpftrace's JSON type for system()'s output is `syscall`.
                        Ok(o) => self.emit("syscall", &o.stdout)?,
                        Err(e) => crate::diagnostics::stderr_line(&format!("system: {line}: {e}")),
                    },
                }
                self.line = line;
            }
            Some(EventKind::Print) => {
                let limits = Limits { top: u64_at(record, 8) as usize, div: u64_at(record, 16).max(1) };
                let text = self.render_print(id, maps, limits)?;
                self.write(text.as_bytes());
                if self.options.buffering == Buffering::None {
                    self.flush();
                }
            }
            Some(EventKind::Clear) => self.clear_map(id, maps, false)?,
            Some(EventKind::Zero) => self.clear_map(id, maps, true)?,
            Some(EventKind::Unwatch) => self.watches.push(WatchChange::Remove(u64_at(record, 8))),
            Some(EventKind::Watch) => {
                let who = u64_at(record, 16);
                self.watches.push(WatchChange::Arm(WatchRequest { id: id as u32, addr: u64_at(record, 8), pid: who as u32, stopped: who >> 32 != 0 }));
            }
            None => {}
        }
        Ok(())
    }

    fn fd(&self, id: usize, maps: &Loaded) -> Result<(RawFd, MapMeta), RuntimeError> {
        let m = self.meta.maps.get(id).ok_or_else(|| RuntimeError::MissingObject { what: format!("user map {id}") })?;
        Ok((maps.map(&m.symbol)?, m.clone()))
    }

    fn value_len(&self, m: &MapMeta) -> usize {
        let stride = m.layout.value_size.div_ceil(8) * 8;
        if m.layout.percpu {
            stride * self.ncpus
        } else {
            m.layout.value_size
        }
    }

    /// Map `id`'s entries, read from the kernel now.
    pub(super) fn read_map(&self, id: usize, maps: &Loaded) -> Result<(MapMeta, RawEntries), RuntimeError> {
        let (fd, m) = self.fd(id, maps)?;
        let entries = read_user_map(fd, &m, self.ncpus).map_err(RuntimeError::Io)?;
        Ok((m, entries))
    }

    fn render_map(&self, id: usize, maps: &Loaded) -> Result<String, RuntimeError> {
        self.render_map_limited(id, maps, Limits::default())
    }

    fn render_map_limited(&self, id: usize, maps: &Loaded, limits: Limits) -> Result<String, RuntimeError> {
        let (m, entries) = self.read_map(id, maps)?;
        if self.options.json {
            return Ok(render_json(&m, &entries, &self.symbols(maps), limits));
        }
        if self.options.folded && folded::applies(&m) {
            return Ok(folded::render(&m, &entries, &self.symbols(maps)));
        }
        Ok(render(&m, &entries, &self.symbols(maps), limits))
    }

    /// `print(@m)`: the map as the exit dump prints it, except that a map without keys that
    /// holds nothing yet prints its zero value (`@: 0`), as current bpftrace; histograms and
    /// keyed maps print nothing when empty.
    fn render_print(&self, id: usize, maps: &Loaded, limits: Limits) -> Result<String, RuntimeError> {
        let (m, mut entries) = self.read_map(id, maps)?;
        if entries.is_empty() && m.keys.is_empty() && !matches!(m.value, MapValue::Hist { .. } | MapValue::Lhist { .. }) {
            entries.push(&vec![0u8; entries.key_size], &vec![0u8; entries.value_len]);
        }
        let symbols = self.symbols(maps);
        if self.options.folded && !self.options.json && folded::applies(&m) {
            return Ok(folded::render(&m, &entries, &symbols));
        }
        Ok(if self.options.json { render_json(&m, &entries, &symbols, limits) } else { render(&m, &entries, &symbols, limits) })
    }

    pub(super) fn symbols<'a>(&'a self, maps: &Loaded) -> Symbols<'a> {
        Symbols { stacks: maps.map(STACKS_MAP).ok(), cache: &self.symbols, strftimes: &self.meta.strftimes, trailer: &self.meta.str_trunc_trailer, debug_info: self.meta.show_debug_info }
    }

    fn clear_map(&self, id: usize, maps: &Loaded, zero: bool) -> Result<(), RuntimeError> {
        let (fd, m) = self.fd(id, maps)?;
        let (_, entries) = self.read_map(id, maps)?;
        let zeros = vec![0u8; self.value_len(&m)];
        if m.layout.array {
            // Array elements cannot be deleted: all zeros is "absent"; zero() keeps the
            // element present (on the first CPU's copy).
            let mut zeroed = zeros.clone();
            zeroed[m.layout.value_size - 8..m.layout.value_size].copy_from_slice(&1u64.to_le_bytes());
            for (key, _) in entries.iter() {
                let index = (u64_at(key, 0) as u32).to_le_bytes();
                sys::map_update(fd, &index, if zero { &zeroed } else { &zeros }).map_err(RuntimeError::Io)?;
            }
            return Ok(());
        }
        for (key, _) in entries.iter() {
            if zero {
                sys::map_update(fd, key, &zeros).map_err(RuntimeError::Io)?;
            } else {
                sys::map_delete(fd, key).map_err(RuntimeError::Io)?;
            }
        }
        Ok(())
    }

    /// The end of the trace's output, after END's: two newlines in text mode (whether or not
    /// maps follow), nothing in JSON, as bpftrace's `Output::end()`.
    pub fn end(&mut self) -> Result<(), RuntimeError> {
        if !self.options.json {
            self.write(b"\n\n");
        }
        self.flush();
        Ok(())
    }

    /// The exit dump: every non-empty map, in name order.
    pub fn print_all_maps(&mut self, maps: &Loaded) -> Result<(), RuntimeError> {
        let mut order: Vec<usize> = (0..self.meta.maps.len()).collect();
        order.sort_by(|a, b| self.meta.maps[*a].name.cmp(&self.meta.maps[*b].name));
        for id in order {
            let text = self.render_map(id, maps)?;
            self.write(text.as_bytes());
        }
        self.flush();
        Ok(())
    }
}

/// A user map's entries (`value_len` bytes each: every CPU's for a per-CPU map). An array
/// map (hist buckets, or a map without keys) keeps only the elements some CPU marked
/// present, keyed as the hash would be: the bucket (or 0) as a u64.
pub(super) fn read_user_map(fd: RawFd, m: &MapMeta, ncpus: usize) -> std::io::Result<RawEntries> {
    let stride = m.layout.value_size.div_ceil(8) * 8;
    let value_len = if m.layout.percpu { stride * ncpus } else { m.layout.value_size };
    let entries = read_entries(fd, m.layout.key_size, value_len)?;
    if !m.layout.array {
        return Ok(entries);
    }
    let present = m.layout.value_size - 8;
    let mut kept = RawEntries::new(8, entries.value_len);
    for (key, value) in entries.iter() {
        if value.chunks(stride).any(|cpu| u64_at(cpu, present) != 0) {
            let index = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
            kept.push(&u64::from(index).to_le_bytes(), value);
        }
    }
    Ok(kept)
}

/// The lines `bytes` holds: its newlines, and a last line without one.
fn bytecount_lines(bytes: &[u8]) -> u64 {
    let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    newlines + u64::from(bytes.last().is_some_and(|b| *b != b'\n'))
}

/// Every entry of a hash map: in batches of `BATCH` with BPF_MAP_LOOKUP_BATCH (one system call
/// per batch), or key by key on kernels without it.
/// The kernel-internal "not supported" errno some map types return.
const ENOTSUPP: i32 = 524;

/// An `errorf`/`warnf` message as bpftrace's JSON line: `{"type": "errorf", "msg": ...,
/// "filename": "stdin", "line": 1, "col": 9}`, from the location `label` the format starts
/// with (`stdin:1:9-62: ERROR: `) and the formatted `text` after it.
fn message_json(error: bool, label: &str, text: &str) -> String {
    let msg = text.strip_prefix(label).unwrap_or(text);
    let place = label.trim_end().trim_end_matches(if error { "ERROR:" } else { "WARNING:" }).trim_end().trim_end_matches(':');
    let mut parts = place.rsplitn(3, ':');
    let col = parts.next().and_then(|c| c.split('-').next()).and_then(|c| c.parse::<u64>().ok()).unwrap_or(0);
    let line = parts.next().and_then(|l| l.parse::<u64>().ok()).unwrap_or(0);
    let file = parts.next().unwrap_or("");
    json_line(&serde_json::json!({
        "type": if error { "errorf" } else { "warnf" },
        "msg": msg,
        "filename": file,
        "line": line,
        "col": col,
    }))
}

/// The first `max` bytes of the file at `path` (`cat`).
fn read_head(path: &str, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// An I/O error as strerror() words it, without Rust's " (os error N)".
fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    text.split(" (os error").next().unwrap_or(&text).to_string()
}

/// Whether an event record is an exit() request.
pub fn is_exit(record: &[u8]) -> bool {
    record.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).and_then(EventKind::from_u32) == Some(EventKind::Exit)
}

fn read_entries(fd: RawFd, key_size: usize, value_len: usize) -> std::io::Result<RawEntries> {
    const BATCH: usize = 16384;
    let mut entries = RawEntries::new(key_size, value_len);
    let mut keys = vec![0u8; key_size * BATCH];
    let mut values = vec![0u8; value_len * BATCH];
    let mut cursor = None;
    loop {
        match sys::map_lookup_batch(fd, &mut cursor, &mut keys, &mut values, BATCH as u32) {
            Ok((n, more)) => {
                let n = n as usize;
                for (k, v) in keys.chunks_exact(key_size).zip(values.chunks_exact(value_len)).take(n) {
                    entries.push(k, v);
                }
                if !more {
                    return Ok(entries);
                }
            }
            Err(e) if entries.is_empty() && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP | ENOTSUPP)) => break,
            Err(e) => return Err(e),
        }
    }
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; key_size];
    let mut value = vec![0u8; value_len];
    while sys::map_next_key(fd, key.as_deref(), &mut next)? {
        if sys::map_lookup(fd, &next, &mut value)? {
            entries.push(&next, &value);
        }
        key = Some(next.clone());
    }
    Ok(entries)
}
