//! tickwire replay: going back in time over the journal.
//!
//! - [`Start`], [`End`], [`Pace`]: where a replay starts and stops and how fast it runs,
//!   parsed from the text users give (`first`, `last`, `seq:N`, `time:<RFC 3339>`;
//!   `recorded`, `Nx`, `max`) and from RabbitMQ stream offsets ([`Start::from_stream_offset`]).
//! - [`Cursor`]: a filtered forward read of the journal from a start to an end, reporting
//!   gaps and the point where it has caught up with what is durable.
//! - [`Pacer`]: when each tick is due at the chosen pace.
//!
//! Both the appliance's replay links and the `tickwire replay` / `export` commands are
//! built on these; `docs/replay.md` describes the whole.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cursor;
mod pace;
mod spec;

pub use cursor::{Cursor, Status};
pub use pace::Pacer;
pub use spec::{format_time_ns, parse_time_ns, End, Pace, SpecError, Start, StreamOffset};
