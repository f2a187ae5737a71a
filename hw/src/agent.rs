//! Agents (STYLE rule 7): every pinned thread runs `do_work(now)` under an idle strategy.
//!
//! A [`AgentRunner`] runs one agent (dedicated mode) or several (shared mode) on one
//! thread. Per cycle it reads the clock once, gives every agent that `now`, idles
//! according to the total work done, and publishes its counters.
//!
//! An agent whose work arrives on file descriptors (sockets, an epoll set) names one in
//! [`Agent::wake_fd`]; a runner that parks then waits on those descriptors with the park
//! as a timeout (`ppoll`), so it is woken by the next datagram or segment instead of
//! sleeping past it. Runners also set their thread's timer slack to 1 ns: Linux otherwise
//! stretches a short park by 50 µs or more.

use std::os::fd::RawFd;
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

    /// A descriptor that becomes readable when this agent has new work (a socket, or an
    /// epoll set of them), for a parked runner to wait on; `None` (the default) if its
    /// work arrives otherwise. Asked once, after [`Agent::on_start`]; the descriptor must
    /// stay open while the agent runs.
    fn wake_fd(&self) -> Option<RawFd> {
        None
    }
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
    /// A park waits on the agents' [`Agent::wake_fd`]s when they have any.
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
    /// The backoff defaults: 20 spins, no yield, then park 50 µs doubling to 1 ms (woken
    /// early by the agents' descriptors).
    ///
    /// The first park is 50 µs, not 1 µs: a park costs about 12 µs of CPU in a VM (the
    /// timer is programmed, fires, and the thread is switched out and back), so parks of a
    /// few microseconds cost more than they save. Work on a descriptor still ends a park at
    /// once. At 100 k ticks/s this took the data thread from 60% of a core to 32%, with the
    /// same latency, and replay flat out rose 15% (`bench/RESULTS.md`, fifth session).
    ///
    /// No yield: on a core shared with another busy thread (the `shared` mode of a small
    /// box) `sched_yield` hands the core over for the rest of that thread's time slice,
    /// milliseconds, while a park returns as soon as a descriptor is readable. Few spins:
    /// every spin is a full duty cycle (a few system calls), CPU the feed source and the
    /// subscribers on the same two cores need.
    pub const BACKOFF: IdleStrategy = IdleStrategy::Backoff {
        max_spins: 20,
        max_yields: 0,
        min_park_ns: 50_000,
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
    /// The agents' wake descriptors, as `ppoll` takes them.
    wake: Vec<libc::pollfd>,
}

/// Parks the thread for `ns`, or until one of `wake` is readable.
fn park(wake: &mut [libc::pollfd], ns: u64) {
    if wake.is_empty() {
        std::thread::sleep(Duration::from_nanos(ns));
        return;
    }
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: `wake` is a valid, exclusively borrowed array of `wake.len()` pollfds and
    // `ts` a valid timespec; a null signal mask keeps the thread's own. The result (ready
    // count, timeout or EINTR) needs no handling: the next cycle looks for work anyway.
    unsafe {
        libc::ppoll(
            wake.as_mut_ptr(),
            wake.len() as libc::nfds_t,
            &ts,
            std::ptr::null(),
        );
    }
}

/// Waits up to `d` for `fd` to become readable, as a parked runner waits on its agents'
/// descriptors. For a thread outside a runner (the simulator waiting for its next
/// message or a retransmission request).
pub fn wait_readable(fd: std::os::fd::RawFd, d: Duration) {
    let mut wake = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    park(&mut wake, u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
}

/// Asks for 1 ns timer slack on the calling thread, so short parks are not stretched to
/// the default 50 µs. Best effort: a refusal only makes parks coarser.
fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

impl Idler {
    fn new(strategy: IdleStrategy) -> Idler {
        Idler {
            strategy,
            spins: 0,
            yields: 0,
            park_ns: 0,
            wake: Vec::new(),
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
                    park(&mut self.wake, self.park_ns);
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
    busy_ns: Padded,
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
    /// Time spent in cycles that did work, ns (a cycle counts from its clock read to the
    /// next one's). Over a window, its growth divided by the window is how busy the
    /// runner was: the measure that CPU time cannot give for a busy-spinning thread.
    pub fn busy_ns(&self) -> u64 {
        self.busy_ns.0.load(Ordering::Relaxed)
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
    /// Whether the previous cycle did work (its duration then counts as busy).
    last_worked: bool,
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
            last_worked: false,
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
            tighten_timer_slack();
            self.idler.wake = self
                .agents
                .iter()
                .filter_map(|a| a.wake_fd())
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
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
            if self.last_worked {
                c.busy_ns.0.fetch_add(cycle, Ordering::Relaxed);
            }
        }
        self.last_now = Some(now);
        self.last_worked = work > 0;
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
