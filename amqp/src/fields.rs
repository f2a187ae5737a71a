//! Reading the fields of a composite type (spec 1.4): a described list whose missing
//! trailing fields are null. Also [`Symbols`], the "multiple symbol" field type.

use crate::codes;
use crate::compound::{Array, ArrayIter, Map};
use crate::encoder::{Encoder, Sink};
use crate::value::{format_code_of, read_value, Described, MAX_DEPTH};
use crate::{AmqpError, Reader, Value};

/// Cursor over the fields of one composite value. Common encodings of `uint`,
/// `boolean`, `ubyte`, `binary`, `string` and `symbol` fields are read straight from
/// the bytes; anything else goes through the general [`Value`] decoder.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    r: Reader<'a>,
    left: u32,
    name: &'static str,
}

/// Reads a described value from `r` and checks its descriptor is `code`.
pub(crate) fn read_described<'a>(
    r: &mut Reader<'a>,
    code: u64,
) -> Result<Described<'a>, AmqpError> {
    match Value::decode(r)? {
        Value::Described(d) => match d.descriptor().code() {
            Some(c) if c == code => Ok(d),
            Some(c) => Err(AmqpError::UnexpectedDescriptor(c)),
            None => Err(AmqpError::UnknownSymbolicDescriptor),
        },
        other => Err(mismatch("described type", &other)),
    }
}

pub(crate) fn mismatch(expected: &'static str, found: &Value<'_>) -> AmqpError {
    AmqpError::UnexpectedType {
        expected,
        found: format_code_of(found),
    }
}

/// The descriptor code of the described value at the reader, without consuming it:
/// read directly for the usual `0x00 0x53 code` form, else by decoding.
pub(crate) fn peek_descriptor(r: &Reader<'_>) -> Result<u64, AmqpError> {
    if let [codes::DESCRIBED, codes::SMALLULONG, c, ..] = *r.rest() {
        return Ok(u64::from(c));
    }
    match Value::decode(&mut r.clone())? {
        Value::Described(d) => d
            .descriptor()
            .code()
            .ok_or(AmqpError::UnknownSymbolicDescriptor),
        other => Err(mismatch("described type", &other)),
    }
}

impl<'a> Fields<'a> {
    /// The fields of the described list `d` (its descriptor already checked).
    pub(crate) fn new(d: &Described<'a>, name: &'static str) -> Result<Self, AmqpError> {
        match d.value()? {
            Value::List(l) => Ok(Fields {
                r: Reader::new(l.raw()),
                left: l.count(),
                name,
            }),
            other => Err(mismatch("list", &other)),
        }
    }

    /// Reads the described composite `code` from `r` and opens its fields.
    #[inline]
    pub(crate) fn read(
        r: &mut Reader<'a>,
        code: u64,
        name: &'static str,
    ) -> Result<Self, AmqpError> {
        if let [codes::DESCRIBED, codes::SMALLULONG, c, ..] = *r.rest() {
            if u64::from(c) != code {
                return Err(AmqpError::UnexpectedDescriptor(c.into()));
            }
            r.take(3)?;
            return Fields::list(r, name);
        }
        Fields::new(&read_described(r, code)?, name)
    }

    fn list(r: &mut Reader<'a>, name: &'static str) -> Result<Self, AmqpError> {
        let (left, body) = match r.u8()? {
            codes::LIST0 => (0, &[][..]),
            codes::LIST8 => {
                let size = usize::from(r.u8()?);
                let mut b = r.sub(size)?;
                (u32::from(b.u8()?), b.rest())
            }
            codes::LIST32 => {
                let size = r.u32()? as usize;
                let mut b = r.sub(size)?;
                (b.u32()?, b.rest())
            }
            c if c != codes::DESCRIBED && !codes::is_known(c) => {
                return Err(AmqpError::InvalidFormatCode(c))
            }
            c => {
                return Err(AmqpError::UnexpectedType {
                    expected: "list",
                    found: c,
                })
            }
        };
        if left as usize > body.len() {
            return Err(AmqpError::CountMismatch);
        }
        Ok(Fields {
            r: Reader::new(body),
            left,
            name,
        })
    }

