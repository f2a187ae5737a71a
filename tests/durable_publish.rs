//! Durable publishes (issue 7): a message published with `header.durable` = true is
//! settled `accepted` only once the journal commit holding it completed. Checked with the
//! Qpid Proton Python publisher: in process (every accepted message is in the journal,
//! intact and in order; a non-durable one is not journaled), and across `kill -9` of the
//! real binary (every message the publisher saw accepted survives).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tickwire_journal::{ReadItem, Reader};

const LIMIT: Duration = Duration::from_secs(60);
const SIZE: usize = 48;

/// The body the publisher sends as its `k`-th message (`--size`): see proton_client.py.
fn body(k: usize) -> Vec<u8> {
    (0..SIZE).map(|i| ((i * 7 + k) % 251) as u8).collect()
}

/// The messages in the journal, in seq order (seq, bytes); panics on damage before
/// `stop_at_damage` messages were read.
fn journal_messages(dir: &Path) -> (Vec<(u64, Vec<u8>)>, u64) {
    let mut r = Reader::open(dir).expect("journal opens");
    let (mut out, mut damaged) = (Vec::new(), 0);
    while let Some(item) = r.next() {
        match item {
            ReadItem::Messages(m) => out.extend(m.map(|(s, b)| (s, b.to_vec()))),
            ReadItem::Corrupt(_) => damaged += 1,
            _ => {}
        }
    }
    (out, damaged)
}

fn accepted(lines: &[Value]) -> usize {
    let settled: Vec<&Value> = lines.iter().filter(|l| l["event"] == "settled").collect();
    let n = settled
        .iter()
        .take_while(|l| l["state"].as_str().unwrap_or("").contains("ACCEPTED"))
        .count();
    assert!(
        settled[n..]
            .iter()
            .all(|l| !l["state"].as_str().unwrap_or("").contains("ACCEPTED")),
        "an acceptance after a refusal: {settled:?}"
    );
    n
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn durable_publishes_are_journaled_before_they_are_accepted() {
    let dir = fresh_test_dir("durable-inproc");
    let cfg = private_journal_config(2_000, &dir);
    let app = appliance(&cfg);
    let u = url(&app);
    let size = SIZE.to_string();
    let args = [
        "pub",
        &u,
        "pub/orders",
        "--count",
        "300",
        "--size",
        &size,
        "--durable",
    ];
    let lines = run_client(proton_py(&args), LIMIT);
    assert_eq!(accepted(&lines), 300, "{:?}", lines.last());
    // Not durable: accepted at once and not journaled.
    let plain = ["pub", &u, "pub/orders", "--count", "50", "--size", &size];
    let lines = run_client(proton_py(&plain), LIMIT);
    assert_eq!(accepted(&lines), 50, "{:?}", lines.last());
    assert!(app.stats.journal().durable_seq > 0);
    app.stop();

    let (msgs, damaged) = journal_messages(&dir);
    assert_eq!(damaged, 0);
    assert_eq!(msgs.len(), 300, "durable messages only");
    for (k, (_, bytes)) in msgs.iter().enumerate() {
        assert!(contains(bytes, &body(k)), "message {k} intact and in order");
    }
    assert!(msgs.windows(2).all(|w| w[0].0 < w[1].0), "in seq order");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_accepted_durable_publish_survives_kill_9() {
    let seed: u64 = std::env::var("TICKWIRE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            t.map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("seed {seed} (TICKWIRE_SEED={seed} repeats this run)");
    let mut state = seed | 1;
    let mut delay_ms = move || {
        // xorshift64: a kill delay from 400 to 1,500 ms.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        400 + state % 1_100
    };
    let dir = fresh_test_dir("durable-kill9");
    tickwire_transport::testing::enable_loopback_multicast().expect("multicast on lo");
    let mut total = 0;
    for round in 0..3 {
        let mut cfg = private_journal_config(20_000, &dir);
        let (port, _) = free_port_pair();
        cfg.amqp.listen = format!("127.0.0.1:{port}").parse().unwrap();
        cfg.console.enabled = false;
        let file = dir.with_extension(format!("round{round}.toml"));
        std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
            .args(["run", "-c"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tickwire runs");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < LIMIT, "appliance did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        let u = format!("127.0.0.1:{port}");
        let size = SIZE.to_string();
        let publisher = Background::start(proton_py(&[
            "pub",
            &u,
            "pub/orders",
            "--count",
            "1000000",
            "--size",
            &size,
            "--durable",
            "--timeout",
            "30",
        ]));
        std::thread::sleep(Duration::from_millis(delay_ms()));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        let lines = publisher.finish(LIMIT);
        let n = accepted(&lines);
        assert!(
            n > 0,
            "round {round}: nothing accepted before the kill: {lines:?}"
        );

        let (msgs, damaged) = journal_messages(&dir);
        assert!(
            damaged <= 1,
            "round {round}: damage beyond a torn tail: {damaged}"
        );
        let this_round = &msgs[total..];
        assert!(
            this_round.len() >= n,
            "round {round}: {n} accepted but {} journaled",
            this_round.len()
        );
        for (k, (_, bytes)) in this_round.iter().take(n).enumerate() {
            assert!(
                contains(bytes, &body(k)),
                "round {round}: message {k} intact"
            );
        }
        eprintln!(
            "round {round}: {n} accepted, {} journaled",
            this_round.len()
        );
        total = msgs.len();
        let _ = std::fs::remove_file(&file);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
