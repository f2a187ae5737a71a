//! Classic pcap capture files of feed packets: Ethernet / IPv4 / UDP around each payload.
//!
//! Written by hand (the format is 24 + 16 bytes of headers) rather than with a crate: the
//! writer must not allocate per packet and the reader must be bounded and never panic on a
//! user's file; both are a screenful of code. Files are written with the nanosecond magic
//! `0xa1b23c4d` (little-endian) and link type 1 (Ethernet), so Wireshark and tshark read
//! them. The reader accepts both byte orders and both the microsecond and nanosecond magics,
//! Ethernet with an optional 802.1Q tag, and skips (and counts) anything that is not an
//! unfragmented IPv4 UDP datagram.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;

/// pcap magic for nanosecond timestamps.
pub const MAGIC_NS: u32 = 0xa1b2_3c4d;
/// pcap magic for microsecond timestamps.
pub const MAGIC_US: u32 = 0xa1b2_c3d4;
/// Link type Ethernet.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Largest record accepted by the reader and written by the writer (snap length).
pub const SNAPLEN: u32 = 65_535;

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const UDP_LEN: usize = 8;
/// Headers the writer puts before each payload.
pub const HEADERS_LEN: usize = ETH_LEN + IP_LEN + UDP_LEN;

/// Why a capture could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum PcapError {
    /// Environment: the underlying file or stream failed.
    Io(io::Error),
    /// Malformed input: not a pcap file (unknown magic).
    BadMagic(u32),
    /// Incompatible input: a link type other than Ethernet.
    UnsupportedLinkType(u32),
    /// Malformed input: a record header claims more than the snap length.
    RecordTooLarge(u32),
    /// Malformed input: the file ends inside a header or record.
    Truncated,
    /// API misuse: a payload too large for one UDP datagram.
    PayloadTooLarge(usize),
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "capture i/o error: {e}"),
            Self::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
            Self::UnsupportedLinkType(l) => write!(f, "link type {l} is not Ethernet (1)"),
            Self::RecordTooLarge(n) => write!(f, "record of {n} bytes exceeds the snap length"),
            Self::Truncated => f.write_str("capture ends inside a record"),
            Self::PayloadTooLarge(n) => write!(f, "payload of {n} bytes exceeds a datagram"),
        }
    }
}

