//! `tickwire feed bench`: the multicast ingest rate, A and B lines both live.
//!
//! Starts `tickwire feed sim` as a separate process (so the sender does not share this
//! process's threads) on the line plan, receives both lines here through the feed
//! handler (arbitration, gap recovery, normalization), and after a warm-up measures for
//! `--duration` seconds: the rate actually received (normalized messages a second), and
//! every line counter over the window. Zero loss means no message reported lost and no
//! gap left unfilled in the window.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickwire_feedhandler::counters::LineCounters;
use tickwire_feedhandler::handler::HandlerConfig;

use super::receive::Receiver;
use super::LineArgs;

/// Arguments of `tickwire feed bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The line plan (both the sender and the receiver use it).
    #[command(flatten)]
    pub lines: LineArgs,
    /// Offered rate in messages a second over all lines (0 = as fast as the sender can).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds received before the measured window opens.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Underlyings in the simulated universe.
    #[arg(long, default_value_t = 100)]
    pub underlyings: u32,
    /// Option series per underlying.
    #[arg(long, default_value_t = 200)]
    pub series_per_underlying: u32,
    /// Most messages per block the simulator sends, 1..=255 (ignored with --pcap: the
    /// capture's blocks are what they are).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u8).range(1..))]
    pub block_messages: u8,
    /// Send this capture (`tickwire feed sim --pcap F --count N`) as fast as possible
    /// instead of simulating: the sender then does no generating work, so the receiver is
    /// what is measured. The window is then the whole capture, first to last datagram.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,
    /// The sender uses UDP segmentation offload (`feed sim`/`feed replay`
    /// `--segment-offload`): fewer, larger sends, zero-padded blocks.
    #[arg(long)]
    pub segment_offload: bool,
    /// Poll the sockets without ever sleeping in epoll (the receiving thread spins, as
    /// the appliance's feed thread does with `feed.busy_poll`).
    #[arg(long)]
    pub busy_poll: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What one run measured.
#[derive(Debug, serde::Serialize)]
pub struct IngestReport {
    /// Offered rate (0 = flat out).
    pub offered_rate: u64,
    /// Whether a capture was sent (`--pcap`) rather than the simulator.
    pub capture: bool,
    /// Seconds in the measured window.
    pub seconds: f64,
    /// Normalized messages received a second in the window.
    pub messages_per_sec: f64,
    /// Datagrams received a second (both lines of every line).
    pub datagrams_per_sec: f64,
    /// Messages per block on average (each block arrives twice, A and B).
    pub messages_per_block: f64,
    /// Whether nothing was lost in the window.
    pub zero_loss: bool,
    /// Every counter, summed over the lines, over the window.
    pub counters: LineCounters,
}

fn spawn_sender(a: &BenchArgs, seconds: f64) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find tickwire: {e}"))?;
    let mut args: Vec<(&str, String)> = Vec::new();
    let verb = match &a.pcap {
        Some(p) => {
            args.push(("--pcap", p.display().to_string()));
            args.push(("--pace", "max".into()));
            "replay"
        }
        None => {
            args.push(("--rate", a.rate.to_string()));
            args.push(("--duration", format!("{seconds:.3}")));
            args.push(("--underlyings", a.underlyings.to_string()));
            let s = a.series_per_underlying.to_string();
            args.push(("--series-per-underlying", s));
            args.push(("--block-messages", a.block_messages.to_string()));
            "sim"
        }
    };
    Command::new(exe)
        .args(["feed", verb])
        .args(a.lines.to_args())
        .args(a.segment_offload.then_some("--segment-offload"))
        .args(args.iter().flat_map(|(k, v)| [k.to_string(), v.clone()]))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the sender: {e}"))
}

