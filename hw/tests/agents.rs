//! AgentRunner: shared mode with several agents on one thread, stop flag, counters,
//! pinning, idle strategies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_hw::{current_affinity, Agent, AgentRunner, IdleStrategy};

/// Does one unit of work per cycle until `budget` runs out, recording every `now`.
struct Worker {
    name: &'static str,
    budget: u64,
    last_now: u64,
    non_monotonic: u64,
    started: bool,
    closed: Arc<AtomicU64>,
}

impl Agent for Worker {
    fn do_work(&mut self, now_ns: u64) -> usize {
        assert!(self.started, "on_start not called first");
        if now_ns < self.last_now {
            self.non_monotonic += 1;
        }
        self.last_now = now_ns;
        if self.budget == 0 {
            return 0;
        }
        self.budget -= 1;
        1
    }
    fn name(&self) -> &str {
        self.name
    }
    fn on_start(&mut self) {
        self.started = true;
    }
    fn on_close(&mut self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
}

fn worker(name: &'static str, budget: u64, closed: &Arc<AtomicU64>) -> Box<dyn Agent> {
    Box::new(Worker {
        name,
        budget,
        last_now: 0,
        non_monotonic: 0,
        started: false,
        closed: closed.clone(),
    })
}

#[test]
fn shared_runner_runs_all_agents_and_stops_on_flag() {
    let closed = Arc::new(AtomicU64::new(0));
    let agents = vec![
        worker("feed", 1_000, &closed),
        worker("fanout", 500, &closed),
    ];
    let runner = AgentRunner::new(agents, IdleStrategy::BACKOFF);
    assert_eq!(runner.agent_names(), vec!["feed", "fanout"]);
    let (stop, counters) = (runner.stop_flag(), runner.counters());
    let cpu = *current_affinity().unwrap().last().unwrap();
    let handle = runner.spawn("tw-shared", Some(cpu)).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.work() < 1_500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let it idle a little, then stop.
    std::thread::sleep(Duration::from_millis(20));
    stop.stop();
    let runner = handle.join().expect("runner thread").expect("pinning");
    assert_eq!(
        counters.work(),
        1_500,
        "every unit of work done exactly once"
    );
    assert!(counters.cycles() >= 1_000, "cycles {}", counters.cycles());
    assert!(counters.idle_cycles() > 0, "never idled");
    assert_eq!(
        counters.cycles() - counters.idle_cycles(),
        1_000,
        "busy cycles"
    );
    assert!(counters.max_cycle_ns() >= counters.last_cycle_ns());
    assert!(counters.max_cycle_ns() > 0);
    assert_eq!(
        closed.load(Ordering::Relaxed),
        2,
        "on_close for both agents"
    );
    drop(runner);
}

/// Records the affinity of the thread it runs on.
struct AffinityProbe(Arc<AtomicU64>);

impl Agent for AffinityProbe {
    fn do_work(&mut self, _now_ns: u64) -> usize {
        let cpus = current_affinity().unwrap();
        let v = if cpus.len() == 1 {
            cpus[0] as u64 + 1
        } else {
            0
        };
        self.0.store(v, Ordering::Relaxed);
        0
    }
    fn name(&self) -> &str {
        "affinity"
    }
}

#[test]
fn spawned_runner_is_pinned() {
    let cpu = current_affinity().unwrap()[0];
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let runner = AgentRunner::new(
        vec![Box::new(AffinityProbe(seen.clone()))],
        IdleStrategy::Sleep { ns: 100_000 },
    );
    let (stop, counters) = (runner.stop_flag(), runner.counters());
    let h = runner.spawn("tw-pinned", Some(cpu)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.cycles() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.stop();
    h.join().unwrap().unwrap();
    assert_eq!(
        seen.load(Ordering::Relaxed),
        cpu as u64 + 1,
        "agent thread not pinned"
    );
}

#[test]
fn pinning_to_a_missing_cpu_fails_before_running() {
    let closed = Arc::new(AtomicU64::new(0));
    let runner = AgentRunner::new(vec![worker("x", 1, &closed)], IdleStrategy::Yield);
    let counters = runner.counters();
    let result = runner
        .spawn("tw-bad", Some(100_000))
        .unwrap()
        .join()
        .unwrap();
    assert!(result.is_err());
    assert_eq!(counters.cycles(), 0);
}

#[test]
fn run_cycle_uses_the_given_clock_once_per_cycle() {
    static TICKS: AtomicU64 = AtomicU64::new(0);
    fn fake_clock() -> u64 {
        TICKS.fetch_add(1, Ordering::Relaxed) * 1_000
    }
    let closed = Arc::new(AtomicU64::new(0));
    let mut runner = AgentRunner::new(
        vec![worker("a", 10, &closed), worker("b", 10, &closed)],
        IdleStrategy::BusySpin,
    )
    .with_clock(fake_clock);
    for _ in 0..5 {
        runner.run_cycle();
    }
    assert_eq!(
        TICKS.load(Ordering::Relaxed),
        5,
        "one clock read per cycle, two agents"
    );
    assert_eq!(runner.counters().last_cycle_ns(), 1_000);
}

#[test]
fn idle_strategies_serialize() {
    let s = serde_json::to_string(&IdleStrategy::BusySpin).unwrap();
    assert_eq!(s, "\"busy-spin\"");
    let b: IdleStrategy =
        serde_json::from_str(&serde_json::to_string(&IdleStrategy::BACKOFF).unwrap()).unwrap();
    assert_eq!(b, IdleStrategy::BACKOFF);
}

/// Counts datagrams from its socket, which it names as its wake descriptor, and records
/// the thread's timer slack.
struct Listener {
    sock: std::os::unix::net::UnixDatagram,
    seen: Arc<AtomicU64>,
    slack: Arc<AtomicU64>,
}

impl Agent for Listener {
    fn do_work(&mut self, _now_ns: u64) -> usize {
        // SAFETY: PR_GET_TIMERSLACK takes no pointer and returns the slack.
        let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        self.slack.store(slack as u64, Ordering::Relaxed);
        let mut buf = [0u8; 16];
        let mut n = 0;
        while self.sock.recv(&mut buf).is_ok() {
            n += 1;
        }
        self.seen.fetch_add(n, Ordering::Relaxed);
        n as usize
    }
    fn name(&self) -> &str {
        "listener"
    }
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.sock.as_raw_fd())
    }
}

