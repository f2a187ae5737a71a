//! `tickwire feed`: the exchange side and the capture tools.
//!
//! - `feed sim`: the simulator's A and B lines over UDP multicast (or into a pcap file),
//!   with fault injection and the retransmission service beside it;
//! - `feed replay`: a pcap capture or Databento DBN file played back onto the lines;
//! - `feed decode`: a capture decoded through the real feed handler, ticks and counters.
//!
//! These are control-plane tools, not the data plane: they allocate freely at start-up and
//! pace themselves with the wall clock. See `docs/feed-cli.md`.

pub mod bench;
pub mod dbn_replay;
pub mod decode;
mod outbox;
pub mod receive;
pub mod replay;
pub mod sim;

use std::net::{Ipv4Addr, SocketAddr};

use crate::app::feed::LinePlan;
use crate::config::FeedConfig;

/// Arguments of `tickwire feed`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Feed tools: simulate the A/B lines, write and replay captures, decode a capture",
    long_about = "Feed tools. `sim` sends the simulator's A and B lines over UDP multicast \
                  (or writes them to a pcap file), `replay` plays a pcap capture or a \
                  Databento DBN file back onto the lines, `decode` runs a capture through \
                  the feed handler and prints the normalized ticks and the counters.\n\n\
                  Line n of side A is group <a-base>+n, side B <b-base>+n, UDP port \
                  <port-base>+n: the same plan as the appliance's [feed] config."
)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `tickwire feed` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Send the simulated A and B lines over multicast, or write them to a pcap file.
    #[command(long_about = sim::SIM_HELP)]
    Sim(sim::SimArgs),
    /// Play a pcap capture or a DBN file back onto the lines.
    #[command(long_about = replay::REPLAY_HELP)]
    Replay(replay::ReplayArgs),
    /// Multicast ingest rate: a sender process on the lines, the feed handler here; the
    /// rate received and every counter over a measured window.
    Bench(bench::BenchArgs),
    /// Decode a capture through the feed handler: ticks, then counters (JSON).
    #[command(long_about = decode::DECODE_HELP)]
    Decode(decode::DecodeArgs),
}

/// The line plan, shared by every subcommand: which groups and ports the lines use.
#[derive(clap::Args, Debug, Clone)]
pub struct LineArgs {
    /// Number of feed lines (1..=96); line n uses groups a-base+n / b-base+n.
    #[arg(long, default_value_t = FeedConfig::default().lines)]
    pub lines: u8,
    /// Interface address to send multicast from (and bind the retransmission service on).
    #[arg(long, default_value_t = FeedConfig::default().interface)]
    pub interface: Ipv4Addr,
    /// Base address of the A lines' groups (line n is base + n).
    #[arg(long, default_value_t = FeedConfig::default().a_base)]
    pub a_base: Ipv4Addr,
    /// Base address of the B lines' groups (line n is base + n).
    #[arg(long, default_value_t = FeedConfig::default().b_base)]
    pub b_base: Ipv4Addr,
    /// UDP port of line n is port-base + n.
    #[arg(long, default_value_t = FeedConfig::default().port_base)]
    pub port_base: u16,
    /// UDP address of the retransmission service.
    #[arg(long, default_value_t = FeedConfig::default().retrans)]
    pub retrans: SocketAddr,
}

impl Default for LineArgs {
    fn default() -> Self {
        Self::from_config(&FeedConfig::default())
    }
}

impl LineArgs {
    /// The same plan as an appliance `[feed]` section.
    pub fn from_config(cfg: &FeedConfig) -> Self {
        Self {
            lines: cfg.lines,
            interface: cfg.interface,
            a_base: cfg.a_base,
            b_base: cfg.b_base,
            port_base: cfg.port_base,
            retrans: cfg.retrans,
        }
    }

    /// This plan as a feed config (the fields the plan uses; defaults elsewhere).
    pub fn feed_config(&self) -> FeedConfig {
        FeedConfig {
            lines: self.lines,
            interface: self.interface,
            a_base: self.a_base,
            b_base: self.b_base,
            port_base: self.port_base,
            retrans: self.retrans,
            ..FeedConfig::default()
        }
    }

    /// The line plan.
    pub fn plan(&self) -> LinePlan {
        LinePlan::new(&self.feed_config())
    }

    /// This plan as the command-line flags that give it (for a child `tickwire feed`).
    pub fn to_args(&self) -> Vec<String> {
        [
            ("--lines", self.lines.to_string()),
            ("--interface", self.interface.to_string()),
            ("--a-base", self.a_base.to_string()),
            ("--b-base", self.b_base.to_string()),
            ("--port-base", self.port_base.to_string()),
            ("--retrans", self.retrans.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect()
    }

    /// Checks the line count.
    pub fn validate(&self) -> Result<(), String> {
        if self.lines == 0 || self.lines > 96 {
            return Err(format!("--lines must be 1..=96, not {}", self.lines));
        }
        Ok(())
    }
}

/// Runs `tickwire feed`.
pub fn run(args: Args) -> Result<(), String> {
    match args.command {
        Command::Sim(a) => sim::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Decode(a) => decode::run(a),
        Command::Bench(a) => bench::run(a),
    }
}

/// `n` per second over `secs`, for summaries.
fn per_sec(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}
