//! The nine AMQP performatives (spec 2.7) and the [`Performative`] enum over them.
//!
//! Each struct borrows strings, binaries and maps from the frame it was decoded from.
//! `write` appends the described list to an [`Encoder`]; `encode` appends to a `Vec`;
//! `decode` reads one from a [`Reader`]. Defaults from the spec are applied on decode
//! (e.g. `max_frame_size` = `u32::MAX` when absent).

use crate::codes::descriptor as d;
use crate::compound::Map;
use crate::definitions::{
    DeliveryState, ErrorCondition, ReceiverSettleMode, Role, SenderSettleMode,
};
use crate::encoder::{Encoder, Sink};
use crate::fields::{Fields, Symbols};
use crate::terminus::{Source, Target};
use crate::value::Described;
use crate::{AmqpError, Reader, Value};

/// `open` (0x10): connection parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Open<'a> {
    /// The sender's container id (mandatory).
    pub container_id: &'a str,
    /// The host the peer wants to reach (virtual hosting).
    pub hostname: Option<&'a str>,
    /// Largest frame, in bytes, the sender accepts (default `u32::MAX`, at least 512).
    pub max_frame_size: u32,
    /// Highest channel number the sender may use (default 65535).
    pub channel_max: u16,
    /// Idle timeout in milliseconds, if the sender wants heartbeats.
    pub idle_time_out: Option<u32>,
    /// Locales the sender may send in.
    pub outgoing_locales: Symbols<'a>,
    /// Locales the sender wants to receive.
    pub incoming_locales: Symbols<'a>,
    /// Extensions the sender supports.
    pub offered_capabilities: Symbols<'a>,
    /// Extensions the sender may use if the peer offers them.
    pub desired_capabilities: Symbols<'a>,
    /// Connection properties.
    pub properties: Option<Map<'a>>,
}

impl<'a> Open<'a> {
    /// An `open` with defaults for everything but the container id.
    pub fn new(container_id: &'a str) -> Self {
        Open {
            container_id,
            hostname: None,
            max_frame_size: u32::MAX,
            channel_max: u16::MAX,
            idle_time_out: None,
            outgoing_locales: Symbols::None,
            incoming_locales: Symbols::None,
            offered_capabilities: Symbols::None,
            desired_capabilities: Symbols::None,
            properties: None,
        }
    }

    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::OPEN, |e| {
            e.string(self.container_id);
            e.opt(self.hostname, |e, h| {
                e.string(h);
            });
            e.uint(self.max_frame_size).ushort(self.channel_max);
            e.opt(self.idle_time_out, |e, t| {
                e.uint(t);
            });
            self.outgoing_locales.encode(e);
            self.incoming_locales.encode(e);
            self.offered_capabilities.encode(e);
            self.desired_capabilities.encode(e);
            write_map(e, self.properties);
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "open")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let o = Open {
            container_id: f.str("container-id")?,
            hostname: f.opt_str()?,
            max_frame_size: f.opt_uint()?.unwrap_or(u32::MAX),
            channel_max: f.opt_ushort()?.unwrap_or(u16::MAX),
            idle_time_out: f.opt_uint()?,
            outgoing_locales: f.symbols()?,
            incoming_locales: f.symbols()?,
            offered_capabilities: f.symbols()?,
            desired_capabilities: f.symbols()?,
            properties: f.opt_map()?,
        };
        f.finish()?;
        Ok(o)
    }
}

/// `begin` (0x11): starts a session on a channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Begin<'a> {
    /// The peer's channel when answering its `begin`.
    pub remote_channel: Option<u16>,
    /// Transfer id of the sender's next outgoing transfer.
    pub next_outgoing_id: u32,
    /// Transfers the sender can receive (session window).
    pub incoming_window: u32,
    /// Transfers the sender may send.
    pub outgoing_window: u32,
    /// Highest link handle the sender may use (default `u32::MAX`).
    pub handle_max: u32,
    /// Extensions the sender supports.
    pub offered_capabilities: Symbols<'a>,
    /// Extensions the sender may use.
    pub desired_capabilities: Symbols<'a>,
    /// Session properties.
    pub properties: Option<Map<'a>>,
}

