//! End to end: last-value queues in the appliance (issue 6) with real clients (Qpid Proton
//! Python, rhea) and `tickwire lvq dump`: snapshot then live for late joiners, conflation
//! for a stalled subscriber, keyed last-value queues for publishers.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tickwire_lvq::{present, LastValue};
use tickwire_record::{flags, Tick};

const LIMIT: Duration = Duration::from_secs(40);

/// A received message, decoded.
#[derive(Clone, Copy, Debug)]
enum Got {
    Snapshot(Tick),
    Live(Tick),
    Marker(u64),
}

fn decode(lines: &[Value]) -> Vec<Got> {
    messages(lines)
        .into_iter()
        .map(|m| {
            if has_annotation(m, "tickwire:snapshot-end") {
                return Got::Marker(m["annotations"]["tickwire:snapshot-end"].as_u64().unwrap());
            }
            assert!(!has_annotation(m, "tickwire:gap"), "dropped updates: {m}");
            let t = tick_of(m).unwrap_or_else(|| panic!("not a binary tick: {m}"));
            if m["annotations"]["tickwire:snapshot"] == true {
                Got::Snapshot(t)
            } else {
                Got::Live(t)
            }
        })
        .collect()
}

/// A snapshot tick as a `LastValue` (the fields `to_tick` carries), to replay live ticks on.
fn seed(t: &Tick) -> LastValue {
    let mut v = LastValue {
        seq: t.seq.get(),
        bid: t.bid.get(),
        ask: t.ask.get(),
        bid_size: t.bid_size.get(),
        ask_size: t.ask_size.get(),
        last: t.last.get(),
        last_size: t.last_size.get(),
        volume: t.volume.get(),
        ..LastValue::default()
    };
    v.present = t.flags & (flags::BID | flags::ASK);
    v.present |= present::LAST;
    v
}

/// The view a witness that took everything has of each instrument at every seq: per
/// instrument, its states in seq order (seq -> value) from its own snapshot on.
struct Witness {
    states: HashMap<u32, BTreeMap<u64, LastValue>>,
    /// Its own marker's seq: it knows every change after it.
    end: u64,
}

