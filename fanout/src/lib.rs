//! The tickwire data plane's core structures, sans-IO and thread-aware:
//!
//! * [`ring`]: the sequencer ring — one writer assigns appliance sequence numbers and
//!   publishes batches; any number of readers on any threads copy, re-validate and report
//!   being lapped; the writer never waits. [`mod@handoff`]: a back-pressuring SPSC batch ring
//!   for stage-to-stage hand-offs.
//! * [`route`]: address routing with `*` and `#` patterns ([`pattern`]), one table index
//!   per tick however many subscriptions exist.
//! * [`body`]: encode once — a body store parallel to the ring, one encode per tick and
//!   format, shared by every link.
//! * [`link`]: per-subscriber queues bounded in bytes with the `ring`, `disconnect` and
//!   `conflate` slow-consumer policies; [`conflate`]: its value table and dirty set.
//!
//! Design notes, the ring protocol and sizing rules: `docs/fanout.md`.
//!
//! Threads: the [`ring::RingWriter`] lives on the sequencing thread and each
//! [`ring::RingReader`] on its consumer's thread. [`route::Router`], [`body::BodyStore`],
//! [`link::Link`] and [`conflate::LatestValues`] are owned by the fan-out thread; the
//! control plane sends it subscribe/attach requests to apply between batches.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
pub mod conflate;
pub mod error;
pub mod fuzzing;
pub mod handoff;
pub mod link;
pub mod pattern;
pub mod ring;
pub mod route;
mod sync;

pub use body::{BodyEncoder, BodyFormat, BodyRef, BodyStore, PlainEncoder};
pub use conflate::{DirtySet, LatestValue, LatestValues};
pub use error::{Error, SizingError};
pub use handoff::{handoff, HandoffConsumer, HandoffProducer};
pub use link::{DetachReason, Link, LinkConfig, LinkStats, SlowPolicy, Transmit};
pub use pattern::{Level, Pattern, PatternError};
pub use ring::{sequencer_ring, sequencer_ring_from, ReadBatch, Ring, RingReader, RingWriter};
pub use route::{Router, SubId};