impl<'a> Begin<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::BEGIN, |e| {
            e.opt(self.remote_channel, |e, c| {
                e.ushort(c);
            });
            e.uint(self.next_outgoing_id)
                .uint(self.incoming_window)
                .uint(self.outgoing_window);
            e.uint(self.handle_max);
            self.offered_capabilities.encode(e);
            self.desired_capabilities.encode(e);
            write_map(e, self.properties);
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "begin")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let b = Begin {
            remote_channel: f.opt_ushort()?,
            next_outgoing_id: f.uint("next-outgoing-id")?,
            incoming_window: f.uint("incoming-window")?,
            outgoing_window: f.uint("outgoing-window")?,
            handle_max: f.opt_uint()?.unwrap_or(u32::MAX),
            offered_capabilities: f.symbols()?,
            desired_capabilities: f.symbols()?,
            properties: f.opt_map()?,
        };
        f.finish()?;
        Ok(b)
    }
}

/// `attach` (0x12): attaches a link end to a session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attach<'a> {
    /// Link name (unique per direction and container pair).
    pub name: &'a str,
    /// The sender's handle for this link.
    pub handle: u32,
    /// The sender's role on the link.
    pub role: Role,
    /// Sender settle mode (default mixed).
    pub snd_settle_mode: SenderSettleMode,
    /// Receiver settle mode (default first).
    pub rcv_settle_mode: ReceiverSettleMode,
    /// The source terminus.
    pub source: Option<Source<'a>>,
    /// The target terminus.
    pub target: Option<Target<'a>>,
    /// Unsettled delivery state (for link recovery), kept as received.
    pub unsettled: Option<Map<'a>>,
    /// `unsettled` is incomplete.
    pub incomplete_unsettled: bool,
    /// Delivery count of the sender (mandatory when the sender attaches).
    pub initial_delivery_count: Option<u32>,
    /// Largest message the sender accepts, in bytes (none = no limit).
    pub max_message_size: Option<u64>,
    /// Extensions the sender supports.
    pub offered_capabilities: Symbols<'a>,
    /// Extensions the sender may use.
    pub desired_capabilities: Symbols<'a>,
    /// Link properties.
    pub properties: Option<Map<'a>>,
}

impl<'a> Attach<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::ATTACH, |e| {
            e.string(self.name)
                .uint(self.handle)
                .bool(self.role.as_bool());
            e.ubyte(self.snd_settle_mode as u8)
                .ubyte(self.rcv_settle_mode as u8);
            e.opt(self.source.as_ref(), |e, s| s.write(e));
            e.opt(self.target.as_ref(), |e, t| t.write(e));
            write_map(e, self.unsettled);
            e.bool(self.incomplete_unsettled);
            e.opt(self.initial_delivery_count, |e, c| {
                e.uint(c);
            });
            e.opt(self.max_message_size, |e, m| {
                e.ulong(m);
            });
            self.offered_capabilities.encode(e);
            self.desired_capabilities.encode(e);
            write_map(e, self.properties);
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "attach")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let name = f.str("name")?;
        let handle = f.uint("handle")?;
        let role = Role::from_bool(f.opt_bool()?.ok_or_else(|| f.missing("role"))?);
        let snd = match f.opt_ubyte()? {
            None => SenderSettleMode::default(),
            Some(b) => SenderSettleMode::from_u8(b).ok_or_else(|| f.invalid("snd-settle-mode"))?,
        };
        let rcv = match f.opt_ubyte()? {
            None => ReceiverSettleMode::default(),
            Some(b) => {
                ReceiverSettleMode::from_u8(b).ok_or_else(|| f.invalid("rcv-settle-mode"))?
            }
        };
        let a = Attach {
            name,
            handle,
            role,
            snd_settle_mode: snd,
            rcv_settle_mode: rcv,
            source: Source::from_field(f.any()?)?,
            target: Target::from_field(f.any()?)?,
            unsettled: f.opt_map()?,
            incomplete_unsettled: f.bool_or(false)?,
            initial_delivery_count: f.opt_uint()?,
            max_message_size: f.opt_ulong()?,
            offered_capabilities: f.symbols()?,
            desired_capabilities: f.symbols()?,
            properties: f.opt_map()?,
        };
        f.finish()?;
        Ok(a)
    }
}

/// `flow` (0x13): session window and, with a handle, link credit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Flow<'a> {
    /// Expected next incoming transfer id (absent until the peer's `begin` is seen).
    pub next_incoming_id: Option<u32>,
    /// Session incoming window.
    pub incoming_window: u32,
    /// The sender's next outgoing transfer id.
    pub next_outgoing_id: u32,
    /// Session outgoing window.
    pub outgoing_window: u32,
    /// The link this flow is about, if any.
    pub handle: Option<u32>,
    /// Link delivery count.
    pub delivery_count: Option<u32>,
    /// Link credit.
    pub link_credit: Option<u32>,
    /// Messages the sender has available.
    pub available: Option<u32>,
    /// Drain mode: use up or discard all credit.
    pub drain: bool,
    /// Ask the peer to answer with its own flow.
    pub echo: bool,
    /// Link state properties.
    pub properties: Option<Map<'a>>,
}

