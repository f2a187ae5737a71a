//! The `tickwire` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tickwire::config::Config;

/// tickwire: an OPRA-style market-data appliance. Takes redundant multicast feed lines in,
/// hands every tick to AMQP 1.0 subscribers: live, last value first, or replayed.
#[derive(Parser, Debug)]
#[command(name = "tickwire", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the appliance. With no arguments: the embedded default (simulated feed on
    /// loopback multicast, journal in ./tickwire-data, AMQP on 127.0.0.1:5672, console on
    /// http://127.0.0.1:8080).
    Run(RunArgs),
    /// Feed tools: simulate lines, write and replay captures, decode a capture.
    Feed(tickwire::cli::feed::Args),
    /// Throughput and latency harness: the appliance and N subscribers of our own.
    Bench(tickwire::cli::bench::Args),
    /// Last-value queues: dump the current values of an address.
    Lvq(tickwire::cli::lvq::Args),
    /// Write ticks from the journal to stdout as CSV or JSON lines, optionally paced.
    Replay(tickwire::cli::replay::Args),
    /// Write ticks from the journal to a Parquet file.
    Export(tickwire::cli::export::Args),
    /// What on this box is mistuned for the appliance (CPU, scheduler, network, VM idle
    /// polling), each with the exact fix.
    Doctor(tickwire::cli::doctor::Args),
    /// Print the effective configuration as TOML (the defaults, or a file merged over them).
    Config {
        /// Configuration file to read.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Flags of `tickwire run`; each overrides the config file.
#[derive(clap::Args, Debug, Default)]
struct RunArgs {
    /// Configuration file (TOML); every key has a default.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// AMQP listen address.
    #[arg(long, value_name = "ADDR:PORT")]
    amqp: Option<std::net::SocketAddr>,
    /// Console listen address.
    #[arg(long, value_name = "ADDR:PORT")]
    console: Option<std::net::SocketAddr>,
    /// Simulator rate in messages a second (0 = flat out).
    #[arg(long, value_name = "MSGS_PER_SEC")]
    rate: Option<u64>,
}

fn load(path: Option<&PathBuf>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Feed(args) => tickwire::cli::feed::run(args),
        Command::Bench(args) => tickwire::cli::bench::run(args),
        Command::Lvq(args) => tickwire::cli::lvq::run(args),
        Command::Replay(args) => tickwire::cli::replay::run(args),
        Command::Export(args) => tickwire::cli::export::run(args),
        Command::Doctor(args) => tickwire::cli::doctor::run(args),
        Command::Config { config } => load(config.as_ref()).and_then(|c| {
            print!("{}", toml::to_string(&c).map_err(|e| e.to_string())?);
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickwire: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    let mut config = load(args.config.as_ref())?;
    if let Some(a) = args.amqp {
        config.amqp.listen = a;
    }
    if let Some(a) = args.console {
        config.console.listen = a;
    }
    if let Some(r) = args.rate {
        config.sim.rate = r;
    }
    if config.feed.interface.is_loopback() {
        if let Err(e) = tickwire_transport::ensure_loopback_multicast() {
            return Err(format!("{e}"));
        }
    }
    let running = tickwire::app::start(&config)?;
    eprintln!("tickwire running ({} feed lines)", config.feed.lines);
    eprintln!("  AMQP 1.0   amqp://{}", running.amqp_addr);
    if let Some(c) = running.console_addr {
        eprintln!("  console    http://{c}");
    }
    if config.journal.enabled {
        let dir = config.journal.dir.display();
        eprintln!(
            "  journal    {dir} (numbering from seq {})",
            running.first_seq
        );
    }
    if let Some(t) = running
        .stats
        .tuning()
        .and_then(tickwire::cli::doctor::summary)
    {
        eprintln!("  tuning     {t}");
    }
    for w in &running.warnings {
        eprintln!("  warning: {w}");
    }
    eprintln!("Ctrl-C stops it.");
    wait_for_signal()?;
    eprintln!("tickwire: stopping");
    running.stop();
    Ok(())
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| e.to_string()),
            _ = term.recv() => Ok(()),
        }
    })
}
