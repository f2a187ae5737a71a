//! Shared helpers for the end-to-end tests: an appliance on private ports and multicast
//! groups, and the real AMQP clients (Qpid Proton Python and C++, rhea) as child processes
//! whose JSON-lines output the tests check.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tickwire::app::{start, Running};
use tickwire::config::Config;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A configuration on private ports and groups, unique per process and call, so tests in
/// parallel (and an appliance a person runs on the defaults) never hear each other.
pub fn private_config(rate: u64) -> Config {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id() as u16;
    let salt = pid.wrapping_mul(31).wrapping_add(n.wrapping_mul(97));
    let mut c = Config::default();
    c.amqp.listen = "127.0.0.1:0".parse().unwrap();
    c.console.listen = "127.0.0.1:0".parse().unwrap();
    c.feed.lines = 4;
    c.feed.a_base = Ipv4Addr::new(239, 201, (salt % 250) as u8, 0);
    c.feed.b_base = Ipv4Addr::new(239, 202, (salt % 250) as u8, 0);
    c.feed.port_base = 20_000 + (salt % 400) * 100;
    // A port the kernel says is free now (a fixed formula once collided with another
    // process's ephemeral port).
    let free = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_or(40_000 + salt % 20_000, |a| a.port());
    c.feed.retrans = SocketAddr::from(([127, 0, 0, 1], free));
    c.feed.directory_capacity = 100_000;
    c.sim.underlyings = 8;
    c.sim.series_per_underlying = 20;
    c.sim.rate = rate;
    c.journal.enabled = false;
    c
}

/// Starts an appliance on `config`, with multicast on loopback turned on first.
pub fn appliance(config: &Config) -> Running {
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    start(config).expect("appliance starts")
}

/// Waits until the appliance has published `n` ticks (bounded by `limit`).
pub fn wait_for_ticks(app: &Running, n: u64, limit: Duration) {
    let t0 = Instant::now();
    while app.stats.feed().ticks_in < n {
        assert!(
            t0.elapsed() < limit,
            "feed published fewer than {n} ticks in {limit:?}: {:?}",
            app.stats.feed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a client to completion (bounded by its own timeout plus a margin) and returns
/// its JSON lines.
pub fn run_client(mut cmd: Command, limit: Duration) -> Vec<Value> {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let out = wait_with_limit(child, limit);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        !lines.is_empty(),
        "client {cmd:?} printed nothing; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn wait_with_limit(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    // Drain both pipes while the child runs: a client printing more than a pipe holds
    // would otherwise block forever.
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Starts a client in the background, draining its output as it runs (a client blocked
/// on a full pipe would stop reading from the appliance); [`Background::finish`]
/// collects its JSON lines.
pub struct Background {
    child: std::process::Child,
    out: std::thread::JoinHandle<Vec<u8>>,
}

impl Background {
    /// Starts `cmd` with its output piped and drained.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut stdout = child.stdout.take().expect("piped");
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
            buf
        });
        Self { child, out }
    }

    /// Waits (at most `limit`) and returns its JSON lines.
    pub fn finish(mut self, limit: Duration) -> Vec<Value> {
        let t0 = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = self.out.join().unwrap_or_default();
        String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The Qpid Proton Python client (Debian's python3-qpid-proton under /usr/bin/python3).
pub fn proton_py(args: &[&str]) -> Command {
    let mut c = Command::new("/usr/bin/python3");
    c.arg(root().join("tests/clients/proton_client.py"))
        .args(args);
    c
}

/// The rhea client (node, tests/js/node_modules).
pub fn rhea(args: &[&str]) -> Command {
    let mut c = Command::new("node");
    c.arg(root().join("tests/js/rhea_client.js")).args(args);
    c
}

/// Builds the Qpid Proton C++ client once per process and returns a command for it.
pub fn proton_cpp(args: &[&str]) -> Command {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let exe = BUILT.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("tw-proton-client-{}", std::process::id()));
        let status = Command::new("g++")
            .args(["-std=c++17", "-O1", "-o"])
            .arg(&out)
            .arg(root().join("tests/cpp/proton_client.cpp"))
            .arg("-lqpid-proton-cpp")
            .status()
            .expect("g++ runs");
        assert!(status.success(), "building the Proton C++ client failed");
        out
    });
    let mut c = Command::new(exe);
    c.args(args);
    c
}

/// Only the `message` events.
pub fn messages(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["event"] == "message").collect()
}

/// The first event named `name`.
pub fn event<'a>(lines: &'a [Value], name: &str) -> Option<&'a Value> {
    lines.iter().find(|l| l["event"] == name)
}

