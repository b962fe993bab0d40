//! Map printing in bpftrace's text format. Pure: takes the raw key/value bytes read from the
//! kernel (all CPUs' values for per-CPU maps) and the map's metadata, returns text. The
//! format rules are written down in tests/e2e/NOTES-bpftrace-output.md.

mod entries;
pub mod folded;
mod json;
mod parallel;
mod structs;
mod tseries;

pub use entries::{entries, Bucket, Entry, EntryValue};
pub use json::{json_event, json_line, render_json, value_json};


use std::collections::BTreeMap;
use std::fmt::Write;

use crate::printf::c_str;
use crate::artifact::MapMeta;
use crate::artifact::{key_offsets, slot_size};
use crate::artifact::MapValue;
use crate::artifact::types::StackSpec;
use crate::artifact::Type;

/// A map's entries as read from the kernel, in two flat buffers (a million keys are two
/// allocations, not two million). Each value is one value, or `ncpus` values of
/// `layout.value_size` (8-aligned) for per-CPU maps.
#[derive(Debug, Default, Clone)]
pub struct RawEntries {
    pub key_size: usize,
    pub value_len: usize,
    keys: Vec<u8>,
    values: Vec<u8>,
}

impl RawEntries {
    pub fn new(key_size: usize, value_len: usize) -> RawEntries {
        RawEntries { key_size, value_len, keys: Vec::new(), values: Vec::new() }
    }

    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        self.keys.extend_from_slice(key);
        self.values.extend_from_slice(value);
    }

    pub fn len(&self) -> usize {
        self.keys.len().checked_div(self.key_size).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.keys.chunks_exact(self.key_size.max(1)).zip(self.values.chunks_exact(self.value_len.max(1)))
    }
}

/// Turns the values userspace must look up (stack ids, kernel addresses) into text: the
/// runtime's implementation reads the stack map and symbolizes; tests pass their own.
pub trait Resolve {
    fn stack(&self, spec: StackSpec, raw: u64) -> String;
    fn ksym(&self, addr: u64) -> String;
    /// The function of process `pid` that `addr` is in.
    fn usym(&self, addr: u64, pid: u32) -> String;
    /// `strftime` format number `format` of boot-clock nanoseconds `ns`.
    fn timestamp(&self, format: u32, ns: u64) -> String;
    /// What follows a string that filled its whole buffer, so may have been cut short
    /// (config `str_trunc_trailer`).
    fn str_trailer(&self) -> &str {
        ".."
    }
    /// The local time of day (`hh:mm:ss`) of `secs` since the epoch: tseries' row labels.
    fn time_of_day(&self, secs: i64) -> String {
        tseries::utc_time_of_day(secs)
    }
}

/// A string value of `n` bytes as text: up to its NUL, or, when it has none (it filled its
/// buffer, so may have been cut short), all `n` bytes and the trailer, as current bpftrace.
pub fn str_text(n: usize, bytes: &[u8], resolve: &dyn Resolve) -> String {
    let bytes = bytes.get(..n.min(bytes.len())).unwrap_or_default();
    let mut text = c_str(bytes);
    if n > 0 && bytes.len() == n && !bytes.contains(&0) {
        text.push_str(resolve.str_trailer());
    }
    text
}

/// The text of a value of a type that needs resolving; None for other types.
fn resolved(ty: Type, raw: u64, resolve: &dyn Resolve) -> Option<String> {
    match ty {
        Type::Stack(spec) => Some(resolve.stack(spec, raw)),
        Type::Ksym => Some(resolve.ksym(raw)),
        Type::Timestamp(f) => Some(resolve.timestamp(f, raw)),
        Type::Username => Some(username(raw as u32)),
        Type::CgroupPath => Some(cgroup_path(raw)),
        Type::Errno => Some(std::io::Error::from_raw_os_error(raw as i32).to_string().split(" (os error").next().unwrap_or_default().to_string()),
        Type::SignalName => Some(crate::signals::description(raw)),
        Type::SyscallName => Some(crate::abi::syscall_name(raw).map_or_else(|| raw.to_string(), str::to_string)),
        // bpftrace prints an address in hex wherever it prints a pointer's value.
        Type::Ptr { .. } => Some(format!("{raw:#x}")),
        Type::Bool => Some((if raw != 0 { "true" } else { "false" }).to_string()),
        Type::Enum(e) => Some(e.text(raw)),
        _ => None,
    }
}

