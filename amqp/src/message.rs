//! Message sections (spec part 3, 3.2 "Message Format"): a bare message framed by
//! header and annotations, decoded by [`Message::decode`] without copying, and written
//! section by section with [`MessageWriter`].
//!
//! Section order is fixed: header, delivery-annotations, message-annotations,
//! properties, application-properties, body (one or more `data`, one or more
//! `amqp-sequence`, or one `amqp-value`), footer. Each section is optional; a message
//! without a body is accepted and reported as [`Body::Empty`].
//!
//! [`Sections::scan`] is the broker's fast path: durable, `to`, `subject` and the body in
//! one pass, checking structure but not every field.

use crate::codes::{self, descriptor as d};
use crate::compound::{List, Map};
use crate::encoder::{Encoder, Sink};
use crate::fields::{mismatch, peek_descriptor, read_described, Fields};
use crate::value::{Described, MAX_DEPTH};
use crate::{AmqpError, Reader, Value};

pub use crate::sections::{ScanError, Sections};

/// The `header` section (0x70): transport headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Durability requirement (default false).
    pub durable: bool,
    /// Relative priority, default 4.
    pub priority: u8,
    /// Time to live in milliseconds.
    pub ttl: Option<u32>,
    /// The message has not been acquired before (default false).
    pub first_acquirer: bool,
    /// Failed delivery attempts so far (default 0).
    pub delivery_count: u32,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            durable: false,
            priority: 4,
            ttl: None,
            first_acquirer: false,
            delivery_count: 0,
        }
    }
}

/// A message id or correlation id (spec 3.2.4: ulong, uuid, binary or string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageId<'a> {
    /// `message-id-ulong`.
    Ulong(u64),
    /// `message-id-uuid`.
    Uuid([u8; 16]),
    /// `message-id-binary`.
    Binary(&'a [u8]),
    /// `message-id-string`.
    String(&'a str),
}

impl<'a> MessageId<'a> {
    fn from_field(v: Value<'a>) -> Result<Option<Self>, AmqpError> {
        Ok(Some(match v {
            Value::Null => return Ok(None),
            Value::Ulong(x) => MessageId::Ulong(x),
            Value::Uuid(x) => MessageId::Uuid(x),
            Value::Binary(x) => MessageId::Binary(x),
            Value::String(x) => MessageId::String(x),
            other => return Err(mismatch("message-id", &other)),
        }))
    }

    fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        match *self {
            MessageId::Ulong(x) => e.ulong(x),
            MessageId::Uuid(x) => e.value(&Value::Uuid(x)),
            MessageId::Binary(x) => e.binary(x),
            MessageId::String(x) => e.string(x),
        };
    }
}

/// The `properties` section (0x73): immutable properties of the bare message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Properties<'a> {
    /// Application message id.
    pub message_id: Option<MessageId<'a>>,
    /// Identity of the user that produced the message.
    pub user_id: Option<&'a [u8]>,
    /// Destination address.
    pub to: Option<&'a str>,
    /// Subject; tickwire puts the instrument address here.
    pub subject: Option<&'a str>,
    /// Address for replies.
    pub reply_to: Option<&'a str>,
    /// Correlation id.
    pub correlation_id: Option<MessageId<'a>>,
    /// MIME content type (a symbol).
    pub content_type: Option<&'a str>,
    /// MIME content encoding (a symbol).
    pub content_encoding: Option<&'a str>,
    /// Expiry, milliseconds since the Unix epoch.
    pub absolute_expiry_time: Option<i64>,
    /// Creation time, milliseconds since the Unix epoch.
    pub creation_time: Option<i64>,
    /// Group the message belongs to.
    pub group_id: Option<&'a str>,
    /// Position in the group.
    pub group_sequence: Option<u32>,
    /// Group for replies.
    pub reply_to_group_id: Option<&'a str>,
}

fn opt_address<'a>(f: &mut Fields<'a>) -> Result<Option<&'a str>, AmqpError> {
    match f.any()? {
        Value::Null => Ok(None),
        Value::String(s) | Value::Symbol(s) => Ok(Some(s)),
        other => Err(mismatch("address string", &other)),
    }
}