    /// The next field; `null` once the list is exhausted.
    #[inline]
    pub(crate) fn any(&mut self) -> Result<Value<'a>, AmqpError> {
        match self.peek() {
            None if self.left == 0 => Ok(Value::Null),
            Some(codes::NULL) => {
                self.skip(1);
                Ok(Value::Null)
            }
            _ => {
                self.left -= 1;
                read_value(&mut self.r, MAX_DEPTH)
            }
        }
    }

    /// Checks the fields the spec does not define (a newer peer's) are well formed and
    /// that nothing follows the last one.
    pub(crate) fn finish(mut self) -> Result<(), AmqpError> {
        while self.left > 0 {
            self.left -= 1;
            read_value(&mut self.r, MAX_DEPTH)?.validate(MAX_DEPTH)?;
        }
        self.r.expect_end()
    }

    /// The format code of the next field, if there is one and it is present.
    #[inline]
    fn peek(&self) -> Option<u8> {
        if self.left == 0 {
            None
        } else {
            self.r.peek()
        }
    }

    /// Consumes a field of `n` bytes (constructor included) already known to be there.
    #[inline]
    fn skip(&mut self, n: usize) -> &'a [u8] {
        self.left -= 1;
        self.r.take(n).unwrap_or_default()
    }

    /// The next field's bytes if at least `n` remain (else the slow path reports it).
    #[inline]
    fn fixed(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.r.remaining() >= n).then(|| self.skip(n))
    }

    /// A `vbin8`/`str8`/`sym8` body read directly.
    #[inline]
    fn var8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(*self.r.rest().get(1)?);
        self.fixed(2 + n).map(|b| &b[2..])
    }
    pub(crate) fn missing(&self, field: &'static str) -> AmqpError {
        AmqpError::MissingField {
            composite: self.name,
            field,
        }
    }

    pub(crate) fn invalid(&self, field: &'static str) -> AmqpError {
        AmqpError::InvalidFieldValue {
            composite: self.name,
            field,
        }
    }

    pub(crate) fn opt_uint(&mut self) -> Result<Option<u32>, AmqpError> {
        let fast = match self.peek() {
            None if self.left == 0 => return Ok(None),
            Some(codes::NULL) => return Ok(self.fixed(1).and(None)),
            Some(codes::UINT0) => self.fixed(1).map(|_| 0),
            Some(codes::SMALLUINT) => self.fixed(2).map(|b| u32::from(b[1])),
            Some(codes::UINT) => self
                .fixed(5)
                .map(|b| u32::from_be_bytes([b[1], b[2], b[3], b[4]])),
            _ => None,
        };
        if fast.is_some() {
            return Ok(fast);
        }
        match self.any()? {
            Value::Null => Ok(None),
            Value::Uint(v) => Ok(Some(v)),
            other => Err(mismatch("uint", &other)),
        }
    }

    pub(crate) fn uint(&mut self, field: &'static str) -> Result<u32, AmqpError> {
        self.opt_uint()?.ok_or_else(|| self.missing(field))
    }

    pub(crate) fn opt_ushort(&mut self) -> Result<Option<u16>, AmqpError> {
        match self.any()? {
            Value::Null => Ok(None),
            Value::Ushort(v) => Ok(Some(v)),
            other => Err(mismatch("ushort", &other)),
        }
    }

    pub(crate) fn opt_ubyte(&mut self) -> Result<Option<u8>, AmqpError> {
        match self.any()? {
            Value::Null => Ok(None),
            Value::Ubyte(v) => Ok(Some(v)),
            other => Err(mismatch("ubyte", &other)),
        }
    }

    pub(crate) fn opt_ulong(&mut self) -> Result<Option<u64>, AmqpError> {
        match self.any()? {
            Value::Null => Ok(None),
            Value::Ulong(v) => Ok(Some(v)),
            other => Err(mismatch("ulong", &other)),
        }
    }

    pub(crate) fn opt_bool(&mut self) -> Result<Option<bool>, AmqpError> {
        match self.peek() {
            None if self.left == 0 => return Ok(None),
            Some(codes::NULL) => return Ok(self.fixed(1).and(None)),
            Some(codes::TRUE) => return Ok(self.fixed(1).map(|_| true)),
            Some(codes::FALSE) => return Ok(self.fixed(1).map(|_| false)),
            _ => {}
        }
        match self.any()? {
            Value::Null => Ok(None),
            Value::Bool(v) => Ok(Some(v)),
            other => Err(mismatch("boolean", &other)),
        }
    }

    pub(crate) fn bool_or(&mut self, default: bool) -> Result<bool, AmqpError> {
        Ok(self.opt_bool()?.unwrap_or(default))
    }

    pub(crate) fn opt_timestamp(&mut self) -> Result<Option<i64>, AmqpError> {
        match self.any()? {
            Value::Null => Ok(None),
            Value::Timestamp(v) => Ok(Some(v)),
            other => Err(mismatch("timestamp", &other)),
        }
    }

    pub(crate) fn opt_str(&mut self) -> Result<Option<&'a str>, AmqpError> {
        if self.peek() == Some(codes::NULL) {
            return Ok(self.fixed(1).and(None));
        }
        match self.any()? {
            Value::Null => Ok(None),
            Value::String(v) => Ok(Some(v)),
            other => Err(mismatch("string", &other)),
        }
    }

    pub(crate) fn str(&mut self, field: &'static str) -> Result<&'a str, AmqpError> {
        self.opt_str()?.ok_or_else(|| self.missing(field))
    }

    pub(crate) fn opt_symbol(&mut self) -> Result<Option<&'a str>, AmqpError> {
        if self.peek() == Some(codes::SYM8) {
            if let Some(b) = self.var8().filter(|b| b.is_ascii()) {
                // ASCII is valid UTF-8.
                return Ok(core::str::from_utf8(b).ok());
            }
        }
        match self.any()? {
            Value::Null => Ok(None),
            Value::Symbol(v) => Ok(Some(v)),
            other => Err(mismatch("symbol", &other)),
        }
    }

    pub(crate) fn symbol(&mut self, field: &'static str) -> Result<&'a str, AmqpError> {
        self.opt_symbol()?.ok_or_else(|| self.missing(field))
    }

    pub(crate) fn opt_binary(&mut self) -> Result<Option<&'a [u8]>, AmqpError> {
        match self.peek() {
            None if self.left == 0 => return Ok(None),
            Some(codes::NULL) => return Ok(self.fixed(1).and(None)),
            Some(codes::VBIN8) => {
                if let Some(b) = self.var8() {
                    return Ok(Some(b));
                }
            }
            _ => {}
        }
        match self.any()? {
            Value::Null => Ok(None),
            Value::Binary(v) => Ok(Some(v)),
            other => Err(mismatch("binary", &other)),
        }
    }

    pub(crate) fn binary(&mut self, field: &'static str) -> Result<&'a [u8], AmqpError> {
        self.opt_binary()?.ok_or_else(|| self.missing(field))
    }

    /// An optional map, validated to [`MAX_DEPTH`] so later iteration cannot fail.
    pub(crate) fn opt_map(&mut self) -> Result<Option<Map<'a>>, AmqpError> {
        match self.any()? {
            Value::Null => Ok(None),
            v @ Value::Map(m) => {
                v.validate(MAX_DEPTH)?;
                Ok(Some(m))
            }
            other => Err(mismatch("map", &other)),
        }
    }

    /// A "multiple" symbol field: null, one symbol, or an array of symbols.
    pub(crate) fn symbols(&mut self) -> Result<Symbols<'a>, AmqpError> {
        Symbols::from_value(self.any()?)
    }
}

