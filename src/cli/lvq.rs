//! `tickwire lvq`: the last-value cache for an operator.
//!
//! `tickwire lvq dump ADDRESS [--json] [--amqp HOST:PORT]` attaches to the running
//! appliance like any late joiner (source filters `tickwire:snapshot` = true and
//! `tickwire:format` = binary), using our own AMQP engine in client mode over a blocking
//! socket, and stops at the `tickwire:snapshot-end` marker. It prints one row per
//! instrument (or one JSON document with `--json`). Control plane: allocates freely.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role};
use tickwire_amqp::message::Sections;
use tickwire_amqp::Value;
use tickwire_record::{price, Tick};

/// Credit granted to the appliance at a time (re-granted when half is used); the
/// session window matches it so neither limits a large snapshot.
const CREDIT: u32 = 65_536;
/// Bytes of a read handed to the engine at a time.
const INPUT_SLICE: usize = 32 << 10;

/// Arguments of `tickwire lvq`.
#[derive(clap::Args, Debug)]
#[command(about = "Last-value cache tools: print the current value of every instrument")]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `tickwire lvq` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the current value of every instrument ADDRESS matches (e.g. `opra/SPY/#`),
    /// taken as a snapshot from the running appliance over AMQP.
    Dump(DumpArgs),
}

/// Arguments of `tickwire lvq dump`.
#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// The address pattern, e.g. `opra/#` or `opra/SPY/*`.
    pub address: String,
    /// Print one JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The appliance's AMQP endpoint.
    #[arg(long, default_value = "127.0.0.1:5672")]
    pub amqp: SocketAddr,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Print only the count, the marker's seq and the time taken (for benchmarks).
    #[arg(long)]
    pub summary: bool,
}

/// One instrument's value as the snapshot carried it.
#[derive(Clone, Debug)]
pub struct Row {
    /// The instrument's address (the message subject).
    pub address: String,
    /// The value as a tick record (see `LastValue::to_tick`).
    pub tick: Tick,
}

/// A whole snapshot: the values and the marker's seq.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// One row per instrument, in the order received (empty from [`count`]).
    pub rows: Vec<Row>,
    /// Values received (one per instrument).
    pub values: usize,
    /// The appliance seq the snapshot is consistent with.
    pub end_seq: u64,
    /// From attach to marker.
    pub elapsed: Duration,
}

/// Runs `tickwire lvq`.
pub fn run(args: Args) -> Result<(), String> {
    match args.command {
        Command::Dump(a) => dump(&a),
    }
}

fn dump(a: &DumpArgs) -> Result<(), String> {
    let timeout = Duration::from_secs_f64(a.timeout);
    let snap = if a.summary {
        count(a.amqp, &a.address, timeout)?
    } else {
        fetch(a.amqp, &a.address, timeout)?
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let r = if a.summary {
        writeln!(
            out,
            "{} values, snapshot-end seq {}, {:.3} s",
            snap.values,
            snap.end_seq,
            snap.elapsed.as_secs_f64()
        )
    } else if a.json {
        write_json(&snap, &mut out)
    } else {
        write_table(&snap, &mut out)
    };
    r.and_then(|()| out.flush())
        .map_err(|e| format!("cannot write: {e}"))
}

fn px(v: i32) -> f64 {
    price::to_f64(v)
}

fn write_table(s: &Snapshot, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>10} {:>10} {:>6} {:>10} {:>6} {:>10} {:>6} {:>9}",
        "ADDRESS", "SEQ", "BID", "BSIZE", "ASK", "ASIZE", "LAST", "LSIZE", "VOLUME"
    )?;
    for r in &s.rows {
        let t = &r.tick;
        writeln!(
            out,
            "{:<40} {:>10} {:>10.4} {:>6} {:>10.4} {:>6} {:>10.4} {:>6} {:>9}",
            r.address,
            t.seq.get(),
            px(t.bid.get()),
            t.bid_size.get(),
            px(t.ask.get()),
            t.ask_size.get(),
            px(t.last.get()),
            t.last_size.get(),
            t.volume.get()
        )?;
    }
    writeln!(
        out,
        "{} instruments, consistent with appliance seq {}",
        s.rows.len(),
        s.end_seq
    )
}