impl<'a> Properties<'a> {
    fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let p = Properties {
            message_id: MessageId::from_field(f.any()?)?,
            user_id: f.opt_binary()?,
            to: opt_address(&mut f)?,
            subject: f.opt_str()?,
            reply_to: opt_address(&mut f)?,
            correlation_id: MessageId::from_field(f.any()?)?,
            content_type: f.opt_symbol()?,
            content_encoding: f.opt_symbol()?,
            absolute_expiry_time: f.opt_timestamp()?,
            creation_time: f.opt_timestamp()?,
            group_id: f.opt_str()?,
            group_sequence: f.opt_uint()?,
            reply_to_group_id: f.opt_str()?,
        };
        f.finish()?;
        Ok(p)
    }

    /// Writes the section.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::PROPERTIES, |e| {
            e.opt(self.message_id, |e, m| m.write(e));
            e.opt(self.user_id, |e, b| {
                e.binary(b);
            });
            let s = |e: &mut Encoder<'_, S>, v: Option<&str>| {
                e.opt(v, |e, s| {
                    e.string(s);
                });
            };
            s(e, self.to);
            s(e, self.subject);
            s(e, self.reply_to);
            e.opt(self.correlation_id, |e, m| m.write(e));
            e.opt(self.content_type, |e, v| {
                e.symbol(v);
            });
            e.opt(self.content_encoding, |e, v| {
                e.symbol(v);
            });
            e.opt(self.absolute_expiry_time, |e, t| {
                e.timestamp(t);
            });
            e.opt(self.creation_time, |e, t| {
                e.timestamp(t);
            });
            s(e, self.group_id);
            e.opt(self.group_sequence, |e, v| {
                e.uint(v);
            });
            s(e, self.reply_to_group_id);
        });
    }
}

impl Header {
    fn from_fields(mut f: Fields<'_>) -> Result<Self, AmqpError> {
        let h = Header {
            durable: f.bool_or(false)?,
            priority: f.opt_ubyte()?.unwrap_or(4),
            ttl: f.opt_uint()?,
            first_acquirer: f.bool_or(false)?,
            delivery_count: f.opt_uint()?.unwrap_or(0),
        };
        f.finish()?;
        Ok(h)
    }

    /// Writes the section.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::HEADER, |e| {
            e.bool(self.durable).ubyte(self.priority);
            e.opt(self.ttl, |e, t| {
                e.uint(t);
            });
            e.bool(self.first_acquirer).uint(self.delivery_count);
        });
    }
}

/// One or more consecutive body sections of the same kind, kept encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodySections<'a> {
    count: u32,
    raw: &'a [u8],
}

impl<'a> BodySections<'a> {
    /// Number of sections.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The encoded sections, descriptors included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    fn values(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        let mut r = Reader::new(self.raw);
        // Checked when the message was decoded: every item is a described value.
        core::iter::from_fn(move || match Value::decode(&mut r) {
            Ok(Value::Described(x)) => x.value().ok(),
            _ => None,
        })
    }

    /// The payloads of `data` sections (empty for `amqp-sequence` sections).
    pub fn data(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.values().filter_map(|v| v.as_binary())
    }

    /// The lists of `amqp-sequence` sections (empty for `data` sections).
    pub fn sequences(&self) -> impl Iterator<Item = List<'a>> + 'a {
        self.values().filter_map(|v| match v {
            Value::List(l) => Some(l),
            _ => None,
        })
    }
}

