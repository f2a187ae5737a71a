//! `tickwire feed replay`: a pcap capture (or a DBN file, see [`super::dbn_replay`]) played
//! back onto the lines at recorded pace, N× or flat out.

use std::fs::File;
use std::io::BufReader;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use tickwire_feedhandler::pcap::PcapReader;

use super::outbox::Outbox;
use super::{per_sec, LineArgs};

/// How fast a replay goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// The gaps between recorded timestamps, as recorded.
    Recorded,
    /// N times faster than recorded (`2x`; `0.5x` is half speed).
    Times(f64),
    /// As fast as the socket takes it.
    Max,
}

impl FromStr for Pace {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "recorded" | "1x" => Ok(Pace::Recorded),
            "max" => Ok(Pace::Max),
            _ => {
                let n = s
                    .strip_suffix(['x', 'X'])
                    .and_then(|n| n.parse::<f64>().ok())
                    .filter(|n| n.is_finite() && *n > 0.0)
                    .ok_or_else(|| format!("pace `{s}`: expected recorded, max or Nx (2x)"))?;
                Ok(Pace::Times(n))
            }
        }
    }
}

impl Pace {
    /// Wall-clock offset from the start at which a record `since_first_ns` after the
    /// first one is due; `None` for flat out.
    pub fn due(self, since_first_ns: u64) -> Option<Duration> {
        match self {
            Pace::Recorded => Some(Duration::from_nanos(since_first_ns)),
            Pace::Times(n) => Some(Duration::from_secs_f64(since_first_ns as f64 / 1e9 / n)),
            Pace::Max => None,
        }
    }
}

/// The pacing clock: sends batches when the next record is not yet due, then waits.
pub struct Pacer {
    pace: Pace,
    t0: Instant,
    first_ns: Option<u64>,
}

impl Pacer {
    /// A pacer starting now.
    pub fn new(pace: Pace) -> Self {
        Self {
            pace,
            t0: Instant::now(),
            first_ns: None,
        }
    }

    /// Waits until a record stamped `ts_ns` is due, flushing `out` first if it must wait.
    /// Timestamps that go backwards are sent at once.
    pub fn wait(&mut self, ts_ns: u64, out: &mut Outbox) {
        let first = *self.first_ns.get_or_insert(ts_ns);
        let Some(due) = self.pace.due(ts_ns.saturating_sub(first)) else {
            return;
        };
        let mut flushed = false;
        loop {
            let now = self.t0.elapsed();
            if now >= due {
                return;
            }
            if !flushed {
                out.flush();
                flushed = true;
                continue;
            }
            let left = due - now;
            if left > Duration::from_micros(300) {
                std::thread::sleep(left - Duration::from_micros(200));
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }
}

/// The long `--help` text of `tickwire feed replay`.
pub const REPLAY_HELP: &str = "Play a capture back onto the feed lines.\n\n\
                  --pcap FILE: every UDP datagram of a pcap capture (classic pcap, µs or ns, \
                  Ethernet, optional 802.1Q) is sent to the group and port it was captured \
                  on, so a capture of another plan replays onto that plan.\n\
                  --dbn FILE: Databento DBN records (.dbn or .dbn.zst; mbp-1, tbbo, trades, \
                  cbbo, bbo, statistics, ohlcv-1d and definition schemas) are mapped to our \
                  wire messages and sent on the lines of --a-base/--b-base/--port-base.\n\n\
                  --pace: `recorded` keeps the recorded gaps between timestamps, `Nx` goes N \
                  times faster (`10x`, `0.5x`), `max` sends flat out.";

/// Arguments of `tickwire feed replay`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReplayArgs {
    /// The line plan (used by --dbn; a pcap keeps its recorded destinations).
    #[command(flatten)]
    pub lines: LineArgs,
    /// A pcap capture to replay.
    #[arg(long, conflicts_with = "dbn", required_unless_present = "dbn")]
    pub pcap: Option<PathBuf>,
    /// Databento DBN files to replay (repeatable: definitions first, then data).
    #[arg(long, num_args = 1..)]
    pub dbn: Vec<PathBuf>,
    /// recorded, Nx (N times faster) or max.
    #[arg(long, default_value = "recorded")]
    pub pace: Pace,
    /// Send with UDP segmentation offload: the datagrams of a batch for one group leave
    /// in one send, zero-padded to the longest (tickwire's feed handler ignores zero
    /// padding; other receivers may not).
    #[arg(long)]
    pub segment_offload: bool,
}

impl ReplayArgs {
    /// Parses `tickwire feed replay` arguments (without the program and subcommand names).
    pub fn parse_from(argv: &[&str]) -> Result<Self, String> {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: ReplayArgs,
        }
        let it = std::iter::once("replay").chain(argv.iter().copied());
        <P as clap::Parser>::try_parse_from(it)
            .map(|p| p.a)
            .map_err(|e| e.to_string())
    }
}

/// What a replay sent.
#[derive(Debug, Default, Clone)]
pub struct ReplaySummary {
    /// Datagrams sent.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Records in the input that were not replayed (not UDP/IPv4, or unmapped DBN).
    pub skipped: u64,
    /// Recorded span from the first to the last record, seconds.
    pub recorded_secs: f64,
    /// Wall time of the replay, seconds.
    pub secs: f64,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "feed replay: {} packets, {} bytes, {} skipped; recorded span {:.3} s, replayed \
             in {:.3} s ({:.0} packets/s)",
            self.packets,
            self.bytes,
            self.skipped,
            self.recorded_secs,
            self.secs,
            per_sec(self.packets, self.secs)
        )
    }
}

/// Runs `tickwire feed replay`.
pub fn run(args: ReplayArgs) -> Result<(), String> {
    let s = match &args.pcap {
        Some(p) => replay_pcap(&args, p)?,
        None => super::dbn_replay::replay(&args)?,
    };
    println!("{s}");
    Ok(())
}

/// Replays a pcap capture onto the destinations it was captured on.
pub fn replay_pcap(args: &ReplayArgs, path: &PathBuf) -> Result<ReplaySummary, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| err(&e))?;
    let mut rd = PcapReader::new(BufReader::new(file)).map_err(|e| err(&e))?;
    let mut out = Outbox::new(args.lines.interface, args.segment_offload)?;
    let mut pacer = Pacer::new(args.pace);
    let (mut first, mut last) = (None, 0u64);
    while let Some(p) = rd.next_packet().map_err(|e| err(&e))? {
        first.get_or_insert(p.ts_ns);
        last = last.max(p.ts_ns);
        let dest = SocketAddrV4::new(p.dst, p.port);
        // Earlier packets go out before waiting for this one to be due.
        pacer.wait(p.ts_ns, &mut out);
        out.push(dest, p.payload);
    }
    out.flush();
    Ok(ReplaySummary {
        packets: out.packets,
        bytes: out.bytes,
        skipped: rd.skipped(),
        recorded_secs: first.map_or(0.0, |f| (last - f) as f64 / 1e9),
        secs: pacer.elapsed(),
    })
}
