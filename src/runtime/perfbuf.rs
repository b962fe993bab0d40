//! Consumer side of the per-CPU perf buffers behind a BPF_MAP_TYPE_PERF_EVENT_ARRAY, read in
//! place through their mmap()ed pages. Only `skboutput` uses one: `bpf_skb_output` copies
//! packet data straight from the sk_buff into a perf buffer, which a ring buffer cannot take.
//!
//! Layout (include/uapi/linux/perf_event.h): one metadata page, whose `data_head` (offset
//! 1024) the kernel advances and whose `data_tail` (offset 1032) the reader advances, then a
//! power-of-two data area of records: `struct perf_event_header { u32 type; u16 misc; u16
//! size; }` and the body. A record may wrap around the end of the area; it is then copied.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::sys;

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
/// `perf_event_attr.watermark`: wake the reader by bytes waiting, not by records.
const WATERMARK: u64 = 1 << 14;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;

/// What a perf buffer holds.
#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    /// A `bpf_perf_event_output`/`bpf_skb_output` sample: the raw bytes, padded by the kernel
    /// to 8-byte alignment (the producer's own header says how many are real).
    Sample(&'a [u8]),
    /// The kernel dropped this many samples: the buffer was full.
    Lost(u64),
}

/// One perf buffer per online CPU, registered in the perf event array at the CPU's index.
pub struct PerfBuffers {
    cpus: Vec<PerfBuffer>,
}

struct PerfBuffer {
    fd: OwnedFd,
    base: *mut u8,
    page: usize,
    size: usize,
    /// Where a record that wraps around the end of the area is reassembled.
    scratch: Vec<u8>,
}

impl PerfBuffers {
    /// Opens a buffer of `pages` data pages (a power of two) on every online CPU and puts it
    /// in the perf event array `map`.
    pub fn open(map: RawFd, pages: usize) -> io::Result<PerfBuffers> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let size = pages * page;
        let mut cpus = Vec::new();
        for cpu in sys::online_cpus()? {
            let mut attr = sys::PerfEventAttr {
                type_: PERF_TYPE_SOFTWARE,
                config: PERF_COUNT_SW_BPF_OUTPUT,
                sample_period: 1,
                sample_type: PERF_SAMPLE_RAW,
                flags: WATERMARK,
                // With `watermark`, the bytes waiting that wake the reader; it also drains on
                // its timer.
                wakeup_events: (size / 2) as u32,
                ..Default::default()
            };
            let fd = sys::perf_event_open(&mut attr, -1, cpu)?;
            // SAFETY: mapping a perf event as the kernel documents: the metadata page and the
            // data area, writable so that data_tail can be advanced.
            let base = unsafe { libc::mmap(std::ptr::null_mut(), page + size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let buffer = PerfBuffer { fd, base: base.cast(), page, size, scratch: Vec::new() };
            sys::map_update(map, &(cpu as u32).to_le_bytes(), &(buffer.fd.as_raw_fd() as u32).to_le_bytes())?;
            cpus.push(buffer);
        }
        Ok(PerfBuffers { cpus })
    }

    pub fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.cpus.iter().map(|c| c.fd.as_raw_fd())
    }

    /// Calls `f` on every record of every CPU's buffer, and releases them.
    pub fn consume(&mut self, mut f: impl FnMut(Record)) {
        for cpu in &mut self.cpus {
            cpu.consume(&mut f);
        }
    }
}

impl PerfBuffer {
    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: data_head and data_tail are 8-byte aligned u64s in the metadata page.
        unsafe { &*(self.base.add(offset) as *const AtomicU64) }
    }

    fn consume(&mut self, f: &mut impl FnMut(Record)) {
        let head = self.word(DATA_HEAD).load(Ordering::Acquire);
        let mut tail = self.word(DATA_TAIL).load(Ordering::Relaxed);
        // SAFETY: the data area follows the metadata page and is `size` bytes long.
        let data = unsafe { std::slice::from_raw_parts(self.base.add(self.page), self.size) };
        while tail < head {
            let at = (tail % self.size as u64) as usize;
            let header = read_wrapped(data, at, 8, &mut self.scratch);
            let kind = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
            let len = usize::from(u16::from_le_bytes(header[6..8].try_into().unwrap_or_default()));
            if len < 8 {
                break;
            }
            let record = read_wrapped(data, at, len, &mut self.scratch);
            if let Some(r) = parse(kind, &record[8..]) {
                f(r);
            }
            tail += len as u64;
        }
        self.word(DATA_TAIL).store(tail, Ordering::Release);
    }
}

/// `len` bytes of the ring `data` from `at`, copied into `scratch` when they wrap.
fn read_wrapped<'a>(data: &'a [u8], at: usize, len: usize, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    if at + len <= data.len() {
        return &data[at..at + len];
    }
    scratch.clear();
    scratch.extend_from_slice(&data[at..]);
    scratch.extend_from_slice(&data[..len - (data.len() - at)]);
    scratch
}

/// The body of a record of type `kind` (after its 8-byte header).
fn parse(kind: u32, body: &[u8]) -> Option<Record<'_>> {
    match kind {
        PERF_RECORD_SAMPLE => {
            let n = u32::from_le_bytes(body.get(0..4)?.try_into().ok()?) as usize;
            body.get(4..4 + n).map(Record::Sample)
        }
        PERF_RECORD_LOST => Some(Record::Lost(u64::from_le_bytes(body.get(8..16)?.try_into().ok()?))),
        _ => None,
    }
}

impl Drop for PerfBuffer {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `open`.
        unsafe { libc::munmap(self.base.cast(), self.page + self.size) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_wraps_is_reassembled() {
        let data = [5, 6, 7, 0, 0, 1, 2, 3, 4];
        let mut scratch = Vec::new();
        assert_eq!(read_wrapped(&data, 5, 4, &mut scratch), &[1, 2, 3, 4]);
        assert_eq!(read_wrapped(&data, 5, 7, &mut scratch), &[1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn samples_and_losses_are_told_apart() {
        let mut sample = 3u32.to_le_bytes().to_vec();
        sample.extend_from_slice(&[9, 8, 7, 0]);
        assert_eq!(parse(PERF_RECORD_SAMPLE, &sample), Some(Record::Sample(&[9, 8, 7])));
        let lost = [1u64.to_le_bytes(), 42u64.to_le_bytes()].concat();
        assert_eq!(parse(PERF_RECORD_LOST, &lost), Some(Record::Lost(42)));
        assert_eq!(parse(PERF_RECORD_SAMPLE, &[200, 0, 0, 0, 1]), None);
    }
}
