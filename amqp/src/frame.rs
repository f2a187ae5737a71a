//! Frames and protocol headers (spec part 2, 2.2 "Version Negotiation" and 2.3
//! "Framing").
//!
//! A frame is an 8-byte header — `SIZE` (u32, whole frame in bytes), `DOFF` (u8, body
//! offset in 4-byte words, at least 2), `TYPE` (u8: 0 AMQP, 1 SASL) and a type-specific
//! u16 (the channel for AMQP frames) — then an extended header of `DOFF * 4 - 8` bytes
//! (ignored), then the body. An AMQP frame with an empty body is a heartbeat.

use crate::encoder::{Encoder, Sink};
use crate::{AmqpError, Reader};

/// Bytes in a frame header.
pub const FRAME_HEADER_SIZE: usize = 8;

/// The smallest max-frame-size a peer may announce (spec 2.7.1 `MIN-MAX-FRAME-SIZE`).
pub const MIN_MAX_FRAME_SIZE: u32 = 512;

/// The kind of frame (spec 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// An AMQP frame (type 0): channel, performative, payload.
    Amqp = 0,
    /// A SASL frame (type 1): one SASL performative; the channel field is ignored.
    Sasl = 1,
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Total frame size in bytes, header included (>= 8).
    pub size: u32,
    /// Data offset in 4-byte words (>= 2): where the body starts.
    pub doff: u8,
    /// AMQP or SASL.
    pub frame_type: FrameType,
    /// The channel (AMQP frames; 0 and ignored for SASL).
    pub channel: u16,
}

impl FrameHeader {
    /// Decodes and checks a frame header: `size >= doff * 4 >= 8`, known type.
    pub fn decode(bytes: &[u8; FRAME_HEADER_SIZE]) -> Result<Self, AmqpError> {
        let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let doff = bytes[4];
        let frame_type = match bytes[5] {
            0 => FrameType::Amqp,
            1 => FrameType::Sasl,
            t => return Err(AmqpError::UnknownFrameType(t)),
        };
        if doff < 2 || size < u32::from(doff) * 4 {
            return Err(AmqpError::InvalidFrameHeader { size, doff });
        }
        let channel = u16::from_be_bytes([bytes[6], bytes[7]]);
        Ok(FrameHeader {
            size,
            doff,
            frame_type,
            channel,
        })
    }

    /// The 8 header bytes.
    #[inline]
    pub fn encode(&self) -> [u8; FRAME_HEADER_SIZE] {
        let s = self.size.to_be_bytes();
        let c = self.channel.to_be_bytes();
        [
            s[0],
            s[1],
            s[2],
            s[3],
            self.doff,
            self.frame_type as u8,
            c[0],
            c[1],
        ]
    }

    /// Bytes of the frame body (after the extended header).
    pub fn body_len(&self) -> usize {
        self.size as usize - usize::from(self.doff) * 4
    }
}

/// One complete frame borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub header: FrameHeader,
    /// The extended header (usually empty; ignored by AMQP 1.0).
    pub extended: &'a [u8],
    /// The body: performative and, for transfers, payload. Empty for a heartbeat.
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Splits the first frame off `buf`. Returns `Ok(None)` until `buf` holds the whole
    /// frame, else the frame and the bytes it used. A frame larger than `max_frame_size`
    /// is refused as soon as its header is seen.
    pub fn parse(buf: &'a [u8], max_frame_size: u32) -> Result<Option<(Self, usize)>, AmqpError> {
        let Some(head) = buf.first_chunk::<FRAME_HEADER_SIZE>() else {
            return Ok(None);
        };
        let header = FrameHeader::decode(head)?;
        if header.size > max_frame_size {
            return Err(AmqpError::FrameTooLarge {
                size: header.size,
                max: max_frame_size,
            });
        }
        let size = header.size as usize;
        if buf.len() < size {
            return Ok(None);
        }
        let mut r = Reader::new(&buf[FRAME_HEADER_SIZE..size]);
        let extended = r.take(usize::from(header.doff) * 4 - FRAME_HEADER_SIZE)?;
        Ok(Some((
            Frame {
                header,
                extended,
                body: r.rest(),
            },
            size,
        )))
    }
}

/// Appends one frame (`doff` 2) whose body `f` encodes, then `payload`; the size is
/// patched in afterwards. Returns the frame size in bytes.
pub fn write_frame<S: Sink + ?Sized>(
    out: &mut S,
    frame_type: FrameType,
    channel: u16,
    payload: &[u8],
    f: impl FnOnce(&mut Encoder<'_, S>),
) -> Result<u32, AmqpError> {
    let start = out.len();
    let header = FrameHeader {
        size: 0,
        doff: 2,
        frame_type,
        channel,
    };
    out.put(&header.encode());
    f(&mut Encoder::new(out));
    out.put(payload);
    let size = u32::try_from(out.len() - start).map_err(|_| AmqpError::ValueTooLarge)?;
    if out.ok() {
        out.written_mut()[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }
    Ok(size)
}

/// The 8-byte header that opens each protocol layer (spec 2.2, 5.1 and 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolHeader {
    /// `AMQP 0 1.0.0`: plain AMQP frames follow.
    Amqp,
    /// `AMQP 2 1.0.0`: a TLS handshake follows.
    Tls,
    /// `AMQP 3 1.0.0`: SASL frames follow.
    Sasl,
}

impl ProtocolHeader {
    /// Header bytes for plain AMQP.
    pub const AMQP_BYTES: [u8; 8] = *b"AMQP\x00\x01\x00\x00";
    /// Header bytes for TLS.
    pub const TLS_BYTES: [u8; 8] = *b"AMQP\x02\x01\x00\x00";
    /// Header bytes for SASL.
    pub const SASL_BYTES: [u8; 8] = *b"AMQP\x03\x01\x00\x00";

    /// The 8 header bytes.
    pub fn encode(self) -> [u8; 8] {
        match self {
            ProtocolHeader::Amqp => Self::AMQP_BYTES,
            ProtocolHeader::Tls => Self::TLS_BYTES,
            ProtocolHeader::Sasl => Self::SASL_BYTES,
        }
    }

    /// Decodes a protocol header. Anything not starting `AMQP` is [`AmqpError::NotAmqp`];
    /// another id or version is [`AmqpError::UnsupportedProtocol`] (the caller should
    /// answer with the header it does support, then close, per spec 2.2).
    pub fn decode(bytes: &[u8; 8]) -> Result<Self, AmqpError> {
        if &bytes[..4] != b"AMQP" {
            return Err(AmqpError::NotAmqp(*bytes));
        }
        let version = [bytes[5], bytes[6], bytes[7]];
        match (bytes[4], version) {
            (0, [1, 0, 0]) => Ok(ProtocolHeader::Amqp),
            (2, [1, 0, 0]) => Ok(ProtocolHeader::Tls),
            (3, [1, 0, 0]) => Ok(ProtocolHeader::Sasl),
            (id, version) => Err(AmqpError::UnsupportedProtocol { id, version }),
        }
    }
}
