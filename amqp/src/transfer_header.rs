//! The fan-out hot path: the per-link frame header and `transfer` performative in
//! front of a message body that was encoded once and is shared by every link (spec
//! 2.7.5 `transfer`, 2.3.2 AMQP frames).
//!
//! The output is always laid out the same way, so writing it is a handful of stores
//! into a buffer the caller allocated at start-up:
//!
//! ```text
//! offset  bytes                      meaning
//! 0       SIZE (u32 BE)              8 + performative + body
//! 4       02 00 CH CH                doff 2, AMQP frame, channel
//! 8       00 53 14                   descriptor: smallulong 0x14 (transfer)
//! 11      c0 LL 05                   list8, size, 5 fields
//! 14      70 HH HH HH HH             handle (uint, fixed 4 bytes)
//! 19      70 DD DD DD DD             delivery-id (uint, fixed 4 bytes)
//! 24      a0 TL tag...               delivery-tag (vbin8, TL <= 32 bytes)
//! 26+TL   43                         message-format 0 (uint0)
//! 27+TL   41                         settled = true
//! ```
//!
//! Fixed-width `uint`s keep the layout independent of the values; the 6 bytes this
//! costs over the smallest encoding are noise next to the body.

use crate::codes;
use crate::AmqpError;

/// Longest delivery tag AMQP allows (spec 2.8.7 `delivery-tag`: binary, at most 32).
pub const MAX_DELIVERY_TAG: usize = 32;

/// Header bytes without the tag: 8 frame + 3 descriptor + 3 list8 + 5 + 5 + 2 + 1 + 1.
pub const TRANSFER_HEADER_BASE: usize = 28;

/// Largest header this writer produces (tag of 32 bytes).
pub const MAX_TRANSFER_HEADER: usize = TRANSFER_HEADER_BASE + MAX_DELIVERY_TAG;

/// Writes the frame header and `transfer` performative for a pre-settled delivery of
/// a shared body of `body_len` bytes into `out`; returns the header length
/// (`28 + tag.len()`). Send `out[..len]` then the body as one vectored write.
///
/// Fails (caller error) if the tag is over 32 bytes, `out` is too small, or the frame
/// would exceed `u32::MAX` bytes. Never allocates.
#[inline]
pub fn write_transfer_header(
    out: &mut [u8],
    channel: u16,
    handle: u32,
    delivery_id: u32,
    tag: &[u8],
    body_len: usize,
) -> Result<usize, AmqpError> {
    let t = tag.len();
    if t > MAX_DELIVERY_TAG {
        return Err(AmqpError::DeliveryTagTooLong(t));
    }
    let len = TRANSFER_HEADER_BASE + t;
    let Some(out) = out.get_mut(..len) else {
        return Err(AmqpError::BufferTooSmall {
            needed: len,
            available: out.len(),
        });
    };
    let size = u32::try_from(body_len)
        .ok()
        .and_then(|b| b.checked_add(len as u32))
        .ok_or(AmqpError::ValueTooLarge)?;
    let (head, rest) = out.split_at_mut(24);
    let head: &mut [u8; 24] = head.try_into().expect("split at 24");
    let s = size.to_be_bytes();
    let c = channel.to_be_bytes();
    let h = handle.to_be_bytes();
    let d = delivery_id.to_be_bytes();
    *head = [
        s[0],
        s[1],
        s[2],
        s[3],
        2,
        0,
        c[0],
        c[1], // frame header
        codes::DESCRIBED,
        codes::SMALLULONG,
        0x14, // transfer
        codes::LIST8,
        (15 + t) as u8,
        5, // list8 of 5 fields
        codes::UINT,
        h[0],
        h[1],
        h[2],
        h[3], // handle
        codes::UINT,
        d[0],
        d[1],
        d[2],
        d[3], // delivery-id
    ];
    rest[0] = codes::VBIN8;
    rest[1] = t as u8;
    rest[2..2 + t].copy_from_slice(tag);
    rest[2 + t] = codes::UINT0;
    rest[3 + t] = codes::TRUE;
    debug_assert_eq!(len, 24 + 4 + t);
    Ok(len)
}

/// A per-link, pre-allocated transfer header buffer (see [`write_transfer_header`]).
#[derive(Debug, Clone)]
pub struct TransferHeader {
    buf: [u8; MAX_TRANSFER_HEADER],
}

impl Default for TransferHeader {
    fn default() -> Self {
        Self::new()
    }
}

impl TransferHeader {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        TransferHeader {
            buf: [0; MAX_TRANSFER_HEADER],
        }
    }

    /// Writes the header for one delivery and returns it. The returned bytes stay valid
    /// until the next call.
    #[inline]
    pub fn write(
        &mut self,
        channel: u16,
        handle: u32,
        delivery_id: u32,
        tag: &[u8],
        body_len: usize,
    ) -> Result<&[u8], AmqpError> {
        let n = write_transfer_header(&mut self.buf, channel, handle, delivery_id, tag, body_len)?;
        Ok(&self.buf[..n])
    }
}