/// `print(@m, top, div)`: only the `top` largest entries (0: all), values divided by `div`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub top: usize,
    pub div: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { top: 0, div: 1 }
    }
}

/// A value of any type as text, from its bytes: what `print` and map printing show for it
/// (tuples as `(a, b)`).
pub fn value_text(ty: Type, bytes: &[u8], resolve: &dyn Resolve) -> String {
    match ty {
        Type::Str(n) => str_text(n, bytes, resolve),
        Type::Tuple(t) => {
            let parts: Vec<String> =
                t.items().iter().zip(t.offsets()).map(|(item, off)| value_text(*item, bytes.get(off..).unwrap_or_default(), resolve)).collect();
            match t.names() {
                // A record, as current bpftrace prints one: `{ .a = 1, .b = x }`.
                Some(names) => {
                    let fields: Vec<String> = names.iter().zip(parts).map(|(n, p)| format!(".{n} = {p}")).collect();
                    format!("{{ {} }}", fields.join(", "))
                }
                None => format!("({})", parts.join(", ")),
            }
        }
        Type::Int { bits, signed: true } => int_at(bytes, bits, true).to_string(),
        Type::Int { bits, signed: false } => int_at(bytes, bits, false).to_string(),
        Type::Struct(st) => structs::struct_text(st, bytes, resolve),
        Type::Usym => resolve.usym(u64_at(bytes, 0), u64_at(bytes, 8) as u32),
        Type::Inet(_) => inet_text(bytes),
        // bpftrace's canonical form: upper-case hex.
        Type::Mac => bytes.iter().take(6).map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":"),
        Type::Buf(n) => {
            let len = (u64_at(bytes, 0) as usize).min(n);
            bytes
                .get(8..8 + len)
                .unwrap_or_default()
                .iter()
                .map(|b| if b.is_ascii_graphic() || *b == b' ' { (*b as char).to_string() } else { format!("\\x{b:02x}") })
                .collect()
        }
        t => resolved(t, u64_at(bytes, 0), resolve).unwrap_or_else(|| u64_at(bytes, 0).to_string()),
    }
}

/// A `buf()` value (its length, then up to `n` bytes) in hex: `\x0a\xfe` for `%rx`, or
/// `0a fe` with `spaced` for `%rh`.
pub fn buf_hex(n: usize, bytes: &[u8], spaced: bool) -> String {
    let len = (u64_at(bytes, 0) as usize).min(n);
    let data = bytes.get(8..8 + len).unwrap_or_default().iter();
    if spaced {
        data.map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    } else {
        data.map(|b| format!("\\x{b:02x}")).collect()
    }
}

/// The cgroup whose id (its directory's inode number) is `id`, as current bpftrace writes
/// it: `hierarchy:path` for each mounted hierarchy that has it, cgroup2 first (named
/// `unified`), then the v1 ones by name, joined by commas (`unified:/user.slice`); the id
/// when no hierarchy has it.
fn cgroup_path(id: u64) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in mounts.lines() {
        let mut fields = line.split(' ');
        let (Some(fs), Some(dir)) = (fields.next(), fields.next()) else { continue };
        let dir = std::path::PathBuf::from(dir.replace("\\040", " "));
        match fs {
            "cgroup2" => v2.push(("unified".to_string(), dir)),
            "cgroup" => v1.push((dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), dir)),
            _ => {}
        }
    }
    v1.sort();
    let found: Vec<String> = v2.into_iter().chain(v1).filter_map(|(name, root)| cgroup_in(&root, id).map(|p| format!("{name}:{p}"))).collect();
    if found.is_empty() {
        id.to_string()
    } else {
        found.join(",")
    }
}

/// The path below `root` (`/` for the root) of the directory whose inode number is `id`.
fn cgroup_in(root: &std::path::Path, id: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if std::fs::metadata(&dir).is_ok_and(|m| m.ino() == id) {
            let rel = dir.strip_prefix(root).map(|p| p.display().to_string()).unwrap_or_default();
            return Some(format!("/{rel}"));
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            stack.extend(entries.filter_map(|e| e.ok()).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
        }
    }
    None
}

