//! End to end: replay from the journal (issue 7) with real clients (Qpid Proton Python,
//! rhea). History from every kind of position, then live with consecutive sequence
//! numbers across the join; filters; paced replay with an end, its marker and a clean
//! detach; RabbitMQ stream offsets; refusals. Live subscribers alongside see no gap.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tickwire::app::Running;
use tickwire::config::Config;
use tickwire_journal::{ReadItem, Reader};
use tickwire_record::{Directory, Tick};

const LIMIT: Duration = Duration::from_secs(60);
const RATE: u64 = 3_000;

fn journal_config(tag: &str) -> (Config, PathBuf) {
    let dir = fresh_test_dir(&format!("replay-e2e-{tag}"));
    (private_journal_config(RATE, &dir), dir)
}

/// Waits until the journal's durable seq reaches `seq`.
fn wait_durable(app: &Running, seq: u64) -> u64 {
    let t0 = Instant::now();
    loop {
        let d = app.stats.journal().durable_seq;
        if d >= seq {
            return d;
        }
        assert!(
            t0.elapsed() < LIMIT,
            "journal durable seq stuck at {d} < {seq}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The seqs of the tick messages (map format), asserting there is no gap marker.
fn seqs_of(msgs: &[&Value]) -> Vec<u64> {
    msgs.iter()
        .map(|m| {
            assert!(!has_annotation(m, "tickwire:gap"), "gap marker: {m}");
            m["body"]["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("no seq: {m}"))
        })
        .collect()
}

fn assert_consecutive(seqs: &[u64], from: u64, what: &str) {
    assert!(!seqs.is_empty(), "{what}: nothing received");
    assert_eq!(seqs[0], from, "{what}: first seq");
    if let Some(i) = seqs.windows(2).position(|w| w[1] != w[0] + 1) {
        panic!("{what}: {} then {} at message {i}", seqs[i], seqs[i + 1]);
    }
}

/// Every tick in the journal from `from`, read offline.
fn journal_ticks(dir: &Path, from: u64) -> Vec<Tick> {
    let mut r = Reader::open(dir).expect("journal opens");
    r.seek_seq(from);
    let mut out = Vec::new();
    while let Some(item) = r.next() {
        match item {
            ReadItem::Ticks(t) => out.extend_from_slice(t),
            ReadItem::Gap(g) => panic!("journal gap {g:?} at {RATE} ticks/s"),
            ReadItem::Corrupt(c) => panic!("journal damage {c:?}"),
            ReadItem::Messages(_) => {}
        }
    }
    out
}

fn sub_args<'a>(url: &'a str, address: &'a str, count: &'a str) -> Vec<&'a str> {
    vec!["sub", url, address, "--count", count, "--timeout", "40"]
}

#[test]
fn replay_from_first_and_from_a_seq_join_live_and_live_subscribers_see_no_gap() {
    let (cfg, dir) = journal_config("first");
    let app = appliance(&cfg);
    let u = url(&app);
    let at_attach = wait_durable(&app, 3_000);
    let live = Background::start(rhea(&sub_args(&u, "opra/#?format=map", "6000")));
    let total = (at_attach - app.first_seq + 6_000).to_string();
    let from_first = Background::start(proton_py(&sub_args(
        &u,
        "opra/#?replay-from=first&format=map",
        &total,
    )));
    let k = at_attach / 2;
    let from_seq = rhea(&sub_args(
        &u,
        &format!("opra/#?replay-from=seq:{k}&format=map"),
        "6000",
    ));
    let lines = run_client(from_seq, LIMIT);
    let seqs = seqs_of(&messages(&lines));
    assert_eq!(seqs.len(), 6_000, "rhea from seq:{k}: {:?}", lines.last());
    assert_consecutive(&seqs, k, "rhea from seq");
    assert!(*seqs.last().unwrap() > at_attach, "rhea joined live");

    let lines = from_first.finish(LIMIT);
    let seqs = seqs_of(&messages(&lines));
    assert_consecutive(&seqs, app.first_seq, "proton from first");
    assert_eq!(seqs.len().to_string(), total, "{:?}", lines.last());
    assert!(
        *seqs.last().unwrap() > at_attach + 3_000,
        "proton joined live"
    );

    let lines = live.finish(LIMIT);
    let seqs = seqs_of(&messages(&lines));
    assert_eq!(seqs.len(), 6_000, "live subscriber: {:?}", lines.last());
    assert_consecutive(&seqs, seqs[0], "live subscriber during replays");
    app.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The underlying of an instrument that has ticked, and the directory's view of it.
fn some_underlying(dir: &Directory, ticks: &[Tick]) -> String {
    let id = ticks
        .iter()
        .map(|t| t.instrument.get())
        .find(|&i| i != Tick::NO_INSTRUMENT)
        .expect("an instrument ticked");
    dir.get(id).expect("known").underlying().to_string()
}

#[test]
fn replay_from_a_time_with_a_filter_matches_the_journal() {
    let (cfg, dir) = journal_config("time");
    let app = appliance(&cfg);
    let u = url(&app);
    let durable = wait_durable(&app, 3_000);
    let history = journal_ticks(&dir, app.first_seq);
    let k = (durable / 3).max(app.first_seq) as usize;
    let start_ns = history[k - app.first_seq as usize].ts_recv.get();
    // Receive times are not monotonic in seq order: the replay starts at the first tick,
    // in seq order, received at or after the time.
    let first_at = history
        .iter()
        .position(|t| t.ts_recv.get() >= start_ns)
        .unwrap();
    let from = &history[first_at..];
    let underlying = some_underlying(&app.directory, from);
    let wanted: Vec<u64> = from
        .iter()
        .filter(|t| {
            let id = t.instrument.get();
            id == Tick::NO_INSTRUMENT || app.directory.get(id).unwrap().underlying() == underlying
        })
        .map(|t| t.seq.get())
        .collect();
    assert!(
        wanted.len() > 20,
        "too few ticks of {underlying}: {}",
        wanted.len()
    );
    let time = tickwire_replay::format_time_ns(start_ns);
    let address = format!("opra/{underlying}/#?replay-from=time:{time}&format=map");
    let lines = run_client(
        proton_py(&sub_args(&u, &address, &wanted.len().to_string())),
        LIMIT,
    );
    let msgs = messages(&lines);
    let seqs = seqs_of(&msgs);
    assert_eq!(seqs, wanted, "{address}");
    for m in &msgs {
        let s = m["subject"].as_str().unwrap();
        assert!(
            s.starts_with(&format!("opra/{underlying}/")) || s == "opra/$events",
            "{s} is not under {underlying}"
        );
    }
    app.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn paced_replay_to_an_end_sends_the_marker_and_detaches_cleanly() {
    let (cfg, dir) = journal_config("paced");
    let app = appliance(&cfg);
    let u = url(&app);
    let a = app.first_seq + 500;
    let b = a + 4_500;
    wait_durable(&app, b);
    let history = journal_ticks(&dir, a);
    let span_ns = history[(b - a) as usize].ts_recv.get() - history[0].ts_recv.get();
    let address = format!("opra/#?replay-from=seq:{a}&replay-to=seq:{b}&pace=recorded&format=map");
    let lines = run_client(proton_py(&sub_args(&u, &address, "100000")), LIMIT);
    let msgs = messages(&lines);
    let (marker, ticks) = msgs.split_last().expect("messages");
    assert_eq!(
        marker["annotations"]["tickwire:replay-end"].as_u64(),
        Some(b),
        "{marker}"
    );
    let seqs = seqs_of(ticks);
    assert_consecutive(&seqs, a, "paced replay");
    assert_eq!(*seqs.last().unwrap(), b);
    let detached = event(&lines, "detached").expect("detached");
    assert!(detached["condition"].is_null(), "clean detach: {detached}");

    let took = ticks.last().unwrap()["t"].as_f64().unwrap() - ticks[0]["t"].as_f64().unwrap();
    let span = span_ns as f64 / 1e9;
    assert!(
        // Above: faster than recorded is wrong. Below: generous, for a loaded machine.
        took > span * 0.8 && took < span * 2.0 + 1.0,
        "recorded pace: {took:.3} s for {span:.3} s of recorded time"
    );
    app.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rabbitmq_stream_offsets_and_refusals() {
    let (cfg, dir) = journal_config("rabbit");
    let app = appliance(&cfg);
    let u = url(&app);
    let durable = wait_durable(&app, 2_000);
    let k = durable / 2;
    let offset = format!("rabbitmq:stream-offset-spec={}", k - 1);
    let mut args = sub_args(&u, "opra/#?format=map", "3000");
    args.extend(["--filter-long", &offset]);
    let lines = run_client(proton_py(&args), LIMIT);
    let seqs = seqs_of(&messages(&lines));
    assert_eq!(seqs.len(), 3_000, "{:?}", lines.last());
    assert_consecutive(&seqs, k, "rabbitmq offset");

    for (address, condition) in [
        ("pub/news?replay-from=first", "amqp:not-implemented"),
        ("opra/#?replay-from=yesterday", "amqp:invalid-field"),
        (
            "opra/#?replay-from=first&snapshot=true",
            "amqp:invalid-field",
        ),
    ] {
        let lines = run_client(proton_py(&sub_args(&u, address, "1")), LIMIT);
        let d = event(&lines, "detached").unwrap_or_else(|| panic!("{address}: {lines:?}"));
        assert_eq!(d["condition"], condition, "{address}: {d}");
    }
    app.stop();
    std::fs::remove_dir_all(&dir).unwrap();

    // Without a journal there is nothing to replay, and the refusal says why.
    let app = appliance(&private_config(RATE));
    let lines = run_client(
        proton_py(&sub_args(&url(&app), "opra/#?replay-from=first", "1")),
        LIMIT,
    );
    let d = event(&lines, "detached").expect("refused");
    assert_eq!(d["condition"], "amqp:precondition-failed", "{d}");
    assert!(
        d["description"].as_str().unwrap().contains("journal"),
        "{d}"
    );
    app.stop();
}

#[test]
fn a_journal_that_cannot_keep_up_records_gaps_and_raises_an_alarm_without_stalling_the_feed() {
    // Two 4 KiB commit buffers (64 ticks each) against the simulator flat out: the disk
    // cannot keep up, by construction.
    let (mut cfg, dir) = journal_config("overflow");
    cfg.sim.rate = 0;
    cfg.journal.buffers = 2;
    cfg.journal.commit_bytes = 4096;
    let app = appliance(&cfg);
    let u = url(&app);
    let live = Background::start(rhea(&sub_args(&u, "opra/#?format=map", "20000")));
    let t0 = Instant::now();
    let j = loop {
        let j = app.stats.journal();
        if j.gaps > 0 && j.durable_seq > 20_000 {
            break j;
        }
        assert!(t0.elapsed() < LIMIT, "no overflow in {LIMIT:?}: {j:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(j.alarm && j.dropped > 0, "{j:?}");
    let alarms = app.stats.to_json()["alarms"].to_string();
    assert!(alarms.contains("journal could not keep up"), "{alarms}");
    assert_eq!(
        app.stats.fanout().lapped,
        0,
        "the feed and fan-out were not held back"
    );

    // The live subscriber is served as ever: at this rate it may fall behind and get its
    // own ring-policy gap markers, but every seq is accounted for.
    let lines = live.finish(LIMIT);
    let msgs = messages(&lines);
    assert_eq!(msgs.len(), 20_000, "{:?}", lines.last());
    let first = msgs.iter().find_map(|m| m["body"]["seq"].as_u64()).unwrap();
    accounted(&msgs, first, "live subscriber while the journal overflows");

    // Replay says where history is missing, with gap markers, and serves the rest.
    let lines = run_client(
        proton_py(&sub_args(
            &u,
            "opra/#?replay-from=first&format=map",
            "20000",
        )),
        LIMIT,
    );
    let gaps = accounted(&messages(&lines), app.first_seq, "replay");
    assert!(gaps > 0, "the replay marked the journal's gaps");
    app.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Checks that every seq from `first` on is either a tick or inside a gap marker, in
/// order; returns the number of gap markers.
fn accounted(msgs: &[&Value], first: u64, what: &str) -> usize {
    let mut expected = first;
    let mut gaps = 0;
    for m in msgs {
        if has_annotation(m, "tickwire:gap") {
            gaps += 1;
            expected += m["annotations"]["tickwire:gap"].as_u64().unwrap();
            continue;
        }
        let seq = m["body"]["seq"].as_u64().unwrap();
        assert_eq!(
            seq, expected,
            "{what}: every seq is a tick or inside a gap marker"
        );
        expected += 1;
    }
    gaps
}