/// Runs the bench and prints its report.
pub fn run(a: BenchArgs) -> Result<(), String> {
    a.lines.validate()?;
    if !(a.duration > 0.0 && a.warmup >= 0.0) {
        return Err("--duration must be > 0 and --warmup >= 0".into());
    }
    let capacity = a.underlyings.saturating_mul(a.series_per_underlying + 1) + 1024;
    let mut rx = Receiver::join(&a.lines, HandlerConfig::new(a.lines.lines), capacity)?;
    let mut sender = spawn_sender(&a, a.warmup + a.duration + 1.0)?;
    let report = measure(&a, &mut rx);
    let _ = sender.kill();
    let _ = sender.wait();
    let report = report?;
    if a.json {
        let json = serde_json::to_string(&report).map_err(|e| e.to_string())?;
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), (json + "\n").as_bytes());
    } else {
        print_report(&report);
    }
    Ok(())
}

fn measure(a: &BenchArgs, rx: &mut Receiver) -> Result<IngestReport, String> {
    // Busy polling never sleeps in epoll: no wake-up per burst, a core kept spinning.
    let wait = if a.busy_poll {
        Duration::ZERO
    } else {
        Duration::from_millis(1)
    };
    let mut ticks = 0u64;
    let mut sink = |_t| ticks += 1;
    let t0 = Instant::now();
    // The sender needs a moment to start: wait for the first datagram (bounded). A poll
    // handles everything waiting, so a capture's clock starts before the first one does:
    // when a datagram is known to be waiting.
    let mut start = Instant::now();
    while rx.packets == 0 {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err("no datagram arrived in 10 s: is multicast on for the interface?".into());
        }
        rx.wait_readable(Duration::from_millis(10));
        start = Instant::now();
        rx.poll(Duration::ZERO, &mut sink);
    }
    let (before, packets0, seconds) = if a.pcap.is_some() {
        // The whole capture: from the first datagram to the last (300 ms of quiet ends it).
        let mut last = Instant::now();
        while last.elapsed() < Duration::from_millis(300) {
            if rx.poll(wait, &mut sink) > 0 {
                last = Instant::now();
            }
        }
        let seconds = last.duration_since(start).as_secs_f64().max(1e-3);
        (Default::default(), 0, seconds)
    } else {
        let warm_end = Instant::now() + Duration::from_secs_f64(a.warmup);
        while Instant::now() < warm_end {
            rx.poll(wait, &mut sink);
        }
        let before = rx.handler().counters().total();
        let packets0 = rx.packets;
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(a.duration);
        while Instant::now() < end {
            rx.poll(wait, &mut sink);
        }
        (before, packets0, start.elapsed().as_secs_f64())
    };
    let c = rx.handler().counters().total().since(&before);
    let unfilled = c.gaps_seen.saturating_sub(c.gaps_filled);
    Ok(IngestReport {
        offered_rate: a.rate,
        capture: a.pcap.is_some(),
        seconds,
        messages_per_sec: c.messages as f64 / seconds,
        datagrams_per_sec: (rx.packets - packets0) as f64 / seconds,
        messages_per_block: 2.0 * c.messages as f64 / (rx.packets - packets0).max(1) as f64,
        zero_loss: c.messages_lost == 0 && c.blocks_lost == 0 && unfilled == 0,
        counters: c,
    })
}

/// Prints the report; a closed stdout (`| head`) ends it quietly.
fn print_report(r: &IngestReport) {
    use std::io::Write;
    let offered = if r.capture {
        "a capture replayed as fast as possible".to_string()
    } else if r.offered_rate == 0 {
        "flat out".to_string()
    } else {
        format!("{} msgs/s offered", r.offered_rate)
    };
    let mut text = format!(
        "feed bench: {:.0} msgs/s received ({:.0} datagrams/s, A and B; {:.1} msgs/block), \
         {offered}, {:.2} s\nloss: {}\n",
        r.messages_per_sec,
        r.datagrams_per_sec,
        r.messages_per_block,
        r.seconds,
        if r.zero_loss {
            "none"
        } else {
            "SOME (see counters)"
        }
    );
    let c = serde_json::to_value(r.counters).unwrap_or_default();
    if let Some(m) = c.as_object() {
        for (k, v) in m {
            text.push_str(&format!("  {k:<26} {v}\n"));
        }
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
