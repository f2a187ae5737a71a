//! Client and server engines in memory: the whole lifecycle, credit, drain, dispositions.

mod engine_common;

use engine_common::Pair;
use tickwire_amqp::engine::{
    condition, ClientAuth, Config, DeliveryState, ErrorCondition, Event, LinkSpec, Role,
    SendError, SharedBody, Side,
};

fn deliveries(events: &[Event]) -> Vec<(u32, Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivery(d) => Some((d.delivery_id, d.message.clone(), d.settled)),
            _ => None,
        })
        .collect()
}

#[test]
fn open_begin_attach_flow_transfer_disposition_detach_end_close() {
    let mut p = Pair::default_pair();
    let (cs, ss) = p.open_and_begin();
    assert!(p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Opened { container_id, .. }
        if container_id == "client-1")));
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Authenticated { .. })));
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    assert_eq!(sl.session, ss);
    let req = p.server_events.iter().find_map(|e| match e {
        Event::AttachRequested(r) => Some((**r).clone()),
        _ => None,
    });
    let req = req.expect("attach request");
    assert_eq!(req.role, Role::Sender);
    let src = req.source.expect("source");
    assert_eq!(src.address.as_deref(), Some("opra/SPY/#"));
    assert_eq!(src.filters[0].key, "tickwire:format");
    assert_eq!(src.filters[0].text.as_deref(), Some("binary"));

    let body = SharedBody::from(b"hello tick".to_vec());
    assert_eq!(
        p.server.send_shared(sl, &body, false),
        Err(SendError::NoCredit)
    );
    p.client.grant_credit(cl, 10, false).unwrap();
    p.pump();
    assert!(p.server_events.contains(&Event::Credit {
        link: sl,
        credit: 10,
        drain: false
    }));
    assert_eq!(p.server.credit(sl), 10);
    for i in 0..3 {
        assert_eq!(p.server.send_shared(sl, &body, false), Ok(i));
    }
    assert_eq!(p.server.credit(sl), 7);
    p.pump();
    let got = deliveries(&p.client_events);
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, m, s)| m == b"hello tick" && !s));

    p.client
        .disposition(cl, 0, 2, true, Some(DeliveryState::Accepted))
        .unwrap();
    p.pump();
    assert!(p.server_events.contains(&Event::Disposition {
        session: ss,
        role: Role::Receiver,
        first: 0,
        last: 2,
        settled: true,
        state: Some(DeliveryState::Accepted),
    }));

    p.client.detach(cl, None).unwrap();
    p.pump();
    assert!(p.client_events.contains(&Event::Detached {
        link: cl,
        error: None
    }));
    assert!(p.server_events.contains(&Event::Detached {
        link: sl,
        error: None
    }));
    assert_eq!(
        p.server.send_shared(sl, &body, true),
        Err(SendError::InvalidLink)
    );

    p.client.end(cs, None).unwrap();
    p.pump();
    assert!(p.client_events.contains(&Event::SessionEnded {
        session: cs,
        error: None
    }));
    assert!(p.server_events.contains(&Event::SessionEnded {
        session: ss,
        error: None
    }));

    p.client.close(None).unwrap();
    p.pump();
    assert!(p.server_events.contains(&Event::Closed {
        local: false,
        error: None
    }));
    assert!(p.client.is_closed() && p.server.is_closed());
}

#[test]
fn credit_exhaustion_and_replenish() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    let body = SharedBody::from(vec![7u8; 64]);
    p.client.grant_credit(cl, 5, false).unwrap();
    p.pump();
    for _ in 0..5 {
        p.server.send_shared(sl, &body, true).unwrap();
    }
    assert_eq!(
        p.server.send_shared(sl, &body, true),
        Err(SendError::NoCredit)
    );
    p.pump();
    p.client.grant_credit(cl, 3, false).unwrap();
    p.pump();
    assert_eq!(p.server.credit(sl), 3);
    for _ in 0..3 {
        p.server.send_shared(sl, &body, true).unwrap();
    }
    assert_eq!(
        p.server.send_shared(sl, &body, true),
        Err(SendError::NoCredit)
    );
    p.pump();
    let got = deliveries(&p.client_events);
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|(_, m, s)| m.len() == 64 && *s));
    assert_eq!(p.client.credit(cl), 0);
}

#[test]
fn drain_consumes_remaining_credit() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "sub", Role::Receiver);
    p.client.grant_credit(cl, 10, true).unwrap();
    p.pump();
    assert!(p.server_events.contains(&Event::Credit {
        link: sl,
        credit: 10,
        drain: true
    }));
    let body = SharedBody::from(vec![1u8; 8]);
    p.server.send_shared(sl, &body, true).unwrap();
    p.server.send_shared(sl, &body, true).unwrap();
    p.server.drained(sl).unwrap();
    assert_eq!(p.server.credit(sl), 0);
    p.pump();
    assert_eq!(deliveries(&p.client_events).len(), 2);
    assert!(p.client_events.contains(&Event::ReceiverFlow {
        link: cl,
        credit: 0
    }));
    assert_eq!(p.client.credit(cl), 0);
    assert_eq!(
        p.server.send_shared(sl, &body, true),
        Err(SendError::NoCredit)
    );
}

