//! The appliance's configuration: a TOML file whose every key has a default, so an empty
//! file (or none) is the embedded default a newcomer can run at once.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything `tickwire run` needs, as read from TOML. Unknown keys are refused, so a typo
/// is an error rather than a silently ignored setting.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The AMQP 1.0 endpoint.
    pub amqp: AmqpConfig,
    /// The HTTP console.
    pub console: ConsoleConfig,
    /// Where the feed comes from.
    pub feed: FeedConfig,
    /// The built-in simulator (used when `feed.source = "sim"`).
    pub sim: SimSection,
    /// Durable capture.
    pub journal: JournalConfig,
    /// Threads, pinning and realtime settings.
    pub threading: ThreadingConfig,
    /// Keyed last-value queues for published messages.
    pub lvq: LvqSection,
}

/// The AMQP 1.0 endpoint's settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Most connections accepted at once; more are refused at accept.
    pub max_connections: usize,
    /// Largest frame accepted or sent, in bytes.
    pub max_frame_size: u32,
    /// Most sessions per connection.
    pub max_sessions: u16,
    /// Most links per session.
    pub max_links_per_session: u32,
    /// Most bytes queued toward one subscriber link before its slow-consumer policy acts.
    pub link_queue_bytes: usize,
    /// Most bytes pending toward one connection.
    pub max_pending_bytes: usize,
    /// Largest message accepted from a publisher, in bytes.
    pub max_message_size: u64,
    /// Publishers may send to addresses under this prefix.
    pub publish_prefix: String,
    /// User names and passwords accepted with SASL PLAIN (empty: any).
    pub users: Vec<UserConfig>,
    /// Whether SASL ANONYMOUS is accepted.
    pub allow_anonymous: bool,
}

/// A user allowed to authenticate with SASL PLAIN.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: String,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:5672".parse().expect("valid literal"),
            max_connections: 1024,
            max_frame_size: 64 * 1024,
            max_sessions: 16,
            max_links_per_session: 4096,
            link_queue_bytes: 4 * 1024 * 1024,
            max_pending_bytes: 64 * 1024 * 1024,
            max_message_size: 64 * 1024 * 1024,
            publish_prefix: "pub/".into(),
            users: Vec::new(),
            allow_anonymous: true,
        }
    }
}

/// The HTTP console's settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Address and port of the console (`/` page, `/api/stats` JSON).
    pub listen: SocketAddr,
    /// Whether the console runs at all.
    pub enabled: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid literal"),
            enabled: true,
        }
    }
}

/// Where ticks come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedSource {
    /// The built-in simulator sends A and B lines over multicast; the handler receives them.
    #[default]
    Sim,
    /// Only receive: the lines come from elsewhere (a real feed, or `tickwire feed sim`).
    Multicast,
}

/// The feed's settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// The first level of every instrument address (`opra/SPY/...`).
    pub name: String,
    /// Simulator or multicast only.
    pub source: FeedSource,
    /// How many lines are received (OPRA has 96).
    pub lines: u8,
    /// Interface address multicast is joined on (loopback for the embedded default).
    pub interface: std::net::Ipv4Addr,
    /// First octets of the A lines' groups: line `n` is `a_base + n`.
    pub a_base: std::net::Ipv4Addr,
    /// First octets of the B lines' groups.
    pub b_base: std::net::Ipv4Addr,
    /// UDP port of line `n` is `port_base + n`.
    pub port_base: u16,
    /// The retransmission service's UDP address.
    pub retrans: SocketAddr,
    /// Busy-poll the receive sockets instead of sleeping when idle.
    pub busy_poll: bool,
    /// Receive coalescing (`UDP_GRO`): the kernel may hand over a run of one line's
    /// datagrams as one buffer, cut back into blocks before the handler sees them. Saves
    /// most of the kernel's per-datagram receive cost where the sender uses segment
    /// offload or the NIC coalesces; changes nothing else. Needs Linux 5.0 (warns and
    /// receives datagram by datagram before that).
    pub gro: bool,
    /// Capacity of the symbol directory (instruments).
    pub directory_capacity: u32,
    /// How long a retransmission request may go unanswered before the blocks it asked
    /// for are reported lost (a gap marker downstream), in milliseconds. Longer waits
    /// recover more from a slow service at the cost of holding the line's later blocks.
    pub retrans_timeout_ms: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            name: "opra".into(),
            source: FeedSource::Sim,
            lines: 8,
            interface: std::net::Ipv4Addr::LOCALHOST,
            a_base: std::net::Ipv4Addr::new(233, 43, 202, 0),
            b_base: std::net::Ipv4Addr::new(233, 43, 203, 0),
            port_base: 16_000,
            retrans: "127.0.0.1:15999".parse().expect("valid literal"),
            busy_poll: false,
            gro: true,
            directory_capacity: 2_000_000,
            retrans_timeout_ms: 50,
        }
    }
}

