//! `tickwire bench`: the measuring half of the benchmark harness.
//!
//! The binary (`src/cli/bench.rs` in the root package) starts the appliance; this crate
//! holds what does not depend on it, so it can measure any AMQP 1.0 broker:
//!
//! - [`subscriber`]: a subscriber of our own, one thread and one TCP socket each, driven by
//!   the sans-IO `tickwire_amqp::engine::Engine` in client mode. It reads the `binary`
//!   format, decodes each message's `data` section into a `Tick`, counts deliveries, loss by
//!   sequence and gap markers, and records latency from the tick's feed receive time
//!   (`ts_recv`) to the moment the subscriber's socket read returned.
//! - [`machine`]: the box's facts (cores, CPU model, kernel, memory) and CPU time per
//!   thread from `/proc/self/task/*/stat`.
//! - [`report`]: the report (`--json` and the readable table), with hdrhistogram
//!   percentiles corrected for coordinated omission.
//! - [`svg`]: a small SVG chart of latency percentiles and per-subscriber rates.
//!
//! See `docs/bench.md`.

pub mod machine;
pub mod report;
pub mod subscriber;
pub mod svg;
