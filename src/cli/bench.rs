//! `tickwire bench`: starts the appliance in-process on private ports and multicast groups
//! (or points at another AMQP 1.0 broker with `--target`), connects N subscribers of our
//! own (`tickwire_bench::subscriber`, one connection each, reading the `binary` format),
//! runs for a set time and reports rates, loss, latency (corrected for coordinated
//! omission), CPU per stage and the machine. The load runs on one pinned harness thread
//! beside the appliance (`--layout pinned`, `super::harness`) or on threads of its own
//! (`spread`: a thread per subscriber, or a few threads sharing many connections). See
//! `docs/bench.md`.

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_bench::machine::{self, Machine};
use tickwire_bench::report::{Report, RunFacts};
use tickwire_bench::subscriber::{self, Control, SubscriberResult, SubscriberSpec};
use tickwire_feedhandler::sim::Universe;

use super::harness;
use crate::app::sim::SimDriver;
use crate::app::{self, Running};
use crate::config::{Config, FeedSource, ModeChoice};

/// Arguments of `tickwire bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of subscribers, each on its own connection (in the spread layout also on
    /// its own thread, up to 16; see `--subscriber-threads` and `--layout`).
    #[arg(long, default_value_t = 1)]
    pub subscribers: usize,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Simulator rate in ticks a second over all lines (0 = flat out).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Subscribe at this AMQP 1.0 broker (host:port) instead of starting the appliance.
    #[arg(long, value_name = "ADDR")]
    pub target: Option<String>,
    /// Source address; `{u}` becomes each subscriber's underlying, taken in turn from the
    /// simulator's universe (e.g. `opra/{u}/#`). Default: `<feed>/#`, everything.
    #[arg(long, value_name = "PATTERN")]
    pub address: Option<String>,
    /// Write an SVG chart (latency percentiles, per-subscriber rates) to this file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Base configuration (TOML) for the in-process appliance: universe size, lines,
    /// threading. Its ports and groups are replaced by private ones.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Underlyings in the simulated universe (overrides the config).
    #[arg(long)]
    pub underlyings: Option<u32>,
    /// Option series per underlying (overrides the config).
    #[arg(long)]
    pub series: Option<u32>,
    /// Most messages per feed block the simulator sends, 1..=255 (overrides the config;
    /// 255: full blocks, as a loaded exchange sends).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    pub block_messages: Option<u8>,
    /// Threading mode of the appliance: auto, shared or dedicated (overrides the config).
    #[arg(long)]
    pub threading: Option<String>,
    /// Link credit each subscriber grants (topped up when half is used).
    #[arg(long, default_value_t = 20_000)]
    pub credit: u32,
    /// Seconds run before the measured window opens.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Threads the subscribers share in the spread layout, each subscriber still on its
    /// own connection (giving it makes `--layout auto` spread). Default: a thread each up
    /// to 16 subscribers, one per core beyond (a thousand blocking threads on a small box
    /// measure the scheduler, not the appliance).
    #[arg(long, value_name = "K")]
    pub subscriber_threads: Option<usize>,
    /// Where the load runs: `spread` (the simulator and each subscriber thread on their
    /// own, scheduled by the kernel beside the appliance), `pinned` (the simulator and
    /// every subscriber stepped from one busy-polling thread on the CPU the appliance
    /// leaves to its control plane; the appliance's data thread busy-polls on its own
    /// core), or `auto`. See `docs/bench.md`.
    #[arg(long, value_enum, default_value_t = Layout::Auto)]
    pub layout: Layout,
}

/// Where `tickwire bench` runs its simulator and subscribers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `pinned` for an in-process appliance on a box with at least two CPUs, unless
    /// `--subscriber-threads` asks for threads; `spread` otherwise.
    Auto,
    /// A thread per subscriber (or a few groups) and the simulator's own thread, unpinned.
    Spread,
    /// One busy-polling load thread pinned beside the appliance's busy-polling data thread.
    Pinned,
}