#[test]
fn publisher_to_server_with_every_outcome() {
    let mut p = Pair::default_pair();
    let (cs, ss) = p.open_and_begin();
    let (cl, sl) = p.attach(cs, "pub", Role::Sender);
    p.server.grant_credit(sl, 4, false).unwrap();
    p.pump();
    assert_eq!(p.client.credit(cl), 4);
    for i in 0..4u8 {
        p.client.send(cl, &[i; 100], false).unwrap();
    }
    p.pump();
    let got = deliveries(&p.server_events);
    assert_eq!(got.iter().map(|d| d.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let outcomes = [
        DeliveryState::Accepted,
        DeliveryState::Rejected(Some(ErrorCondition::new(condition::INVALID_FIELD, "bad"))),
        DeliveryState::Released,
        DeliveryState::Modified {
            delivery_failed: true,
            undeliverable_here: true,
        },
    ];
    for (i, o) in outcomes.iter().enumerate() {
        p.server
            .disposition(sl, i as u32, i as u32, true, Some(o.clone()))
            .unwrap();
    }
    p.pump();
    for (i, o) in outcomes.into_iter().enumerate() {
        let want = Event::Disposition {
            session: cs,
            role: Role::Receiver,
            first: i as u32,
            last: i as u32,
            settled: true,
            state: Some(o),
        };
        assert!(p.client_events.contains(&want), "missing {want:?}");
    }
    let _ = ss;
}

#[test]
fn refused_attach_attaches_then_detaches_with_the_error() {
    let mut p = Pair::default_pair();
    let (cs, _) = p.open_and_begin();
    let spec = LinkSpec {
        name: "nope",
        role: Role::Receiver,
        source: Some("nosuchfeed/X"),
        target: None,
        filters: &[],
        snd_settle_mode: 1,
    };
    let cl = p.client.attach(cs, spec).unwrap();
    p.pump();
    let sl = p
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::AttachRequested(r) => Some(r.link),
            _ => None,
        })
        .unwrap();
    let err = ErrorCondition::new(condition::NOT_FOUND, "no feed named 'nosuchfeed'");
    p.server.refuse_attach(sl, err.clone()).unwrap();
    p.pump();
    assert!(p.client_events.iter().any(|e| matches!(e,
        Event::Attached { link, source: None, .. } if *link == cl)));
    let found = p.client_events.contains(&Event::Detached {
        link: cl,
        error: Some(err.clone()),
    });
    assert!(found, "{:?}", p.client_events);
    assert!(p.server_events.contains(&Event::Detached {
        link: sl,
        error: Some(err)
    }));
}

#[test]
fn many_sessions_and_links_are_independent() {
    let mut p = Pair::default_pair();
    p.pump();
    let a = p.client.begin().unwrap();
    let b = p.client.begin().unwrap();
    p.pump();
    let (la, sa) = p.attach(a, "a", Role::Receiver);
    let (lb, sb) = p.attach(b, "b", Role::Receiver);
    assert_ne!(sa.session, sb.session);
    p.client.grant_credit(la, 1, false).unwrap();
    p.client.grant_credit(lb, 1, false).unwrap();
    p.pump();
    p.server.send(sa, b"A", true).unwrap();
    p.server.send(sb, b"B", true).unwrap();
    p.pump();
    let got: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Delivery(d) => Some((d.link, d.message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, [(la, b"A".to_vec()), (lb, b"B".to_vec())]);
}

#[test]
fn sasl_plain_accepts_good_and_refuses_bad_credentials() {
    struct Fixed;
    impl tickwire_amqp::engine::Authenticator for Fixed {
        fn plain(&self, _z: &str, user: &str, password: &str) -> bool {
            user == "desk" && password == "s3cret"
        }
    }
    let server = || {
        let mut c = Config::server("s");
        c.side = Side::Server {
            sasl: tickwire_amqp::engine::SaslPolicy::Required,
            allow_anonymous: false,
            authenticator: Some(std::sync::Arc::new(Fixed)),
        };
        c
    };
    let client = |pw: &str| {
        let mut c = Config::client("c");
        c.side = Side::Client {
            auth: ClientAuth::Plain {
                user: "desk".into(),
                password: pw.into(),
            },
            hostname: Some("tickwire".into()),
        };
        c
    };
    let mut good = Pair::new(client("s3cret"), server());
    good.pump();
    assert!(good.server.is_open());
    assert!(good.server_events.contains(&Event::Authenticated {
        mechanism: "PLAIN".into(),
        user: Some("desk".into())
    }));
    assert!(good.server_events.iter().any(|e| matches!(e,
        Event::Opened { hostname: Some(h), .. } if h == "tickwire")));

    let mut bad = Pair::new(client("guess"), server());
    bad.pump();
    assert!(!bad.server.is_open() && bad.server.is_closed());
    let (cond, text) = engine_common::closed_error(&bad.server_events).unwrap();
    assert_eq!(cond, condition::UNAUTHORIZED_ACCESS);
    assert!(text.contains("desk"), "{text}");
    let (cond, _) = engine_common::closed_error(&bad.client_events).unwrap();
    assert_eq!(cond, condition::UNAUTHORIZED_ACCESS);

    let mut anon = Config::client("c");
    anon.side = Side::Client {
        auth: ClientAuth::Anonymous,
        hostname: None,
    };
    let mut refused = Pair::new(anon, server());
    refused.pump();
    let (_, text) = engine_common::closed_error(&refused.client_events).unwrap();
    assert!(text.contains("does not offer SASL ANONYMOUS"), "{text}");
}

#[test]
fn client_may_skip_sasl_when_the_server_allows() {
    let mut c = Config::client("c");
    c.side = Side::Client {
        auth: ClientAuth::None,
        hostname: None,
    };
    let mut p = Pair::new(c, Config::server("s"));
    p.pump();
    assert!(p.client.is_open() && p.server.is_open());
    assert!(!p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Authenticated { .. })));
}
