//! Encoding AMQP values into a caller-owned buffer (STYLE rule 4).
//!
//! [`Encoder`] writes into any [`Sink`]: a `Vec<u8>` (grows) or a [`SliceSink`] over a
//! fixed `&mut [u8]` (never allocates; reports overflow at [`SliceSink::finish`]).
//! Integers use their smallest encoding, compounds are written with 32-bit size/count
//! and shrunk to their 8-bit form (or `list0`) when they fit, and composites omit
//! trailing null fields (spec 1.4 "Composite Type Representation").
//!
//! Panics: a binary, string or symbol longer than `u32::MAX` bytes is API misuse and
//! panics.

use crate::codes::*;
use crate::value::{Descriptor, Value};
use crate::AmqpError;

/// Where an [`Encoder`] writes.
pub trait Sink {
    /// Appends `bytes` (a fixed-size sink drops what does not fit).
    fn put(&mut self, bytes: &[u8]);
    /// The logical length: bytes written plus bytes dropped for lack of room.
    fn len(&self) -> usize;
    /// True if nothing has been written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True while every byte so far fitted.
    fn ok(&self) -> bool;
    /// The bytes written so far, for patching sizes; only meaningful while [`Sink::ok`].
    fn written_mut(&mut self) -> &mut [u8];
    /// Shortens the logical length to `len`.
    fn truncate(&mut self, len: usize);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn len(&self) -> usize {
        Vec::len(self)
    }
    #[inline]
    fn ok(&self) -> bool {
        true
    }
    #[inline]
    fn written_mut(&mut self) -> &mut [u8] {
        self
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len)
    }
}

/// A [`Sink`] over a fixed slice: no allocation, overflow reported by [`SliceSink::finish`].
#[derive(Debug)]
pub struct SliceSink<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> SliceSink<'b> {
    /// A sink writing from the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        SliceSink { buf, len: 0 }
    }

    /// The number of bytes written, or [`AmqpError::BufferTooSmall`].
    pub fn finish(self) -> Result<usize, AmqpError> {
        if self.len <= self.buf.len() {
            Ok(self.len)
        } else {
            Err(AmqpError::BufferTooSmall {
                needed: self.len,
                available: self.buf.len(),
            })
        }
    }
}

impl Sink for SliceSink<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let cap = self.buf.len();
        if self.len < cap {
            let n = bytes.len().min(cap - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        }
        self.len += bytes.len();
    }
    fn len(&self) -> usize {
        self.len
    }
    fn ok(&self) -> bool {
        self.len <= self.buf.len()
    }
    fn written_mut(&mut self) -> &mut [u8] {
        let n = self.len.min(self.buf.len());
        &mut self.buf[..n]
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// Writes AMQP values to a [`Sink`].
///
/// It counts the values written at the current nesting level, so [`Encoder::list`] and
/// friends fill in counts themselves.
#[derive(Debug)]
pub struct Encoder<'s, S: Sink + ?Sized> {
    sink: &'s mut S,
    count: u32,
    /// Sink length after the last non-null value at this level, and the count then.
    mark: (usize, u32),
}

/// The constructor, size and count placeholder of a 32-bit compound.
const COMPOUND32_HEAD: usize = 9;

impl<'s, S: Sink + ?Sized> Encoder<'s, S> {
    /// An encoder appending to `sink`.
    pub fn new(sink: &'s mut S) -> Self {
        let at = sink.len();
        Encoder {
            sink,
            count: 0,
            mark: (at, 0),
        }
    }

    /// The sink.
    pub fn sink(&mut self) -> &mut S {
        self.sink
    }

    #[inline]
    fn done(&mut self, null: bool) {
        self.count += 1;
        if !null {
            self.mark = (self.sink.len(), self.count);
        }
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    /// `null`.
    pub fn null(&mut self) -> &mut Self {
        self.put(&[NULL]);
        self.done(true);
        self
    }

    /// `boolean` (0x41/0x42).
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.put(&[if v { TRUE } else { FALSE }]);
        self.done(false);
        self
    }

