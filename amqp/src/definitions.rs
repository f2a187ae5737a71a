//! Small shared definitions: roles, settle modes, error conditions (spec 2.8) and
//! delivery states (spec 3.4).

use crate::codes::descriptor as d;
use crate::compound::Map;
use crate::encoder::{Encoder, Sink};
use crate::fields::{mismatch, Fields};
use crate::{AmqpError, Reader, Value};

/// Link role (spec 2.8.1), encoded as a boolean: `false` sender, `true` receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The link end that sends messages.
    Sender,
    /// The link end that receives messages.
    Receiver,
}

impl Role {
    /// The wire boolean.
    pub fn as_bool(self) -> bool {
        self == Role::Receiver
    }

    /// From the wire boolean.
    pub fn from_bool(b: bool) -> Self {
        if b {
            Role::Receiver
        } else {
            Role::Sender
        }
    }
}

/// Sender settle mode (spec 2.8.2), a `ubyte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SenderSettleMode {
    /// 0: the sender sends all deliveries unsettled.
    Unsettled,
    /// 1: the sender sends all deliveries settled (what market data uses).
    Settled,
    /// 2: the sender may send either (the default).
    #[default]
    Mixed,
}

impl SenderSettleMode {
    /// From the wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(SenderSettleMode::Unsettled),
            1 => Some(SenderSettleMode::Settled),
            2 => Some(SenderSettleMode::Mixed),
            _ => None,
        }
    }
}

/// Receiver settle mode (spec 2.8.3), a `ubyte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReceiverSettleMode {
    /// 0: the receiver settles spontaneously (the default).
    #[default]
    First,
    /// 1: the receiver settles only after the sender settled.
    Second,
}

impl ReceiverSettleMode {
    /// From the wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(ReceiverSettleMode::First),
            1 => Some(ReceiverSettleMode::Second),
            _ => None,
        }
    }
}

/// An error condition (spec 2.8.14 `error`, descriptor 0x1d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCondition<'a> {
    /// The condition symbol, e.g. `amqp:not-found`.
    pub condition: &'a str,
    /// A description for people.
    pub description: Option<&'a str>,
    /// Extra information (map keyed by symbols).
    pub info: Option<Map<'a>>,
}

impl<'a> ErrorCondition<'a> {
    /// An error with a condition and description and no info.
    pub fn new(condition: &'a str, description: &'a str) -> Self {
        ErrorCondition {
            condition,
            description: Some(description),
            info: None,
        }
    }

    /// The condition and description for a codec error, to send to the peer.
    pub fn from_error(e: &AmqpError) -> ErrorCondition<'static> {
        ErrorCondition::new(e.condition(), e.description())
    }

    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        e.composite(d::ERROR, |e| {
            e.symbol(self.condition);
            e.opt(self.description, |e, s| {
                e.string(s);
            });
            e.opt(self.info, |e, m| {
                e.value(&Value::Map(m));
            });
        });
    }

    /// Reads the described list.
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, AmqpError> {
        let mut f = Fields::read(r, d::ERROR, "error")?;
        let condition = f.symbol("condition")?;
        let description = f.opt_str()?;
        let info = f.opt_map()?;
        f.finish()?;
        Ok(ErrorCondition {
            condition,
            description,
            info,
        })
    }

    /// Reads an optional error field value.
    pub(crate) fn from_field(v: Value<'a>) -> Result<Option<Self>, AmqpError> {
        match v {
            Value::Null => Ok(None),
            Value::Described(x) => {
                match x.descriptor().code() {
                    Some(d::ERROR) => {}
                    Some(c) => return Err(AmqpError::UnexpectedDescriptor(c)),
                    None => return Err(AmqpError::UnknownSymbolicDescriptor),
                }
                let mut f = Fields::new(&x, "error")?;
                let condition = f.symbol("condition")?;
                let description = f.opt_str()?;
                let info = f.opt_map()?;
                f.finish()?;
                Ok(Some(ErrorCondition {
                    condition,
                    description,
                    info,
                }))
            }
            other => Err(mismatch("error", &other)),
        }
    }
}

