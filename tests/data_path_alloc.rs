//! Issue 5's bar at the appliance level: "no allocation on the data path after warm-up".
//!
//! The crate tests (`amqp/tests/engine_alloc.rs`, `lvq/tests/allocations.rs`,
//! `feedhandler/tests/*_alloc.rs`, `journal/tests/no_alloc.rs`) prove it part by part. This
//! one runs the whole appliance in-process (`shared` threading: feed, fan-out and, in one
//! variant, the journal on the one `tw-data` thread), the simulator at 200,000 ticks/s and
//! four subscribers (`binary` and the default `map` format, on `opra/#` and on one exact
//! address), and counts the allocations made on `tw-data` only, with a global allocator
//! that knows each thread by name. With the journal, a fifth subscriber replays `opra/#`
//! from the first seq at half the recorded pace, so it stays in history for the whole
//! window: `tw-data` encodes those ticks from the replay thread's chunks.
//!
//! Inside a window in which at least 500,000 ticks flowed, every `tw-data` allocation's
//! backtrace is captured (unresolved, cheap; resolved after the window on the test
//! thread) and attributed to a site. The test asserts that none comes from the tick path:
//! each one is one of these periodic sites, within its bound.
//!
//! The console figures (`publish_stats` in `src/app/subscribers.rs`, every 100 ms) are
//! written into the board in place and must not allocate: they count as the tick path.
//! - The journal rolling to a new segment (`journal/src/writer_io.rs` `roll`: the path,
//!   the segment name, retention's listing): about 8 per segment of `segment_bytes`.
//! - An AMQP engine's output buffer growing to a new high-water mark
//!   (`amqp/src/engine/send.rs`, `Vec` growth in `fast_header` and `write_frames`):
//!   amortized growth, a few per window and fewer as the run goes on.
//!
//! Set `TW_ALLOC_TRACE=1` to print one backtrace per site.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tickwire::app::Running;
use tickwire::config::{Config, ModeChoice};
use tickwire_bench::subscriber::{self, Control, SubscriberSpec};

/// The data-plane thread's name in `shared` mode.
const DATA_THREAD: &str = "tw-data";

/// Allocations (and reallocations) made on `tw-data`.
static DATA_ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Set while the window is open: `tw-data` allocations capture their backtrace.
static CAPTURE: AtomicBool = AtomicBool::new(false);
/// The backtraces captured in the window (reserved before it opens).
static TRACES: Mutex<Vec<Backtrace>> = Mutex::new(Vec::new());
/// Most backtraces kept (far above any bound the test accepts).
const TRACE_MAX: usize = 8_192;

/// A thread's standing with the allocator.
const UNKNOWN: u8 = 0;
const DECIDING: u8 = 1;
const COUNTED: u8 = 2;
const IGNORED: u8 = 3;

