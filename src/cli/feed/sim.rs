//! `tickwire feed sim`: the simulator's A and B lines, with faults, over UDP multicast with
//! the retransmission service beside them, or into a pcap capture.

use std::fs::File;
use std::io::BufWriter;
use std::net::{SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tickwire_feedhandler::pcap::PcapWriter;
use tickwire_feedhandler::retrans::{Server, ServerConfig, BLOCK_PREFIX_LEN};
use tickwire_feedhandler::sim::{Down, Faults, SideFaults, Sim, SimConfig};
use tickwire_feedhandler::wire::{Side, MAX_BLOCK};

use super::outbox::Outbox;
use super::{per_sec, LineArgs};

/// Blocks generated per round before the batch is sent and the service polled.
const BLOCKS_PER_ROUND: usize = 16;

/// The long `--help` text of `tickwire feed sim`.
pub const SIM_HELP: &str =
    "Send the simulator's A and B lines over UDP multicast (sendmmsg batches) at \
                  a target rate, with fault injection per side, and run the retransmission \
                  service (UDP, --retrans) beside them. With --pcap FILE --count N, write a \
                  capture of N messages (both lines, faults included) instead of sending.\n\n\
                  Rates are messages per second; fault rates are parts per million of \
                  packets. The same --seed gives the same universe, market and faults. A \
                  one-line summary is printed at the end.";

/// Arguments of `tickwire feed sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// The line plan (groups, ports, lines, retransmission address).
    #[command(flatten)]
    pub lines: LineArgs,
    /// Send with UDP segmentation offload: the datagrams of a batch for one group leave
    /// in one send, zero-padded to the longest (tickwire's feed handler ignores zero
    /// padding; other receivers may not).
    #[arg(long)]
    pub segment_offload: bool,
    /// Seed of the universe, the market and the faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Underlyings in the universe (the big real tickers first, then generated names).
    #[arg(long, default_value_t = 8)]
    pub underlyings: u32,
    /// Series per underlying, about.
    #[arg(long, default_value_t = 200)]
    pub series_per_underlying: u32,
    /// Target rate in messages per second (0 = flat out). Also the exchange clock's
    /// nominal rate, so a capture's timestamps follow it.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Most messages per block, 1..=255: each block carries a uniform 1..=N of them and
    /// stops at 1,400 bytes (255: full blocks, as a loaded exchange sends).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u8).range(1..))]
    pub block_messages: u8,
    /// Stop after this many seconds (default: run until interrupted or --count).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many messages (whole blocks: at least this many). Required with
    /// --pcap.
    #[arg(long)]
    pub count: Option<u64>,
    /// Loss on the A copies, parts per million.
    #[arg(long, default_value_t = 0)]
    pub loss_a: u32,
    /// Loss on the B copies, parts per million.
    #[arg(long, default_value_t = 0)]
    pub loss_b: u32,
    /// Reordering (a packet held back behind the next one) on both sides, ppm.
    #[arg(long, default_value_t = 0)]
    pub reorder: u32,
    /// Duplication on both sides, ppm.
    #[arg(long, default_value_t = 0)]
    pub dup: u32,
    /// Corruption (one byte changed; the block checksum catches it) on both sides, ppm.
    #[arg(long, default_value_t = 0)]
    pub corrupt: u32,
    /// Side A down for a range of blocks per line: FROM:BLOCKS (block indices per line).
    #[arg(long, value_parser = parse_down)]
    pub down_a: Option<Down>,
    /// Side B down for a range of blocks per line: FROM:BLOCKS.
    #[arg(long, value_parser = parse_down)]
    pub down_b: Option<Down>,
    /// Reset a line's block sequence (H K, restarting at 1) when it reaches this sequence.
    #[arg(long)]
    pub reset_at: Option<u32>,
    /// Write a pcap capture to FILE instead of sending (needs --count).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// After --count, send this many more blocks with no faults (so a receiver can see
    /// every gap before the stream ends).
    #[arg(long, default_value_t = 0)]
    pub clean_tail: u64,
    /// After the last block, keep answering retransmission requests this many seconds.
    #[arg(long, default_value_t = 0.5)]
    pub linger: f64,
}

fn parse_down(s: &str) -> Result<Down, String> {
    let (f, b) = s.split_once(':').ok_or("expected FROM:BLOCKS")?;
    Ok(Down {
        from_block: f.parse().map_err(|e| format!("FROM: {e}"))?,
        blocks: b.parse().map_err(|e| format!("BLOCKS: {e}"))?,
    })
}