    /// `ubyte`.
    pub fn ubyte(&mut self, v: u8) -> &mut Self {
        self.put(&[UBYTE, v]);
        self.done(false);
        self
    }

    /// `ushort`.
    pub fn ushort(&mut self, v: u16) -> &mut Self {
        let b = v.to_be_bytes();
        self.put(&[USHORT, b[0], b[1]]);
        self.done(false);
        self
    }

    /// `uint`, smallest form (uint0, smalluint, uint).
    #[inline]
    pub fn uint(&mut self, v: u32) -> &mut Self {
        match v {
            0 => self.put(&[UINT0]),
            1..=255 => self.put(&[SMALLUINT, v as u8]),
            _ => {
                let b = v.to_be_bytes();
                self.put(&[UINT, b[0], b[1], b[2], b[3]]);
            }
        }
        self.done(false);
        self
    }

    /// `ulong`, smallest form (ulong0, smallulong, ulong).
    pub fn ulong(&mut self, v: u64) -> &mut Self {
        match v {
            0 => self.put(&[ULONG0]),
            1..=255 => self.put(&[SMALLULONG, v as u8]),
            _ => {
                self.put(&[ULONG]);
                self.put(&v.to_be_bytes());
            }
        }
        self.done(false);
        self
    }

    /// `byte`.
    pub fn byte(&mut self, v: i8) -> &mut Self {
        self.put(&[BYTE, v as u8]);
        self.done(false);
        self
    }

    /// `short`.
    pub fn short(&mut self, v: i16) -> &mut Self {
        let b = v.to_be_bytes();
        self.put(&[SHORT, b[0], b[1]]);
        self.done(false);
        self
    }

    /// `int`, smallest form (smallint, int).
    pub fn int(&mut self, v: i32) -> &mut Self {
        if let Ok(s) = i8::try_from(v) {
            self.put(&[SMALLINT, s as u8]);
        } else {
            self.put(&[INT]);
            self.put(&v.to_be_bytes());
        }
        self.done(false);
        self
    }

    /// `long`, smallest form (smalllong, long).
    pub fn long(&mut self, v: i64) -> &mut Self {
        if let Ok(s) = i8::try_from(v) {
            self.put(&[SMALLLONG, s as u8]);
        } else {
            self.put(&[LONG]);
            self.put(&v.to_be_bytes());
        }
        self.done(false);
        self
    }

    /// `timestamp`: milliseconds since the Unix epoch.
    pub fn timestamp(&mut self, ms: i64) -> &mut Self {
        self.put(&[TIMESTAMP]);
        self.put(&ms.to_be_bytes());
        self.done(false);
        self
    }

    /// `binary`, vbin8 or vbin32.
    pub fn binary(&mut self, v: &[u8]) -> &mut Self {
        self.variable(VBIN8, VBIN32, v)
    }

    /// `string`, str8 or str32.
    pub fn string(&mut self, v: &str) -> &mut Self {
        self.variable(STR8, STR32, v.as_bytes())
    }

    /// `symbol`, sym8 or sym32. Symbols are ASCII; the caller guarantees it.
    pub fn symbol(&mut self, v: &str) -> &mut Self {
        debug_assert!(v.is_ascii(), "AMQP symbols are ASCII");
        self.variable(SYM8, SYM32, v.as_bytes())
    }

    fn variable(&mut self, c8: u8, c32: u8, v: &[u8]) -> &mut Self {
        if let Ok(n) = u8::try_from(v.len()) {
            self.put(&[c8, n]);
        } else {
            let n = u32::try_from(v.len()).expect("AMQP variable-width values are < 4 GiB");
            self.put(&[c32]);
            self.put(&n.to_be_bytes());
        }
        self.put(v);
        self.done(false);
        self
    }