thread_local! {
    /// Whether this thread's allocations count (const-initialized, no destructor: safe
    /// to touch inside the allocator, and no allocation of its own).
    static STANDING: Cell<u8> = const { Cell::new(UNKNOWN) };
    /// Re-entrancy guard: set while the allocator itself runs code that may allocate.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Decides, once per thread, whether it is `tw-data`. `thread::current()` may allocate on
/// first use; those inner allocations find the thread `DECIDING` and are not counted.
fn standing() -> u8 {
    let s = STANDING.try_with(Cell::get).unwrap_or(IGNORED);
    if s != UNKNOWN {
        return s;
    }
    STANDING.with(|c| c.set(DECIDING));
    let mine = std::thread::current().name() == Some(DATA_THREAD);
    let s = if mine { COUNTED } else { IGNORED };
    STANDING.with(|c| c.set(s));
    s
}

fn on_alloc() {
    if standing() != COUNTED || BUSY.with(Cell::get) {
        return;
    }
    DATA_ALLOCS.fetch_add(1, Ordering::Relaxed);
    if !CAPTURE.load(Ordering::Relaxed) {
        return;
    }
    // Capturing and storing allocate too: the guard keeps those out of the count.
    BUSY.with(|b| b.set(true));
    let bt = Backtrace::force_capture();
    let mut traces = TRACES.lock().unwrap_or_else(|e| e.into_inner());
    if traces.len() < TRACE_MAX {
        traces.push(bt);
    }
    drop(traces);
    BUSY.with(|b| b.set(false));
}

struct Counting;

// SAFETY: defers every call to `System` unchanged; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        on_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Simulator rate, ticks a second.
const RATE: u64 = 200_000;
/// Ticks that must flow through the measured window.
const WINDOW_TICKS: u64 = 500_000;
/// Warm-up before the window opens.
const WARM_UP: Duration = Duration::from_secs(3);
/// Allocations the journal makes when it rolls to a new segment (its path and name,
/// retention's listing): measured 7 to 8.
const PER_ROLL: u64 = 12;
/// Output buffers of the AMQP engines growing to a new high-water mark
/// (`amqp/src/engine/send.rs`, `Vec` growth in `fast_header` and `write_frames`): a few
/// per window, fewer as the run goes on.
const ENGINE_GROWTH_MAX: u64 = 16;

/// The test configuration: private ports and groups, `shared` threading, the journal in
/// `journal` when given.
fn config(journal: Option<&std::path::Path>) -> Config {
    let mut c = match journal {
        Some(dir) => private_journal_config(RATE, dir),
        None => private_config(RATE),
    };
    c.threading.mode = ModeChoice::Shared;
    c
}

/// The replaying subscriber's row in `/api/stats`: (phase, delivered).
fn replay_row(app: &Running) -> (String, u64) {
    let v = console_stats(app.console_addr.expect("console runs")).expect("console answers");
    let rows = v["subscribers"].as_array().expect("subscribers");
    let row = rows
        .iter()
        .find(|r| r["replay"].as_str().is_some_and(|p| !p.is_empty()))
        .expect("a replaying subscriber");
    (
        row["replay"].as_str().unwrap_or_default().to_string(),
        row["delivered"].as_u64().expect("delivered"),
    )
}

/// `/api/stats` totals: (ticks_in, delivered).
fn totals(app: &Running) -> (u64, u64) {
    let addr = app.console_addr.expect("console runs");
    let t0 = Instant::now();
    loop {
        if let Some(v) = console_stats(addr) {
            let t = &v["totals"];
            return (
                t["ticks_in"].as_u64().expect("ticks_in"),
                t["delivered"].as_u64().expect("delivered"),
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "console silent");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Four subscribers: `opra/#` and one exact address, each in `binary` and `map`; with
/// `replay`, a fifth replaying `opra/#` at half the recorded pace.
fn subscribe(
    app: &Running,
    control: &Arc<Control>,
    replay: bool,
) -> Vec<std::thread::JoinHandle<()>> {
    wait_for_ticks(app, 1_000, Duration::from_secs(20));
    let exact = app
        .directory
        .iter()
        .find(|i| i.osi.is_some())
        .expect("an option series is known")
        .address("opra");
    let mut handles = Vec::new();
    let mut addresses = vec![
        "opra/#?format=binary".to_string(),
        "opra/#".to_string(),
        format!("{exact}?format=binary"),
        exact.clone(),
    ];
    if replay {
        addresses.push("opra/#?replay-from=first&pace=0.5x&format=binary".to_string());
    }
    let n = addresses.len();
    for (index, address) in addresses.into_iter().enumerate() {
        let spec = SubscriberSpec {
            index,
            broker: app.amqp_addr,
            address,
            filters: Vec::new(),
            credit: 10_000,
            dense: index == 0,
            expected_interval_ns: 0,
            read_buffer: 1 << 20,
        };
        let h = subscriber::spawn(spec, Arc::clone(control)).expect("subscriber thread");
        handles.push(std::thread::spawn(move || {
            let r = h.join().expect("subscriber thread");
            if let Some(e) = r.error {
                eprintln!("subscriber {} ({}): {e}", r.index, r.address);
            }
        }));
    }
    let t0 = Instant::now();
    while control.attached.load(Ordering::SeqCst) < n {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "subscribers not attached"
        );
        assert_eq!(
            control.failed.load(Ordering::SeqCst),
            0,
            "a subscriber failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("exact address: {exact}");
    handles
}

/// What one measured window saw.
struct Window {
    elapsed: Duration,
    ticks: u64,
    delivered: u64,
    allocs: u64,
    /// The replaying subscriber's phase at the window's end and messages in the window.
    replay: Option<(String, u64)>,
    /// The allocations' backtraces, resolved.
    traces: Vec<String>,
}

/// Runs the appliance, warms up, and measures one window of at least [`WINDOW_TICKS`].
fn measure(cfg: &Config) -> Window {
    // One appliance at a time in this process: the counter is shared by every `tw-data`.
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let app = appliance(cfg);
    let control = Arc::new(Control::default());
    let replay = cfg.journal.enabled;
    let subs = subscribe(&app, &control, replay);
    control.measuring.store(true, Ordering::SeqCst);
    std::thread::sleep(WARM_UP);
    {
        let mut t = TRACES.lock().unwrap_or_else(|e| e.into_inner());
        t.clear();
        t.reserve(TRACE_MAX);
    }
    let (ticks0, delivered0) = totals(&app);
    let replay0 = replay.then(|| replay_row(&app).1);
    let allocs0 = DATA_ALLOCS.load(Ordering::SeqCst);
    let t0 = Instant::now();
    CAPTURE.store(true, Ordering::SeqCst);
    let (mut ticks1, mut delivered1) = (ticks0, delivered0);
    while ticks1 - ticks0 < WINDOW_TICKS {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {} ticks in 30 s",
            ticks1 - ticks0
        );
        std::thread::sleep(Duration::from_millis(250));
        (ticks1, delivered1) = totals(&app);
    }
    CAPTURE.store(false, Ordering::SeqCst);
    let allocs = DATA_ALLOCS.load(Ordering::SeqCst) - allocs0;
    let replay = replay0.map(|d0| {
        let (phase, d1) = replay_row(&app);
        (phase, d1 - d0)
    });
    let elapsed = t0.elapsed();
    control.stop.store(true, Ordering::SeqCst);
    for h in subs {
        let _ = h.join();
    }
    assert_eq!(
        control.failed.load(Ordering::SeqCst),
        0,
        "a subscriber failed"
    );
    app.stop();
    let captured = std::mem::take(&mut *TRACES.lock().unwrap_or_else(|e| e.into_inner()));
    Window {
        elapsed,
        ticks: ticks1 - ticks0,
        delivered: delivered1 - delivered0,
        allocs,
        replay,
        traces: captured.iter().map(|b| b.to_string()).collect(),
    }
}

/// The periodic places `tw-data` is known to allocate (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Site {
    /// The journal rolling to a new segment.
    JournalRoll,
    /// An AMQP engine's output buffer growing to a new high-water mark.
    EngineGrowth,
}

/// One frame of a resolved backtrace: the function's name and, when the debug info has
/// it, the source file. With full debug info names are qualified
/// (`<tickwire_journal::writer::Writer>::roll`); with line tables only, inlined frames
/// carry the bare name (`roll`) and the file tells whose it is.
struct Frame<'a> {
    name: &'a str,
    file: &'a str,
}

/// The frames of a backtrace as `std::backtrace::Backtrace` prints them: `N: name`, then
/// an optional `at file:line:col` line.
fn frames(trace: &str) -> Vec<Frame<'_>> {
    let mut out: Vec<Frame<'_>> = Vec::new();
    for line in trace.lines().map(str::trim) {
        if let Some(at) = line.strip_prefix("at ") {
            if let Some(last) = out.last_mut() {
                last.file = at;
            }
        } else if let Some((num, name)) = line.split_once(": ") {
            if num.chars().all(|c| c.is_ascii_digit()) {
                out.push(Frame { name, file: "" });
            }
        }
    }
    out
}

/// Whether a frame is function `name` in a file under `dir` (or qualified as `qualified`).
fn is_fn(f: &Frame<'_>, name: &str, dir: &str, qualified: &str) -> bool {
    f.name.contains(qualified)
        || (f.name.rsplit("::").next() == Some(name) && f.file.contains(dir))
}

/// The site a resolved backtrace belongs to; `None`: an allocation the test does not
/// accept (the tick path, or anything new).
fn site(trace: &str) -> Option<Site> {
    let fr = frames(trace);
    if fr
        .iter()
        .any(|f| is_fn(f, "roll", "journal/src/writer", "Writer>::roll"))
    {
        Some(Site::JournalRoll)
    } else if fr.iter().any(|f| {
        f.name.contains("tickwire_amqp::engine::send") || f.file.contains("amqp/src/engine/send")
    }) && fr.iter().any(|f| f.name.contains("grow"))
    {
        Some(Site::EngineGrowth)
    } else {
        None
    }
}

/// The frames of a backtrace that are ours (for messages).
fn our_frames(trace: &str) -> String {
    frames(trace)
        .iter()
        .filter(|f| {
            let ours = f.file.starts_with("./") || f.file.contains("/work/");
            (ours || f.name.contains("tickwire")) && !f.file.contains("data_path_alloc")
        })
        .take(16)
        .map(|f| format!("{} ({})", f.name, f.file))
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Attributes every allocation of the window and checks each site against its bound.
fn judge(w: &Window, segment_bytes: Option<u64>) {
    println!(
        "window {:?}: {} ticks in, {} messages delivered, {} allocations on tw-data \
         ({:.2e} per tick)",
        w.elapsed,
        w.ticks,
        w.delivered,
        w.allocs,
        w.allocs as f64 / w.ticks as f64
    );
    assert!(
        w.delivered >= w.ticks,
        "the two opra/# subscribers alone take every tick: {} < {}",
        w.delivered,
        w.ticks
    );
    if let Some((phase, sent)) = &w.replay {
        println!("replaying subscriber: {sent} messages in the window, now {phase}");
        assert_eq!(
            phase, "replaying",
            "the replay stayed in history all window"
        );
        assert!(
            *sent >= w.ticks / 4,
            "history flowed in the window: {sent} messages"
        );
    }
    assert_eq!(w.traces.len() as u64, w.allocs, "every allocation captured");
    let mut by_site = std::collections::HashMap::new();
    let mut unknown = Vec::new();
    for t in &w.traces {
        match site(t) {
            Some(s) => {
                let e = by_site.entry(s).or_insert((0u64, t.as_str()));
                e.0 += 1;
            }
            None => unknown.push(t.as_str()),
        }
    }
    if std::env::var_os("TW_ALLOC_TRACE").is_some() {
        for (s, (n, t)) in &by_site {
            println!("{s:?}: {n} allocations, e.g.\n  {}", our_frames(t));
        }
        for t in &unknown {
            println!("unattributed:\n{t}");
        }
    }
    println!(
        "by site: {by_site:?}",
        by_site = by_site.iter().map(|(s, v)| (s, v.0)).collect::<Vec<_>>()
    );
    assert!(
        unknown.is_empty(),
        "{} allocations on tw-data outside the known periodic sites; the first:\n  {}",
        unknown.len(),
        our_frames(unknown[0])
    );
    let count = |s| by_site.get(&s).map_or(0, |v: &(u64, &str)| v.0);
    let rolls = segment_bytes.map_or(0, |b| w.ticks * 64 / b + 2);
    let roll_bound = rolls * PER_ROLL;
    let n = count(Site::JournalRoll);
    assert!(n <= roll_bound, "journal rolls: {n} > {roll_bound}");
    let n = count(Site::EngineGrowth);
    assert!(
        n <= ENGINE_GROWTH_MAX,
        "engine buffer growth: {n} > {ENGINE_GROWTH_MAX}"
    );
}

#[test]
fn tw_data_allocates_nothing_per_tick_after_warm_up() {
    let w = measure(&config(None));
    judge(&w, None);
}

#[test]
fn tw_data_with_the_journal_allocates_nothing_per_tick() {
    let dir = fresh_test_dir("data-path-alloc-journal");
    let cfg = config(Some(&dir));
    let w = measure(&cfg);
    let _ = std::fs::remove_dir_all(&dir);
    judge(&w, Some(cfg.journal.segment_bytes));
}