/// Subscribers up to which each has its own thread by default.
const OWN_THREAD_LIMIT: usize = 16;

/// Blocks of market the pinned layout's simulator keeps and sends in a loop: 92 MB
/// reserved; with full blocks (`--block-messages 255`) about 2.4 M messages, over 0.4 s
/// of feed at 6 M ticks/s.
const PINNED_LOOP_BLOCKS: usize = 1 << 16;

/// The longest the harness waits for subscribers to attach.
const ATTACH_LIMIT: Duration = Duration::from_secs(60);

/// Runs `tickwire bench`.
pub fn run(args: Args) -> Result<(), String> {
    if args.subscribers == 0 {
        return Err("--subscribers must be at least 1".into());
    }
    if !(args.duration > 0.0 && args.duration.is_finite()) {
        return Err("--duration must be a positive number of seconds".into());
    }
    let layout = layout(&args);
    let cfg = config(&args, layout)?;
    let mut machine = Machine::read();
    machine.mistuned = tickwire_hw::tuning_report()
        .findings
        .iter()
        .map(|f| f.check.to_string())
        .collect();
    let (app, broker, mode) = match &args.target {
        Some(t) => (None, resolve(t)?, "target"),
        None => {
            tickwire_transport::testing::enable_loopback_multicast()
                .map_err(|e| format!("multicast on loopback: {e}"))?;
            let app = app::start(&cfg)?;
            let addr = app.amqp_addr;
            if layout == Layout::Spread {
                wait_for_feed(&app)?;
            }
            (Some(app), addr, "appliance")
        }
    };
    let specs = specs(&args, &cfg, broker, app.is_some());
    let pattern = pattern(&args, &cfg);
    let control = Arc::new(Control::default());
    let harness_busy = Arc::new(AtomicU64::new(0));
    let handles = match layout {
        Layout::Pinned => {
            let sim = match app {
                Some(_) => Some(
                    SimDriver::new(&cfg.feed, &cfg.sim).map_err(|e| format!("simulator: {e}"))?,
                ),
                None => None,
            };
            let cpu = app::control_cpu(&cfg);
            let busy = Arc::clone(&harness_busy);
            let t = harness::spawn(sim, specs, Arc::clone(&control), cpu, busy)
                .map_err(|e| format!("cannot start the harness thread: {e}"))?;
            vec![Handle::Group(t)]
        }
        _ => spawn_subscribers(&args, specs, &control)?,
    };
    if let (Layout::Pinned, Some(app)) = (layout, &app) {
        if let Err(e) = wait_for_feed(app) {
            control.stop.store(true, Ordering::SeqCst);
            return Err(e);
        }
    }
    let harness_busy = (layout == Layout::Pinned).then_some(harness_busy);
    let outcome = measure(&args, &control, handles, app.as_ref(), harness_busy)?;
    let mut report = Report::build(
        RunFacts {
            mode: mode.into(),
            broker: broker.to_string(),
            address: pattern,
            rate: if app.is_some() { args.rate } else { 0 },
            duration_s: outcome.seconds,
            layout: match layout {
                Layout::Pinned => "pinned",
                _ => "spread",
            }
            .into(),
        },
        &outcome.results,
        outcome.cpu,
        machine,
    );
    report.appliance = outcome.appliance;
    report.busy_percent = outcome.busy_percent;
    if let Some(app) = app {
        app.stop();
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, tickwire_bench::svg::render(&report))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table(20));
    }
    Ok(())
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("--target {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("--target {target} resolves to no address"))
}

/// The layout `--layout` asks for, `auto` resolved: `pinned` for an in-process appliance
/// with at least two CPUs (unless `--subscriber-threads` asks for threads of their own),
/// `spread` otherwise.
fn layout(args: &Args) -> Layout {
    match args.layout {
        Layout::Auto => {
            let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
            let threads = args.subscriber_threads.is_some();
            if args.target.is_none() && cpus >= 2 && !threads {
                Layout::Pinned
            } else {
                Layout::Spread
            }
        }
        other => other,
    }
}