/// The URL of the appliance's AMQP endpoint.
pub fn url(app: &Running) -> String {
    format!("127.0.0.1:{}", app.amqp_addr.port())
}

/// Decodes a base64 string (the clients print binary bodies that way).
pub fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| val(c) as u32).collect();
        let n = v.iter().fold(0u32, |acc, &x| (acc << 6) | x) << (6 * (4 - v.len()));
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..v.len()]);
    }
    out
}

/// The tick record of a `binary`-format message event, if it carries one.
pub fn tick_of(m: &Value) -> Option<tickwire_record::Tick> {
    let b64 = m["body"]["binary"].as_str()?;
    tickwire_record::Tick::read_from(&base64(b64))
}

/// Whether a message event carries message-annotation `key`.
pub fn has_annotation(m: &Value, key: &str) -> bool {
    !m["annotations"][key].is_null()
}

/// Two TCP ports free right now on loopback (both bound at once, so they differ), for a
/// child appliance whose listen addresses must be known before it starts.
pub fn free_port_pair() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ports = (
        a.local_addr().expect("addr").port(),
        b.local_addr().expect("addr").port(),
    );
    drop((a, b));
    ports
}

/// `GET /api/stats` from the console at `addr` with plain HTTP/1.1 (bounded by socket
/// timeouts); `None` while the console does not answer 200 with JSON.
pub fn console_stats(addr: SocketAddr) -> Option<Value> {
    use std::io::{Read, Write};
    let t = Duration::from_secs(3);
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(t)).ok()?;
    s.set_write_timeout(Some(t)).ok()?;
    let req = format!("GET /api/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return None;
    }
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    serde_json::from_slice(&body).ok()
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol]).ok()?.split(';').next()?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(eol + 2..eol + 2 + n)?);
        b = b.get(eol + 4 + n..)?;
    }
}

