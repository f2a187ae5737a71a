//! tickwire hw: the machine under the data plane.
//!
//! - [`topology`]: online CPUs, cores and hyperthread siblings, NUMA nodes, isolated and
//!   `nohz_full` CPUs, read from `/sys`.
//! - [`mode`]: [`ThreadingMode`] (`dedicated` / `shared`) and its automatic choice.
//! - [`pin`]: [`PinPlan`] (stage → core) and thread pinning.
//! - [`rt`]: `SCHED_FIFO` and `mlockall`, returning [`HwError`]s the caller logs as
//!   warnings when the box does not permit them.
//! - [`tuning`]: the tuning report: each mistuned setting with its severity and the fix.
//! - [`agent`]: the [`Agent`] trait, idle strategies and the [`AgentRunner`] (STYLE 7).
//! - [`clock`]: nanosecond clocks.
//! - [`mem`]: [`mem::HugeSlab`] (zeroed, huge-page-backed tables) and a prefetch hint.
//!
//! Design notes: `docs/hw.md`.
#![warn(missing_docs)]

pub mod agent;
pub mod clock;
mod error;
pub mod mem;
pub mod mode;
pub mod pin;
pub mod rt;
pub mod topology;
pub mod tuning;

pub use agent::{Agent, AgentRunner, IdleStrategy, RunnerCounters, StopFlag};
pub use error::HwError;
pub use mode::ThreadingMode;
pub use pin::{current_affinity, pin_current_thread, PinPlan, Stage};
pub use rt::{lock_memory, set_realtime};
pub use topology::{parse_cpu_list, Topology};
pub use tuning::{tuning_report, Finding, Severity, TuningReport};