impl std::error::Error for PcapError {}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// The Ethernet multicast MAC for an IPv4 group: `01:00:5e` + the group's low 23 bits.
pub fn multicast_mac(group: Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// Writes a nanosecond pcap file of UDP datagrams. Reuses one frame buffer: no allocation
/// per packet.
pub struct PcapWriter<W: Write> {
    out: W,
    frame: Vec<u8>,
    src: Ipv4Addr,
    ip_id: u16,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header; packets will claim to come from `src` (the sender's address).
    pub fn new(mut out: W, src: Ipv4Addr) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC_NS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        let frame = Vec::with_capacity(HEADERS_LEN + 65_507);
        Ok(Self {
            out,
            frame,
            src,
            ip_id: 0,
            packets: 0,
        })
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Appends one datagram to `group:port` captured at `ts_ns` (ns since the Unix epoch).
    pub fn write_udp(
        &mut self,
        ts_ns: u64,
        group: Ipv4Addr,
        port: u16,
        payload: &[u8],
    ) -> Result<(), PcapError> {
        if payload.len() > 65_507 {
            return Err(PcapError::PayloadTooLarge(payload.len()));
        }
        self.frame.clear();
        self.build_frame(group, port, payload);
        let len = self.frame.len() as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&self.frame)?;
        self.packets += 1;
        Ok(())
    }

    fn build_frame(&mut self, group: Ipv4Addr, port: u16, payload: &[u8]) {
        let f = &mut self.frame;
        f.extend_from_slice(&multicast_mac(group));
        f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x01]); // locally administered
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let ip_start = f.len();
        let total = (IP_LEN + UDP_LEN + payload.len()) as u16;
        self.ip_id = self.ip_id.wrapping_add(1);
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&self.ip_id.to_be_bytes());
        f.extend_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
        f.extend_from_slice(&[32, 17, 0, 0]); // ttl, udp, checksum placeholder
        f.extend_from_slice(&self.src.octets());
        f.extend_from_slice(&group.octets());
        let csum = ipv4_checksum(&f[ip_start..ip_start + IP_LEN]);
        f[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
        f.extend_from_slice(&port.to_be_bytes()); // source port = destination port
        f.extend_from_slice(&port.to_be_bytes());
        f.extend_from_slice(&((UDP_LEN + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]); // no UDP checksum (allowed over IPv4)
        f.extend_from_slice(payload);
        debug_assert_eq!(f.len(), HEADERS_LEN + payload.len());
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> Result<W, PcapError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The Internet checksum of an IPv4 header (checksum field zeroed).
fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One UDP datagram read from a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<'a> {
    /// Capture timestamp, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Destination address (the multicast group).
    pub dst: Ipv4Addr,
    /// Destination UDP port.
    pub port: u16,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Reads UDP datagrams from a pcap stream, skipping everything else. Bounded: records are
/// limited to [`SNAPLEN`], one buffer is reused, and malformed frames are skipped.
pub struct PcapReader<R: Read> {
    input: R,
    buf: Vec<u8>,
    big_endian: bool,
    nanos: bool,
    skipped: u64,
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut input: R) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        read_exact_or_truncated(&mut input, &mut h)?;
        let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let be = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let (big_endian, nanos) = match (le, be) {
            (MAGIC_NS, _) => (false, true),
            (MAGIC_US, _) => (false, false),
            (_, MAGIC_NS) => (true, true),
            (_, MAGIC_US) => (true, false),
            _ => return Err(PcapError::BadMagic(le)),
        };
        let mut r = Self {
            input,
            buf: vec![0; SNAPLEN as usize],
            big_endian,
            nanos,
            skipped: 0,
        };
        let link = r.u32_at(&h, 20);
        if link != LINKTYPE_ETHERNET {
            return Err(PcapError::UnsupportedLinkType(link));
        }
        r.buf.clear();
        Ok(r)
    }

    /// Records skipped because they were not IPv4 UDP (or were malformed frames).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    }

    /// The next UDP datagram, `Ok(None)` at a clean end of file.
    pub fn next_packet(&mut self) -> Result<Option<UdpPacket<'_>>, PcapError> {
        loop {
            let mut rec = [0u8; 16];
            match self.input.read(&mut rec[..1])? {
                0 => return Ok(None),
                _ => read_exact_or_truncated(&mut self.input, &mut rec[1..])?,
            }
            let (sec, frac) = (self.u32_at(&rec, 0) as u64, self.u32_at(&rec, 4) as u64);
            let incl = self.u32_at(&rec, 8);
            if incl > SNAPLEN {
                return Err(PcapError::RecordTooLarge(incl));
            }
            self.buf.resize(incl as usize, 0);
            read_exact_or_truncated(&mut self.input, &mut self.buf)?;
            let ts_ns = sec * 1_000_000_000 + if self.nanos { frac } else { frac * 1_000 };
            match parse_udp(&self.buf) {
                Some((dst, port, range)) => {
                    let payload = &self.buf[range];
                    return Ok(Some(UdpPacket {
                        ts_ns,
                        dst,
                        port,
                        payload,
                    }));
                }
                None => self.skipped += 1,
            }
        }
    }
}

fn read_exact_or_truncated(r: &mut impl Read, buf: &mut [u8]) -> Result<(), PcapError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => PcapError::Truncated,
        _ => PcapError::Io(e),
    })
}

/// Destination, port and payload range of an Ethernet frame holding an unfragmented IPv4
/// UDP datagram; `None` for anything else.
pub fn parse_udp(frame: &[u8]) -> Option<(Ipv4Addr, u16, std::ops::Range<usize>)> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    if ethertype == 0x8100 {
        at += 4;
        ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
    }
    if ethertype != 0x0800 {
        return None;
    }
    let ip = frame.get(at + 2..)?;
    let ihl = ((*ip.first()? & 0x0f) as usize) * 4;
    if *ip.first()? >> 4 != 4 || ihl < IP_LEN || ip.len() < ihl + UDP_LEN {
        return None;
    }
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if ip[9] != 17 || frag & 0x3fff != 0 || total < ihl + UDP_LEN || total > ip.len() {
        return None;
    }
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let udp = &ip[ihl..total];
    let port = u16::from_be_bytes([udp[2], udp[3]]);
    let ulen = u16::from_be_bytes([udp[4], udp[5]]) as usize;
    if ulen < UDP_LEN || ulen > udp.len() {
        return None;
    }
    let start = at + 2 + ihl + UDP_LEN;
    Some((dst, port, start..start + ulen - UDP_LEN))
}