impl<'a> Flow<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::FLOW, |e| {
            opt_uint(e, self.next_incoming_id);
            e.uint(self.incoming_window)
                .uint(self.next_outgoing_id)
                .uint(self.outgoing_window);
            opt_uint(e, self.handle);
            opt_uint(e, self.delivery_count);
            opt_uint(e, self.link_credit);
            opt_uint(e, self.available);
            e.bool(self.drain).bool(self.echo);
            write_map(e, self.properties);
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "flow")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let flow = Flow {
            next_incoming_id: f.opt_uint()?,
            incoming_window: f.uint("incoming-window")?,
            next_outgoing_id: f.uint("next-outgoing-id")?,
            outgoing_window: f.uint("outgoing-window")?,
            handle: f.opt_uint()?,
            delivery_count: f.opt_uint()?,
            link_credit: f.opt_uint()?,
            available: f.opt_uint()?,
            drain: f.bool_or(false)?,
            echo: f.bool_or(false)?,
            properties: f.opt_map()?,
        };
        f.finish()?;
        Ok(flow)
    }
}

/// `transfer` (0x14): one frame of a delivery; the message bytes follow the
/// performative in the frame body.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Transfer<'a> {
    /// The link handle.
    pub handle: u32,
    /// Delivery id (mandatory on the first frame of a delivery).
    pub delivery_id: Option<u32>,
    /// Delivery tag, at most 32 bytes (mandatory on the first frame).
    pub delivery_tag: Option<&'a [u8]>,
    /// Message format (0 = AMQP 1.0 sections).
    pub message_format: Option<u32>,
    /// Pre-settled by the sender.
    pub settled: Option<bool>,
    /// More frames of this delivery follow.
    pub more: bool,
    /// Overrides the link's receiver settle mode for this delivery.
    pub rcv_settle_mode: Option<ReceiverSettleMode>,
    /// The sender's delivery state (resumption).
    pub state: Option<DeliveryState<'a>>,
    /// This transfer resumes an earlier delivery.
    pub resume: bool,
    /// The delivery is aborted.
    pub aborted: bool,
    /// The sender does not need the receiver to act at once.
    pub batchable: bool,
}

impl<'a> Transfer<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::TRANSFER, |e| {
            e.uint(self.handle);
            opt_uint(e, self.delivery_id);
            e.opt(self.delivery_tag, |e, t| {
                e.binary(t);
            });
            opt_uint(e, self.message_format);
            e.opt(self.settled, |e, s| {
                e.bool(s);
            });
            e.bool(self.more);
            e.opt(self.rcv_settle_mode, |e, m| {
                e.ubyte(m as u8);
            });
            e.opt(self.state.as_ref(), |e, s| s.write(e));
            e.bool(self.resume).bool(self.aborted).bool(self.batchable);
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "transfer")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let t = Transfer {
            handle: f.uint("handle")?,
            delivery_id: f.opt_uint()?,
            delivery_tag: f.opt_binary()?,
            message_format: f.opt_uint()?,
            settled: f.opt_bool()?,
            more: f.bool_or(false)?,
            rcv_settle_mode: match f.opt_ubyte()? {
                None => None,
                Some(b) => Some(
                    ReceiverSettleMode::from_u8(b).ok_or_else(|| f.invalid("rcv-settle-mode"))?,
                ),
            },
            state: DeliveryState::from_field(f.any()?)?,
            resume: f.bool_or(false)?,
            aborted: f.bool_or(false)?,
            batchable: f.bool_or(false)?,
        };
        if t.delivery_tag.is_some_and(|tag| tag.len() > 32) {
            return Err(f.invalid("delivery-tag"));
        }
        f.finish()?;
        Ok(t)
    }
}

/// `disposition` (0x15): settles or updates the state of a range of deliveries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Disposition<'a> {
    /// The role of the sender of this disposition.
    pub role: Role,
    /// First delivery id of the range.
    pub first: u32,
    /// Last delivery id of the range (default `first`).
    pub last: Option<u32>,
    /// The deliveries are settled.
    pub settled: bool,
    /// Their new state.
    pub state: Option<DeliveryState<'a>>,
    /// No urgency.
    pub batchable: bool,
}

