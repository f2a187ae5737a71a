//! Agents (STYLE rule 7): every pinned thread runs `do_work(now)` under an idle strategy.
//!
//! A [`AgentRunner`] runs one agent (dedicated mode) or several (shared mode) on one
//! thread. Per cycle it reads the clock once, gives every agent that `now`, idles
//! according to the total work done, and publishes its counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock;

/// A unit of data-plane work driven by an [`AgentRunner`].
pub trait Agent: Send {
    /// Does one bounded slice of work (drain queues up to a limit) at time `now_ns`
    /// (the runner's clock, monotonic by default) and returns the work count (0 = idle).
    fn do_work(&mut self, now_ns: u64) -> usize;

    /// A short name for logs and counters.
    fn name(&self) -> &str;

    /// Called once on the agent's thread before the first `do_work`.
    fn on_start(&mut self) {}

    /// Called once on the agent's thread after the last `do_work`.
    fn on_close(&mut self) {}
}

/// What a runner does in a cycle where no agent did any work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IdleStrategy {
    /// Spin (with a CPU pause hint): lowest latency, burns the core. For dedicated cores.
    BusySpin,
    /// `sched_yield`: lets other threads on the core run.
    Yield,
    /// Sleep a fixed time.
    Sleep {
        /// Nanoseconds to sleep per idle cycle.
        ns: u64,
    },
    /// Spin, then yield, then park with exponential backoff (Aeron's `BackoffIdleStrategy`).
    Backoff {
        /// Idle cycles spent spinning first.
        max_spins: u32,
        /// Idle cycles spent yielding next.
        max_yields: u32,
        /// First park, ns.
        min_park_ns: u64,
        /// Longest park, ns.
        max_park_ns: u64,
    },
}

impl IdleStrategy {
    /// The backoff defaults: 100 spins, 10 yields, then park 1 µs doubling to 1 ms.
    pub const BACKOFF: IdleStrategy = IdleStrategy::Backoff {
        max_spins: 100,
        max_yields: 10,
        min_park_ns: 1_000,
        max_park_ns: 1_000_000,
    };
}

/// Idle state (the backoff position); reset whenever work is done.
#[derive(Clone, Debug)]
struct Idler {
    strategy: IdleStrategy,
    spins: u32,
    yields: u32,
    park_ns: u64,
}

impl Idler {
    fn new(strategy: IdleStrategy) -> Idler {
        Idler {
            strategy,
            spins: 0,
            yields: 0,
            park_ns: 0,
        }
    }

    fn idle(&mut self, work: usize) {
        if work > 0 {
            self.spins = 0;
            self.yields = 0;
            self.park_ns = 0;
            return;
        }
        match self.strategy {
            IdleStrategy::BusySpin => std::hint::spin_loop(),
            IdleStrategy::Yield => std::thread::yield_now(),
            IdleStrategy::Sleep { ns } => std::thread::sleep(Duration::from_nanos(ns)),
            IdleStrategy::Backoff {
                max_spins,
                max_yields,
                min_park_ns,
                max_park_ns,
            } => {
                if self.spins < max_spins {
                    self.spins += 1;
                    std::hint::spin_loop();
                } else if self.yields < max_yields {
                    self.yields += 1;
                    std::thread::yield_now();
                } else {
                    self.park_ns = (self.park_ns * 2).clamp(min_park_ns, max_park_ns);
                    std::thread::sleep(Duration::from_nanos(self.park_ns));
                }
            }
        }
    }
}

/// A cache-line-padded counter, so readers on other cores do not false-share with
/// the runner's writes (STYLE rule 8).
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

/// Counters a runner publishes (single writer: the runner; any thread may read).
#[derive(Debug, Default)]
pub struct RunnerCounters {
    cycles: Padded,
    work: Padded,
    idle_cycles: Padded,
    last_cycle_ns: Padded,
    max_cycle_ns: Padded,
}