    /// Writes `Some(v)` with `f`, or `null` for `None`.
    #[inline]
    pub fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) -> &mut Self {
        match v {
            Some(v) => f(self, v),
            None => {
                self.null();
            }
        }
        self
    }

    /// A descriptor: `ulong` for codes, `symbol` for names (does not count as a value).
    fn descriptor(&mut self, d: Descriptor<'_>) {
        let saved = (self.count, self.mark);
        self.put(&[DESCRIBED]);
        match d {
            Descriptor::Code(c) => self.ulong(c),
            Descriptor::Symbol(s) => self.symbol(s),
        };
        (self.count, self.mark) = saved;
    }

    /// A described value: descriptor `code`, then the one value `f` writes.
    pub fn described(&mut self, code: u64, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.described_by(Descriptor::Code(code), f)
    }

    /// A described value with any descriptor, then the one value `f` writes.
    pub fn described_by(&mut self, d: Descriptor<'_>, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.descriptor(d);
        let saved = (self.count, self.mark);
        f(self);
        debug_assert_eq!(
            self.count,
            saved.0 + 1,
            "a described type holds exactly one value"
        );
        (self.count, self.mark) = saved;
        self.done(false);
        self
    }

    /// A list of the values `f` writes.
    pub fn list(&mut self, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.compound(LIST32, false, f)
    }

    /// A map of the keys and values `f` writes (key, value, key, value, ...).
    pub fn map(&mut self, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.compound(MAP32, false, f)
    }

    /// A composite (spec 1.4): descriptor `code` and a list of fields, with trailing
    /// null fields left out.
    pub fn composite(&mut self, code: u64, f: impl FnOnce(&mut Self)) -> &mut Self {
        self.descriptor(Descriptor::Code(code));
        self.compound(LIST32, true, f)
    }

    fn compound(&mut self, code32: u8, elide: bool, f: impl FnOnce(&mut Self)) -> &mut Self {
        let start = self.sink.len();
        self.put(&[code32, 0, 0, 0, 0, 0, 0, 0, 0]);
        let saved = (self.count, self.mark);
        self.count = 0;
        self.mark = (start + COMPOUND32_HEAD, 0);
        f(self);
        let count = if elide {
            self.sink.truncate(self.mark.0);
            self.mark.1
        } else {
            self.count
        };
        debug_assert!(
            code32 != MAP32 || count % 2 == 0,
            "a map needs key-value pairs"
        );
        (self.count, self.mark) = saved;
        self.finish_compound(start, code32, count);
        self.done(false);
        self
    }

    fn finish_compound(&mut self, start: usize, code32: u8, count: u32) {
        if !self.sink.ok() {
            return;
        }
        let end = self.sink.len();
        let body = end - start - COMPOUND32_HEAD;
        if code32 == LIST32 && count == 0 {
            self.sink.truncate(start);
            self.put(&[LIST0]);
        } else if body < 255 && count < 256 {
            let buf = self.sink.written_mut();
            buf[start] = code32 - 0x10; // list8 / map8 / array8
            buf[start + 1] = (body + 1) as u8;
            buf[start + 2] = count as u8;
            buf.copy_within(start + COMPOUND32_HEAD..end, start + 3);
            self.sink.truncate(end - 6);
        } else {
            let size = u32::try_from(body + 4).expect("AMQP compounds are < 4 GiB");
            let buf = self.sink.written_mut();
            buf[start + 1..start + 5].copy_from_slice(&size.to_be_bytes());
            buf[start + 5..start + 9].copy_from_slice(&count.to_be_bytes());
        }
    }

    /// An array of `values` sharing the constructor `code` (every value must be
    /// encodable with it, e.g. `UINT` for `Value::Uint`).
    pub fn array(&mut self, code: u8, values: &[Value<'_>]) -> Result<&mut Self, AmqpError> {
        let start = self.sink.len();
        self.put(&[ARRAY32, 0, 0, 0, 0, 0, 0, 0, 0, code]);
        for v in values {
            self.body(code, v)?;
        }
        let count = u32::try_from(values.len()).map_err(|_| AmqpError::ValueTooLarge)?;
        self.finish_array(start, count);
        self.done(false);
        Ok(self)
    }

    /// An array of symbols (the encoding of a "multiple" symbol field with several
    /// values): sym8 elements if every symbol is < 256 bytes, else sym32.
    pub fn symbol_array(&mut self, symbols: &[&str]) -> &mut Self {
        let code = if symbols.iter().all(|s| s.len() < 256) {
            SYM8
        } else {
            SYM32
        };
        let start = self.sink.len();
        self.put(&[ARRAY32, 0, 0, 0, 0, 0, 0, 0, 0, code]);
        for s in symbols {
            debug_assert!(s.is_ascii());
            if code == SYM8 {
                self.put(&[s.len() as u8]);
            } else {
                self.put(&(s.len() as u32).to_be_bytes());
            }
            self.put(s.as_bytes());
        }
        self.finish_array(start, symbols.len() as u32);
        self.done(false);
        self
    }

    fn finish_array(&mut self, start: usize, count: u32) {
        if self.sink.ok() {
            // The element constructor sits after the 9-byte head; size counts it too.
            self.finish_compound(start, ARRAY32, count);
        }
    }

    /// Writes `v` with its natural (smallest) encoding. Compounds and described values
    /// are copied as they were received.
    pub fn value(&mut self, v: &Value<'_>) -> &mut Self {
        let code = natural_code(v);
        if let Value::Described(d) = v {
            self.descriptor(d.descriptor());
            self.put(d.raw_constructor());
            self.put(d.raw_body());
            self.done(false);
            return self;
        }
        self.put(&[code]);
        let r = self.body(code, v);
        debug_assert!(r.is_ok(), "natural_code always matches its value");
        self.done(v.is_null());
        self
    }

    /// Writes `v` with the format code `code` (constructor and body). Fails with
    /// [`AmqpError::UnexpectedType`] if `v` cannot be written with `code`.
    pub fn value_as(&mut self, code: u8, v: &Value<'_>) -> Result<&mut Self, AmqpError> {
        self.put(&[code]);
        self.body(code, v)?;
        self.done(v.is_null());
        Ok(self)
    }
}