fn write_json(s: &Snapshot, out: &mut impl Write) -> std::io::Result<()> {
    let values: Vec<serde_json::Value> = s
        .rows
        .iter()
        .map(|r| {
            let t = &r.tick;
            serde_json::json!({
                "address": r.address,
                "instrument": t.instrument.get(),
                "seq": t.seq.get(),
                "ts_exchange": t.ts_exchange.get(),
                "bid": px(t.bid.get()),
                "bid_size": t.bid_size.get(),
                "ask": px(t.ask.get()),
                "ask_size": t.ask_size.get(),
                "last": px(t.last.get()),
                "last_size": t.last_size.get(),
                "volume": t.volume.get(),
                "flags": t.flags,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "end_seq": s.end_seq,
        "count": values.len(),
        "values": values,
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// Attaches to `address` with a snapshot at the appliance on `amqp` and collects values
/// until the `tickwire:snapshot-end` marker (or `timeout`).
pub fn fetch(amqp: SocketAddr, address: &str, timeout: Duration) -> Result<Snapshot, String> {
    take(amqp, address, timeout, true)
}

/// Like [`fetch`], but only counts the values (each still checked to be one record): the
/// client does the least work per value, for measuring the appliance's snapshot.
pub fn count(amqp: SocketAddr, address: &str, timeout: Duration) -> Result<Snapshot, String> {
    take(amqp, address, timeout, false)
}

fn take(
    amqp: SocketAddr,
    address: &str,
    timeout: Duration,
    keep: bool,
) -> Result<Snapshot, String> {
    let mut sock = TcpStream::connect_timeout(&amqp, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {amqp}: {e} (is `tickwire run` up?)"))?;
    let _ = sock.set_nodelay(true);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("socket: {e}"))?;
    let t0 = Instant::now();
    let mut c = Client {
        engine: Engine::new(client_config(), t0),
        address,
        link: None,
        rows: Vec::new(),
        keep,
        values: 0,
        end_seq: None,
        attached_at: t0,
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Vec::new();
    while c.end_seq.is_none() {
        if t0.elapsed() > timeout {
            return Err(format!(
                "no snapshot-end marker from {amqp} within {timeout:?} ({} values so far)",
                c.values
            ));
        }
        out.clear();
        c.engine.poll_transmit(&mut out);
        sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        match sock.read(&mut buf) {
            Ok(0) => return Err(format!("{amqp} closed the connection")),
            // In slices, taking the deliveries after each: handed over whole, a large read
            // queues thousands of them, which are out of the cache by the time they are read.
            Ok(n) => {
                for slice in buf[..n].chunks(INPUT_SLICE) {
                    c.engine.handle_input(slice, Instant::now());
                    c.handle_events()?;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        c.handle_events()?;
    }
    let elapsed = c.attached_at.elapsed();
    let _ = c.engine.close(None);
    out.clear();
    c.engine.poll_transmit(&mut out);
    let _ = sock.write_all(&out);
    Ok(Snapshot {
        rows: c.rows,
        values: c.values,
        end_seq: c.end_seq.unwrap_or(0),
        elapsed,
    })
}

/// Whether `bytes` is a snapshot value in the `binary` format: the snapshot annotation
/// section exactly as the appliance writes it, then a message ending in one 64-byte `data`
/// section. For counting (`--summary`) without decoding every section; anything else
/// takes the decoding path.
fn is_binary_value(bytes: &[u8]) -> bool {
    let head = crate::app::snapshot::annotation_section();
    let n = bytes.len();
    bytes.starts_with(head)
        && n >= head.len() + 69
        && bytes[n - 69..n - 64] == [0x00, 0x53, 0x75, 0xa0, 0x40]
}

fn client_config() -> Config {
    let mut cfg = Config::client("tickwire-lvq-dump");
    cfg.incoming_window = CREDIT;
    cfg.max_frame_size = 1 << 20;
    cfg
}

/// The client side of one dump.
struct Client<'a> {
    engine: Engine,
    address: &'a str,
    link: Option<LinkId>,
    rows: Vec<Row>,
    /// Whether values are kept as rows or only counted.
    keep: bool,
    values: usize,
    end_seq: Option<u64>,
    attached_at: Instant,
}

impl Client<'_> {
    fn handle_events(&mut self) -> Result<(), String> {
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::Opened { .. } => {
                    self.engine.begin().map_err(|e| format!("begin: {e:?}"))?;
                }
                Event::SessionBegun(session) => {
                    let spec = LinkSpec {
                        name: "tickwire-lvq-dump",
                        role: Role::Receiver,
                        source: Some(self.address),
                        target: None,
                        filters: &[("tickwire:snapshot", "true"), ("tickwire:format", "binary")],
                        snd_settle_mode: 1,
                    };
                    let link = self
                        .engine
                        .attach(session, spec)
                        .map_err(|e| format!("attach: {e:?}"))?;
                    self.link = Some(link);
                    self.attached_at = Instant::now();
                }
                Event::Attached { link, source, .. } => {
                    if source.is_none() {
                        continue; // refused: the detach with the reason follows
                    }
                    let _ = self.engine.grant_credit(link, CREDIT, false);
                }
                Event::Delivery(d) => {
                    self.on_message(d.link, &d.message)?;
                    self.engine.recycle(d);
                }
                Event::Detached { error, .. } => {
                    let why = error.map_or("no reason given".into(), |e| {
                        format!("{}: {}", e.condition, e.description)
                    });
                    return Err(format!("the appliance refused {:?}: {why}", self.address));
                }
                Event::Closed { error, .. } => {
                    return Err(format!("connection closed: {error:?}"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn on_message(&mut self, link: LinkId, bytes: &[u8]) -> Result<(), String> {
        if self.engine.credit(link) < CREDIT / 2 {
            let _ = self.engine.grant_credit(link, CREDIT, false);
        }
        if !self.keep && is_binary_value(bytes) {
            self.values += 1;
            return Ok(());
        }
        let m = Sections::scan(bytes).map_err(|e| format!("undecodable message: {e}"))?;
        let ann = m.message_annotations;
        let get = |k: &str| ann.as_ref().and_then(|a| a.get_symbol(k).ok().flatten());
        // A value first: all but one of the messages counted are.
        if get(crate::app::snapshot::SNAPSHOT_ANNOTATION) != Some(Value::Bool(true)) {
            if let Some(Value::Ulong(seq)) = get(crate::app::snapshot::SNAPSHOT_END_ANNOTATION) {
                self.end_seq = Some(seq);
            }
            return Ok(()); // the marker, or a live update interleaved with the snapshot
        }
        let tick = m
            .data
            .and_then(Tick::read_from)
            .ok_or("a snapshot value without one 64-byte binary record")?;
        self.values += 1;
        if self.keep {
            let address = m.subject.unwrap_or("").to_string();
            self.rows.push(Row { address, tick });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_binary_value;
    use crate::app::body::TickEncoder;
    use crate::app::snapshot::{marker_message, snapshot_message};
    use tickwire_amqp::Encoder;
    use tickwire_fanout::BodyFormat;
    use tickwire_record::{Directory, OsiSymbol, Tick};

    #[test]
    fn the_count_path_knows_a_binary_value_and_nothing_else() {
        let dir = Directory::with_capacity(4);
        let osi = OsiSymbol::parse("SPY261218C00450000").ok();
        let id = dir.intern("SPY", osi).unwrap();
        let enc = TickEncoder::new("opra", dir);
        let t = Tick {
            instrument: id.into(),
            ..Tick::default()
        };
        let mut value = Vec::new();
        snapshot_message(&enc, &t, BodyFormat::Binary, &mut value);
        assert!(is_binary_value(&value));
        let mut map = Vec::new();
        snapshot_message(&enc, &t, BodyFormat::Map, &mut map);
        assert!(!is_binary_value(&map), "a map value is decoded");
        let mut live = Vec::new();
        enc.write_message(&t, BodyFormat::Binary, &mut Encoder::new(&mut live));
        assert!(!is_binary_value(&live), "a live tick is not a value");
        let mut marker = Vec::new();
        marker_message("opra/#", 7, 1, &mut marker);
        assert!(!is_binary_value(&marker));
        assert!(!is_binary_value(&value[..value.len() - 1]), "cut short");
    }
}