impl RunnerCounters {
    /// Duty cycles run.
    pub fn cycles(&self) -> u64 {
        self.cycles.0.load(Ordering::Relaxed)
    }
    /// Total work count returned by the agents.
    pub fn work(&self) -> u64 {
        self.work.0.load(Ordering::Relaxed)
    }
    /// Cycles in which no agent did work.
    pub fn idle_cycles(&self) -> u64 {
        self.idle_cycles.0.load(Ordering::Relaxed)
    }
    /// Time between the last two clock reads (one full cycle), ns.
    pub fn last_cycle_ns(&self) -> u64 {
        self.last_cycle_ns.0.load(Ordering::Relaxed)
    }
    /// Longest cycle seen, ns.
    pub fn max_cycle_ns(&self) -> u64 {
        self.max_cycle_ns.0.load(Ordering::Relaxed)
    }
}

/// A shared stop request for a runner (cheap to clone, any thread may set it).
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks the runner to stop after its current cycle.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Runs agents on one thread until its [`StopFlag`] is set.
pub struct AgentRunner {
    agents: Vec<Box<dyn Agent>>,
    idler: Idler,
    stop: StopFlag,
    counters: Arc<RunnerCounters>,
    clock: fn() -> u64,
    last_now: Option<u64>,
    started: bool,
}

impl AgentRunner {
    /// A runner for `agents` (called in order each cycle) idling with `idle`; the clock
    /// is [`clock::monotonic_ns`].
    pub fn new(agents: Vec<Box<dyn Agent>>, idle: IdleStrategy) -> AgentRunner {
        AgentRunner {
            agents,
            idler: Idler::new(idle),
            stop: StopFlag::default(),
            counters: Arc::default(),
            clock: clock::monotonic_ns,
            last_now: None,
            started: false,
        }
    }

    /// Replaces the clock (e.g. [`clock::now_ns`] for wall-clock agents).
    pub fn with_clock(mut self, clock: fn() -> u64) -> AgentRunner {
        self.clock = clock;
        self
    }

    /// The flag that stops this runner.
    pub fn stop_flag(&self) -> StopFlag {
        self.stop.clone()
    }

    /// The runner's published counters.
    pub fn counters(&self) -> Arc<RunnerCounters> {
        self.counters.clone()
    }

    /// Names of the agents, in run order.
    pub fn agent_names(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.name().to_string()).collect()
    }

    /// One duty cycle: read the clock once, run every agent, publish, idle.
    /// Returns the work done. The first cycle calls every agent's `on_start` first.
    pub fn run_cycle(&mut self) -> usize {
        if !self.started {
            self.started = true;
            self.agents.iter_mut().for_each(|a| a.on_start());
        }
        let now = (self.clock)();
        let mut work = 0;
        for agent in &mut self.agents {
            work += agent.do_work(now);
        }
        let c = &self.counters;
        c.cycles.0.fetch_add(1, Ordering::Relaxed);
        c.work.0.fetch_add(work as u64, Ordering::Relaxed);
        if work == 0 {
            c.idle_cycles.0.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(prev) = self.last_now {
            let cycle = now.saturating_sub(prev);
            c.last_cycle_ns.0.store(cycle, Ordering::Relaxed);
            c.max_cycle_ns.0.fetch_max(cycle, Ordering::Relaxed);
        }
        self.last_now = Some(now);
        self.idler.idle(work);
        work
    }

    /// Runs cycles until the stop flag is set (checked once per cycle), then calls every
    /// agent's `on_close`.
    pub fn run(&mut self) {
        while !self.stop.is_stopped() {
            self.run_cycle();
        }
        self.agents.iter_mut().for_each(|a| a.on_close());
    }

    /// Runs on a new thread named `name`, pinned to `cpu` if given (a pinning failure is
    /// returned by the join as `Err` before any agent runs). The join hands the runner
    /// back.
    pub fn spawn(
        mut self,
        name: &str,
        cpu: Option<usize>,
    ) -> std::io::Result<JoinHandle<Result<AgentRunner, crate::HwError>>> {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    crate::pin_current_thread(cpu)?;
                }
                self.run();
                Ok(self)
            })
    }
}
