//! A bounded reader over a borrowed byte slice (STYLE rule 4).
//!
//! Every read checks the remaining length first and fails with
//! [`AmqpError::Truncated`]; a length-prefixed part is read by taking a child reader
//! ([`Reader::sub`]) so that nothing inside can run past the part's end.

use crate::AmqpError;

/// A cursor over a borrowed byte slice. Values decoded from it borrow the slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True once every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Bytes read so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// The whole underlying slice.
    #[inline]
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], AmqpError> {
        let available = self.remaining();
        if n > available {
            return Err(AmqpError::Truncated {
                needed: n,
                available,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes the next `N` bytes as an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], AmqpError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, AmqpError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(AmqpError::Truncated {
                needed: 1,
                available: 0,
            }),
        }
    }

    /// Looks at the next byte without consuming it.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Reads a big-endian `u16` (AMQP is network byte order).
    #[inline]
    pub fn u16(&mut self) -> Result<u16, AmqpError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u32`.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, AmqpError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Reads a big-endian `u64`.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, AmqpError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A child reader over the next `n` bytes; this reader moves past them.
    #[inline]
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, AmqpError> {
        Ok(Reader::new(self.take(n)?))
    }

    /// Fails with [`AmqpError::TrailingBytes`] unless every byte has been read.
    #[inline]
    pub fn expect_end(&self) -> Result<(), AmqpError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(AmqpError::TrailingBytes(n)),
        }
    }
}