/// A field of type `symbol` with `multiple="true"` (spec 1.4): absent, one symbol, or
/// an array of symbols. Decoded arrays are checked to hold only symbols. Equality
/// compares the symbols, not the representation.
#[derive(Debug, Clone, Copy, Default)]
pub enum Symbols<'a> {
    /// No value (null).
    #[default]
    None,
    /// A single symbol.
    One(&'a str),
    /// A received array of symbols.
    Array(Array<'a>),
    /// Symbols to send.
    Slice(&'a [&'a str]),
}

impl<'a> Symbols<'a> {
    /// Interprets a decoded field value.
    pub fn from_value(v: Value<'a>) -> Result<Self, AmqpError> {
        match v {
            Value::Null => Ok(Symbols::None),
            Value::Symbol(s) => Ok(Symbols::One(s)),
            Value::Array(a) => {
                if !matches!(a.element_code(), codes::SYM8 | codes::SYM32) {
                    return Err(AmqpError::UnexpectedType {
                        expected: "array of symbol",
                        found: a.element_code(),
                    });
                }
                for s in a.iter() {
                    s?;
                }
                Ok(Symbols::Array(a))
            }
            other => Err(mismatch("symbol or array of symbol", &other)),
        }
    }

    /// The symbols.
    pub fn iter(&self) -> SymbolsIter<'a> {
        match *self {
            Symbols::None => SymbolsIter::Slice([].iter()),
            Symbols::One(s) => SymbolsIter::One(Some(s)),
            Symbols::Array(a) => SymbolsIter::Array(a.iter()),
            Symbols::Slice(s) => SymbolsIter::Slice(s.iter()),
        }
    }

    /// True if `sym` is among the symbols.
    pub fn contains(&self, sym: &str) -> bool {
        self.iter().any(|s| s == sym)
    }

    /// True if there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Writes the field: null, a symbol, or an array of symbols.
    pub fn encode<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        match *self {
            Symbols::None => {
                e.null();
            }
            Symbols::One(s) => {
                e.symbol(s);
            }
            Symbols::Array(a) => {
                e.value(&Value::Array(a));
            }
            Symbols::Slice(s) => {
                e.symbol_array(s);
            }
        }
    }
}

impl PartialEq for Symbols<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Symbols<'_> {}

/// Iterator over [`Symbols`].
#[derive(Debug, Clone)]
pub enum SymbolsIter<'a> {
    /// One symbol.
    #[doc(hidden)]
    One(Option<&'a str>),
    /// A received array.
    #[doc(hidden)]
    Array(ArrayIter<'a>),
    /// A slice.
    #[doc(hidden)]
    Slice(core::slice::Iter<'a, &'a str>),
}

impl<'a> Iterator for SymbolsIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            SymbolsIter::One(s) => s.take(),
            SymbolsIter::Array(it) => it.next().and_then(|v| v.ok()?.as_symbol()),
            SymbolsIter::Slice(it) => it.next().copied(),
        }
    }
}
