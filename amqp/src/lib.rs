//! AMQP 1.0 for tickwire: the type-system codec, frames, performatives, SASL frames and
//! message sections (OASIS AMQP 1.0, parts 1, 2, 3 and 5), plus the sans-IO connection
//! engine in [`engine`].
//!
//! Everything here is sans-IO: decoders read a borrowed `&[u8]` through a bounded
//! [`Reader`] and return values that borrow it; encoders append to a buffer the caller
//! owns (a `Vec<u8>` or a fixed `&mut [u8]` through [`SliceSink`]).
//!
//! # API at a glance
//!
//! - Types: [`Value`] (every AMQP primitive, [`List`], [`Map`], [`Array`],
//!   [`Described`]), decoded with [`Value::decode`] / [`Value::decode_exact`], checked
//!   deeply with [`Value::validate`]; [`MAX_DEPTH`] bounds nesting.
//! - Encoding: [`Encoder`] over a [`Sink`] (`Vec<u8>` or [`SliceSink`]): one method
//!   per type (`uint`, `string`, `symbol`, ...), `list`/`map`/`described`/`composite`
//!   with closures, [`Encoder::value`] / [`Encoder::value_as`] for any [`Value`].
//! - Frames: [`FrameHeader`], [`FrameType`], [`Frame::parse`], [`write_frame`],
//!   [`ProtocolHeader`] (`AMQP 0 1.0.0`, `AMQP 3 1.0.0`).
//! - Performatives: [`Open`], [`Begin`], [`Attach`], [`Flow`], [`Transfer`],
//!   [`Disposition`], [`Detach`], [`End`], [`Close`], the [`Performative`] enum
//!   ([`Performative::decode_frame`], [`Performative::write_frame`]), and their parts
//!   [`Source`], [`Target`], [`ErrorCondition`], [`Role`], [`SenderSettleMode`],
//!   [`ReceiverSettleMode`], [`DeliveryState`], [`Symbols`]. Each has
//!   `encode(&self, &mut Vec<u8>)`, `write(&self, &mut Encoder)` and
//!   `decode(&mut Reader) -> Result<Self, AmqpError>`.
//! - SASL: [`sasl::SaslFrame`] and its five bodies.
//! - Messages: [`message::Message`] (borrowing decoder of all sections) and
//!   [`message::MessageWriter`].
//! - Hot path: [`TransferHeader`], the per-link frame header + `transfer` writer for a
//!   shared, pre-encoded body (no allocation).
//! - Errors: [`AmqpError`] with [`Fault`], AMQP condition symbol and description.
//!
//! Design notes and spec references: `docs/amqp-codec.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codes;
mod compound;
mod definitions;
mod encoder;
pub mod engine;
mod error;
mod fields;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
mod performative;
mod reader;
pub mod sasl;
mod sections;
mod terminus;
mod transfer_header;
mod transport;
mod value;

pub use compound::{Array, ArrayIter, List, Map, Pairs, Values, MAX_ZERO_WIDTH_ARRAY};
pub use definitions::{DeliveryState, ErrorCondition, ReceiverSettleMode, Role, SenderSettleMode};
pub use encoder::{Encoder, Sink, SliceSink};
pub use error::{AmqpError, Fault};
pub use fields::{Symbols, SymbolsIter};
pub use frame::{
    write_frame, Frame, FrameHeader, FrameType, ProtocolHeader, FRAME_HEADER_SIZE,
    MIN_MAX_FRAME_SIZE,
};
pub use performative::{write_heartbeat, FrameBody, Performative};
pub use reader::Reader;
pub use terminus::{Source, Target};
pub use transfer_header::{
    write_transfer_header, TransferHeader, MAX_DELIVERY_TAG, MAX_TRANSFER_HEADER,
    TRANSFER_HEADER_BASE,
};
pub use transport::{Attach, Begin, Close, Detach, Disposition, End, Flow, Open, Transfer};
pub use value::{Described, Descriptor, Value, MAX_DEPTH};
