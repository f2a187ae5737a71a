//! Decoded AMQP values that borrow from the input (spec part 1, "Types").
//!
//! Decoding is lazy for compounds: a [`List`], [`Map`] or [`Array`] keeps its encoded
//! bytes and decodes elements as they are iterated. Reading one value therefore costs
//! O(1) whatever its contents, and recursion only happens along descriptor chains and
//! in [`Value::validate`], both bounded by a depth limit ([`crate::MAX_DEPTH`]).

use crate::codes::{self, descriptor};
use crate::compound::{Array, List, Map};
use crate::{AmqpError, Reader};

/// How deep compounds and descriptors may nest before decoding fails with
/// [`AmqpError::NestingTooDeep`]. Real AMQP traffic nests 3 to 5 levels (performative,
/// source, filter map, described filter value); 32 leaves room and bounds the stack.
pub const MAX_DEPTH: u32 = 32;

/// One decoded AMQP value. Binaries, strings, symbols and compounds borrow the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `null` (0x40).
    Null,
    /// `boolean` (0x41, 0x42, 0x56).
    Bool(bool),
    /// `ubyte` (0x50).
    Ubyte(u8),
    /// `ushort` (0x60).
    Ushort(u16),
    /// `uint` (0x70, 0x52, 0x43).
    Uint(u32),
    /// `ulong` (0x80, 0x53, 0x44).
    Ulong(u64),
    /// `byte` (0x51).
    Byte(i8),
    /// `short` (0x61).
    Short(i16),
    /// `int` (0x71, 0x54).
    Int(i32),
    /// `long` (0x81, 0x55).
    Long(i64),
    /// `float` (0x72), IEEE 754 binary32.
    Float(f32),
    /// `double` (0x82), IEEE 754 binary64.
    Double(f64),
    /// `decimal32` (0x74), IEEE 754 decimal32 bytes as on the wire.
    Decimal32([u8; 4]),
    /// `decimal64` (0x84), raw bytes.
    Decimal64([u8; 8]),
    /// `decimal128` (0x94), raw bytes.
    Decimal128([u8; 16]),
    /// `char` (0x73), one UTF-32 code point.
    Char(char),
    /// `timestamp` (0x83): milliseconds since the Unix epoch.
    Timestamp(i64),
    /// `uuid` (0x98), RFC 4122 bytes.
    Uuid([u8; 16]),
    /// `binary` (0xa0, 0xb0).
    Binary(&'a [u8]),
    /// `string` (0xa1, 0xb1), UTF-8.
    String(&'a str),
    /// `symbol` (0xa3, 0xb3), ASCII.
    Symbol(&'a str),
    /// `list` (0x45, 0xc0, 0xd0).
    List(List<'a>),
    /// `map` (0xc1, 0xd1).
    Map(Map<'a>),
    /// `array` (0xe0, 0xf0).
    Array(Array<'a>),
    /// A described type (0x00): descriptor plus value.
    Described(Described<'a>),
}

/// The descriptor of a described type (spec 1.3 "Composite Type Representation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Descriptor<'a> {
    /// A numeric descriptor: `domain-id << 32 | descriptor-id`.
    Code(u64),
    /// A symbolic descriptor such as `amqp:open:list` or `apache.org:selector-filter:string`.
    Symbol(&'a str),
}

impl Descriptor<'_> {
    /// The numeric code, also for the symbolic names of the standard types.
    pub fn code(&self) -> Option<u64> {
        match *self {
            Descriptor::Code(c) => Some(c),
            Descriptor::Symbol(s) => descriptor::code_of(s),
        }
    }
}

/// A described value, kept in encoded form: `ctor` is the value's constructor (a format
/// code, possibly preceded by further descriptors) and `body` the bytes after it (any
/// length prefix included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Described<'a> {
    descriptor: Descriptor<'a>,
    ctor: &'a [u8],
    body: &'a [u8],
}

impl<'a> Described<'a> {
    /// The descriptor.
    pub fn descriptor(&self) -> Descriptor<'a> {
        self.descriptor
    }

    /// Decodes the described value.
    pub fn value(&self) -> Result<Value<'a>, AmqpError> {
        decode_ctor_body(self.ctor, self.body, MAX_DEPTH)
    }

    /// The value's constructor bytes as received (usually one format code).
    pub fn raw_constructor(&self) -> &'a [u8] {
        self.ctor
    }

    /// The value's bytes after its constructor (length prefix included), as received.
    pub fn raw_body(&self) -> &'a [u8] {
        self.body
    }
}