/// True if an array's size and count fit the one-byte `array8` head.
fn array_fits_8(a: crate::Array<'_>) -> bool {
    a.constructor().len() + a.raw().len() < 255 && a.count() < 256
}

/// The smallest format code that can hold `v`.
pub(crate) fn natural_code(v: &Value<'_>) -> u8 {
    match *v {
        Value::Bool(b) => {
            if b {
                TRUE
            } else {
                FALSE
            }
        }
        Value::Uint(0) => UINT0,
        Value::Uint(1..=255) => SMALLUINT,
        Value::Ulong(0) => ULONG0,
        Value::Ulong(1..=255) => SMALLULONG,
        Value::Int(-128..=127) => SMALLINT,
        Value::Long(-128..=127) => SMALLLONG,
        Value::Binary(b) if b.len() < 256 => VBIN8,
        Value::String(s) if s.len() < 256 => STR8,
        Value::Symbol(s) if s.len() < 256 => SYM8,
        Value::List(l) if l.count() == 0 => LIST0,
        Value::List(l) if l.raw().len() < 255 && l.count() < 256 => LIST8,
        Value::Map(m) if m.raw().len() < 255 && m.count() < 256 => MAP8,
        Value::Array(a) if array_fits_8(a) => ARRAY8,
        ref other => crate::value::format_code_of(other),
    }
}