impl<'a> Disposition<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::DISPOSITION, |e| {
            e.bool(self.role.as_bool()).uint(self.first);
            opt_uint(e, self.last);
            e.bool(self.settled);
            e.opt(self.state.as_ref(), |e, s| s.write(e));
            e.bool(self.batchable);
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "disposition")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let role = Role::from_bool(f.opt_bool()?.ok_or_else(|| f.missing("role"))?);
        let disp = Disposition {
            role,
            first: f.uint("first")?,
            last: f.opt_uint()?,
            settled: f.bool_or(false)?,
            state: DeliveryState::from_field(f.any()?)?,
            batchable: f.bool_or(false)?,
        };
        f.finish()?;
        Ok(disp)
    }
}

/// `detach` (0x16): detaches a link end, possibly closing the link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detach<'a> {
    /// The link handle.
    pub handle: u32,
    /// The link is closed, not just detached.
    pub closed: bool,
    /// Why, if in error.
    pub error: Option<ErrorCondition<'a>>,
}

impl<'a> Detach<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::DETACH, |e| {
            e.uint(self.handle).bool(self.closed);
            e.opt(self.error.as_ref(), |e, x| x.write(e));
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "detach")?)
    }

    pub(crate) fn from_fields(mut f: Fields<'a>) -> Result<Self, AmqpError> {
        let det = Detach {
            handle: f.uint("handle")?,
            closed: f.bool_or(false)?,
            error: ErrorCondition::from_field(f.any()?)?,
        };
        f.finish()?;
        Ok(det)
    }
}

/// `end` (0x17): ends a session.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct End<'a> {
    /// Why, if in error.
    pub error: Option<ErrorCondition<'a>>,
}

/// `close` (0x18): closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Close<'a> {
    /// Why, if in error.
    pub error: Option<ErrorCondition<'a>>,
}

fn error_only<'a>(mut f: Fields<'a>) -> Result<Option<ErrorCondition<'a>>, AmqpError> {
    let error = ErrorCondition::from_field(f.any()?)?;
    f.finish()?;
    Ok(error)
}

impl<'a> End<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::END, |e| {
            e.opt(self.error.as_ref(), |e, x| x.write(e));
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "end")?)
    }

    pub(crate) fn from_fields(f: Fields<'a>) -> Result<Self, AmqpError> {
        Ok(End {
            error: error_only(f)?,
        })
    }
}

impl<'a> Close<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::CLOSE, |e| {
            e.opt(self.error.as_ref(), |e, x| x.write(e));
        });
    }

    pub(crate) fn from_described(x: &Described<'a>) -> Result<Self, AmqpError> {
        Self::from_fields(Fields::new(x, "close")?)
    }

    pub(crate) fn from_fields(f: Fields<'a>) -> Result<Self, AmqpError> {
        Ok(Close {
            error: error_only(f)?,
        })
    }
}

fn opt_uint<S: Sink + ?Sized>(e: &mut Encoder<'_, S>, v: Option<u32>) {
    e.opt(v, |e, v| {
        e.uint(v);
    });
}

pub(crate) fn write_map<S: Sink + ?Sized>(e: &mut Encoder<'_, S>, m: Option<Map<'_>>) {
    e.opt(m, |e, m| {
        e.value(&Value::Map(m));
    });
}

/// Adds `encode` (append to a `Vec`) and `decode` (read from a [`Reader`]) to each type.
macro_rules! codec_impls {
    ($($ty:ident = $code:expr, $name:literal);* $(;)?) => {$(
        impl<'a> $ty<'a> {
            /// Appends the encoded performative to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                self.write(&mut Encoder::new(out));
            }

            /// Reads one from `r`; fails unless the next value is this performative.
            #[inline]
            pub fn decode(r: &mut Reader<'a>) -> Result<Self, AmqpError> {
                Self::from_fields(Fields::read(r, $code, $name)?)
            }
        }
    )*};
}

codec_impls!(
    Open = d::OPEN, "open";
    Begin = d::BEGIN, "begin";
    Attach = d::ATTACH, "attach";
    Flow = d::FLOW, "flow";
    Transfer = d::TRANSFER, "transfer";
    Disposition = d::DISPOSITION, "disposition";
    Detach = d::DETACH, "detach";
    End = d::END, "end";
    Close = d::CLOSE, "close";
);