/// The built-in simulator's settings for `tickwire run`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSection {
    /// Seed of the deterministic universe and market.
    pub seed: u64,
    /// Number of underlyings.
    pub underlyings: u32,
    /// Option series per underlying.
    pub series_per_underlying: u32,
    /// Target messages a second over all lines (0 = flat out).
    pub rate: u64,
    /// Most messages per block (1..=255): each block carries a uniform 1..=N of them and
    /// stops at 1,400 bytes, so 255 gives full blocks, as a loaded exchange sends.
    pub block_messages: u8,
    /// Send with UDP segmentation offload: each batch's blocks for one line and side
    /// leave in one send, zero-padded to the longest (the feed handler ignores zero
    /// padding; `docs/feed-format.md`). Off by default: paced, a batch holds too few
    /// blocks per line for it to pay, and flat out the faster simulator only overruns the
    /// feed thread (`bench/RESULTS.md`, eighth session).
    pub segment_offload: bool,
    /// Paced, send what is due at most once per this many microseconds (0: as soon as a
    /// block is due). An exchange's lines arrive in bursts; a burst also gives segment
    /// offload several blocks per line and side to join into one send. A send carries at
    /// most 4,096 blocks, so an interval holding more at the rate falls behind it.
    pub send_interval_us: u64,
    /// 0: the market model makes every block. N: it makes the first N live blocks, which
    /// are then sent again and again in a loop, each re-sealed as the next block of its
    /// line (sequence number, time, checksum), so the simulator costs a copy a block.
    /// Reserves N × 1,400 bytes; N must be at least `feed.lines` and at most 1,048,576.
    pub loop_blocks: usize,
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            seed: 1,
            underlyings: 50,
            series_per_underlying: 40,
            rate: 200_000,
            block_messages: 24,
            segment_offload: false,
            send_interval_us: 0,
            loop_blocks: 0,
        }
    }
}

/// Durable capture settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Whether ticks are captured.
    pub enabled: bool,
    /// Folder of segment files.
    pub dir: PathBuf,
    /// Segment size in bytes.
    pub segment_bytes: u64,
    /// Commit at least this often, in microseconds.
    pub commit_interval_us: u64,
    /// Commit when this many bytes are pending.
    pub commit_bytes: usize,
    /// Delete oldest segments beyond this total size (0 = keep all).
    pub retain_bytes: u64,
    /// Delete segments last written longer ago than this, in seconds (0 = keep all).
    pub retain_secs: u64,
    /// Commit buffers: the in-memory backlog is `buffers × commit_bytes`; past it the
    /// journal records a gap and raises an alarm rather than stall the feed.
    pub buffers: usize,
}