impl<S: Sink + ?Sized> Encoder<'_, S> {
    /// Writes the body of `v` for format code `code` (no constructor).
    pub fn body(&mut self, code: u8, v: &Value<'_>) -> Result<(), AmqpError> {
        let mismatch = AmqpError::UnexpectedType {
            expected: v.type_name(),
            found: code,
        };
        match (code, *v) {
            (NULL, Value::Null)
            | (TRUE, Value::Bool(true))
            | (FALSE, Value::Bool(false))
            | (UINT0, Value::Uint(0))
            | (ULONG0, Value::Ulong(0)) => {}
            (LIST0, Value::List(l)) if l.count() == 0 => {}
            (BOOLEAN, Value::Bool(b)) => self.put(&[b as u8]),
            (UBYTE, Value::Ubyte(x)) => self.put(&[x]),
            (BYTE, Value::Byte(x)) => self.put(&[x as u8]),
            (SMALLUINT, Value::Uint(x)) if x < 256 => self.put(&[x as u8]),
            (SMALLULONG, Value::Ulong(x)) if x < 256 => self.put(&[x as u8]),
            (SMALLINT, Value::Int(x)) if i8::try_from(x).is_ok() => self.put(&[x as u8]),
            (SMALLLONG, Value::Long(x)) if i8::try_from(x).is_ok() => self.put(&[x as u8]),
            (USHORT, Value::Ushort(x)) => self.put(&x.to_be_bytes()),
            (SHORT, Value::Short(x)) => self.put(&x.to_be_bytes()),
            (UINT, Value::Uint(x)) => self.put(&x.to_be_bytes()),
            (INT, Value::Int(x)) => self.put(&x.to_be_bytes()),
            (FLOAT, Value::Float(x)) => self.put(&x.to_bits().to_be_bytes()),
            (CHAR, Value::Char(x)) => self.put(&u32::from(x).to_be_bytes()),
            (DECIMAL32, Value::Decimal32(x)) => self.put(&x),
            (ULONG, Value::Ulong(x)) => self.put(&x.to_be_bytes()),
            (LONG, Value::Long(x)) => self.put(&x.to_be_bytes()),
            (DOUBLE, Value::Double(x)) => self.put(&x.to_bits().to_be_bytes()),
            (TIMESTAMP, Value::Timestamp(x)) => self.put(&x.to_be_bytes()),
            (DECIMAL64, Value::Decimal64(x)) => self.put(&x),
            (DECIMAL128, Value::Decimal128(x)) => self.put(&x),
            (UUID, Value::Uuid(x)) => self.put(&x),
            (VBIN8 | VBIN32, Value::Binary(b)) => self.sized(code, None, b, &[])?,
            (STR8 | STR32, Value::String(s)) => self.sized(code, None, s.as_bytes(), &[])?,
            (SYM8 | SYM32, Value::Symbol(s)) => self.sized(code, None, s.as_bytes(), &[])?,
            (LIST8 | LIST32, Value::List(l)) => self.sized(code, Some(l.count()), &[], l.raw())?,
            (MAP8 | MAP32, Value::Map(m)) => self.sized(code, Some(m.count()), &[], m.raw())?,
            (ARRAY8 | ARRAY32, Value::Array(a)) => {
                self.sized(code, Some(a.count()), a.constructor(), a.raw())?
            }
            _ => return Err(mismatch),
        }
        Ok(())
    }

    /// A size-prefixed body: size, then count for compounds, then `a` and `b`. The
    /// width (1 or 4 bytes) follows the code's high nibble (0xa, 0xc, 0xe: one byte).
    fn sized(&mut self, code: u8, n: Option<u32>, a: &[u8], b: &[u8]) -> Result<(), AmqpError> {
        let count = n;
        let small = matches!(code >> 4, 0xa | 0xc | 0xe);
        let count_width = match (count, small) {
            (None, _) => 0,
            (Some(_), true) => 1,
            (Some(_), false) => 4,
        };
        let size = count_width + a.len() + b.len();
        if small {
            let n = u8::try_from(size).map_err(|_| AmqpError::ValueTooLarge)?;
            self.put(&[n]);
            if let Some(c) = count {
                self.put(&[u8::try_from(c).map_err(|_| AmqpError::ValueTooLarge)?]);
            }
        } else {
            let n = u32::try_from(size).map_err(|_| AmqpError::ValueTooLarge)?;
            self.put(&n.to_be_bytes());
            if let Some(c) = count {
                self.put(&c.to_be_bytes());
            }
        }
        self.put(a);
        self.put(b);
        Ok(())
    }
}