/// A uid's user name from the password database, or the number.
fn username(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both valid for the sizes given.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) == 0 && !out.is_null() && !pwd.pw_name.is_null() {
            return std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        }
    }
    uid.to_string()
}

/// `ntop`'s text: IPv4 dotted, IPv6 in its shortest form, by the family word.
fn inet_text(bytes: &[u8]) -> String {
    let addr = bytes.get(8..24).unwrap_or_default();
    match (u64_at(bytes, 0), addr.len()) {
        (10, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(addr);
            std::net::Ipv6Addr::from(a).to_string()
        }
        (_, n) if n >= 4 => std::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
        _ => String::new(),
    }
}

/// A value folded across CPUs.
enum Folded<'a> {
    Int(i128),
    /// A value printed as text (strings, tuples, structs, symbols): its bytes on the first
    /// CPU, rendered when written.
    Bytes(&'a [u8]),
    /// count, total
    Avg(i64, i64),
    Stats(i64, i64),
    /// Bucket counts, and the sum of the values when the map keeps it (its bucket values are
    /// (count, sum); artifacts before `--metrics` kept counts only).
    Hist(BTreeMap<u64, u64>, Option<i64>),
}

/// The little-endian u64 at `at`, 0 past the end.
/// An integer of `bits` at the start of `bytes` (a tuple keeps integers at their width),
/// sign-extended if `signed`.
pub fn int_at(bytes: &[u8], bits: u8, signed: bool) -> i128 {
    let n = usize::from(bits / 8).clamp(1, 8).min(bytes.len());
    let mut word = [0u8; 8];
    word[..n].copy_from_slice(&bytes[..n]);
    let raw = u64::from_le_bytes(word);
    let shift = 64 - 8 * n as u32;
    if signed {
        i128::from(((raw << shift) as i64) >> shift)
    } else {
        i128::from(raw)
    }
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// A map's entries folded across CPUs, in print order (`order` indexes `entries`), with
/// `print`'s top applied; its `div` is applied as each kind is written.
struct Sorted<'a> {
    entries: Vec<(&'a [u8], Folded<'a>)>,
    order: Vec<Ranked>,
    /// Each `Ranked` holds its entry whole (an integer value and an 8-byte key): lines are
    /// written from `order` alone, in sequence, instead of from `entries` in random order
    /// (two cache misses a line on a million keys).
    direct: bool,
    div: u64,
}

/// An entry's place in the print order: (value's sort key, first 8 key bytes as a big-endian
/// word, index into `entries`).
type Ranked = (i128, u64, u32);

impl Sorted<'_> {
    /// A counter, sum, min, max or plain integer, divided by `print`'s `div`.
    fn int(&self, n: i128) -> i128 {
        n / i128::from(self.div)
    }

    /// An average (`total / count` in int64, 0 without values), divided by `div`: in a
    /// `stats` value only the average is divided, as in bpftrace.
    fn average(&self, count: i64, total: i64) -> i64 {
        let avg = if count == 0 { 0 } else { total.wrapping_div(count) };
        avg / i64::try_from(self.div).unwrap_or(i64::MAX)
    }

    /// A hist's bucket counts are divided by `div`; an lhist's are not (bpftrace: "div has
    /// no effect on linear histograms").
    fn bucket(&self, kind: MapValue, n: u64) -> u64 {
        if matches!(kind, MapValue::Lhist { .. }) {
            n
        } else {
            n / self.div
        }
    }
}