/// The state of a delivery (spec 3.4): the terminal outcomes and `received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState<'a> {
    /// 0x23: partial receipt, for resuming (section number and byte offset).
    Received {
        /// The section the receiver has got to.
        section_number: u32,
        /// Bytes of that section received.
        section_offset: u64,
    },
    /// 0x24: the message was processed.
    Accepted,
    /// 0x25: the message is invalid and will not be processed.
    Rejected {
        /// Why.
        error: Option<ErrorCondition<'a>>,
    },
    /// 0x26: not processed, may be redelivered.
    Released,
    /// 0x27: not processed, with changes for redelivery.
    Modified {
        /// Count the attempt as a failed delivery.
        delivery_failed: bool,
        /// Do not redeliver to this link.
        undeliverable_here: bool,
        /// Annotations to merge into the message.
        message_annotations: Option<Map<'a>>,
    },
}

impl<'a> DeliveryState<'a> {
    /// Writes the described list.
    pub fn write<S: Sink + ?Sized>(&self, e: &mut Encoder<'_, S>) {
        match *self {
            DeliveryState::Received {
                section_number,
                section_offset,
            } => {
                e.composite(d::RECEIVED, |e| {
                    e.uint(section_number).ulong(section_offset);
                });
            }
            DeliveryState::Accepted => {
                e.composite(d::ACCEPTED, |_| {});
            }
            DeliveryState::Rejected { error } => {
                e.composite(d::REJECTED, |e| {
                    e.opt(error, |e, x| x.write(e));
                });
            }
            DeliveryState::Released => {
                e.composite(d::RELEASED, |_| {});
            }
            DeliveryState::Modified {
                delivery_failed,
                undeliverable_here,
                message_annotations,
            } => {
                e.composite(d::MODIFIED, |e| {
                    e.bool(delivery_failed).bool(undeliverable_here);
                    e.opt(message_annotations, |e, m| {
                        e.value(&Value::Map(m));
                    });
                });
            }
        }
    }

    /// Reads a delivery state.
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, AmqpError> {
        Self::from_field(Value::decode(r)?)?.ok_or(AmqpError::UnexpectedType {
            expected: "delivery-state",
            found: crate::codes::NULL,
        })
    }

    /// Reads an optional delivery-state field value.
    pub fn from_field(v: Value<'a>) -> Result<Option<Self>, AmqpError> {
        let x = match v {
            Value::Null => return Ok(None),
            Value::Described(x) => x,
            other => return Err(mismatch("delivery-state", &other)),
        };
        let code = x
            .descriptor()
            .code()
            .ok_or(AmqpError::UnknownSymbolicDescriptor)?;
        let name = match code {
            d::RECEIVED => "received",
            d::ACCEPTED => "accepted",
            d::REJECTED => "rejected",
            d::RELEASED => "released",
            d::MODIFIED => "modified",
            c => return Err(AmqpError::UnexpectedDescriptor(c)),
        };
        let mut f = Fields::new(&x, name)?;
        let state = match code {
            d::RECEIVED => DeliveryState::Received {
                section_number: f.uint("section-number")?,
                section_offset: f.opt_ulong()?.ok_or_else(|| f.missing("section-offset"))?,
            },
            d::ACCEPTED => DeliveryState::Accepted,
            d::REJECTED => DeliveryState::Rejected {
                error: ErrorCondition::from_field(f.any()?)?,
            },
            d::RELEASED => DeliveryState::Released,
            _ => DeliveryState::Modified {
                delivery_failed: f.bool_or(false)?,
                undeliverable_here: f.bool_or(false)?,
                message_annotations: f.opt_map()?,
            },
        };
        f.finish()?;
        Ok(Some(state))
    }
}
