//! End to end with real clients: publishing, refusals with AMQP conditions, SASL, credit,
//! large messages, and slow subscribers under the `ring` and `disconnect` policies.

mod common;

use std::time::Duration;

use common::*;
use tickwire::config::UserConfig;

const LIMIT: Duration = Duration::from_secs(40);

#[test]
fn attach_errors_name_the_condition_and_the_problem() {
    let app = appliance(&private_config(2_000));
    let u = url(&app);
    let cases: [(&[&str], &str, &str); 4] = [
        (&["sub", &u, "nyse/IBM/#"], "amqp:not-found", "nyse/IBM/#"),
        (
            &["sub", &u, "opra/#/SPY"],
            "amqp:invalid-field",
            "not valid",
        ),
        (
            &["sub", &u, "opra/SPY/#", "--filter", "tickwire:format=xml"],
            "amqp:invalid-field",
            "map or binary",
        ),
        (
            &["sub", &u, "opra/SPY/#?colour=red"],
            "amqp:invalid-field",
            "unknown option",
        ),
    ];
    for (args, condition, words) in cases {
        let mut args = args.to_vec();
        args.extend(["--timeout", "10"]);
        for client in [proton_py(&args), rhea(&args)] {
            let lines = run_client(client, LIMIT);
            let d = event(&lines, "detached").unwrap_or_else(|| panic!("{args:?}: {lines:?}"));
            assert_eq!(d["condition"], condition, "{args:?}: {d}");
            let desc = d["description"].as_str().unwrap_or("");
            assert!(desc.contains(words), "{args:?}: {desc}");
        }
    }
    // Publishing outside the publish prefix is refused too.
    let lines = run_client(
        proton_py(&["pub", &u, "opra/SPY/x", "--timeout", "10"]),
        LIMIT,
    );
    assert_eq!(
        event(&lines, "detached").expect("refused")["condition"],
        "amqp:not-allowed"
    );
}

#[test]
fn published_messages_reach_matching_subscribers_across_clients() {
    let app = appliance(&private_config(1_000));
    let u = url(&app);
    let sub = Background::start(proton_py(&[
        "sub",
        &u,
        "pub/news/#",
        "--count",
        "3",
        "--timeout",
        "20",
    ]));
    std::thread::sleep(Duration::from_millis(1500));
    let lines = run_client(
        rhea(&[
            "pub",
            &u,
            "pub/news/headlines",
            "--count",
            "3",
            "--body",
            "rates cut",
        ]),
        LIMIT,
    );
    assert_eq!(event(&lines, "done").unwrap()["settled"], 3, "{lines:?}");
    let got = sub.finish(LIMIT);
    let msgs = messages(&got);
    assert_eq!(msgs.len(), 3, "{got:?}");
    assert!(msgs.iter().all(|m| m["body"] == "rates cut"), "{got:?}");
}

#[test]
fn a_multi_megabyte_message_goes_through_whole() {
    let mut cfg = private_config(500);
    cfg.amqp.max_message_size = 16 << 20;
    let app = appliance(&cfg);
    let u = url(&app);
    let size = 3 * 1024 * 1024 + 17;
    let sub = Background::start(proton_py(&[
        "sub",
        &u,
        "pub/big/#",
        "--count",
        "1",
        "--timeout",
        "30",
    ]));
    std::thread::sleep(Duration::from_millis(1500));
    let lines = run_client(
        proton_py(&[
            "pub",
            &u,
            "pub/big/blob",
            "--size",
            &size.to_string(),
            "--timeout",
            "30",
        ]),
        LIMIT,
    );
    assert!(
        event(&lines, "settled")
            .is_some_and(|s| s["state"].as_str().unwrap().contains("ACCEPTED")),
        "{lines:?}"
    );
    let got = sub.finish(LIMIT);
    let m = messages(&got);
    assert_eq!(
        m.len(),
        1,
        "{:?}",
        got.iter().map(|l| &l["event"]).collect::<Vec<_>>()
    );
    let body = base64(m[0]["body"]["binary"].as_str().expect("binary body"));
    assert_eq!(body.len(), size);
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, &b)| b == ((i * 7) % 251) as u8));
}