/// The body of a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Body<'a> {
    /// No body section.
    Empty,
    /// One or more `data` sections (0x75).
    Data(BodySections<'a>),
    /// One or more `amqp-sequence` sections (0x76).
    Sequence(BodySections<'a>),
    /// One `amqp-value` section (0x77).
    Value(Value<'a>),
}

/// A decoded message; every part borrows the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Message<'a> {
    /// `header`.
    pub header: Option<Header>,
    /// `delivery-annotations`.
    pub delivery_annotations: Option<Map<'a>>,
    /// `message-annotations`.
    pub message_annotations: Option<Map<'a>>,
    /// `properties`.
    pub properties: Option<Properties<'a>>,
    /// `application-properties`.
    pub application_properties: Option<Map<'a>>,
    /// The body.
    pub body: Body<'a>,
    /// `footer`.
    pub footer: Option<Map<'a>>,
}

/// Rank of each section in the fixed order (spec 3.2); body sections share one rank.
pub(crate) fn rank(code: u64) -> Option<u8> {
    Some(match code {
        d::HEADER => 0,
        d::DELIVERY_ANNOTATIONS => 1,
        d::MESSAGE_ANNOTATIONS => 2,
        d::PROPERTIES => 3,
        d::APPLICATION_PROPERTIES => 4,
        d::DATA | d::AMQP_SEQUENCE | d::AMQP_VALUE => 5,
        d::FOOTER => 6,
        _ => return None,
    })
}

fn section_map<'a>(x: &Described<'a>) -> Result<Map<'a>, AmqpError> {
    match x.value()? {
        v @ Value::Map(m) => {
            v.validate(MAX_DEPTH)?;
            Ok(m)
        }
        other => Err(mismatch("map", &other)),
    }
}

impl<'a> Message<'a> {
    /// An empty message (no sections).
    pub const EMPTY: Message<'static> = Message {
        header: None,
        delivery_annotations: None,
        message_annotations: None,
        properties: None,
        application_properties: None,
        body: Body::Empty,
        footer: None,
    };

    /// Decodes a whole message (the concatenated transfer payloads).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, AmqpError> {
        let mut m = Message::EMPTY;
        let mut r = Reader::new(bytes);
        let mut last: Option<(u8, u64)> = None;
        let mut body_start = 0;
        while !r.is_empty() {
            let code = peek_descriptor(&r)?;
            let rk = rank(code).ok_or(AmqpError::UnexpectedDescriptor(code))?;
            let repeatable = matches!(code, d::DATA | d::AMQP_SEQUENCE);
            let continues = repeatable && last == Some((rk, code));
            match last {
                Some((lr, _)) if lr > rk || (lr == rk && !continues) => {
                    return Err(AmqpError::UnexpectedDescriptor(code));
                }
                _ => {}
            }
            last = Some((rk, code));
            let start = r.position();
            m.section(code, &mut r)?;
            if !continues {
                body_start = start;
            }
            m.extend_body(code, &bytes[body_start..r.position()]);
        }
        Ok(m)
    }

    fn section(&mut self, code: u64, r: &mut Reader<'a>) -> Result<(), AmqpError> {
        match code {
            d::HEADER => {
                self.header = Some(Header::from_fields(Fields::read(r, code, "header")?)?);
                return Ok(());
            }
            d::PROPERTIES => {
                let f = Fields::read(r, code, "properties")?;
                self.properties = Some(Properties::from_fields(f)?);
                return Ok(());
            }
            // A data section in its usual form: `00 53 75 a0 len bytes`.
            d::DATA => {
                if let [0x00, 0x53, 0x75, codes::VBIN8, n, ..] = *r.rest() {
                    r.take(5 + usize::from(n))?;
                    return Ok(());
                }
            }
            _ => {}
        }
        let x = read_described(r, code)?;
        match code {
            d::DELIVERY_ANNOTATIONS => self.delivery_annotations = Some(section_map(&x)?),
            d::MESSAGE_ANNOTATIONS => self.message_annotations = Some(section_map(&x)?),
            d::APPLICATION_PROPERTIES => self.application_properties = Some(section_map(&x)?),
            d::FOOTER => self.footer = Some(section_map(&x)?),
            d::AMQP_VALUE => {
                let v = x.value()?;
                v.validate(MAX_DEPTH)?;
                self.body = Body::Value(v);
            }
            _ => {
                let v = x.value()?;
                let ok = match code {
                    d::DATA => v.as_binary().is_some(),
                    _ => matches!(v, Value::List(_)),
                };
                if !ok {
                    let expected = if code == d::DATA { "binary" } else { "list" };
                    return Err(mismatch(expected, &v));
                }
                v.validate(MAX_DEPTH)?;
            }
        }
        Ok(())
    }

    /// After a `data` or `amqp-sequence` section: `raw` spans every consecutive
    /// section of this kind so far.
    fn extend_body(&mut self, code: u64, raw: &'a [u8]) {
        if !matches!(code, d::DATA | d::AMQP_SEQUENCE) {
            return;
        }
        let count = match self.body {
            Body::Data(s) | Body::Sequence(s) => s.count + 1,
            _ => 1,
        };
        let s = BodySections { count, raw };
        self.body = if code == d::DATA {
            Body::Data(s)
        } else {
            Body::Sequence(s)
        };
    }

    /// Writes every present section to `e`.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        let mut w = MessageWriter::new(e);
        if let Some(h) = &self.header {
            w.header(h);
        }
        if let Some(m) = self.delivery_annotations {
            w.map_section(d::DELIVERY_ANNOTATIONS, m);
        }
        if let Some(m) = self.message_annotations {
            w.map_section(d::MESSAGE_ANNOTATIONS, m);
        }
        if let Some(p) = &self.properties {
            w.properties(p);
        }
        if let Some(m) = self.application_properties {
            w.map_section(d::APPLICATION_PROPERTIES, m);
        }
        match self.body {
            Body::Empty => {}
            Body::Data(s) | Body::Sequence(s) => w.raw_sections(s.raw),
            Body::Value(v) => {
                w.amqp_value(|e| {
                    e.value(&v);
                });
            }
        }
        if let Some(m) = self.footer {
            w.map_section(d::FOOTER, m);
        }
    }

    /// Appends the encoded message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write(&mut Encoder::new(out));
    }
}

