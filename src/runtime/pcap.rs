//! `skboutput(file, skb, len, offset)`: the packets `bpf_skb_output` puts in the per-CPU perf
//! buffers (perfbuf.rs) are appended to pcap files, one per distinct file name, created
//! (truncated) before the probes attach. The files are raw IP (LINKTYPE_RAW), as bpftrace
//! writes them, with microsecond timestamps of the wall clock. Each batch of packets is
//! flushed when it has been written, so a file can be read while the trace runs.
//!
//! Each sample starts with the header codegen/trusted.rs writes: call site (u32), captured
//! bytes (u32), CLOCK_BOOTTIME (u64), the packet's length (u64); the packet follows, padded
//! by the kernel. The call site's offset is dropped from the front here.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness};

use super::perfbuf::{PerfBuffers, Record};
use super::RuntimeError;
use crate::artifact::SKB_HEADER;
use crate::artifact::SkbOutput;

/// A pcap file's buffered writer, shared by its `PcapWriter` (which owns its writer) and
/// `SkbCapture::drain`, which flushes it.
#[derive(Clone)]
struct Shared(Arc<Mutex<BufWriter<File>>>);

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).flush()
    }
}

struct PcapFile {
    path: PathBuf,
    writer: PcapWriter<Shared>,
    file: Shared,
    /// Packets written since the last flush.
    unflushed: bool,
}

pub struct SkbCapture {
    buffers: PerfBuffers,
    files: Vec<PcapFile>,
    /// Per call site: its file (an index into `files`) and offset.
    sites: Vec<(usize, u32)>,
    /// CLOCK_REALTIME minus CLOCK_BOOTTIME: the wall-clock time of boot.
    boot_ns: i128,
    /// Packets the kernel dropped because a perf buffer was full.
    pub lost: u64,
}

impl SkbCapture {
    /// Creates the pcap files of `sites` and a perf buffer of `pages` pages per CPU, which
    /// it registers in the perf event array `map`.
    pub fn open(map: RawFd, sites: &[SkbOutput], pages: usize) -> Result<SkbCapture, RuntimeError> {
        let mut files: Vec<PcapFile> = Vec::new();
        let mut site_files = Vec::new();
        for site in sites {
            let path = PathBuf::from(&site.file);
            let index = match files.iter().position(|f| f.path == path) {
                Some(i) => i,
                None => {
                    let failed = |e: std::io::Error| RuntimeError::Output { path: path.clone(), error: e };
                    let file = Shared(Arc::new(Mutex::new(BufWriter::new(File::create(&path).map_err(failed)?))));
                    let writer = writer(file.clone()).map_err(failed)?;
                    // The header alone, so that the file is a pcap file from the start.
                    file.clone().flush().map_err(failed)?;
                    files.push(PcapFile { path: path.clone(), writer, file, unflushed: false });
                    files.len() - 1
                }
            };
            site_files.push((index, site.offset));
        }
        let buffers =
            PerfBuffers::open(map, pages).map_err(|e| RuntimeError::Load { message: format!("could not open the perf buffers of skboutput: {e}") })?;
        let boot_ns = super::symbols::clock_ns(libc::CLOCK_REALTIME) - super::symbols::clock_ns(libc::CLOCK_BOOTTIME);
        Ok(SkbCapture { buffers, files, sites: site_files, boot_ns, lost: 0 })
    }

    pub fn fds(&self) -> Vec<RawFd> {
        self.buffers.fds().collect()
    }