impl Witness {
    fn new(got: &[Got]) -> Self {
        let mut states: HashMap<u32, BTreeMap<u64, LastValue>> = HashMap::new();
        let mut live = BTreeMap::new();
        let mut after_marker = None;
        for g in got {
            match *g {
                Got::Snapshot(t) => {
                    let m = states.entry(t.instrument.get()).or_default();
                    m.insert(t.seq.get(), seed(&t));
                }
                Got::Marker(s) => after_marker = Some(s),
                Got::Live(t) => {
                    live.insert(t.seq.get(), t);
                    if t.instrument.get() == Tick::NO_INSTRUMENT {
                        continue;
                    }
                    let m = states.entry(t.instrument.get()).or_default();
                    let mut v = m.values().next_back().copied().unwrap_or_default();
                    if v.apply(&t) {
                        m.insert(t.seq.get(), v);
                    }
                }
            }
        }
        let end = after_marker.expect("the witness got its marker");
        let seqs: Vec<u64> = live.range(end + 1..).map(|(s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "the witness missed ticks"
        );
        Self { states, end }
    }
}

/// Checks a late joiner's stream against a witness: one snapshot value per instrument,
/// equal to the witness's state at that value's seq; live ticks before the marker only
/// for instruments already snapshotted and newer than their value; the marker; then
/// consecutive seqs from `end_seq + 1`. Returns the snapshot size.
fn check_joiner(name: &str, got: &[Got], w: &Witness, live_after: usize) -> usize {
    let marker_at = got
        .iter()
        .position(|g| matches!(g, Got::Marker(_)))
        .unwrap_or_else(|| panic!("{name}: no snapshot-end marker"));
    let Got::Marker(end_seq) = got[marker_at] else {
        unreachable!()
    };
    let mut snap: HashMap<u32, u64> = HashMap::new();
    for g in &got[..marker_at] {
        match g {
            Got::Snapshot(t) => {
                let id = t.instrument.get();
                assert!(
                    t.seq.get() <= end_seq,
                    "{name}: snapshot value after the marker seq"
                );
                assert!(
                    snap.insert(id, t.seq.get()).is_none(),
                    "{name}: two snapshot values for instrument {id}"
                );
                let expect = w.states.get(&id).and_then(|m| m.get(&t.seq.get()));
                match expect {
                    Some(v) => assert_eq!(seed(t), seed(&v.to_tick(id)), "{name}: {id}"),
                    None => assert!(
                        t.seq.get() <= w.end,
                        "{name}: the witness never saw {id} at {t:?}"
                    ),
                }
            }
            Got::Live(t) => {
                let id = t.instrument.get();
                if id == Tick::NO_INSTRUMENT {
                    continue;
                }
                let s = snap.get(&id).copied().unwrap_or(0);
                assert!(
                    t.seq.get() > s,
                    "{name}: live tick {t:?} not newer than its value"
                );
                assert!(
                    t.seq.get() <= end_seq,
                    "{name}: a tick past the marker came before it"
                );
            }
            Got::Marker(_) => unreachable!(),
        }
    }
    // Exactly one value per instrument the witness knew before the marker.
    let known: BTreeSet<u32> = w
        .states
        .iter()
        .filter(|(_, m)| m.keys().next().is_some_and(|&s| s <= end_seq))
        .map(|(id, _)| *id)
        .collect();
    let got_ids: BTreeSet<u32> = got[..marker_at]
        .iter()
        .filter_map(|g| match g {
            Got::Snapshot(t) | Got::Live(t) => Some(t.instrument.get()),
            _ => None,
        })
        .filter(|&id| id != Tick::NO_INSTRUMENT)
        .collect();
    assert_eq!(known, got_ids, "{name}: instruments before the marker");
    let live: Vec<u64> = got[marker_at + 1..]
        .iter()
        .map(|g| match g {
            Got::Live(t) => t.seq.get(),
            other => panic!("{name}: {other:?} after the marker"),
        })
        .collect();
    assert!(
        live.len() >= live_after,
        "{name}: {} live after",
        live.len()
    );
    assert_eq!(
        live[0],
        end_seq + 1,
        "{name}: first live seq after the marker"
    );
    for p in live.windows(2) {
        assert_eq!(p[1], p[0] + 1, "{name}: gap or duplicate after the marker");
    }
    snap.len()
}

fn sub_args<'a>(u: &'a str, address: &'a str, count: &'a str, timeout: &'a str) -> Vec<&'a str> {
    vec!["sub", u, address, "--count", count, "--timeout", timeout]
}

#[test]
fn late_joiners_get_one_value_per_instrument_then_the_marker_then_every_tick() {
    let mut cfg = private_config(20_000);
    cfg.amqp.link_queue_bytes = 64 << 20;
    println!("sim seed {}", cfg.sim.seed);
    let app = appliance(&cfg);
    wait_for_ticks(&app, 2_000, LIMIT);
    let u = url(&app);
    let addr = "opra/#?snapshot=true&format=binary";
    let witness = Background::start(rhea(&sub_args(&u, addr, "10000000", "14")));
    std::thread::sleep(Duration::from_secs(3));
    let py = Background::start(proton_py(&sub_args(&u, addr, "5000", "10")));
    let js = run_client(rhea(&sub_args(&u, addr, "5000", "10")), LIMIT);
    let py = py.finish(LIMIT);
    let w = Witness::new(&decode(&witness.finish(LIMIT)));
    let n_py = check_joiner("proton", &decode(&py), &w, 2_000);
    let n_js = check_joiner("rhea", &decode(&js), &w, 2_000);
    let series = 8 * 20;
    assert!(n_py >= series && n_js >= series, "{n_py} {n_js}");
    assert!(app.stats.fanout().lapped == 0);
}

#[test]
fn a_stalled_conflating_subscriber_gets_the_latest_of_each_changed_instrument() {
    // The witness takes compact binary bodies (about 200 queued bytes each: 0.8 s of
    // slack at this rate), the conflating one map bodies (about 450): it overflows into
    // conflation within half a second of stalling.
    let mut cfg = private_config(3_000);
    cfg.amqp.link_queue_bytes = 512 * 1024;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 1_000, LIMIT);
    let u = url(&app);
    let witness = Background::start(rhea(&sub_args(&u, "opra/#?format=binary", "1000000", "14")));
    std::thread::sleep(Duration::from_secs(2));
    // 2000 live, a 3 s stall (about 1,200 map bodies fit the queue, the rest conflate),
    // then the queue, the conflated values and live updates again: under 4000, so it
    // stalls only once.
    let mut args = sub_args(&u, "opra/#?slow-policy=conflate", "3950", "20");
    args.extend([
        "--credit",
        "2000",
        "--stall-after",
        "2000",
        "--stall-for",
        "3",
    ]);
    let slow = Background::start(proton_py(&args));
    let t0 = Instant::now();
    let mut conflated = 0;
    while t0.elapsed() < Duration::from_secs(10) && conflated == 0 {
        conflated = (app.stats.fanout().subscribers.iter())
            .filter(|s| s.policy == "conflate")
            .map(|s| s.conflated)
            .max()
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(conflated > 0, "no conflated count in the stats");
    let slow = slow.finish(LIMIT);
    assert!(
        event(&slow, "stalled").is_some(),
        "the client never stalled"
    );
    // (address, seq) of every update the conflating subscriber got.
    let got: Vec<(String, u64)> = messages(&slow)
        .iter()
        .map(|m| {
            let a = m["subject"].as_str().expect("subject").to_string();
            (a, m["body"]["seq"].as_u64().expect("seq"))
        })
        .collect();
    let all: BTreeMap<u64, String> = messages(&witness.finish(LIMIT))
        .iter()
        .filter_map(|m| tick_of(m))
        .map(|t| {
            let a = (app.directory.get(t.instrument.get()))
                .map_or_else(String::new, |i| i.address("opra"));
            (t.seq.get(), a)
        })
        .collect();
    let (lo, hi) = (
        *all.keys().next().unwrap(),
        *all.keys().next_back().unwrap(),
    );
    assert_eq!(all.len() as u64, hi - lo + 1, "the witness missed ticks");
    // Nothing older: a value sent out of seq order is a conflated one, and must be the
    // instrument's latest when sent, i.e. newer than every tick already sent.
    let mut max = 0;
    let mut last_of: HashMap<&str, u64> = HashMap::new();
    let mut out_of_order = 0;
    for (a, s) in &got {
        if let Some(prev) = last_of.insert(a, *s) {
            assert!(*s > prev, "{a}: {s} after {prev}");
        }
        if *s < max && *s >= lo {
            out_of_order += 1;
            let newer = all.range(s + 1..=max).find(|(_, w)| w == &a);
            assert!(newer.is_none(), "conflated {a}@{s} older than {newer:?}");
        }
        max = max.max(*s);
    }
    assert!(out_of_order > 0, "no conflated value was delivered");
    // Every change it skipped is replaced by a later value of the same instrument.
    let received: BTreeSet<u64> = got.iter().map(|(_, s)| *s).collect();
    let first = *received.iter().find(|&&s| s >= lo).expect("overlap");
    let horizon = got[got.len() - 50].1.min(hi);
    let mut skipped = 0;
    for (s, a) in all.range(first..horizon) {
        if received.contains(s) || !a.starts_with("opra/") {
            continue;
        }
        skipped += 1;
        assert!(
            last_of.get(a.as_str()).is_some_and(|&l| l > *s),
            "{a} changed at {s} but no later value arrived"
        );
    }
    assert!(
        skipped > 0,
        "nothing was conflated away: {} got, witness {lo}..={hi}, checked {first}..{horizon}",
        got.len()
    );
}

#[test]
fn a_keyed_queue_keeps_the_latest_message_per_key_across_publishers() {
    let mut cfg = private_config(1_000);
    cfg.lvq = tickwire::config::Config::parse(
        "[[lvq.queues]]\naddress = \"pub/prices\"\nkey = \"symbol\"\n",
    )
    .unwrap()
    .lvq;
    let app = appliance(&cfg);
    let u = url(&app);
    let publish = |client: fn(&[&str]) -> std::process::Command, key: &str, body: &str| {
        let prop = format!("symbol={key}");
        let args = [
            "pub",
            &u,
            "pub/prices",
            "--count",
            "1",
            "--body",
            body,
            "--prop",
            &prop,
        ];
        let lines = run_client(client(&args), LIMIT);
        let done = event(&lines, "done").unwrap_or_else(|| panic!("{lines:?}"));
        assert_eq!(done["settled"], 1, "{lines:?}");
    };
    publish(proton_py, "IBM", "ibm-1");
    publish(rhea, "AAPL", "aapl-1");
    publish(rhea, "IBM", "ibm-2");
    publish(proton_py, "AAPL", "aapl-2");
    publish(proton_py, "MSFT", "msft-1");
    // A message without the key is rejected and not stored.
    let lines = run_client(
        proton_py(&["pub", &u, "pub/prices", "--count", "1", "--body", "x"]),
        LIMIT,
    );
    assert!(lines.iter().any(|l| l["state"] == "REJECTED"), "{lines:?}");
    let consumer = Background::start(rhea(&["sub", &u, "pub/prices", "--count", "4"]));
    std::thread::sleep(Duration::from_secs(2));
    publish(rhea, "IBM", "ibm-3");
    let got: Vec<(String, String)> = messages(&consumer.finish(LIMIT))
        .iter()
        .map(|m| {
            let k = m["properties"]["symbol"].as_str().unwrap_or("").to_string();
            (k, m["body"].as_str().unwrap_or("").to_string())
        })
        .collect();
    let want = [
        ("IBM", "ibm-2"),
        ("AAPL", "aapl-2"),
        ("MSFT", "msft-1"),
        ("IBM", "ibm-3"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    // A late Python consumer: the latest per key only.
    let lines = run_client(proton_py(&["sub", &u, "pub/prices", "--count", "3"]), LIMIT);
    let bodies: Vec<&str> = messages(&lines)
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["aapl-2", "msft-1", "ibm-3"]);
}

#[test]
fn lvq_dump_prints_the_current_values_as_json_and_as_a_table() {
    let app = appliance(&private_config(5_000));
    wait_for_ticks(&app, 3_000, LIMIT);
    let exe = env!("CARGO_BIN_EXE_tickwire");
    let amqp = url(&app);
    let out = std::process::Command::new(exe)
        .args(["lvq", "dump", "opra/SPY/#", "--json", "--amqp", &amqp])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let values = doc["values"].as_array().expect("values");
    assert_eq!(doc["count"].as_u64(), Some(values.len() as u64));
    assert!(values.len() > 10, "{doc}");
    let end_seq = doc["end_seq"].as_u64().unwrap();
    let mut ids = BTreeSet::new();
    for v in values {
        let a = v["address"].as_str().unwrap();
        assert!(a.starts_with("opra/SPY/"), "{a}");
        let id = v["instrument"].as_u64().unwrap() as u32;
        assert_eq!(app.directory.get(id).unwrap().address("opra"), a);
        assert!(ids.insert(id), "{a} twice");
        assert!(v["seq"].as_u64().unwrap() <= end_seq);
    }
    let out = std::process::Command::new(exe)
        .args(["lvq", "dump", "opra/QQQ/*", "--amqp", &amqp])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("ADDRESS"), "{text}");
    assert!(
        text.lines().skip(1).any(|l| l.starts_with("opra/QQQ/")),
        "{text}"
    );
    // --summary counts the same instruments, and any that got a first value since.
    let out = std::process::Command::new(exe)
        .args(["lvq", "dump", "opra/SPY/#", "--summary", "--amqp", &amqp])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let counted: usize = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count first: {text}"));
    assert!(
        counted >= values.len(),
        "{counted} < {}: {text}",
        values.len()
    );
    assert!(text.contains("snapshot-end seq"), "{text}");
    // A refused address says why.
    let out = std::process::Command::new(exe)
        .args(["lvq", "dump", "nyse/#", "--amqp", &amqp])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("amqp:not-found"));
}
