//! The running appliance: builds every stage from a [`Config`], starts the threads, and
//! stops them cleanly. See `docs/architecture.md` for who owns what.

pub mod attach;
pub mod body;
mod conn;
pub mod durable;
pub mod feed;
pub mod journal;
pub mod keyed;
mod listener;
mod pump;
pub mod replay;
pub mod replay_link;
pub mod sim;
pub mod snapshot;
pub mod stats;
pub mod subscribers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tickwire_fanout::{sequencer_ring_from, Router};
use tickwire_feedhandler::handler::{FeedHandler, HandlerConfig};
use tickwire_feedhandler::wire::Side;
use tickwire_hw::{AgentRunner, IdleStrategy, PinPlan, Stage, ThreadingMode, Topology};
use tickwire_record::Directory;
use tickwire_transport::{Membership, MulticastReceiver, ReceiverConfig};

use crate::config::{Config, FeedSource, ModeChoice};
use feed::{FeedAgent, LinePlan};
use stats::StatsBoard;
use subscribers::{FanoutAgent, FanoutParts, FanoutSettings};

/// Ticks held by the sequencer ring (a power of two): 2^17 × 64 B = 8 MiB, about 20 ms at
/// 6 M ticks/s, the most a subscriber's queue may lag before its bodies are gone.
pub const RING_CAPACITY: usize = 1 << 17;

/// A started appliance. Dropping it stops everything.
pub struct Running {
    stop: Arc<AtomicBool>,
    runner_stops: Vec<tickwire_hw::StopFlag>,
    threads: Vec<JoinHandle<()>>,
    /// Where AMQP clients connect (the bound address; port 0 in the config picks one).
    pub amqp_addr: SocketAddr,
    /// Where the console listens, if it runs.
    pub console_addr: Option<SocketAddr>,
    /// The figures the console shows.
    pub stats: Arc<StatsBoard>,
    /// The symbol directory.
    pub directory: Directory,
    /// Warnings raised at start (degraded settings), for the operator.
    pub warnings: Vec<String>,
    /// The first appliance seq of this run (the journal's numbering continues).
    pub first_seq: u64,
    /// Each data-plane runner's thread name and counters (cycles, busy time).
    pub runners: Vec<(String, Arc<tickwire_hw::RunnerCounters>)>,
}