    /// Writes every packet waiting in the perf buffers to its file, and flushes the files
    /// written to.
    pub fn drain(&mut self) -> Result<(), RuntimeError> {
        let mut failure = None;
        let (files, sites, boot_ns, lost) = (&mut self.files, &self.sites, self.boot_ns, &mut self.lost);
        self.buffers.consume(|record| match record {
            Record::Lost(n) => *lost += n,
            Record::Sample(sample) => {
                let Some((site, packet)) = packet(sample, sites, boot_ns) else { return };
                let Some(f) = files.get_mut(sites[site].0) else { return };
                f.unflushed = true;
                if let Err(e) = f.writer.write_packet(&packet) {
                    failure.get_or_insert_with(|| RuntimeError::Output { path: f.path.clone(), error: std::io::Error::other(e.to_string()) });
                }
            }
        });
        for f in files.iter_mut().filter(|f| f.unflushed) {
            f.unflushed = false;
            if let Err(error) = f.file.flush() {
                failure.get_or_insert(RuntimeError::Output { path: f.path.clone(), error });
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Drains what is left, flushes the files and closes them.
    pub fn finish(&mut self) -> Result<(), RuntimeError> {
        self.drain()?;
        self.files.clear();
        Ok(())
    }
}


/// A pcap writer with the header of rtrace's files: raw IP, snap length 65535.
fn writer<W: Write>(w: W) -> std::io::Result<PcapWriter<W>> {
    let header = PcapHeader { datalink: DataLink::RAW, endianness: Endianness::native(), ..PcapHeader::default() };
    PcapWriter::with_header(w, header).map_err(|e| std::io::Error::other(e.to_string()))
}

/// The call site and the pcap packet of one sample, or None for a malformed one.
fn packet<'a>(sample: &'a [u8], sites: &[(usize, u32)], boot_ns: i128) -> Option<(usize, PcapPacket<'a>)> {
    let word = |at: usize| sample.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let first = word(0)?;
    let (site, captured) = ((first & 0xffff_ffff) as usize, (first >> 32) as usize);
    let (ns, orig) = (word(8)?, word(16)?);
    let offset = sites.get(site)?.1 as usize;
    let data = sample.get(SKB_HEADER..SKB_HEADER + captured)?.get(offset..).unwrap_or_default();
    let wall = u64::try_from(boot_ns + i128::from(ns)).unwrap_or(0);
    let orig = u32::try_from(orig.saturating_sub(offset as u64)).unwrap_or(u32::MAX).max(data.len() as u32);
    Some((site, PcapPacket::new(Duration::from_nanos(wall), orig, data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    fn sample(site: u32, packet: &[u8], orig: u64, ns: u64) -> Vec<u8> {
        let mut s = (u64::from(site) | (packet.len() as u64) << 32).to_le_bytes().to_vec();
        s.extend_from_slice(&ns.to_le_bytes());
        s.extend_from_slice(&orig.to_le_bytes());
        s.extend_from_slice(packet);
        // The kernel's padding, which is not part of the packet.
        s.extend_from_slice(&[0xee; 5]);
        s
    }

    #[test]
    fn samples_become_pcap_records_without_the_offset_or_padding() {
        let sites = [(0, 0), (0, 2)];
        let boot_ns = 1_700_000_000_000_000_000i128;
        let mut out = writer(Vec::new()).expect("a pcap header");
        let one = sample(0, &[0x45, 0, 0, 28, 1, 2], 1500, 1_500_000);
        let two = sample(1, &[0xaa, 0xbb, 0x45, 0], 4, 0);
        for s in [&one, &two] {
            let (_, p) = packet(s, &sites, boot_ns).expect("a packet");
            out.write_packet(&p).expect("written");
        }
        let bytes = out.into_writer();
        let mut reader = PcapReader::new(&bytes[..]).expect("a pcap file");
        assert_eq!(reader.header().datalink, DataLink::RAW);
        let p = reader.next_packet().expect("a packet").expect("well-formed");
        assert_eq!((&p.data[..], p.orig_len), (&[0x45, 0, 0, 28, 1, 2][..], 1500));
        assert_eq!(p.timestamp, Duration::from_nanos(1_700_000_000_001_500_000));
        let p = reader.next_packet().expect("a packet").expect("well-formed");
        assert_eq!((&p.data[..], p.orig_len), (&[0x45, 0][..], 2));
        assert!(reader.next_packet().is_none());
    }

    #[test]
    fn an_offset_past_the_packet_leaves_it_empty_and_a_short_sample_is_dropped() {
        let s = sample(0, &[1, 2], 2, 0);
        let (_, p) = packet(&s, &[(0, 14)], 0).expect("a packet");
        assert!(p.data.is_empty());
        assert!(packet(&s[..20], &[(0, 0)], 0).is_none());
        assert!(packet(&s, &[], 0).is_none());
    }
}