impl<'a> Value<'a> {
    /// Decodes exactly one value from `bytes`; fails if bytes are left over.
    /// Compound contents are not checked; see [`Value::validate`].
    pub fn decode_exact(bytes: &'a [u8]) -> Result<Value<'a>, AmqpError> {
        let mut r = Reader::new(bytes);
        let v = Value::decode(&mut r)?;
        r.expect_end()?;
        Ok(v)
    }

    /// Decodes the next value from `r`.
    #[inline]
    pub fn decode(r: &mut Reader<'a>) -> Result<Value<'a>, AmqpError> {
        read_value(r, MAX_DEPTH)
    }

    /// Walks every nested element and fails on the first malformed one, recursing at
    /// most `max_depth` levels. Use on untrusted values you will not iterate yourself.
    pub fn validate(&self, max_depth: u32) -> Result<(), AmqpError> {
        if max_depth == 0 {
            return Err(AmqpError::NestingTooDeep);
        }
        let d = max_depth - 1;
        match self {
            Value::List(l) => l.iter().try_for_each(|v| v?.validate(d)),
            Value::Map(m) => m.iter().try_for_each(|kv| {
                let (k, v) = kv?;
                k.validate(d)?;
                v.validate(d)
            }),
            Value::Array(a) => a.iter().try_for_each(|v| v?.validate(d)),
            Value::Described(x) => decode_ctor_body(x.ctor, x.body, d)?.validate(d),
            _ => Ok(()),
        }
    }

    /// The AMQP type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Ubyte(_) => "ubyte",
            Value::Ushort(_) => "ushort",
            Value::Uint(_) => "uint",
            Value::Ulong(_) => "ulong",
            Value::Byte(_) => "byte",
            Value::Short(_) => "short",
            Value::Int(_) => "int",
            Value::Long(_) => "long",
            Value::Float(_) => "float",
            Value::Double(_) => "double",
            Value::Decimal32(_) => "decimal32",
            Value::Decimal64(_) => "decimal64",
            Value::Decimal128(_) => "decimal128",
            Value::Char(_) => "char",
            Value::Timestamp(_) => "timestamp",
            Value::Uuid(_) => "uuid",
            Value::Binary(_) => "binary",
            Value::String(_) => "string",
            Value::Symbol(_) => "symbol",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Array(_) => "array",
            Value::Described(_) => "described",
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string if this is a `string`.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The symbol if this is a `symbol`.
    pub fn as_symbol(&self) -> Option<&'a str> {
        match *self {
            Value::Symbol(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes if this is a `binary`.
    pub fn as_binary(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// Any unsigned integer type widened to `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Ubyte(v) => Some(v.into()),
            Value::Ushort(v) => Some(v.into()),
            Value::Uint(v) => Some(v.into()),
            Value::Ulong(v) => Some(v),
            _ => None,
        }
    }
}

/// Reads one value (constructor and body) with `depth` levels of descriptor nesting left.
pub(crate) fn read_value<'a>(r: &mut Reader<'a>, depth: u32) -> Result<Value<'a>, AmqpError> {
    let code = r.u8()?;
    if code == codes::DESCRIBED {
        return read_described(r, depth).map(Value::Described);
    }
    let body = read_body(code, r)?;
    decode_body(code, body, depth)
}

fn read_descriptor<'a>(r: &mut Reader<'a>, depth: u32) -> Result<Descriptor<'a>, AmqpError> {
    match read_value(r, depth)? {
        Value::Ulong(c) => Ok(Descriptor::Code(c)),
        Value::Symbol(s) => Ok(Descriptor::Symbol(s)),
        other => Err(AmqpError::UnexpectedType {
            expected: "ulong or symbol descriptor",
            found: format_code_of(&other),
        }),
    }
}

