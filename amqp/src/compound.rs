//! Lists, maps and arrays kept in encoded form and decoded as they are iterated
//! (spec 1.2 "compound" and "array" encodings).
//!
//! Iterators yield `Result`s: a malformed element ends the iteration with its error, and
//! a count that disagrees with the bytes (elements missing or bytes left over) is
//! reported as the last item.

use crate::codes;
use crate::value::{decode_ctor_body, fixed_width, read_body, read_ctor, read_value, MAX_DEPTH};
use crate::{AmqpError, Reader, Value};

/// An AMQP list: `count` values, encoded back to back in `raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List<'a> {
    count: u32,
    raw: &'a [u8],
}

impl<'a> List<'a> {
    /// The empty list.
    pub const EMPTY: List<'static> = List { count: 0, raw: &[] };

    /// A list over already-encoded elements (no constructor, size or count in `raw`).
    /// The count is checked when iterating.
    pub fn from_raw(count: u32, raw: &'a [u8]) -> Self {
        List { count, raw }
    }

    /// Number of elements, as announced by the encoding.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The encoded elements.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Iterates over the elements.
    pub fn iter(&self) -> Values<'a> {
        Values {
            r: Reader::new(self.raw),
            left: self.count,
            done: false,
        }
    }
}

/// Iterator over the values of a [`List`] (or the keys and values of a [`Map`]).
#[derive(Debug, Clone)]
pub struct Values<'a> {
    r: Reader<'a>,
    left: u32,
    done: bool,
}

impl<'a> Values<'a> {
    /// Elements not yet yielded.
    pub fn left(&self) -> u32 {
        self.left
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = Result<Value<'a>, AmqpError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return match self.r.remaining() {
                0 => None,
                n => Some(Err(AmqpError::TrailingBytes(n))),
            };
        }
        self.left -= 1;
        let v = read_value(&mut self.r, MAX_DEPTH);
        if v.is_err() {
            self.done = true;
        }
        Some(v)
    }
}

/// An AMQP map: `count / 2` key-value pairs, encoded key, value, key, value in `raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Map<'a> {
    count: u32,
    raw: &'a [u8],
}

impl<'a> Map<'a> {
    /// The empty map.
    pub const EMPTY: Map<'static> = Map { count: 0, raw: &[] };

    /// A map over already-encoded keys and values; `count` counts both (it is even).
    pub fn from_raw(count: u32, raw: &'a [u8]) -> Self {
        debug_assert!(count.is_multiple_of(2));
        Map { count, raw }
    }

    /// Number of keys plus values, as encoded (twice the number of pairs).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Number of key-value pairs.
    pub fn len(&self) -> u32 {
        self.count / 2
    }

    /// True if the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded keys and values.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Iterates over the pairs.
    pub fn iter(&self) -> Pairs<'a> {
        Pairs {
            inner: Values {
                r: Reader::new(self.raw),
                left: self.count,
                done: false,
            },
        }
    }

    /// The value under the first key that is the symbol `key`.
    pub fn get_symbol(&self, key: &str) -> Result<Option<Value<'a>>, AmqpError> {
        self.find(|k| k.as_symbol() == Some(key))
    }

    /// The value under the first key that is the string `key`.
    pub fn get_str(&self, key: &str) -> Result<Option<Value<'a>>, AmqpError> {
        self.find(|k| k.as_str() == Some(key))
    }

    fn find(&self, f: impl Fn(&Value<'a>) -> bool) -> Result<Option<Value<'a>>, AmqpError> {
        for kv in self.iter() {
            let (k, v) = kv?;
            if f(&k) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// Iterator over the key-value pairs of a [`Map`].
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    inner: Values<'a>,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<(Value<'a>, Value<'a>), AmqpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let k = match self.inner.next()? {
            Ok(k) => k,
            Err(e) => return Some(Err(e)),
        };
        match self.inner.next() {
            Some(Ok(v)) => Some(Ok((k, v))),
            Some(Err(e)) => Some(Err(e)),
            None => Some(Err(AmqpError::CountMismatch)),
        }
    }
}

/// Most elements a zero-width array constructor (e.g. `null`, `true`) may announce:
/// such arrays take no bytes per element, so the count alone would let a 9-byte input
/// ask for 4 billion iterations.
pub const MAX_ZERO_WIDTH_ARRAY: u32 = 1024;

/// An AMQP array: `count` values sharing one constructor (spec 1.2 "array").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Array<'a> {
    count: u32,
    ctor: &'a [u8],
    code: u8,
    raw: &'a [u8],
}

impl<'a> Array<'a> {
    /// Decodes the body of an array8/array32 value (count, constructor, elements).
    pub(crate) fn decode(code: u8, body: &'a [u8], depth: u32) -> Result<Self, AmqpError> {
        let mut r = Reader::new(body);
        let count = if code == codes::ARRAY8 {
            u32::from(r.u8()?)
        } else {
            r.u32()?
        };
        if depth == 0 {
            return Err(AmqpError::NestingTooDeep);
        }
        let start = r.position();
        let elem = read_ctor(&mut r, depth - 1)?;
        let ctor = &body[start..r.position()];
        let raw = r.rest();
        match fixed_width(elem) {
            Some(0) if count > MAX_ZERO_WIDTH_ARRAY => return Err(AmqpError::CountMismatch),
            Some(0) if !raw.is_empty() => return Err(AmqpError::TrailingBytes(raw.len())),
            Some(w) if (count as usize).checked_mul(w) != Some(raw.len()) => {
                return Err(AmqpError::CountMismatch)
            }
            None if count as usize > raw.len() => return Err(AmqpError::CountMismatch),
            _ => {}
        }
        Ok(Array {
            count,
            ctor,
            code: elem,
            raw,
        })
    }

    /// An array over already-encoded element bodies sharing the constructor `ctor`
    /// (one format code, possibly preceded by descriptors).
    pub fn from_raw(count: u32, ctor: &'a [u8], raw: &'a [u8]) -> Result<Self, AmqpError> {
        let mut r = Reader::new(ctor);
        let code = read_ctor(&mut r, MAX_DEPTH)?;
        r.expect_end()?;
        Ok(Array {
            count,
            ctor,
            code,
            raw,
        })
    }

    /// Number of elements.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The shared element constructor as encoded.
    pub fn constructor(&self) -> &'a [u8] {
        self.ctor
    }

    /// The final format code of the elements (after any descriptors).
    pub fn element_code(&self) -> u8 {
        self.code
    }

    /// The encoded element bodies.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Iterates over the elements.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            array: *self,
            r: Reader::new(self.raw),
            left: self.count,
            done: false,
        }
    }
}

/// Iterator over the elements of an [`Array`].
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    array: Array<'a>,
    r: Reader<'a>,
    left: u32,
    done: bool,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Result<Value<'a>, AmqpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return match self.r.remaining() {
                0 => None,
                n => Some(Err(AmqpError::TrailingBytes(n))),
            };
        }
        self.left -= 1;
        let at = self.r.position();
        let v = read_body(self.array.code, &mut self.r).and_then(|_| {
            let encoded = &self.r.buffer()[at..self.r.position()];
            decode_ctor_body(self.array.ctor, encoded, MAX_DEPTH)
        });
        if v.is_err() {
            self.done = true;
        }
        Some(v)
    }
}