impl SimArgs {
    /// Parses `tickwire feed sim` arguments (without the program and subcommand names).
    pub fn parse_from(argv: &[&str]) -> Result<Self, String> {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: SimArgs,
        }
        let it = std::iter::once("sim").chain(argv.iter().copied());
        <P as clap::Parser>::try_parse_from(it)
            .map(|p| p.a)
            .map_err(|e| e.to_string())
    }

    /// The simulator configuration these arguments describe (faults included).
    pub fn sim_config(&self) -> SimConfig {
        let side = |loss_ppm, down| SideFaults {
            loss_ppm,
            dup_ppm: self.dup,
            reorder_ppm: self.reorder,
            corrupt_ppm: self.corrupt,
            down,
            lines: Vec::new(),
        };
        let d = SimConfig::default();
        SimConfig {
            seed: self.seed,
            underlyings: self.underlyings,
            series_per_underlying: self.series_per_underlying,
            lines: self.lines.lines,
            nominal_rate: if self.rate > 0 {
                self.rate
            } else {
                d.nominal_rate
            },
            reset_at_seq: self.reset_at,
            max_msgs_per_block: self.block_messages,
            a: side(self.loss_a, self.down_a),
            b: side(self.loss_b, self.down_b),
            ..d
        }
    }
}

/// What a run sent.
#[derive(Debug, Default, Clone)]
pub struct SimSummary {
    /// Messages generated (each leaves once per side).
    pub messages: u64,
    /// Clean blocks generated.
    pub blocks: u64,
    /// Datagrams sent or written (after faults).
    pub packets: u64,
    /// Zero bytes of padding sent (`--segment-offload`).
    pub padding: u64,
    /// Faults applied: lost, down, duplicated, reordered, corrupted.
    pub faults: [u64; 5],
    /// Retransmission requests received and blocks resent.
    pub retrans: (u64, u64),
    /// Wall time of the run, seconds.
    pub secs: f64,
}

impl std::fmt::Display for SimSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [lost, down, dup, reord, corr] = self.faults;
        write!(
            f,
            "feed sim: {} messages in {} blocks, {} packets, {:.3} s ({:.0} msg/s); faults: \
             lost {lost}, down {down}, duplicated {dup}, reordered {reord}, corrupted {corr}; \
             retransmission: {} requests, {} blocks resent{}",
            self.messages,
            self.blocks,
            self.packets,
            self.secs,
            per_sec(self.messages, self.secs),
            self.retrans.0,
            self.retrans.1,
            if self.padding > 0 {
                format!("; {} bytes of zero padding", self.padding)
            } else {
                String::new()
            }
        )
    }
}

/// Runs `tickwire feed sim`.
pub fn run(args: SimArgs) -> Result<(), String> {
    args.lines.validate()?;
    let summary = if let Some(path) = &args.pcap {
        let count = args.count.ok_or("--pcap needs --count N")?;
        write_pcap(&args, path, count)?
    } else {
        send(&args, stop_on_ctrl_c())?
    };
    println!("{summary}");
    Ok(())
}

/// A flag set when the process gets SIGINT, so an interrupted run still stops cleanly and
/// prints its summary. The watcher thread lives until the process exits.
fn stop_on_ctrl_c() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = std::thread::Builder::new()
        .name("tw-feed-sigint".into())
        .spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                STOP.store(true, Ordering::Relaxed);
            }
        });
    &STOP
}

fn fault_counts(f: &Faults) -> [u64; 5] {
    let c = f.counters();
    [c.lost, c.down, c.duplicated, c.reordered, c.corrupted]
}

/// Writes a capture of at least `count` messages (whole blocks) to `path`: both sides of
/// every line, faults included, stamped with the simulator's exchange clock.
pub fn write_pcap(args: &SimArgs, path: &PathBuf, count: u64) -> Result<SimSummary, String> {
    let t0 = Instant::now();
    let cfg = args.sim_config();
    let plan = args.lines.plan();
    let mut sim = Sim::new(&cfg);
    let mut faults = Faults::new(cfg.seed, cfg.lines, cfg.a.clone(), cfg.b.clone());
    let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = PcapWriter::new(BufWriter::new(file), args.lines.interface)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut err = None;
    let mut blocks = 0u64;
    let mut last_ts = 0;
    while sim.messages() < count && err.is_none() {
        let b = sim.next_block();
        let (line, ts) = (b.line, b.ts_ns);
        last_ts = ts;
        blocks += 1;
        for side in [Side::A, Side::B] {
            let (g, port) = plan.group(line, side);
            faults.apply(line, side, b.bytes, &mut |p: &[u8]| {
                if let Err(e) = w.write_udp(ts, g, port, p) {
                    err.get_or_insert(e);
                }
            });
        }
    }
    for _ in 0..args.clean_tail {
        let b = sim.next_block();
        blocks += 1;
        last_ts = b.ts_ns;
        for side in [Side::A, Side::B] {
            let (g, port) = plan.group(b.line, side);
            if let Err(e) = w.write_udp(b.ts_ns, g, port, b.bytes) {
                err.get_or_insert(e);
            }
        }
    }
    for line in 1..=cfg.lines {
        for side in [Side::A, Side::B] {
            let (g, port) = plan.group(line, side);
            faults.flush(line, side, &mut |p: &[u8]| {
                if let Err(e) = w.write_udp(last_ts, g, port, p) {
                    err.get_or_insert(e);
                }
            });
        }
    }
    if let Some(e) = err {
        return Err(format!("{}: {e}", path.display()));
    }
    let packets = w.packets();
    w.finish().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(SimSummary {
        messages: sim.messages(),
        blocks,
        packets,
        padding: 0,
        faults: fault_counts(&faults),
        retrans: (0, 0),
        secs: t0.elapsed().as_secs_f64(),
    })
}

