//! Consumer side of a BPF ring buffer map, read in place through its mmap()ed pages.
//!
//! Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (ours to write), page 1
//! the producer position, then the data area mapped twice in a row so a record that wraps is
//! still contiguous. Each record has an 8-byte header: length with BUSY (bit 31) and DISCARD
//! (bit 30) flags, then the payload, padded to 8 bytes. Records are handed out as borrowed
//! slices: nothing is copied before it is formatted.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HEADER: usize = 8;

pub struct RingBuf {
    fd: OwnedFd,
    consumer: *mut u8,
    producer: *mut u8,
    page: usize,
    size: usize,
}

impl RingBuf {
    /// Maps the ring buffer map `fd` of `size` data bytes (a power of two).
    pub fn new(fd: OwnedFd, size: usize) -> io::Result<RingBuf> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let raw = fd.as_raw_fd();
        // SAFETY: mapping a ring buffer map as the kernel documents: one writable consumer
        // page at offset 0, then the read-only producer page and twice the data area.
        let consumer = unsafe { libc::mmap(std::ptr::null_mut(), page, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, raw, 0) };
        if consumer == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        let producer = unsafe { libc::mmap(std::ptr::null_mut(), page + 2 * size, libc::PROT_READ, libc::MAP_SHARED, raw, page as libc::off_t) };
        if producer == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping what we mapped above.
            unsafe { libc::munmap(consumer, page) };
            return Err(e);
        }
        Ok(RingBuf { fd, consumer: consumer.cast(), producer: producer.cast(), page, size })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page starts with an 8-byte aligned u64 the kernel only reads.
        unsafe { &*(self.consumer as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: the producer page starts with an 8-byte aligned u64 the kernel writes.
        unsafe { &*(self.producer as *const AtomicU64) }
    }

    /// Calls `f` on every committed record, in order, and releases each one after `f`
    /// returns. Stops early (and keeps the rest) when `f` returns false.
    pub fn consume(&mut self, mut f: impl FnMut(&[u8]) -> bool) -> usize {
        let mut n = 0;
        loop {
            let cons = self.consumer_pos().load(Ordering::Acquire);
            let scan = self.scan(cons, |record| {
                n += 1;
                f(record)
            });
            self.consumer_pos().store(scan.until, Ordering::Release);
            if scan.end != ScanEnd::Producer || scan.until == cons {
                return n;
            }
        }
    }

    /// Whether a committed record not consumed yet satisfies `f`; nothing is consumed.
    pub fn any(&self, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        self.scan(self.consumer_pos().load(Ordering::Acquire), |record| !f(record)).end == ScanEnd::Refused
    }

    /// Hands the committed records from position `cons` to `f` until `f` returns false, a
    /// record is still being written, or the producer's position is reached.
    fn scan(&self, mut cons: u64, mut f: impl FnMut(&[u8]) -> bool) -> Scan {
        let mask = self.size as u64 - 1;
        let prod = self.producer_pos().load(Ordering::Acquire);
        while cons < prod {
            let at = (cons & mask) as usize;
            // SAFETY: `at` < size and the data area is mapped twice, so the header and
            // a payload of at most `size` bytes are inside the mapping.
            let data = unsafe { self.producer.add(self.page) };
            // SAFETY: record headers are 8-byte aligned u32 pairs the kernel writes.
            let header = unsafe { &*(data.add(at) as *const AtomicU32) }.load(Ordering::Acquire);
            if header & BUSY != 0 {
                // Reserved but not committed yet: everything after it waits too.
                return Scan { until: cons, end: ScanEnd::Busy };
            }
            let len = (header & !(BUSY | DISCARD)) as usize;
            // SAFETY: the committed payload lies in the double mapping (see above).
            let keep_going = header & DISCARD != 0 || f(unsafe { std::slice::from_raw_parts(data.add(at + HEADER), len) });
            cons += (len + HEADER).div_ceil(8) as u64 * 8;
            if !keep_going {
                return Scan { until: cons, end: ScanEnd::Refused };
            }
        }
        Scan { until: cons, end: ScanEnd::Producer }
    }
}

/// Where a scan of the ring ended, and why.
struct Scan {
    until: u64,
    end: ScanEnd,
}

#[derive(PartialEq, Eq)]
enum ScanEnd {
    /// Every committed record was handed out.
    Producer,
    /// A record is still being written.
    Busy,
    /// The callback asked to stop.
    Refused,
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the two mappings made in `new`.
        unsafe {
            libc::munmap(self.consumer.cast(), self.page);
            libc::munmap(self.producer.cast(), self.page + 2 * self.size);
        }
    }
}