/// Folds, sorts and limits a map's entries. Works on borrowed bytes: a million-key map is
/// folded, sorted and written without copying keys.
fn sorted<'a>(meta: &MapMeta, raw: &'a RawEntries, limits: Limits) -> Sorted<'a> {
    let user_key_len: usize = meta.keys.iter().map(|k| slot_size(*k)).sum();
    let stride = meta.layout.value_size.div_ceil(8) * 8;
    let mut per_cpu: Vec<&[u8]> = Vec::new();
    let percpu = meta.layout.percpu;
    fn split<'a>(v: &'a [u8], percpu: bool, stride: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        if percpu {
            out.extend(v.chunks(stride));
        } else {
            out.push(v);
        }
    }

    // Fold CPUs; hist buckets are grouped under their user key.
    let mut entries: Vec<(&[u8], Folded<'a>)> = Vec::with_capacity(raw.len());
    if let MapValue::Hist { .. } | MapValue::Lhist { .. } = meta.value {
        let summed = meta.layout.value_size - if meta.layout.array { 8 } else { 0 } >= 16;
        let mut hists: BTreeMap<&[u8], (BTreeMap<u64, u64>, i64)> = BTreeMap::new();
        for (key, value) in raw.iter() {
            split(value, percpu, stride, &mut per_cpu);
            let user = &key[..user_key_len.min(key.len())];
            let bucket = u64_at(key, user_key_len);
            let n: u64 = per_cpu.iter().map(|c| u64_at(c, 0)).fold(0, u64::wrapping_add);
            let sum: u64 = if summed { per_cpu.iter().map(|c| u64_at(c, 8)).fold(0, u64::wrapping_add) } else { 0 };
            let (counts, total) = hists.entry(user).or_default();
            *counts.entry(bucket).or_default() += n;
            *total = total.wrapping_add(sum as i64);
        }
        entries.extend(hists.into_iter().map(|(k, (h, sum))| (k, Folded::Hist(h, summed.then_some(sum)))));
    } else {
        for (key, value) in raw.iter() {
            split(value, percpu, stride, &mut per_cpu);
            if let Some(v) = fold(meta.value, &per_cpu) {
                entries.push((key, v));
            }
        }
    }
    // Ascending by value, ties by key bytes; the sort key is computed once per entry.
    let order = |v: &Folded| match v {
        Folded::Int(n) => *n,
        Folded::Bytes(_) => 0,
        Folded::Avg(c, t) | Folded::Stats(c, t) => i128::from(if *c == 0 { 0 } else { t.wrapping_div(*c) }),
        Folded::Hist(h, _) => h.values().map(|n| i128::from(*n)).sum(),
    };
    // Sorted as small (value, key prefix, index) triples; equal prefixes of longer keys are
    // then ordered by their full bytes.
    let prefix = |k: &[u8]| k.get(..8).map_or(0, |w| u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]));
    let mut order_keys: Vec<(i128, u64, u32)> = entries.iter().enumerate().map(|(i, (k, v))| (order(v), prefix(k), i as u32)).collect();
    order_keys.sort_unstable();
    if entries.first().is_some_and(|(k, _)| k.len() > 8) {
        for run in order_keys.chunk_by_mut(|a, b| a.0 == b.0 && a.1 == b.1) {
            run.sort_by(|a, b| key_order(entries[a.2 as usize].0, entries[b.2 as usize].0));
        }
    }
    // Values that are not numbers (strings, tuples, structs...) sort by key, as bpftrace's
    // `sort_by_key`: integers by value, strings by bytes, the first key first.
    if entries.first().is_some_and(|(_, v)| matches!(v, Folded::Bytes(_))) {
        let offsets = key_offsets(&meta.keys);
        order_keys.sort_by(|a, b| key_cmp(&meta.keys, &offsets, entries[a.2 as usize].0, entries[b.2 as usize].0));
    }

    // The sort is ascending, so the largest entries are the last ones.
    if limits.top > 0 && order_keys.len() > limits.top {
        order_keys.drain(..order_keys.len() - limits.top);
    }
    let direct = entries.iter().all(|(k, v)| k.len() == 8 && matches!(v, Folded::Int(_)));
    Sorted { entries, order: order_keys, direct, div: limits.div.max(1) }
}