fn read_described<'a>(r: &mut Reader<'a>, depth: u32) -> Result<Described<'a>, AmqpError> {
    if depth == 0 {
        return Err(AmqpError::NestingTooDeep);
    }
    let descriptor = read_descriptor(r, depth - 1)?;
    let start = r.position();
    let code = read_ctor(r, depth - 1)?;
    let ctor = &r.buffer()[start..r.position()];
    let at = r.position();
    read_body(code, r)?;
    let body = &r.buffer()[at..r.position()];
    Ok(Described {
        descriptor,
        ctor,
        body,
    })
}

/// Reads a constructor: a format code, or 0x00 + descriptor + constructor. Returns the
/// final format code.
pub(crate) fn read_ctor(r: &mut Reader<'_>, depth: u32) -> Result<u8, AmqpError> {
    let code = r.u8()?;
    if code != codes::DESCRIBED {
        return if codes::is_known(code) {
            Ok(code)
        } else {
            Err(AmqpError::InvalidFormatCode(code))
        };
    }
    if depth == 0 {
        return Err(AmqpError::NestingTooDeep);
    }
    read_descriptor(r, depth - 1)?;
    read_ctor(r, depth - 1)
}

/// The number of bytes a fixed-width code occupies after its constructor, or `None` for
/// variable, compound and array codes.
pub(crate) fn fixed_width(code: u8) -> Option<usize> {
    match code >> 4 {
        0x4 => Some(0),
        0x5 => Some(1),
        0x6 => Some(2),
        0x7 => Some(4),
        0x8 => Some(8),
        0x9 => Some(16),
        _ => None,
    }
}

/// Takes the body of a value with format code `code`: the fixed bytes, or the bytes
/// counted by the length/size prefix (which is consumed and not part of the body).
#[inline]
pub(crate) fn read_body<'a>(code: u8, r: &mut Reader<'a>) -> Result<&'a [u8], AmqpError> {
    if !codes::is_known(code) {
        return Err(AmqpError::InvalidFormatCode(code));
    }
    let n = match code >> 4 {
        0xa | 0xc | 0xe => usize::from(r.u8()?),
        0xb | 0xd | 0xf => r.u32()? as usize,
        _ => fixed_width(code).unwrap_or(0),
    };
    r.take(n)
}

/// Decodes the value whose constructor bytes are `ctor` and whose encoded body (length
/// prefix included) is `encoded`.
pub(crate) fn decode_ctor_body<'a>(
    ctor: &'a [u8],
    encoded: &'a [u8],
    depth: u32,
) -> Result<Value<'a>, AmqpError> {
    let mut r = Reader::new(ctor);
    let code = r.u8()?;
    if code != codes::DESCRIBED {
        r.expect_end()?;
        let mut b = Reader::new(encoded);
        let body = read_body(code, &mut b)?;
        b.expect_end()?;
        return decode_body(code, body, depth);
    }
    if depth == 0 {
        return Err(AmqpError::NestingTooDeep);
    }
    let descriptor = read_descriptor(&mut r, depth - 1)?;
    Ok(Value::Described(Described {
        descriptor,
        ctor: r.rest(),
        body: encoded,
    }))
}