/// Writes message sections in order to an [`Encoder`].
#[derive(Debug)]
pub struct MessageWriter<'e, 's, S: Sink + ?Sized> {
    e: &'e mut Encoder<'s, S>,
}

impl<'e, 's, S: Sink + ?Sized> MessageWriter<'e, 's, S> {
    /// A writer appending to `e`.
    pub fn new(e: &'e mut Encoder<'s, S>) -> Self {
        MessageWriter { e }
    }

    /// The `header` section.
    pub fn header(&mut self, h: &Header) -> &mut Self {
        h.write(self.e);
        self
    }

    /// A map section (`delivery-annotations`, `message-annotations`,
    /// `application-properties`, `footer`) copied from a decoded map.
    pub fn map_section(&mut self, code: u64, m: Map<'_>) -> &mut Self {
        self.e.described(code, |e| {
            e.value(&Value::Map(m));
        });
        self
    }

    /// A map section whose entries `f` writes (key, value, key, value, ...).
    pub fn map_section_with(
        &mut self,
        code: u64,
        f: impl FnOnce(&mut Encoder<'s, S>),
    ) -> &mut Self {
        self.e.described(code, |e| {
            e.map(f);
        });
        self
    }

    /// The `properties` section.
    pub fn properties(&mut self, p: &Properties<'_>) -> &mut Self {
        p.write(self.e);
        self
    }

    /// One `data` section.
    pub fn data(&mut self, bytes: &[u8]) -> &mut Self {
        self.e.described(d::DATA, |e| {
            e.binary(bytes);
        });
        self
    }

    /// One `amqp-sequence` section holding the values `f` writes.
    pub fn amqp_sequence(&mut self, f: impl FnOnce(&mut Encoder<'s, S>)) -> &mut Self {
        self.e.described(d::AMQP_SEQUENCE, |e| {
            e.list(f);
        });
        self
    }

    /// The `amqp-value` section holding the one value `f` writes.
    pub fn amqp_value(&mut self, f: impl FnOnce(&mut Encoder<'s, S>)) -> &mut Self {
        self.e.described(d::AMQP_VALUE, f);
        self
    }

    fn raw_sections(&mut self, raw: &[u8]) {
        self.e.sink().put(raw);
    }
}
