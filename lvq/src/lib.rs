//! Last-value queues: the latest state of every instrument, snapshots for late joiners,
//! conflation for slow links, and keyed last-value queues for published messages.
//!
//! Everything here is sans-IO, single-writer state: no threads, sockets or clocks. The
//! data-plane thread owns a [`LastValueCache`] and, per link, a [`SnapshotCursor`] or a
//! [`ConflatingQueue`], and drives them between ticks:
//!
//! 1. for each sequenced tick: [`LastValueCache::update`] (or, for a run of ticks,
//!    [`LastValueCache::update_batch_with`], which prefetches ahead), then per matching link:
//!    a snapshotting link delivers it iff [`SnapshotCursor::should_deliver`]; a link
//!    that is behind under `conflate` calls [`ConflatingQueue::handle_update`];
//! 2. between ticks: [`SnapshotCursor::poll_chunk`] for each joiner (bounded work), and
//!    [`ConflatingQueue::poll_value`] for each conflating link with credit.
//!
//! [`KeyedLvq`] is the control-plane queue for messages clients publish (Qpid LVQ).
//! The design and the proof of the snapshot rule are in `docs/lvq.md`.
// The cache's huge-page storage and prefetch come from `tickwire_hw::mem`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod conflate;
mod error;
mod keyed;
mod snapshot;
mod value;

pub use cache::{CacheStats, LastValueCache, UpdateOutcome};
pub use conflate::{ConflatingQueue, Mark};
pub use error::{Error, Fault};
pub use keyed::{KeyedCursor, KeyedLvq, KeyedLvqConfig, KeyedMessage, Published};
pub use snapshot::{Chunk, SnapshotCursor, SnapshotItem, SnapshotStatus};
pub use value::{present, LastValue};
