//! Link termini: `source` (0x28) and `target` (0x29), spec 3.5.3 and 3.5.4.

use crate::codes::descriptor as d;
use crate::compound::Map;
use crate::encoder::{Encoder, Sink};
use crate::fields::{mismatch, Fields, Symbols};
use crate::value::Described;
use crate::{AmqpError, Value};

/// The source of a link: where messages come from. A receiving client names the
/// address it wants in `address` and asks for a format with a `filter` entry.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Source<'a> {
    /// The node address (sent as a string; a symbol is accepted too).
    pub address: Option<&'a str>,
    /// Terminus durability: 0 none (default), 1 configuration, 2 unsettled-state.
    pub durable: u32,
    /// Expiry policy symbol (`link-detach`, `session-end` (default), `connection-close`,
    /// `never`).
    pub expiry_policy: Option<&'a str>,
    /// Seconds the terminus lives after its expiry event (default 0).
    pub timeout: u32,
    /// Ask the peer to create a node.
    pub dynamic: bool,
    /// Properties of the dynamically created node.
    pub dynamic_node_properties: Option<Map<'a>>,
    /// `move` or `copy`.
    pub distribution_mode: Option<&'a str>,
    /// The filter set: symbol keys, usually described values.
    pub filter: Option<Map<'a>>,
    /// The default outcome for unsettled deliveries, kept as received.
    pub default_outcome: Option<Value<'a>>,
    /// Outcomes the source supports.
    pub outcomes: Symbols<'a>,
    /// Extension capabilities.
    pub capabilities: Symbols<'a>,
}

/// The target of a link: where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Target<'a> {
    /// The node address.
    pub address: Option<&'a str>,
    /// Terminus durability: 0 none (default), 1 configuration, 2 unsettled-state.
    pub durable: u32,
    /// Expiry policy symbol.
    pub expiry_policy: Option<&'a str>,
    /// Seconds the terminus lives after its expiry event.
    pub timeout: u32,
    /// Ask the peer to create a node.
    pub dynamic: bool,
    /// Properties of the dynamically created node.
    pub dynamic_node_properties: Option<Map<'a>>,
    /// Extension capabilities.
    pub capabilities: Symbols<'a>,
}

fn address<'a>(f: &mut Fields<'a>) -> Result<Option<&'a str>, AmqpError> {
    match f.any()? {
        Value::Null => Ok(None),
        Value::String(s) | Value::Symbol(s) => Ok(Some(s)),
        other => Err(mismatch("address string", &other)),
    }
}

fn opt_value<'a>(f: &mut Fields<'a>) -> Result<Option<Value<'a>>, AmqpError> {
    let v = f.any()?;
    v.validate(crate::MAX_DEPTH)?;
    Ok(if v.is_null() { None } else { Some(v) })
}

fn write_map<S: Sink + ?Sized>(e: &mut Encoder<'_, S>, m: Option<Map<'_>>) {
    e.opt(m, |e, m| {
        e.value(&Value::Map(m));
    });
}

impl<'a> Source<'a> {
    /// The filter value under the symbol key `key` (e.g. `tickwire:format`), usually a
    /// described value; see [`Described::value`] and [`Described::descriptor`].
    pub fn filter_entry(&self, key: &str) -> Result<Option<Value<'a>>, AmqpError> {
        match self.filter {
            Some(m) => m.get_symbol(key),
            None => Ok(None),
        }
    }

    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::SOURCE, |e| {
            e.opt(self.address, |e, a| {
                e.string(a);
            });
            e.uint(self.durable);
            e.opt(self.expiry_policy, |e, s| {
                e.symbol(s);
            });
            e.uint(self.timeout).bool(self.dynamic);
            write_map(e, self.dynamic_node_properties);
            e.opt(self.distribution_mode, |e, s| {
                e.symbol(s);
            });
            write_map(e, self.filter);
            e.opt(self.default_outcome, |e, v| {
                e.value(&v);
            });
            self.outcomes.encode(e);
            self.capabilities.encode(e);
        });
    }

    /// Reads a source from a described value whose descriptor is 0x28.
    pub fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        let mut f = Fields::new(x, "source")?;
        let s = Source {
            address: address(&mut f)?,
            durable: f.opt_uint()?.unwrap_or(0),
            expiry_policy: f.opt_symbol()?,
            timeout: f.opt_uint()?.unwrap_or(0),
            dynamic: f.bool_or(false)?,
            dynamic_node_properties: f.opt_map()?,
            distribution_mode: f.opt_symbol()?,
            filter: f.opt_map()?,
            default_outcome: opt_value(&mut f)?,
            outcomes: f.symbols()?,
            capabilities: f.symbols()?,
        };
        f.finish()?;
        Ok(s)
    }

    /// Reads an optional source field value.
    pub fn from_field(v: Value<'a>) -> Result<Option<Self>, AmqpError> {
        described_field(v, d::SOURCE, "source")
            .and_then(|x| x.map(|x| Self::from_described(&x)).transpose())
    }
}

impl<'a> Target<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::TARGET, |e| {
            e.opt(self.address, |e, a| {
                e.string(a);
            });
            e.uint(self.durable);
            e.opt(self.expiry_policy, |e, s| {
                e.symbol(s);
            });
            e.uint(self.timeout).bool(self.dynamic);
            write_map(e, self.dynamic_node_properties);
            self.capabilities.encode(e);
        });
    }

    /// Reads a target from a described value whose descriptor is 0x29.
    pub fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        let mut f = Fields::new(x, "target")?;
        let t = Target {
            address: address(&mut f)?,
            durable: f.opt_uint()?.unwrap_or(0),
            expiry_policy: f.opt_symbol()?,
            timeout: f.opt_uint()?.unwrap_or(0),
            dynamic: f.bool_or(false)?,
            dynamic_node_properties: f.opt_map()?,
            capabilities: f.symbols()?,
        };
        f.finish()?;
        Ok(t)
    }

    /// Reads an optional target field value.
    pub fn from_field(v: Value<'a>) -> Result<Option<Self>, AmqpError> {
        described_field(v, d::TARGET, "target")
            .and_then(|x| x.map(|x| Self::from_described(&x)).transpose())
    }
}

/// An optional field holding the described type `code`.
pub(crate) fn described_field<'a>(
    v: Value<'a>,
    code: u64,
    expected: &'static str,
) -> Result<Option<Described<'a>>, AmqpError> {
    match v {
        Value::Null => Ok(None),
        Value::Described(x) => match x.descriptor().code() {
            Some(c) if c == code => Ok(Some(x)),
            Some(c) => Err(AmqpError::UnexpectedDescriptor(c)),
            None => Err(AmqpError::UnknownSymbolicDescriptor),
        },
        other => Err(mismatch(expected, &other)),
    }
}