/// Decodes a body taken by [`read_body`] for `code`.
pub(crate) fn decode_body(code: u8, body: &[u8], depth: u32) -> Result<Value<'_>, AmqpError> {
    use codes::*;
    let mut r = Reader::new(body);
    let v = match code {
        NULL => Value::Null,
        TRUE => Value::Bool(true),
        FALSE => Value::Bool(false),
        UINT0 => Value::Uint(0),
        ULONG0 => Value::Ulong(0),
        LIST0 => Value::List(List::EMPTY),
        UBYTE => Value::Ubyte(r.u8()?),
        BYTE => Value::Byte(r.u8()? as i8),
        SMALLUINT => Value::Uint(r.u8()?.into()),
        SMALLULONG => Value::Ulong(r.u8()?.into()),
        SMALLINT => Value::Int((r.u8()? as i8).into()),
        SMALLLONG => Value::Long((r.u8()? as i8).into()),
        BOOLEAN => match r.u8()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(AmqpError::InvalidBoolean(b)),
        },
        USHORT => Value::Ushort(r.u16()?),
        SHORT => Value::Short(r.u16()? as i16),
        UINT => Value::Uint(r.u32()?),
        INT => Value::Int(r.u32()? as i32),
        FLOAT => Value::Float(f32::from_bits(r.u32()?)),
        CHAR => {
            let c = r.u32()?;
            Value::Char(char::from_u32(c).ok_or(AmqpError::InvalidChar(c))?)
        }
        DECIMAL32 => Value::Decimal32(r.array()?),
        ULONG => Value::Ulong(r.u64()?),
        LONG => Value::Long(r.u64()? as i64),
        DOUBLE => Value::Double(f64::from_bits(r.u64()?)),
        TIMESTAMP => Value::Timestamp(r.u64()? as i64),
        DECIMAL64 => Value::Decimal64(r.array()?),
        DECIMAL128 => Value::Decimal128(r.array()?),
        UUID => Value::Uuid(r.array()?),
        VBIN8 | VBIN32 => return Ok(Value::Binary(body)),
        STR8 | STR32 => {
            return core::str::from_utf8(body)
                .map(Value::String)
                .map_err(|_| AmqpError::InvalidUtf8)
        }
        SYM8 | SYM32 => return symbol_str(body).map(Value::Symbol),
        LIST8 | LIST32 | MAP8 | MAP32 => return decode_compound(code, body),
        ARRAY8 | ARRAY32 => return Array::decode(code, body, depth).map(Value::Array),
        other => return Err(AmqpError::InvalidFormatCode(other)),
    };
    r.expect_end()?;
    Ok(v)
}

fn symbol_str(body: &[u8]) -> Result<&str, AmqpError> {
    if !body.is_ascii() {
        return Err(AmqpError::InvalidUtf8);
    }
    core::str::from_utf8(body).map_err(|_| AmqpError::InvalidUtf8)
}

fn decode_compound(code: u8, body: &[u8]) -> Result<Value<'_>, AmqpError> {
    let mut r = Reader::new(body);
    let count = if code >> 4 == 0xc {
        u32::from(r.u8()?)
    } else {
        r.u32()?
    };
    let items = r.rest();
    // Every element takes at least one byte (its constructor).
    if count as usize > items.len() {
        return Err(AmqpError::CountMismatch);
    }
    if code & 1 == 0 {
        Ok(Value::List(List::from_raw(count, items)))
    } else {
        if count % 2 != 0 {
            return Err(AmqpError::CountMismatch);
        }
        Ok(Value::Map(Map::from_raw(count, items)))
    }
}

/// The format code a value would be read from; compounds report their 32-bit form.
pub(crate) fn format_code_of(v: &Value<'_>) -> u8 {
    use codes::*;
    match v {
        Value::Null => NULL,
        Value::Bool(_) => BOOLEAN,
        Value::Ubyte(_) => UBYTE,
        Value::Ushort(_) => USHORT,
        Value::Uint(_) => UINT,
        Value::Ulong(_) => ULONG,
        Value::Byte(_) => BYTE,
        Value::Short(_) => SHORT,
        Value::Int(_) => INT,
        Value::Long(_) => LONG,
        Value::Float(_) => FLOAT,
        Value::Double(_) => DOUBLE,
        Value::Decimal32(_) => DECIMAL32,
        Value::Decimal64(_) => DECIMAL64,
        Value::Decimal128(_) => DECIMAL128,
        Value::Char(_) => CHAR,
        Value::Timestamp(_) => TIMESTAMP,
        Value::Uuid(_) => UUID,
        Value::Binary(_) => VBIN32,
        Value::String(_) => STR32,
        Value::Symbol(_) => SYM32,
        Value::List(_) => LIST32,
        Value::Map(_) => MAP32,
        Value::Array(_) => ARRAY32,
        Value::Described(_) => DESCRIBED,
    }
}