/// A fresh, empty folder for a test's files under the target's temp dir, named by `tag`
/// and this process.
pub fn fresh_test_dir(tag: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// [`private_config`] with the journal on in `dir`, with 16 MiB segments.
pub fn private_journal_config(rate: u64, dir: &std::path::Path) -> Config {
    let mut c = private_config(rate);
    c.journal.enabled = true;
    c.journal.dir = dir.to_path_buf();
    c.journal.segment_bytes = 16 << 20;
    c
}

/// Hand-made AMQP frames (spec 2.3 and part 1 encodings) for tests that send what no
/// real client would: bad input, or a raw subscriber that stops reading.
pub mod raw_frames {
    /// `null`.
    pub const NULL: &[u8] = &[0x40];
    /// `uint0`: the uint 0.
    pub const UINT0: &[u8] = &[0x43];
    /// `true`.
    pub const TRUE: &[u8] = &[0x41];
    /// `false`.
    pub const FALSE: &[u8] = &[0x42];

    /// A described performative `00 53 code` with a list32 body holding `fields`.
    pub fn perf(code: u8, fields: &[&[u8]]) -> Vec<u8> {
        let inner: Vec<u8> = fields.concat();
        let mut v = vec![0x00, 0x53, code, 0xd0];
        v.extend_from_slice(&((inner.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(&(fields.len() as u32).to_be_bytes());
        v.extend_from_slice(&inner);
        v
    }

    /// An AMQP frame (type 0, doff 2) on `channel` around `body`.
    pub fn frame(channel: u16, body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(&[2, 0]);
        v.extend_from_slice(&channel.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A `uint` in its 4-byte form (0x70).
    pub fn uint(x: u32) -> Vec<u8> {
        let mut v = vec![0x70];
        v.extend_from_slice(&x.to_be_bytes());
        v
    }

    /// A `str8-utf8` (0xa1) of at most 255 bytes.
    pub fn str8(s: &str) -> Vec<u8> {
        let mut v = vec![0xa1, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    /// `open(container-id "bad-input")`.
    pub fn open_frame() -> Vec<u8> {
        frame(0, &perf(0x10, &[&str8("bad-input")]))
    }

    /// `begin(remote-channel null, next-outgoing-id 0, incoming-window, outgoing-window)`.
    pub fn begin_frame(ch: u16, window: u32) -> Vec<u8> {
        frame(
            ch,
            &perf(0x11, &[NULL, UINT0, &uint(window), &uint(window)]),
        )
    }

    /// A sending attach (we publish) on `ch` with `handle`, target `address`.
    pub fn attach_sender(ch: u16, handle: u32, address: &str) -> Vec<u8> {
        let src = perf(0x28, &[&str8("")]);
        let tgt = perf(0x29, &[&str8(address)]);
        let name = format!("pub-{ch}-{handle}");
        let f: [&[u8]; 10] = [
            &str8(&name),
            &uint(handle),
            FALSE,
            NULL,
            NULL,
            &src,
            &tgt,
            NULL,
            NULL,
            UINT0,
        ];
        frame(ch, &perf(0x12, &f))
    }

    /// A receiving attach (we subscribe) on `ch` with `handle`, source `address`.
    pub fn attach_receiver(ch: u16, handle: u32, address: &str) -> Vec<u8> {
        let src = perf(0x28, &[&str8(address)]);
        let tgt = perf(0x29, &[]);
        let name = format!("sub-{ch}-{handle}");
        let f: [&[u8]; 7] = [&str8(&name), &uint(handle), TRUE, NULL, NULL, &src, &tgt];
        frame(ch, &perf(0x12, &f))
    }

    /// A link flow granting `credit` on `handle`, with a session window of `window`.
    pub fn flow_frame(
        ch: u16,
        next_incoming: u32,
        window: u32,
        handle: u32,
        credit: u32,
    ) -> Vec<u8> {
        let f: [&[u8]; 7] = [
            &uint(next_incoming),
            &uint(window),
            UINT0,
            &uint(window),
            &uint(handle),
            UINT0,
            &uint(credit),
        ];
        frame(ch, &perf(0x13, &f))
    }

    /// `detach(handle, closed=true)`.
    pub fn detach_frame(ch: u16, handle: u32) -> Vec<u8> {
        frame(ch, &perf(0x16, &[&uint(handle), TRUE]))
    }

    /// A pre-settled single-frame `transfer` on `handle` with a one-byte payload.
    pub fn transfer_frame(ch: u16, handle: u32, id: u32) -> Vec<u8> {
        let mut body = perf(
            0x14,
            &[&uint(handle), &uint(id), &[0xa0, 1, b't'], UINT0, TRUE],
        );
        body.extend_from_slice(&[0x00, 0x53, 0x77, 0x40]); // amqp-value null
        frame(ch, &body)
    }

    /// `close` without an error.
    pub fn close_frame() -> Vec<u8> {
        frame(0, &perf(0x18, &[]))
    }
}

/// A Qpid Proton Python client (SASL ANONYMOUS, no reconnect) that only connects and
/// prints how the connection ended: `proton_client.py` reports link and transport events,
/// not a connection closed by the server with an error.
pub const PROTON_CONNECT: &str = r#"
import json, sys
from proton.handlers import MessagingHandler
from proton.reactor import Container

def emit(**kw):
    print(json.dumps(kw), flush=True)

class Connect(MessagingHandler):
    def on_start(self, event):
        self.timer = event.container.schedule(8.0, self)
        event.container.connect(sys.argv[1], reconnect=False)
    def on_connection_opened(self, event):
        emit(event="opened")
    def on_connection_error(self, event):
        c = event.connection.remote_condition
        emit(event="closed", condition=c.name if c else None,
             description=c.description if c else None)
        event.connection.close()
        self.timer.cancel()
    def on_transport_error(self, event):
        c = event.transport.condition
        emit(event="error", condition=c.name if c else None,
             description=c.description if c else None)
        self.timer.cancel()
    def on_timer_task(self, event):
        emit(event="timeout")
        event.container.stop()

Container(Connect()).run()
"#;

/// Runs [`PROTON_CONNECT`] against `url`.
pub fn proton_py_connect(url: &str) -> std::process::Command {
    let mut c = std::process::Command::new("/usr/bin/python3");
    c.args(["-c", PROTON_CONNECT, url]);
    c
}
