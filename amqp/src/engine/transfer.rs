//! The fields of a transfer frame the engine acts on, read two ways: by the general field
//! reader, or, for the encodings a sender usually writes, by [`quick`], a straight-line
//! parse that gives up (returns `None`) on anything else so the general path decides.
//!
//! A transfer is the one frame that arrives per message, so its decode is a receiver's
//! main cost. [`quick`] accepts only a subset of what [`read`] accepts and yields the same
//! fields and payload for it (checked by a test against the general path over seeded
//! random transfers, and by the `amqp_frame` fuzz target).

use super::codec::Fields;
use super::conn::missing;
use super::Fault;

/// A transfer's fields as the engine uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TransferHead<'a> {
    pub handle: u32,
    pub delivery_id: Option<u32>,
    pub tag: Option<&'a [u8]>,
    pub settled: Option<bool>,
    pub more: bool,
    pub aborted: bool,
}

/// The general path: reads the fields in order, as the spec lists them (message-format,
/// rcv-settle-mode, state and resume are checked for form and skipped).
pub(crate) fn read<'a>(f: &mut Fields<'a>) -> Result<TransferHead<'a>, Fault> {
    let handle = f.uint()?.ok_or_else(|| missing("transfer.handle"))?;
    let delivery_id = f.uint()?;
    let tag = f.binary()?;
    f.uint()?; // message-format
    let settled = f.boolean()?;
    let more = f.boolean()?.unwrap_or(false);
    f.skip(3)?; // rcv-settle-mode, state, resume
    let aborted = f.boolean()?.unwrap_or(false);
    Ok(TransferHead {
        handle,
        delivery_id,
        tag,
        settled,
        more,
        aborted,
    })
}

/// The fast path over a whole frame body: a transfer (`00 53 14`) whose list and fields
/// use the common encodings (list8 or list32; uint as `uint0`, `smalluint` or `uint`;
/// binary as `vbin8` or `vbin32`; booleans; a null state). Returns the fields and the
/// payload after the list, or `None` to leave the frame to the general path.
pub(crate) fn quick(body: &[u8]) -> Option<(TransferHead<'_>, &[u8])> {
    let (fields, count, end) = match body.get(..4)? {
        [0x00, 0x53, 0x14, 0xc0] => {
            let end = 5 + usize::from(*body.get(4)?);
            (body.get(6..end)?, u32::from(*body.get(5)?), end)
        }
        [0x00, 0x53, 0x14, 0xd0] => {
            let size = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
            let end = 8usize.checked_add(size as usize)?;
            let count = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?);
            (body.get(12..end)?, count, end)
        }
        _ => return None,
    };
    let mut q = Quick {
        b: fields,
        left: count,
    };
    let handle = q.uint()??;
    let delivery_id = q.uint()?;
    let tag = q.binary()?;
    q.uint()?; // message-format
    let settled = q.boolean()?;
    let more = q.boolean()?.unwrap_or(false);
    q.ubyte()?; // rcv-settle-mode
    q.null()?; // state
    q.boolean()?; // resume
    let aborted = q.boolean()?.unwrap_or(false);
    let head = TransferHead {
        handle,
        delivery_id,
        tag,
        settled,
        more,
        aborted,
    };
    Some((head, &body[end..]))
}

/// Reads fields of one list front to back. Each reader returns `None` for an encoding it
/// does not take (the caller then gives up), `Some(None)` for null or a field past the
/// list's count, else `Some(Some(value))`.
struct Quick<'a> {
    b: &'a [u8],
    left: u32,
}

impl<'a> Quick<'a> {
    /// The next field's constructor, or `Some(None)` past the count.
    fn start(&mut self) -> Option<Option<u8>> {
        if self.left == 0 {
            return Some(None);
        }
        self.left -= 1;
        self.b.first().map(|&c| Some(c))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (v, rest) = (self.b.get(..n)?, self.b.get(n..)?);
        self.b = rest;
        Some(v)
    }

    fn uint(&mut self) -> Option<Option<u32>> {
        Some(match self.start()? {
            None => None,
            Some(0x40) => self.take(1).map(|_| None)?,
            Some(0x43) => self.take(1).map(|_| Some(0))?,
            Some(0x52) => Some(u32::from(self.take(2)?[1])),
            Some(0x70) => Some(u32::from_be_bytes(self.take(5)?[1..].try_into().ok()?)),
            Some(_) => return None,
        })
    }

    fn boolean(&mut self) -> Option<Option<bool>> {
        Some(match self.start()? {
            None => None,
            Some(0x40) => self.take(1).map(|_| None)?,
            Some(0x41) => self.take(1).map(|_| Some(true))?,
            Some(0x42) => self.take(1).map(|_| Some(false))?,
            Some(0x56) => match self.take(2)?[1] {
                v @ 0..=1 => Some(v == 1),
                _ => return None,
            },
            Some(_) => return None,
        })
    }

    fn binary(&mut self) -> Option<Option<&'a [u8]>> {
        Some(match self.start()? {
            None => None,
            Some(0x40) => self.take(1).map(|_| None)?,
            Some(0xa0) => {
                let n = usize::from(*self.b.get(1)?);
                Some(&self.take(2 + n)?[2..])
            }
            Some(0xb0) => {
                let n = u32::from_be_bytes(self.b.get(1..5)?.try_into().ok()?) as usize;
                Some(&self.take(5usize.checked_add(n)?)?[5..])
            }
            Some(_) => return None,
        })
    }

    /// A ubyte or null, value unused.
    fn ubyte(&mut self) -> Option<()> {
        match self.start()? {
            None => Some(()),
            Some(0x40) => self.take(1).map(|_| ()),
            Some(0x50) => self.take(2).map(|_| ()),
            Some(_) => None,
        }
    }

    /// Null only (a delivery state here is left to the general path).
    fn null(&mut self) -> Option<()> {
        match self.start()? {
            None => Some(()),
            Some(0x40) => self.take(1).map(|_| ()),
            Some(_) => None,
        }
    }
}

/// Whether [`quick`] agrees with the general path on a frame body: `None` where it declines
/// the body, `Some(true)` where the general path reads the same fields and payload. For
/// tests and the fuzz targets.
#[doc(hidden)]
pub fn quick_agrees(body: &[u8]) -> Option<bool> {
    let (fast, payload) = quick(body)?;
    Some(general(body).is_some_and(|(g, p)| g == fast && p == payload))
}

/// The general path over a frame body: descriptor, list, fields.
fn general(body: &[u8]) -> Option<(TransferHead<'_>, &[u8])> {
    let (d, v) = super::codec::described(body).ok()?;
    if super::codec::descriptor_code(d).ok()? != 0x14 {
        return None;
    }
    let (mut f, n) = Fields::open(v).ok()?;
    let head = read(&mut f).ok()?;
    Some((head, &v[n..]))
}