/// The appliance's configuration: the base (file or default) on private ports and groups,
/// no console, no journal, the simulator at `--rate`. In the pinned layout the appliance
/// only receives (the harness runs the simulator, with segment offload), pins its data
/// thread and busy-polls.
fn config(args: &Args, layout: Layout) -> Result<Config, String> {
    let mut c = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let pid = std::process::id();
    let salt = (pid.wrapping_mul(31) % 250) as u8;
    c.amqp.listen = "127.0.0.1:0".parse().expect("valid literal");
    c.amqp.max_connections = c.amqp.max_connections.max(args.subscribers + 16);
    c.console.enabled = false;
    c.console.listen = "127.0.0.1:0".parse().expect("valid literal");
    c.feed.a_base = Ipv4Addr::new(239, 211, salt, 0);
    c.feed.b_base = Ipv4Addr::new(239, 212, salt, 0);
    c.feed.port_base = 30_000 + (pid % 200) as u16 * 100;
    c.feed.retrans = SocketAddr::from(([127, 0, 0, 1], 50_000 + (pid % 10_000) as u16));
    c.journal.enabled = false;
    c.sim.rate = args.rate;
    if layout == Layout::Pinned {
        c.feed.source = FeedSource::Multicast;
        c.feed.busy_poll = true;
        c.threading.pin = true;
        // The harness's simulator feeds only this appliance, whose handler takes the
        // padding: the cheapest send leaves the most of the harness's core to the rest.
        c.sim.segment_offload = true;
        // Nor should its market model take that core: a kept stretch of the market is
        // sent in a loop (`docs/bench.md`).
        if c.sim.loop_blocks == 0 {
            c.sim.loop_blocks = PINNED_LOOP_BLOCKS;
        }
    }
    if let Some(u) = args.underlyings {
        c.sim.underlyings = u;
    }
    if let Some(s) = args.series {
        c.sim.series_per_underlying = s;
    }
    if let Some(b) = args.block_messages {
        c.sim.block_messages = b;
    }
    if let Some(t) = &args.threading {
        c.threading.mode = match t.as_str() {
            "auto" => ModeChoice::Auto,
            "shared" => ModeChoice::Shared,
            "dedicated" => ModeChoice::Dedicated,
            other => {
                return Err(format!(
                    "--threading {other:?}: use auto, shared or dedicated"
                ))
            }
        };
    }
    Ok(c)
}

fn pattern(args: &Args, cfg: &Config) -> String {
    args.address
        .clone()
        .unwrap_or_else(|| format!("{}/#", cfg.feed.name))
}