#[test]
fn sasl_plain_accepts_known_users_and_refuses_others() {
    let mut cfg = private_config(5_000);
    cfg.amqp.users = vec![UserConfig {
        name: "desk".into(),
        password: "s3cret".into(),
    }];
    let app = appliance(&cfg);
    wait_for_ticks(&app, 200, LIMIT);
    let u = url(&app);
    let good = [
        "sub",
        &u,
        "opra/#",
        "--count",
        "5",
        "--user",
        "desk",
        "--password",
        "s3cret",
    ];
    for client in [proton_py as fn(&[&str]) -> std::process::Command, rhea] {
        let ok = run_client(client(&good), LIMIT);
        assert_eq!(messages(&ok).len(), 5, "{ok:?}");
    }
    let bad = run_client(
        proton_py(&[
            "sub",
            &u,
            "opra/#",
            "--count",
            "5",
            "--user",
            "desk",
            "--password",
            "nope",
            "--timeout",
            "8",
        ]),
        LIMIT,
    );
    assert!(messages(&bad).is_empty(), "{bad:?}");
    let err = event(&bad, "error").expect("an authentication error");
    assert!(
        err["condition"]
            .as_str()
            .unwrap_or("")
            .contains("unauthorized"),
        "{err}"
    );
}

#[test]
fn credit_runs_out_and_replenishes() {
    let app = appliance(&private_config(10_000));
    wait_for_ticks(&app, 500, LIMIT);
    let lines = run_client(
        proton_py(&[
            "sub",
            &url(&app),
            "opra/#",
            "--credit",
            "7",
            "--count",
            "50",
        ]),
        LIMIT,
    );
    assert_eq!(messages(&lines).len(), 50, "{:?}", lines.last());
    let lines = run_client(
        rhea(&[
            "sub",
            &url(&app),
            "opra/#",
            "--credit",
            "7",
            "--count",
            "50",
        ]),
        LIMIT,
    );
    assert_eq!(messages(&lines).len(), 50, "{:?}", lines.last());
}

#[test]
fn a_stalled_ring_subscriber_gets_a_gap_marker_while_a_fast_one_misses_nothing() {
    // The fast subscriber takes the compact binary format (about 150 bytes a message
    // queued), the stalled one maps (about 400): the same 2 MiB budget gives the fast one
    // seconds of slack on a busy machine while the stalled one overflows in under two.
    let mut cfg = private_config(3_000);
    cfg.amqp.link_queue_bytes = 2 << 20;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 500, LIMIT);
    let u = url(&app);
    let fast = Background::start(proton_py(&[
        "sub",
        &u,
        "opra/#?format=binary",
        "--count",
        "12000",
        "--timeout",
        "30",
    ]));
    let slow = run_client(
        proton_py(&[
            "sub",
            &u,
            "opra/#",
            "--credit",
            "10",
            "--stall-after",
            "10",
            "--stall-for",
            "5",
            "--count",
            "15",
            "--timeout",
            "30",
        ]),
        LIMIT,
    );
    let gap = messages(&slow)
        .into_iter()
        .find(|m| !m["annotations"]["tickwire:gap"].is_null())
        .unwrap_or_else(|| panic!("no gap marker: {slow:?}"));
    let dropped = gap["annotations"]["tickwire:gap"]
        .as_u64()
        .expect("a count");
    assert!(dropped > 0, "{gap}");
    assert_eq!(gap["body"]["dropped"].as_u64(), Some(dropped));
    let fast = fast.finish(LIMIT);
    let msgs = messages(&fast);
    let marker = msgs
        .iter()
        .find(|m| !m["annotations"]["tickwire:gap"].is_null());
    assert!(
        marker.is_none(),
        "the fast subscriber was sent a gap marker: {marker:?}; links: {:?}",
        app.stats.fanout().subscribers
    );
    let seqs: Vec<u64> = msgs
        .iter()
        .map(|m| {
            let bytes = base64(m["body"]["binary"].as_str().expect("binary body"));
            tickwire_record::Tick::read_from(&bytes)
                .expect("a record")
                .seq
                .get()
        })
        .collect();
    assert_eq!(seqs.len(), 12000, "{:?}", fast.last());
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the fast subscriber saw a gap"
    );
}

#[test]
fn a_stalled_disconnect_subscriber_is_detached_with_resource_limit_exceeded() {
    let mut cfg = private_config(20_000);
    cfg.amqp.link_queue_bytes = 64 * 1024;
    let app = appliance(&cfg);
    wait_for_ticks(&app, 500, LIMIT);
    for client in [proton_py as fn(&[&str]) -> std::process::Command, rhea] {
        let lines = run_client(
            client(&[
                "sub",
                &url(&app),
                "opra/#?slow-policy=disconnect",
                "--credit",
                "5",
                "--stall-after",
                "5",
                "--stall-for",
                "5",
                "--count",
                "1000",
                "--timeout",
                "20",
            ]),
            LIMIT,
        );
        let d = event(&lines, "detached").unwrap_or_else(|| panic!("not detached: {lines:?}"));
        assert_eq!(d["condition"], "amqp:resource-limit-exceeded");
        assert!(
            d["description"].as_str().unwrap().contains("slow consumer"),
            "{d}"
        );
    }
}