impl Running {
    /// Stops every thread and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in &self.runner_stops {
            s.stop();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn memberships(cfg: &crate::config::FeedConfig) -> Vec<Membership> {
    let plan = LinePlan::new(cfg);
    (1..=cfg.lines)
        .flat_map(|line| [Side::A, Side::B].map(|s| (line, s)))
        .map(|(line, side)| {
            let (group, port) = plan.group(line, side);
            Membership {
                group,
                port,
                interface: cfg.interface,
            }
        })
        .collect()
}

fn threading(cfg: &Config, topo: Option<&Topology>) -> ThreadingMode {
    match cfg.threading.mode {
        ModeChoice::Shared => ThreadingMode::Shared,
        ModeChoice::Dedicated => ThreadingMode::Dedicated,
        ModeChoice::Auto => ThreadingMode::auto(topo.map_or(2, Topology::core_count)),
    }
}

/// The CPU the pinning plan for `cfg` leaves to the control plane: the one the data-plane
/// threads are kept off (`None` on one core, or when the topology cannot be read). A load
/// generator beside the appliance (`tickwire bench`'s pinned layout) belongs there.
pub fn control_cpu(cfg: &Config) -> Option<usize> {
    let topo = Topology::read().ok()?;
    PinPlan::new(threading(cfg, Some(&topo)), &topo).cpu_for(Stage::Control)
}

/// Starts the appliance described by `cfg`.
pub fn start(cfg: &Config) -> Result<Running, String> {
    let mut warnings = Vec::new();
    if cfg.feed.lines == 0 || cfg.feed.lines > 96 {
        return Err(format!("feed.lines must be 1..=96, not {}", cfg.feed.lines));
    }
    if cfg.feed.retrans_timeout_ms == 0 {
        return Err("feed.retrans_timeout_ms must be at least 1".into());
    }
    let topo = Topology::read().ok();
    let mode = threading(cfg, topo.as_ref());
    let stats = Arc::new(StatsBoard::new(mode.as_str()));
    stats.set_tuning(tickwire_hw::tuning_report());
    let stop = Arc::new(AtomicBool::new(false));
    let directory = Directory::with_capacity(cfg.feed.directory_capacity);

    // Receive before the simulator starts, so the start-of-day mappings are not missed.
    let mut rcfg = ReceiverConfig::new(memberships(&cfg.feed));
    if cfg.feed.gro {
        // Half the usual slots: one receive then takes at most 2,048 blocks (about 96,000
        // short quotes), inside the sequencer ring's 131,072 ticks.
        rcfg = rcfg.with_gro();
        rcfg.slots = 32;
    }
    rcfg.timestamps = true;
    let (rx, report) = MulticastReceiver::new(&rcfg).map_err(|e| format!("feed receive: {e}"))?;
    warnings.extend(report.warnings.iter().map(|w| w.to_string()));

    // The journal first: its symbol log fixes the ids of instruments seen before, and its
    // recovery says where numbering continues.
    let journal = open_journal(cfg, &directory, &mut warnings)?;
    let first_seq = journal.as_ref().map_or(1, |j| j.0.next_seq());
    let (writer, ring) =
        sequencer_ring_from(RING_CAPACITY, first_seq).map_err(|e| e.to_string())?;
    let mut threads = Vec::new();
    let mut replay = None;
    let (mut fan_durable, mut feed_durable) = (None, None);
    let mut journal_agent = match journal {
        Some((w, symbols)) => {
            let (svc, t) = replay::ReplayService::spawn(
                cfg.journal.dir.clone(),
                w.durable(),
                cfg.feed.name.clone(),
                directory.clone(),
                Arc::clone(&stop),
            )
            .map_err(|e| format!("cannot start the replay thread: {e}"))?;
            threads.push(t);
            replay = Some(svc);
            let (fan_end, feed_end, journal_end) = durable::channels(w.durable());
            fan_durable = Some(fan_end);
            feed_durable = Some(feed_end);
            let reader = ring.reader_from(first_seq);
            let agent = journal::JournalAgent::new(
                w,
                symbols,
                directory.clone(),
                reader,
                Arc::clone(&stats),
            )
            .with_dir_name(&cfg.journal.dir)
            .with_durable(journal_end);
            Some(agent)
        }
        None => None,
    };
    let mut hcfg = HandlerConfig::new(cfg.feed.lines);
    hcfg.arbiter.retrans_timeout_ns = cfg.feed.retrans_timeout_ms.saturating_mul(1_000_000);
    let handler = FeedHandler::new(directory.clone(), hcfg);
    let mut feed_agent = FeedAgent::new(rx, &cfg.feed, handler, writer, Arc::clone(&stats))
        .map_err(|e| format!("feed: {e}"))?;
    if let Some(end) = feed_durable.take() {
        feed_agent = feed_agent.with_durable(end);
    }

    let (conn_tx, conn_rx) = crossbeam_channel::bounded(1024);
    let enc = body::TickEncoder::new(&cfg.feed.name, directory.clone());
    let fanout = FanoutAgent::new(FanoutParts {
        settings: FanoutSettings {
            feed: cfg.feed.name.clone(),
            publish_prefix: cfg.amqp.publish_prefix.clone(),
            link_queue_bytes: cfg.amqp.link_queue_bytes,
            engine: listener::engine_config(&cfg.amqp),
            keyed: cfg.lvq.queues.clone(),
        },
        reader: ring.reader(),
        ring_capacity: RING_CAPACITY,
        router: Router::new(&cfg.feed.name, directory.clone()),
        enc,
        instruments: directory.capacity(),
        incoming: conn_rx,
        stats: Arc::clone(&stats),
        ring: ring.clone(),
        replay,
        durable: fan_durable.take(),
    })
    .map_err(|e| format!("fan-out: {e}"))?;

    let control = listener::start(cfg, conn_tx, Arc::clone(&stats), Arc::clone(&stop))?;
    let amqp_addr = control.amqp_addr;
    let console_addr = control.console_addr;
    threads.push(control.thread);

    let idle = if cfg.feed.busy_poll {
        IdleStrategy::BusySpin
    } else {
        IdleStrategy::BACKOFF
    };
    let plan = topo.as_ref().map(|t| PinPlan::new(mode, t));
    let cpu = |stage| {
        if cfg.threading.pin {
            plan.as_ref().and_then(|p| p.cpu_for(stage))
        } else {
            None
        }
    };
    let mut runners: Vec<(&str, Option<usize>, AgentRunner)> = match mode {
        ThreadingMode::Shared => {
            let mut agents: Vec<Box<dyn tickwire_hw::Agent>> =
                vec![Box::new(feed_agent), Box::new(fanout)];
            if let Some(j) = journal_agent.take() {
                agents.push(Box::new(j));
            }
            vec![("tw-data", cpu(Stage::Feed), AgentRunner::new(agents, idle))]
        }
        _ => vec![
            (
                "tw-feed",
                cpu(Stage::Feed),
                AgentRunner::new(vec![Box::new(feed_agent)], idle),
            ),
            (
                "tw-fanout",
                cpu(Stage::Fanout),
                AgentRunner::new(vec![Box::new(fanout)], idle),
            ),
        ],
    };
    if mode != ThreadingMode::Shared {
        if let Some(j) = journal_agent {
            let runner = AgentRunner::new(vec![Box::new(j)], idle);
            runners.push(("tw-journal", cpu(Stage::Journal), runner));
        }
    }
    let mut runner_stops = Vec::new();
    let mut runner_counters = Vec::new();
    let rt = cfg.threading.realtime_priority;
    for (name, cpu, runner) in runners {
        runner_stops.push(runner.stop_flag());
        runner_counters.push((name.to_string(), runner.counters()));
        let warn_stats = Arc::clone(&stats);
        let t = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut runner = runner;
                if let Some(c) = cpu {
                    if let Err(e) = tickwire_hw::pin_current_thread(c) {
                        warn_stats.raise(&format!("could not pin {name} to cpu {c}: {e}"));
                    }
                }
                if rt > 0 {
                    if let Err(e) = tickwire_hw::set_realtime(rt) {
                        warn_stats.raise(&format!("{name}: no realtime priority: {e}"));
                    }
                }
                runner.run();
            })
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        threads.push(t);
    }
    if cfg.threading.lock_memory {
        if let Err(e) = tickwire_hw::lock_memory() {
            warnings.push(format!("memory not locked: {e}"));
        }
    }

    if cfg.feed.source == FeedSource::Sim {
        let (t, _counters) = sim::spawn(&cfg.feed, &cfg.sim, Arc::clone(&stop))
            .map_err(|e| format!("simulator: {e}"))?;
        threads.push(t);
    }
    for w in &warnings {
        stats.raise(w);
    }
    Ok(Running {
        stop,
        runner_stops,
        runners: runner_counters,
        threads,
        amqp_addr,
        console_addr,
        stats,
        directory,
        warnings,
        first_seq,
    })
}