impl JournalConfig {
    /// The journal crate's settings for this section.
    pub fn writer_config(&self) -> tickwire_journal::Config {
        let mut c = tickwire_journal::Config::new(&self.dir);
        c.segment_bytes = self.segment_bytes;
        c.commit_bytes = self.commit_bytes;
        c.commit_interval_ns = self.commit_interval_us.saturating_mul(1_000);
        c.buffers = self.buffers;
        c.retention_bytes = self.retain_bytes;
        c.retention_age_ns = self.retain_secs.saturating_mul(1_000_000_000);
        c
    }
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from("tickwire-data/journal"),
            segment_bytes: 256 * 1024 * 1024,
            commit_interval_us: 1000,
            commit_bytes: 1024 * 1024,
            retain_bytes: 4 * 1024 * 1024 * 1024,
            retain_secs: 0,
            buffers: 32,
        }
    }
}

/// How data-plane threads are laid out on cores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeChoice {
    /// `shared` on small boxes, `dedicated` where there are cores to spare.
    #[default]
    Auto,
    /// All data-plane stages on one pinned thread.
    Shared,
    /// One pinned thread per stage.
    Dedicated,
}

/// Threading settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreadingConfig {
    /// Threading mode.
    pub mode: ModeChoice,
    /// SCHED_FIFO priority for data-plane threads (0 = leave the default scheduler).
    pub realtime_priority: u8,
    /// Lock all memory (mlockall) at start.
    pub lock_memory: bool,
    /// Pin data-plane threads to cores.
    pub pin: bool,
}

impl Config {
    /// Reads a TOML file; a missing key takes its default.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("config {}: {e}", path.display()))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// The `[lvq]` section: addresses declared as keyed last-value queues.
///
/// ```toml
/// [[lvq.queues]]
/// address = "pub/prices"
/// key = "symbol"
/// ```
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LvqSection {
    /// The keyed queues; a publish to `address` keeps only the latest message per key.
    pub queues: Vec<KeyedQueueConfig>,
}

/// One keyed last-value queue: an address under the publish prefix and its key.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyedQueueConfig {
    /// The address (exact, no wildcards), e.g. `pub/prices`.
    pub address: String,
    /// The application-property name whose (string) value is the key.
    pub key: String,
    /// Most distinct keys held (default 100,000).
    #[serde(default = "default_lvq_max_keys")]
    pub max_keys: usize,
    /// Most key + body bytes held (default 64 MiB).
    #[serde(default = "default_lvq_max_bytes")]
    pub max_bytes: usize,
}

fn default_lvq_max_keys() -> usize {
    100_000
}

fn default_lvq_max_bytes() -> usize {
    64 << 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_the_embedded_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.amqp.listen.to_string(), "127.0.0.1:5672");
        assert_eq!(c.console.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.feed.source, FeedSource::Sim);
    }

    #[test]
    fn keys_override_and_typos_are_refused() {
        let c = Config::parse("[amqp]\nlisten = \"127.0.0.1:5800\"\n").unwrap();
        assert_eq!(c.amqp.listen.port(), 5800);
        let e = Config::parse("[amqp]\nlisen = \"x\"\n").unwrap_err();
        assert!(e.contains("lisen"), "{e}");
    }

    #[test]
    fn default_round_trips_through_toml() {
        let text = toml::to_string(&Config::default()).unwrap();
        let back = Config::parse(&text).unwrap();
        assert_eq!(back.amqp.listen, Config::default().amqp.listen);
    }

    #[test]
    fn lvq_section_declares_keyed_queues() {
        let c = Config::parse(
            "[[lvq.queues]]\naddress = \"pub/prices\"\nkey = \"symbol\"\n\
             [[lvq.queues]]\naddress = \"pub/risk\"\nkey = \"desk\"\nmax_keys = 10\n",
        )
        .unwrap();
        assert_eq!(c.lvq.queues.len(), 2);
        assert_eq!(c.lvq.queues[0].key, "symbol");
        assert_eq!(c.lvq.queues[0].max_keys, 100_000);
        assert_eq!(c.lvq.queues[1].max_keys, 10);
        assert!(Config::parse("[[lvq.queues]]\naddress = \"pub/x\"\n").is_err());
        assert!(Config::default().lvq.queues.is_empty());
    }
}