/// Waits (bounded) until the feed publishes ticks, so subscribers measure a running feed.
fn wait_for_feed(app: &Running) -> Result<(), String> {
    let t0 = Instant::now();
    while app.stats.feed().ticks_in == 0 {
        if t0.elapsed() > Duration::from_secs(15) {
            return Err("the feed published no tick in 15 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// One spec per subscriber: the address (with `{u}` filled in), the `binary` format
/// filter when subscribing at our appliance, and the expected interval between its
/// messages at the target rate.
fn specs(args: &Args, cfg: &Config, broker: SocketAddr, ours: bool) -> Vec<SubscriberSpec> {
    let pattern = pattern(args, cfg);
    let names: Vec<String> = if pattern.contains("{u}") {
        Universe::generate(
            cfg.sim.seed,
            cfg.sim.underlyings,
            cfg.sim.series_per_underlying,
            cfg.feed.lines,
        )
        .underlyings
        .iter()
        .map(|u| u.name.to_string())
        .collect()
    } else {
        Vec::new()
    };
    let everything = format!("{}/#", cfg.feed.name);
    let path = pattern.split('?').next().unwrap_or("");
    let dense = ours && path == everything;
    let share = if names.is_empty() {
        1
    } else {
        names.len() as u64
    };
    let interval = if ours && args.rate > 0 {
        1_000_000_000 * share / args.rate
    } else {
        0
    };
    let format_given = pattern.contains("format=");
    let read_buffer = if args.subscribers > 16 {
        64 << 10
    } else {
        1 << 20
    };
    (0..args.subscribers)
        .map(|i| SubscriberSpec {
            index: i,
            broker,
            address: match names.get(i % names.len().max(1)) {
                Some(u) => pattern.replace("{u}", u),
                None => pattern.clone(),
            },
            filters: if ours && !format_given {
                vec![("tickwire:format".into(), "binary".into())]
            } else {
                Vec::new()
            },
            credit: args.credit.max(2),
            dense,
            expected_interval_ns: interval,
            read_buffer,
        })
        .collect()
}

/// A subscriber thread: one subscriber, or a group of them.
enum Handle {
    One(std::thread::JoinHandle<SubscriberResult>),
    Group(std::thread::JoinHandle<Vec<SubscriberResult>>),
}

/// Subscriber threads: `--subscriber-threads`, or one per subscriber up to
/// [`OWN_THREAD_LIMIT`] subscribers and one per core beyond.
fn subscriber_threads(args: &Args, n: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    match args.subscriber_threads {
        Some(k) => k.clamp(1, n),
        None if n <= OWN_THREAD_LIMIT => n,
        None => cores.min(n),
    }
}

/// What the measured window produced.
struct Outcome {
    results: Vec<SubscriberResult>,
    seconds: f64,
    cpu: std::collections::BTreeMap<String, f64>,
    busy_percent: std::collections::BTreeMap<String, f64>,
    appliance: Option<serde_json::Value>,
}

/// Starts the subscribers on their own threads: one each, or groups
/// ([`subscriber_threads`]).
fn spawn_subscribers(
    args: &Args,
    specs: Vec<SubscriberSpec>,
    control: &Arc<Control>,
) -> Result<Vec<Handle>, String> {
    let n = specs.len();
    let groups = subscriber_threads(args, n);
    let mut threads = Vec::with_capacity(groups);
    if groups >= n {
        for spec in specs {
            let t = subscriber::spawn(spec, Arc::clone(control))
                .map_err(|e| format!("cannot start a subscriber thread: {e}"))?;
            threads.push(Handle::One(t));
        }
    } else {
        let mut specs = specs.into_iter();
        for g in 0..groups {
            // Spread evenly: the first `n % groups` threads take one more.
            let take = n / groups + usize::from(g < n % groups);
            let part: Vec<_> = specs.by_ref().take(take).collect();
            let t = subscriber::spawn_group(part, Arc::clone(control))
                .map_err(|e| format!("cannot start a subscriber thread: {e}"))?;
            threads.push(Handle::Group(t));
        }
    }
    Ok(threads)
}

/// The busy time of every busy-polling thread so far: the appliance's data-plane runners
/// and, in the pinned layout, the harness.
fn busy_ns(app: Option<&Running>, harness: Option<&AtomicU64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = app
        .map(|a| {
            a.runners
                .iter()
                .map(|(name, c)| (name.clone(), c.busy_ns()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(h) = harness {
        v.push(("tw-harness".into(), h.load(Ordering::Relaxed)));
    }
    v
}

fn measure(
    args: &Args,
    control: &Control,
    threads: Vec<Handle>,
    app: Option<&Running>,
    harness_busy: Option<Arc<AtomicU64>>,
) -> Result<Outcome, String> {
    let n = args.subscribers;
    let t0 = Instant::now();
    while control.attached.load(Ordering::SeqCst) + control.failed.load(Ordering::SeqCst) < n {
        if t0.elapsed() > ATTACH_LIMIT {
            control.stop.store(true, Ordering::SeqCst);
            return Err(format!(
                "only {} of {n} subscribers attached in {ATTACH_LIMIT:?}",
                control.attached.load(Ordering::SeqCst)
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs_f64(args.warmup.max(0.0)));
    let before_app = app.map(snapshot);
    let before_busy = busy_ns(app, harness_busy.as_deref());
    let before = machine::threads();
    let start = Instant::now();
    control.measuring.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs_f64(args.duration));
    control.measuring.store(false, Ordering::SeqCst);
    let seconds = start.elapsed().as_secs_f64();
    let after = machine::threads();
    let after_busy = busy_ns(app, harness_busy.as_deref());
    let after_app = app.map(snapshot);
    control.stop.store(true, Ordering::SeqCst);
    let mut results = Vec::with_capacity(n);
    for t in threads {
        let joined = match t {
            Handle::One(t) => t.join().map(|r| vec![r]),
            Handle::Group(t) => t.join(),
        };
        results.extend(joined.map_err(|_| "a subscriber thread panicked")?);
    }
    let appliance = match (before_app, after_app) {
        (Some(b), Some(a)) => Some(appliance_figures(&b, &a, seconds)),
        _ => None,
    };
    let busy_percent = before_busy
        .into_iter()
        .zip(after_busy)
        .map(|((name, b), (_, a))| {
            // A cycle that straddles the window's ends may count a little past it.
            let pct = (a.saturating_sub(b) as f64 / (seconds * 1e9) * 100.0).min(100.0);
            (name, (pct * 10.0).round() / 10.0)
        })
        .collect();
    Ok(Outcome {
        results,
        seconds,
        busy_percent,
        cpu: machine::cpu_per_stage(&before, &after, 1_000_000_000),
        appliance,
    })
}

/// The appliance's own counters at one moment.
struct Snapshot {
    ticks_in: u64,
    datagrams: u64,
    coalesced: u64,
    messages_lost: u64,
    blocks_lost: u64,
    routed: u64,
    delivered: u64,
    lapped: u64,
    dropped: u64,
    mode: String,
}

fn snapshot(app: &Running) -> Snapshot {
    let feed = app.stats.feed();
    let fan = app.stats.fanout();
    let stats = app.stats.to_json();
    Snapshot {
        ticks_in: feed.ticks_in,
        datagrams: feed.datagrams,
        coalesced: feed.coalesced,
        messages_lost: feed.lines.iter().map(|l| l.messages_lost).sum(),
        blocks_lost: feed.lines.iter().map(|l| l.blocks_lost).sum(),
        routed: fan.ticks_routed,
        delivered: fan.delivered,
        lapped: fan.lapped,
        dropped: fan
            .subscribers
            .iter()
            .map(|s| s.dropped + s.conflated)
            .sum(),
        mode: stats["mode"].as_str().unwrap_or("").to_string(),
    }
}

/// The appliance's counters over the window: the feed's own rate and loss (so a shortfall
/// can be placed at the feed or at the fan-out), and what the fan-out dropped.
fn appliance_figures(b: &Snapshot, a: &Snapshot, secs: f64) -> serde_json::Value {
    let d = |x: u64, y: u64| y.saturating_sub(x);
    serde_json::json!({
        "threading": a.mode,
        "feed_ticks": d(b.ticks_in, a.ticks_in),
        "feed_ticks_per_second": d(b.ticks_in, a.ticks_in) as f64 / secs,
        "feed_datagrams": d(b.datagrams, a.datagrams),
        "feed_datagrams_coalesced": d(b.coalesced, a.coalesced),
        "feed_messages_lost": d(b.messages_lost, a.messages_lost),
        "feed_blocks_lost": d(b.blocks_lost, a.blocks_lost),
        "fanout_ticks_routed": d(b.routed, a.routed),
        "fanout_delivered": d(b.delivered, a.delivered),
        "fanout_lapped": d(b.lapped, a.lapped),
        "fanout_dropped": d(b.dropped, a.dropped),
    })
}