/// Two keys in bpftrace's key order: by each part in turn, integers by value, strings by
/// their bytes; other parts (stacks, structs...) leave the order as it was.
fn key_cmp(types: &[Type], offsets: &[usize], a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (t, off) in types.iter().zip(offsets) {
        let ord = match t {
            Type::Int { signed: true, .. } => (u64_at(a, *off) as i64).cmp(&(u64_at(b, *off) as i64)),
            Type::Int { signed: false, .. } => u64_at(a, *off).cmp(&u64_at(b, *off)),
            Type::Str(n) => a.get(*off..off + n).cmp(&b.get(*off..off + n)),
            _ => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Renders a map as bpftrace's text; empty maps render as nothing.
pub fn render(meta: &MapMeta, raw: &RawEntries, resolve: &dyn Resolve, limits: Limits) -> String {
    if let MapValue::Tseries { .. } = meta.value {
        return tseries::render(meta, raw, resolve);
    }
    let mut sorted = sorted(meta, raw, limits);
    if sorted.direct {
        // The lines come from `order` alone: the folded entries (48 bytes each) go before
        // the text is built, which lowers the peak memory of printing a large map.
        sorted.entries = Vec::new();
    }
    if let Some(out) = parallel::render(meta, &sorted, resolve) {
        return out;
    }
    let mut out = String::with_capacity(sorted.order.len() * 32);
    render_lines(meta, &sorted, &sorted.order, resolve, &mut out);
    out
}

/// Appends the lines of the entries `order` names, in that order.
fn render_lines(meta: &MapMeta, sorted: &Sorted, order: &[Ranked], resolve: &dyn Resolve, out: &mut String) {
    let entries = &sorted.entries;
    let offsets = key_offsets(&meta.keys);
    let mut name = String::new();
    for &(rank, prefix, i) in order {
        let (bytes, int);
        let (key, value) = if sorted.direct {
            (bytes, int) = (prefix.to_be_bytes(), Folded::Int(rank));
            (&bytes[..], &int)
        } else {
            let (key, value) = &entries[i as usize];
            (*key, value)
        };
        name.clear();
        name.push('@');
        name.push_str(&meta.name);
        write_key(&mut name, &meta.keys, &offsets, key, resolve);
        let _ = match value {
            Folded::Int(n) => {
                out.push_str(&name);
                out.push_str(": ");
                match resolved(meta.value.scalar_type(), *n as u64, resolve) {
                    Some(text) => out.push_str(&text),
                    None => push_int(out, sorted.int(*n)),
                }
                out.push('\n');
                Ok(())
            }
            Folded::Bytes(b) => writeln!(out, "{name}: {}", value_text(meta.value.scalar_type(), b, resolve)),
            Folded::Avg(c, t) => writeln!(out, "{name}: {}", sorted.average(*c, *t)),
            // A record, as current bpftrace prints its stats values.
            Folded::Stats(c, t) => writeln!(out, "{name}: {{ .count = {c}, .average = {}, .total = {t} }}", sorted.average(*c, *t)),
            Folded::Hist(h, _) => {
                let _ = writeln!(out, "{name}:");
                out.push_str(&render_hist(meta.value, h, sorted));
                out.push('\n');
                Ok(())
            }
        };
    }
}

/// Appends the decimal digits of `n` (the one formatting of integers a million-key map needs
/// a million times, without the `fmt` machinery).
fn push_int(out: &mut String, n: i128) {
    let mut digits = [0u8; 40];
    let mut at = digits.len();
    let mut v = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    for d in &digits[at..] {
        out.push(char::from(*d));
    }
}

/// Byte order of two keys (as `[u8]::cmp`), with the first 8 bytes compared as one word: a
/// million ties cost no memcmp calls.
fn key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match (a.get(..8), b.get(..8)) {
        (Some(x), Some(y)) => {
            let word = |w: &[u8]| u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            word(x).cmp(&word(y)).then_with(|| a[8..].cmp(&b[8..]))
        }
        _ => a.cmp(b),
    }
}

fn fold<'a>(kind: MapValue, cpus: &[&'a [u8]]) -> Option<Folded<'a>> {
    let sum = |off: usize| cpus.iter().map(|c| u64_at(c, off)).fold(0u64, u64::wrapping_add);
    Some(match kind {
        MapValue::Scalar(t) if t.prints_as_text() => Folded::Bytes(cpus.first()?),
        MapValue::Scalar(Type::Int { signed: false, .. } | Type::Ptr { .. }) | MapValue::Count | MapValue::Sum { signed: false } => {
            Folded::Int(i128::from(sum(0)))
        }
        MapValue::Scalar(_) | MapValue::Sum { signed: true } => Folded::Int(i128::from(sum(0) as i64)),
        MapValue::Avg => Folded::Avg(sum(0) as i64, sum(8) as i64),
        MapValue::Stats => Folded::Stats(sum(0) as i64, sum(8) as i64),
        MapValue::Min { signed } | MapValue::Max { signed } => {
            let as_int = |c: &&[u8]| if signed { i128::from(u64_at(c, 0) as i64) } else { i128::from(u64_at(c, 0)) };
            let set = cpus.iter().filter(|c| u64_at(c, 8) != 0).map(as_int);
            let v = if matches!(kind, MapValue::Min { .. }) { set.min() } else { set.max() };
            // No CPU has a value only after zero(), which bpftrace prints as 0.
            Folded::Int(v.unwrap_or(0))
        }
        MapValue::Hist { .. } | MapValue::Lhist { .. } | MapValue::Tseries { .. } => return None,
    })
}

