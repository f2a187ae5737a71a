//! End to end: the appliance with its simulator on loopback multicast, and real AMQP 1.0
//! clients (Qpid Proton Python and C++, rhea) subscribing with wildcards and filters.

mod common;

use std::time::Duration;

use common::*;
use tickwire_record::Tick;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn proton_python_gets_map_bodies_for_a_wildcard_in_sequence() {
    let app = appliance(&private_config(20_000));
    wait_for_ticks(&app, 1_000, LIMIT);
    let lines = run_client(
        proton_py(&[
            "sub",
            &url(&app),
            "opra/SPY/#",
            "--count",
            "200",
            "--timeout",
            "20",
        ]),
        LIMIT,
    );
    let msgs = messages(&lines);
    assert_eq!(msgs.len(), 200, "{:?}", lines.last());
    let mut last_seq = 0;
    for m in &msgs {
        let subject = m["subject"].as_str().unwrap();
        assert!(subject.starts_with("opra/SPY/"), "{subject}");
        let body = &m["body"];
        assert_eq!(body["underlying"], "SPY");
        let symbol = body["symbol"].as_str().unwrap();
        assert!(subject.ends_with(symbol), "{subject} vs {symbol}");
        for key in [
            "bid", "ask", "last", "bid_size", "volume", "feed_seq", "ts_recv", "line",
        ] {
            assert!(!body[key].is_null(), "{key} missing in {body}");
        }
        let seq = body["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "sequence went back: {seq} after {last_seq}");
        last_seq = seq;
    }
    let kinds: Vec<&str> = msgs
        .iter()
        .filter_map(|m| m["body"]["type"].as_str())
        .collect();
    assert!(kinds.contains(&"quote"), "{kinds:?}");
}

#[test]
fn a_subscriber_to_everything_sees_consecutive_sequence_numbers() {
    let app = appliance(&private_config(5_000));
    wait_for_ticks(&app, 500, LIMIT);
    let lines = run_client(
        proton_py(&[
            "sub",
            &url(&app),
            "opra/#",
            "--count",
            "3000",
            "--timeout",
            "25",
        ]),
        LIMIT,
    );
    let seqs: Vec<u64> = messages(&lines)
        .iter()
        .map(|m| m["body"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 3000, "{:?}", lines.last());
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "gap or duplicate between {} and {}",
            w[0],
            w[1]
        );
    }
}

#[test]
fn binary_format_by_filter_carries_the_record() {
    let app = appliance(&private_config(20_000));
    wait_for_ticks(&app, 1_000, LIMIT);
    let lines = run_client(
        proton_py(&[
            "sub",
            &url(&app),
            "opra/*/#",
            "--count",
            "50",
            "--filter",
            "tickwire:format=binary",
        ]),
        LIMIT,
    );
    let msgs = messages(&lines);
    assert_eq!(msgs.len(), 50);
    for m in msgs {
        assert_eq!(m["content_type"], "application/vnd.tickwire.tick.v1");
        let bytes = base64(m["body"]["binary"].as_str().expect("binary body"));
        let t = Tick::read_from(&bytes).expect("64-byte record");
        assert!(t.seq.get() > 0);
        let subject = m["subject"].as_str().unwrap();
        let inst = app
            .directory
            .get(t.instrument.get())
            .expect("known instrument");
        assert_eq!(subject, inst.address("opra"));
    }
}

#[test]
fn rhea_subscribes_with_an_address_query() {
    let app = appliance(&private_config(20_000));
    wait_for_ticks(&app, 1_000, LIMIT);
    let lines = run_client(
        rhea(&[
            "sub",
            &url(&app),
            "opra/QQQ/#?format=binary",
            "--count",
            "40",
        ]),
        LIMIT,
    );
    let msgs = messages(&lines);
    assert_eq!(msgs.len(), 40, "{:?}", lines.last());
    for m in msgs {
        assert!(m["subject"].as_str().unwrap().starts_with("opra/QQQ/"));
        let bytes = base64(m["body"]["binary"].as_str().expect("binary body"));
        assert_eq!(bytes.len(), 64);
    }
    let lines = run_client(
        rhea(&["sub", &url(&app), "opra/QQQ/#", "--count", "10"]),
        LIMIT,
    );
    let msgs = messages(&lines);
    assert_eq!(msgs.len(), 10);
    assert_eq!(msgs[0]["body"]["underlying"], "QQQ");
}

#[test]
fn proton_cpp_subscribes_exact_and_wildcard() {
    let app = appliance(&private_config(20_000));
    wait_for_ticks(&app, 1_000, LIMIT);
    let out = proton_cpp(&[
        "sub",
        &format!("amqp://{}", url(&app)),
        "opra/SPY/#",
        "30",
        "6",
    ])
    .output()
    .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text.lines().filter(|l| l.starts_with("message ")).collect();
    assert_eq!(got.len(), 30, "{text}");
    let first = got[0].split_whitespace().collect::<Vec<_>>();
    assert!(first[1].starts_with("opra/SPY/"), "{text}");
    assert_eq!(first[2], "map");
    // An exact address: the series the first message named.
    let exact = first[1].to_string();
    let out = proton_cpp(&["sub", &format!("amqp://{}", url(&app)), &exact, "3", "6"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text.lines().filter(|l| l.starts_with("message ")).collect();
    assert_eq!(got.len(), 3, "{exact}: {text}");
    assert!(got
        .iter()
        .all(|l| l.split_whitespace().nth(1) == Some(exact.as_str())));
}

#[test]
fn proton_cpp_publishes_and_is_refused_with_conditions() {
    let app = appliance(&private_config(2_000));
    let u = format!("amqp://{}", url(&app));
    let sub = Background::start(proton_py(&[
        "sub",
        &url(&app),
        "pub/cpp/#",
        "--count",
        "2",
        "--timeout",
        "15",
    ]));
    std::thread::sleep(Duration::from_millis(1500));
    let out = proton_cpp(&["pub", &u, "pub/cpp/orders", "2", "10"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().filter(|l| *l == "settled accepted").count(),
        2,
        "{text}"
    );
    let got = sub.finish(LIMIT);
    let msgs = messages(&got);
    assert_eq!(msgs.len(), 2, "{got:?}");
    assert!(
        msgs.iter().all(|m| m["body"] == "hello from c++"),
        "{got:?}"
    );
    for (addr, condition) in [
        ("nyse/IBM/#", "amqp:not-found"),
        ("opra/#/x", "amqp:invalid-field"),
    ] {
        let out = proton_cpp(&["sub", &u, addr, "1", "6"])
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().any(|l| l == format!("detached {condition}")),
            "{addr}: {text}"
        );
    }
}