/// The retransmission service on its UDP socket.
struct Service {
    server: Server,
    sock: UdpSocket,
    req: [u8; 512],
    reply: Vec<u8>,
    t0: Instant,
}

impl Service {
    fn bind(args: &SimArgs) -> Result<Self, String> {
        let sock = UdpSocket::bind(args.lines.retrans)
            .map_err(|e| format!("retransmission service on {}: {e}", args.lines.retrans))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Self {
            server: Server::new(ServerConfig::new(args.lines.lines)),
            sock,
            req: [0; 512],
            reply: vec![0; MAX_BLOCK + BLOCK_PREFIX_LEN + 64],
            t0: Instant::now(),
        })
    }

    /// Answers every request waiting on the socket.
    fn serve(&mut self) {
        while let Ok((len, from)) = self.sock.recv_from(&mut self.req) {
            let now = self.t0.elapsed().as_nanos() as u64;
            let _ = self.server.handle_request(&self.req[..len], now);
            while let Some(r) = self.server.poll_reply(&mut self.reply) {
                let _ = self.sock.send_to(&self.reply[..r], from);
            }
        }
    }
}

/// Sends the lines until `stop`, `--duration` or `--count`, then serves retransmission
/// requests for `--linger` seconds. Returns what was sent.
pub fn send(args: &SimArgs, stop: &AtomicBool) -> Result<SimSummary, String> {
    let cfg = args.sim_config();
    let plan = args.lines.plan();
    let mut out = Outbox::new(args.lines.interface, args.segment_offload)?;
    let mut svc = Service::bind(args)?;
    let mut sim = Sim::new(&cfg);
    let mut faults = Faults::new(cfg.seed, cfg.lines, cfg.a.clone(), cfg.b.clone());
    let t0 = Instant::now();
    let until = args.duration.map(Duration::from_secs_f64);
    let count = args.count.unwrap_or(u64::MAX);
    let mut blocks = 0u64;
    loop {
        let elapsed = t0.elapsed();
        if stop.load(Ordering::Relaxed)
            || until.is_some_and(|u| elapsed >= u)
            || sim.messages() >= count
        {
            break;
        }
        let allowed = if args.rate == 0 {
            u64::MAX
        } else {
            (elapsed.as_nanos() as u64 / 1000).saturating_mul(args.rate) / 1_000_000
        };
        let mut n = 0;
        while n < BLOCKS_PER_ROUND && sim.messages() < allowed.min(count) {
            let b = sim.next_block();
            let line = b.line;
            svc.server.record(line, b.bytes);
            for side in [Side::A, Side::B] {
                let (g, port) = plan.group(line, side);
                let dest = SocketAddrV4::new(g, port);
                faults.apply(line, side, b.bytes, &mut |p: &[u8]| out.push(dest, p));
            }
            n += 1;
        }
        blocks += n as u64;
        out.flush();
        svc.serve();
        if n == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    blocks += send_tail(args, &mut sim, &mut faults, &mut svc, &mut out);
    let secs = t0.elapsed().as_secs_f64();
    let linger = Instant::now();
    while linger.elapsed().as_secs_f64() < args.linger && !stop.load(Ordering::Relaxed) {
        svc.serve();
        std::thread::sleep(Duration::from_micros(200));
    }
    let sc = svc.server.counters();
    Ok(SimSummary {
        messages: sim.messages(),
        blocks,
        packets: out.packets,
        padding: out.padding(),
        faults: fault_counts(&faults),
        retrans: (sc.requests, sc.blocks_sent),
        secs,
    })
}

/// The clean tail, then every packet still held back for reordering; returns the blocks
/// of the tail. Everything is sent when it returns.
fn send_tail(
    args: &SimArgs,
    sim: &mut Sim,
    faults: &mut Faults,
    svc: &mut Service,
    out: &mut Outbox,
) -> u64 {
    let plan = args.lines.plan();
    for _ in 0..args.clean_tail {
        let b = sim.next_block();
        svc.server.record(b.line, b.bytes);
        for side in [Side::A, Side::B] {
            let (g, port) = plan.group(b.line, side);
            out.push(SocketAddrV4::new(g, port), b.bytes);
        }
    }
    for line in 1..=args.lines.lines {
        for side in [Side::A, Side::B] {
            let (g, port) = plan.group(line, side);
            let dest = SocketAddrV4::new(g, port);
            faults.flush(line, side, &mut |p: &[u8]| out.push(dest, p));
        }
    }
    out.flush();
    args.clean_tail
}