/// Appends `[k1, k2]` (nothing for a map without keys); `offsets` are `key_offsets(types)`.
fn write_key(out: &mut String, types: &[Type], offsets: &[usize], key: &[u8], resolve: &dyn Resolve) {
    if types.is_empty() {
        return;
    }
    out.push('[');
    for (i, (t, off)) in types.iter().zip(offsets).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_key_part(out, *t, *off, key, resolve);
    }
    out.push(']');
}

/// Appends the text of the key part of type `t` at `off` in `key`.
fn push_key_part(out: &mut String, t: Type, off: usize, key: &[u8], resolve: &dyn Resolve) {
    match t {
        Type::Str(n) => out.push_str(&str_text(n, key.get(off..).unwrap_or_default(), resolve)),
        t if t.prints_as_text() => out.push_str(&value_text(t, key.get(off..).unwrap_or_default(), resolve)),
        Type::Int { signed: true, .. } => push_int(out, i128::from(u64_at(key, off) as i64)),
        t => {
            let raw = u64_at(key, off);
            match resolved(t, raw, resolve) {
                Some(text) => out.push_str(&text),
                None => push_int(out, i128::from(raw)),
            }
        }
    }
}

const BAR_WIDTH: u64 = 52;

fn render_hist(kind: MapValue, buckets: &BTreeMap<u64, u64>, sorted: &Sorted) -> String {
    let mut out = String::new();
    let nonzero: Vec<u64> = buckets.iter().filter(|(_, n)| **n > 0).map(|(b, _)| *b).collect();
    let (Some(&first), Some(&last)) = (nonzero.first(), nonzero.last()) else {
        return out;
    };
    let count = |i: u64| sorted.bucket(kind, buckets.get(&i).copied().unwrap_or(0));
    let max = (first..=last).map(count).max().unwrap_or(0);
    for i in first..=last {
        let n = count(i);
        let label = match kind {
            MapValue::Lhist { min, max: hi, step } => lhist_label(i, min, hi, step),
            MapValue::Hist { k } => hist_label(i, k),
            _ => hist_label(i, 0),
        };
        // bpftrace: (int)(count / (float)max * 52); all-zero rows (after div) have no bar.
        let bar = if max == 0 { 0 } else { (n as f32 / max as f32 * BAR_WIDTH as f32) as usize };
        let _ = writeln!(out, "{label:<16}{n:>8} |{:<52}|", "@".repeat(bar));
    }
    out
}

/// Bucket `i` of `hist(x, k)` as bpftrace prints it: `(..., 0)`, one value `[v]` below
/// 2^(k+1), then `[low, high)`.
fn hist_label(i: u64, k: u8) -> String {
    match i {
        0 => "(..., 0)".into(),
        _ if i <= 2 << k => format!("[{}]", i - 1),
        _ => format!("[{}, {})", hist_bound(i - 1, k).1, hist_bound(i, k).1),
    }
}

/// The exclusive upper bound of bucket `i` of `hist(x, k)` (so the lower bound of `i + 1`):
/// its value, and its text, where bpftrace scales by the bucket's width: `1K` is 2^10 in a
/// bucket 2^10 wide, but `960` stays as it is in a bucket 64 wide (k = 3).
pub(super) fn hist_bound(i: u64, k: u8) -> (u128, String) {
    if i <= 2 << k {
        return (u128::from(i), i.to_string());
    }
    let n = 1u64 << k;
    let interval = i & (n - 1);
    let power = ((i >> k) - 1).min(63);
    let decade = power / 10;
    let suffix = ["", "K", "M", "G", "T", "P", "E"][decade as usize];
    let value = (1u128 << power) * u128::from(n + interval);
    (value, format!("{}{suffix}", (1u128 << (power - 10 * decade)) * u128::from(n + interval)))
}