/// Opens the journal and its symbol log (loading the names into `directory`), or `None`
/// when capture is disabled. Recovery findings become warnings.
fn open_journal(
    cfg: &Config,
    directory: &Directory,
    warnings: &mut Vec<String>,
) -> Result<Option<(tickwire_journal::Writer, tickwire_journal::SymbolLog)>, String> {
    if !cfg.journal.enabled {
        return Ok(None);
    }
    let dir = &cfg.journal.dir;
    let symbols = tickwire_journal::SymbolLog::open(dir, directory)
        .map_err(|e| format!("journal symbol log in {}: {e}", dir.display()))?;
    let w = tickwire_journal::Writer::open(cfg.journal.writer_config())
        .map_err(|e| format!("journal in {}: {e}", dir.display()))?;
    // The journal's own note on a dropped tail is said again below, in the operator's words.
    let own = w
        .warnings()
        .iter()
        .filter(|m| !m.starts_with("recovery: dropped"));
    warnings.extend(own.cloned());
    let rec = w.recovery();
    if let Some((path, 0)) = &rec.dropped_tail {
        warnings.push(format!(
            "journal: a torn or corrupt last batch filled all of {}; the segment was removed \
             (it was never acknowledged as durable)",
            path.display()
        ));
    } else if let Some((path, offset)) = &rec.dropped_tail {
        warnings.push(format!(
            "journal: a torn or corrupt last batch in {} was cut off at byte {offset} \
             (it was never acknowledged as durable)",
            path.display()
        ));
    }
    if rec.corrupt_regions > 0 {
        warnings.push(format!(
            "journal: {} damaged region(s) in the last segment are skipped by readers",
            rec.corrupt_regions
        ));
    }
    Ok(Some((w, symbols)))
}
