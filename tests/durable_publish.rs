//! Durable publishes (issue 7): a message published with `header.durable` = true is
//! settled `accepted` only once the journal commit holding it completed. Checked with the
//! Qpid Proton Python publisher: in process (every accepted message is in the journal,
//! intact and in order; a non-durable one is not journaled), and across `kill -9` of the
//! real binary (every message the publisher saw accepted survives; one it saw rejected,
//! e.g. because the journal's backlog overflowed, may be missing). The publisher numbers
//! its messages (message-id and delivery tag), so settlements and journaled messages are
//! matched by index, whatever order the settlements come back in.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tickwire_amqp::message::{Body, Message, MessageId};
use tickwire_journal::{ReadItem, Reader};

const LIMIT: Duration = Duration::from_secs(60);
const SIZE: usize = 48;

/// The body the publisher sends as its `k`-th message (`--size`): see proton_client.py.
fn body(k: usize) -> Vec<u8> {
    (0..SIZE).map(|i| ((i * 7 + k) % 251) as u8).collect()
}

/// The messages in the journal, in seq order (seq, bytes), and how many damaged places
/// the reader skipped.
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

/// How the publisher's deliveries were settled, by index (publication order; the
/// client prints it from the delivery tag).
#[derive(Debug, Default)]
struct Settled {
    /// Settled `accepted`.
    accepted: BTreeSet<usize>,
    /// Settled `rejected`.
    rejected: BTreeSet<usize>,
    /// Settled in any other state (the appliance should send none).
    other: BTreeSet<usize>,
}

/// The settlements in the client's `settled` lines; panics on a line without an index or
/// on a delivery settled twice.
fn settlements(lines: &[Value]) -> Settled {
    let mut s = Settled::default();
    for l in lines.iter().filter(|l| l["event"] == "settled") {
        let k = l["index"]
            .as_u64()
            .unwrap_or_else(|| panic!("settled without an index: {l}")) as usize;
        let state = l["state"].as_str().unwrap_or("");
        let seen = [&s.accepted, &s.rejected, &s.other];
        assert!(
            seen.iter().all(|set| !set.contains(&k)),
            "delivery {k} settled twice: {l}"
        );
        let set = if state.contains("ACCEPTED") {
            &mut s.accepted
        } else if state.contains("REJECTED") {
            &mut s.rejected
        } else {
            &mut s.other
        };
        set.insert(k);
    }
    s
}

/// The index (message-id) of a journaled publish, after checking that it decodes, is
/// durable and carries the body the publisher sent with that index.
fn journaled_index(bytes: &[u8]) -> usize {
    let m = Message::decode(bytes).unwrap_or_else(|e| panic!("{e:?}: {bytes:02x?}"));
    assert!(m.header.is_some_and(|h| h.durable), "not durable: {m:?}");
    let k = match m.properties.and_then(|p| p.message_id) {
        Some(MessageId::String(id)) => id.parse::<usize>().ok(),
        _ => None,
    };
    let k = k.unwrap_or_else(|| panic!("no index as message-id: {m:?}"));
    let payload: Option<Vec<u8>> = match m.body {
        Body::Value(v) => v.as_binary().map(<[u8]>::to_vec),
        Body::Data(d) => Some(d.data().flatten().copied().collect()),
        _ => None,
    };
    assert_eq!(payload, Some(body(k)), "message {k} intact: {m:?}");
    k
}

/// Checks one `kill -9` round against what its publisher saw (`lines`) and the messages
/// the journal holds for the round, and returns a summary for the log.
fn check_round(round: usize, lines: &[Value], journaled: &[(u64, Vec<u8>)]) -> String {
    let s = settlements(lines);
    assert!(
        !s.accepted.is_empty(),
        "round {round}: nothing accepted before the kill: {lines:?}"
    );
    let sent = event(lines, "done")
        .and_then(|d| d["sent"].as_u64())
        .unwrap_or_else(|| panic!("round {round}: publisher did not finish: {lines:?}"))
        as usize;
    let ids: Vec<usize> = journaled.iter().map(|(_, b)| journaled_index(b)).collect();
    let disorder = ids.windows(2).position(|w| w[0] >= w[1]);
    assert!(
        disorder.is_none(),
        "round {round}: journal not in publication order: {:?} at {disorder:?}",
        disorder.map(|i| &ids[i..i + 2])
    );
    assert!(
        ids.last().is_none_or(|&k| k < sent),
        "round {round}: journal holds message {:?}, but {sent} were sent",
        ids.last()
    );
    let stored: BTreeSet<usize> = ids.iter().copied().collect();
    let lost: Vec<usize> = s.accepted.difference(&stored).copied().collect();
    assert!(
        lost.is_empty(),
        "round {round}: {} accepted publishes not journaled, first {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    // A REJECTED durable publish is allowed to be missing (the appliance refused it, e.g.
    // its journal backlog was full) and allowed to be present (refused after the journal
    // took it). So is one the kill left unsettled. Only acceptance is a promise.
    let unsettled = sent - s.accepted.len() - s.rejected.len() - s.other.len();
    format!(
        "round {round}: {sent} sent, {} accepted, {} rejected, {} other, {unsettled} \
         unsettled; {} journaled ({} of them rejected)",
        s.accepted.len(),
        s.rejected.len(),
        s.other.len(),
        ids.len(),
        s.rejected.intersection(&stored).count()
    )
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
    let all = |n: usize| (0..n).collect::<BTreeSet<usize>>();
    assert_eq!(settlements(&lines).accepted, all(300), "{:?}", lines.last());
    // Not durable: accepted at once and not journaled.
    let plain = ["pub", &u, "pub/orders", "--count", "50", "--size", &size];
    let lines = run_client(proton_py(&plain), LIMIT);
    assert_eq!(settlements(&lines).accepted, all(50), "{:?}", lines.last());
    assert!(app.stats.journal().durable_seq > 0);
    app.stop();

    let (msgs, damaged) = journal_messages(&dir);
    assert_eq!(damaged, 0);
    let ids: Vec<usize> = msgs.iter().map(|(_, b)| journaled_index(b)).collect();
    let want: Vec<usize> = (0..300).collect();
    assert_eq!(ids, want, "the durable messages only, each once, in order");
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
        let (msgs, damaged) = journal_messages(&dir);
        assert!(
            damaged <= 1,
            "round {round}: damage beyond a torn tail: {damaged}"
        );
        eprintln!("{}", check_round(round, &lines, &msgs[total..]));
        total = msgs.len();
        let _ = std::fs::remove_file(&file);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