/// The bounds of bucket `i` of `lhist(x, min, max, step)`: below `min` (bucket 0) there is
/// no lower bound, and the last bucket (values past the last step) has no upper one.
pub(super) fn lhist_bounds(i: u64, min: i64, max: i64, step: i64) -> (Option<i64>, Option<i64>) {
    let steps = ((max - min) / step) as u64;
    if i == 0 {
        (None, Some(min))
    } else if i > steps {
        (Some(min + steps as i64 * step), None)
    } else {
        let lo = min + (i as i64 - 1) * step;
        (Some(lo), Some(lo + step))
    }
}

/// Bucket `i` of an lhist as bpftrace prints it: `(..., min)`, `[lo, hi)` (`[lo]` when the
/// step is 1), `[lo, ...)` for the values past the last step.
fn lhist_label(i: u64, min: i64, max: i64, step: i64) -> String {
    match lhist_bounds(i, min, max, step) {
        (None, Some(hi)) => format!("(..., {})", scaled(hi, step)),
        (Some(lo), None) => format!("[{}, ...)", scaled(lo, step)),
        (Some(lo), Some(_)) if step == 1 => format!("[{lo}]"),
        (Some(lo), Some(hi)) => format!("[{}, {})", scaled(lo, step), scaled(hi, step)),
        (None, None) => String::new(),
    }
}

/// lhist bucket bounds: with a step that is a multiple of 1024, `M` when divisible by 2^20
/// and `K` by 2^10; otherwise (and 0) the plain number.
fn scaled(n: i64, step: i64) -> String {
    if n == 0 || step % 1024 != 0 {
        n.to_string()
    } else if n % (1 << 20) == 0 {
        format!("{}M", n / (1 << 20))
    } else if n % (1 << 10) == 0 {
        format!("{}K", n / (1 << 10))
    } else {
        n.to_string()
    }
}

/// A `Resolve` that knows no symbol, for the tests of the output modules.
#[cfg(test)]
pub(super) struct NoSymbols;