#[test]
fn a_parked_runner_wakes_on_its_agents_descriptor() {
    let (tx, rx) = std::os::unix::net::UnixDatagram::pair().unwrap();
    rx.set_nonblocking(true).unwrap();
    let (seen, slack) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let agent = Listener {
        sock: rx,
        seen: seen.clone(),
        slack: slack.clone(),
    };
    // Every park lasts a minute unless the descriptor wakes it.
    let minute = 60_000_000_000;
    let idle = IdleStrategy::Backoff {
        max_spins: 0,
        max_yields: 0,
        min_park_ns: minute,
        max_park_ns: minute,
    };
    let runner = AgentRunner::new(vec![Box::new(agent)], idle);
    let (stop, counters) = (runner.stop_flag(), runner.counters());
    let h = runner.spawn("tw-wake", None).unwrap();
    for k in 1..=5u64 {
        // Wait until the runner is parked: one idle cycle at the start and one after
        // each datagram precede a park.
        let deadline = Instant::now() + Duration::from_secs(10);
        while counters.idle_cycles() < k && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        tx.send(b"x").unwrap();
        while seen.load(Ordering::Relaxed) < k {
            assert!(
                Instant::now() < deadline,
                "datagram {k} not seen: the park did not wake on the descriptor"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(slack.load(Ordering::Relaxed), 1, "timer slack tightened");
    stop.stop();
    tx.send(b"stop").unwrap();
    h.join().unwrap().unwrap();
}

/// Works (sleeping 2 ms) in every third cycle, idles in the others.
struct Sometimes(u64);

impl Agent for Sometimes {
    fn do_work(&mut self, _now_ns: u64) -> usize {
        self.0 += 1;
        if self.0.is_multiple_of(3) {
            std::thread::sleep(Duration::from_millis(2));
            1
        } else {
            0
        }
    }

    fn name(&self) -> &str {
        "sometimes"
    }
}

#[test]
fn busy_time_counts_only_cycles_that_did_work() {
    let mut r = AgentRunner::new(
        vec![Box::new(Sometimes(0))],
        IdleStrategy::Sleep { ns: 3_000_000 },
    );
    let c = r.counters();
    let t0 = Instant::now();
    for _ in 0..30 {
        r.run_cycle();
    }
    let wall = t0.elapsed().as_nanos() as u64;
    // Ten working cycles of at least 2 ms each; twenty idle ones of at least 3 ms each
    // (their sleep) that must not count. The last working cycle may not be closed yet.
    assert_eq!(c.idle_cycles(), 20);
    let busy = c.busy_ns();
    assert!(busy >= 9 * 2_000_000, "busy {busy} ns");
    assert!(
        busy < wall - 20 * 3_000_000 + 1_000_000,
        "busy {busy} of {wall} ns"
    );
}