#[cfg(test)]
impl Resolve for NoSymbols {
    fn stack(&self, _: StackSpec, _: u64) -> String {
        String::new()
    }
    fn ksym(&self, _: u64) -> String {
        String::new()
    }
    fn usym(&self, _: u64, _: u32) -> String {
        String::new()
    }
    fn timestamp(&self, _: u32, _: u64) -> String {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;


    /// A map `@name` of hash entries (not per-CPU): `(key, value)` byte strings.
    fn map(name: &str, keys: Vec<Type>, value: MapValue, value_size: usize, entries: &[(Vec<u8>, Vec<u8>)]) -> (MapMeta, RawEntries) {
        let key_size: usize = keys.iter().map(|k| slot_size(*k)).sum::<usize>() + if matches!(value, MapValue::Hist { .. } | MapValue::Lhist { .. }) { 8 } else { 0 };
        let layout = crate::artifact::MapLayout { key_size: key_size.max(8), value_size, percpu: false, max_entries: 16, array: false };
        let meta = MapMeta { symbol: String::new(), name: name.into(), keys, key_names: Vec::new(), value, layout };
        let mut raw = RawEntries::new(key_size.max(8), value_size);
        for (k, v) in entries {
            let mut k = k.clone();
            k.resize(key_size.max(8), 0);
            raw.push(&k, v);
        }
        (meta, raw)
    }

    fn words(ws: &[u64]) -> Vec<u8> {
        ws.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn stats_print_as_records_and_div_divides_only_the_average() {
        let (meta, raw) = map("s", vec![], MapValue::Stats, 16, &[(words(&[0]), words(&[3, 61]))]);
        assert_eq!(render(&meta, &raw, &NoSymbols, Limits::default()), "@s: { .count = 3, .average = 20, .total = 61 }\n");
        assert_eq!(render(&meta, &raw, &NoSymbols, Limits { top: 0, div: 10 }), "@s: { .count = 3, .average = 2, .total = 61 }\n");
        assert_eq!(
            render_json(&meta, &raw, &NoSymbols, Limits::default()),
            "{\"type\": \"stats\", \"data\": {\"@s\": {\"count\": 3, \"average\": 20, \"total\": 61}}}\n"
        );
        let (meta, raw) = map("a", vec![Type::I64], MapValue::Avg, 16, &[(words(&[1]), words(&[2, -7i64 as u64]))]);
        assert_eq!(render(&meta, &raw, &NoSymbols, Limits::default()), "@a[1]: -3\n");
    }

    #[test]
    fn lhist_buckets_are_not_divided_and_hist_buckets_are() {
        let lhist = MapValue::Lhist { min: 0, max: 10, step: 1 };
        let (meta, raw) = map("l", vec![], lhist, 8, &[(words(&[3]), words(&[20]))]);
        assert!(render(&meta, &raw, &NoSymbols, Limits { top: 0, div: 10 }).contains("[2]                   20 |"));
        let (meta, raw) = map("h", vec![], MapValue::Hist { k: 0 }, 8, &[(words(&[3]), words(&[20]))]);
        assert!(render(&meta, &raw, &NoSymbols, Limits { top: 0, div: 10 }).starts_with("@h:\n[2, 4)                 2 |"));
    }

    #[test]
    fn non_numeric_values_sort_by_key() {
        let s = |k: i64, v: &str| {
            let mut b = v.as_bytes().to_vec();
            b.resize(8, 0);
            (words(&[k as u64]), b)
        };
        let entries = [s(256, "b"), s(-1, "c"), s(1, "a")];
        let (meta, raw) = map("m", vec![Type::I64], MapValue::Scalar(Type::Str(8)), 8, &entries);
        assert_eq!(render(&meta, &raw, &NoSymbols, Limits::default()), "@m[-1]: c\n@m[1]: a\n@m[256]: b\n");
    }

    #[test]
    fn a_string_that_fills_its_buffer_gets_the_trailer() {
        assert_eq!(str_text(4, b"abc\0", &NoSymbols), "abc");
        assert_eq!(str_text(4, b"abcd", &NoSymbols), "abcd..");
        assert_eq!(value_text(Type::Str(3), b"xyz", &NoSymbols), "xyz..");
    }

    #[test]
    fn subdivided_hist_labels_follow_bpftrace() {
        let labels = |k, is: &[u64]| is.iter().map(|&i| hist_label(i, k)).collect::<Vec<_>>();
        // k = 3: one value per bucket below 16, then 8 buckets per power of two.
        assert_eq!(labels(3, &[0, 1, 16, 17, 25, 64]), ["(..., 0)", "[0]", "[15]", "[16, 18)", "[32, 36)", "[960, 1024)"]);
        // The suffix follows the bucket's width: 2^10-wide buckets are counted in K.
        assert_eq!(labels(3, &[88, 89]), ["[7680, 8K)", "[8K, 9K)"]);
        assert_eq!(hist_bound(64, 3).0, 1024);
    }

    #[test]
    fn buffers_in_hex() {
        let mut bytes = 3u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0x0a, 0xfe, b'A', 0]);
        assert_eq!(buf_hex(4, &bytes, false), "\\x0a\\xfe\\x41");
        assert_eq!(buf_hex(4, &bytes, true), "0a fe 41");
        assert_eq!(buf_hex(2, &bytes, true), "0a fe");
    }

    #[test]
    fn hist_labels_use_binary_suffixes() {
        let got: Vec<String> = [0, 1, 2, 3, 11, 12, 22, 32, 42].into_iter().map(|i| hist_label(i, 0)).collect();
        assert_eq!(got, ["(..., 0)", "[0]", "[1]", "[2, 4)", "[512, 1K)", "[1K, 2K)", "[1M, 2M)", "[1G, 2G)", "[1T, 2T)"]);
    }

    #[test]
    fn lhist_labels_scale_only_with_a_step_of_whole_kibibytes() {
        assert_eq!(lhist_label(0, 0, 3000, 1000), "(..., 0)");
        assert_eq!(lhist_label(2, 0, 3000, 1000), "[1000, 2000)");
        assert_eq!(lhist_label(4, 0, 3000, 1000), "[3000, ...)");
        assert_eq!(lhist_label(1, 1024, 4096, 1024), "[1K, 2K)");
        assert_eq!(lhist_label(1, 0, 2 << 20, 1 << 20), "[0, 1M)");
        // A step of 512 keeps 1024 as it is.
        assert_eq!(lhist_label(3, 0, 2048, 512), "[1024, 1536)");
        // Step 1: one value per bucket.
        assert_eq!(lhist_label(3, 0, 10, 1), "[2]");
        // Past the last whole step (0, 3, 6, 9 below 10): from 9.
        assert_eq!(lhist_label(4, 0, 10, 3), "[9, ...)");
    }
}
