//! Issue 5: "a thousand subscriptions", end to end.
//!
//! 1,000 receiving links (10 connections × 100 links, one session each: the appliance
//! allows 4,096 links per session) over exact addresses (`opra/<UNDERLYING>/<OSI>`),
//! per-underlying wildcards (`opra/SPY/#`) and `*` patterns (`opra/*/<OSI>`,
//! `opra/SPY/*`, `opra/*/*`), half asking for the `binary` format with the
//! `tickwire:format` filter and half with `?format=binary`, driven by our sans-IO client
//! engine; one more connection takes everything on `opra/#` as the reference, and a real
//! Qpid Proton Python client adds a connection with several links of its own.
//!
//! Every link must receive exactly the ticks whose subject matches its pattern, in sequence
//! order, with no gap: each received subject matches, seqs strictly increase, and over the
//! window `(s0, s1]` (opened after every link is attached) the seqs a link received equal
//! those of the reference's ticks that match the pattern, for every link, not a sample.

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use tickwire::app::Running;
use tickwire_amqp::engine::{Config, Engine, Event, LinkId, LinkSpec, Role};
use tickwire_amqp::message::{Body, Message};
use tickwire_record::Tick;

/// Simulator rate, ticks a second: modest, so 1,000 links decode in a debug build.
const RATE: u64 = 1_000;
/// Connections of our own client, and links on each.
const CONNS: usize = 10;
const LINKS_PER_CONN: usize = 100;
/// How long the checked window stays open.
const WINDOW: Duration = Duration::from_secs(10);
/// Credit per link, topped up when half is used.
const CREDIT: u32 = 1_000;
/// Bound on every wait.
const LIMIT: Duration = Duration::from_secs(20);

/// Whether `subject` matches `pattern` (`*` one level, `#` the rest).
fn matches(pattern: &str, subject: &str) -> bool {
    let (mut p, mut s) = (pattern.split('/'), subject.split('/'));
    loop {
        match (p.next(), s.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// One link to open: its pattern and how it asks for the `binary` format.
#[derive(Clone, Debug)]
struct Plan {
    pattern: String,
    by_filter: bool,
}

/// What one link received.
#[derive(Debug, Default)]
struct Got {
    seqs: Vec<u64>,
    /// Subjects and instrument ids, kept for the reference link only.
    subjects: Vec<String>,
    instruments: Vec<u32>,
    /// Subjects that did not match the pattern (the first few).
    mismatched: Vec<String>,
    out_of_order: u64,
    /// Messages that were not a `binary` tick (gap markers, anything else).
    other: u64,
}

/// Flags shared by the test and its client threads.
#[derive(Default)]
struct Control {
    attached: AtomicUsize,
    stop: AtomicBool,
}

/// One connection of our client: a session with many receiving links.
struct Client {
    engine: Engine,
    plans: Vec<Plan>,
    by_link: HashMap<LinkId, usize>,
    got: Vec<Got>,
    keep_subjects: bool,
}

impl Client {
    fn handle_events(&mut self, control: &Control) -> Result<(), String> {
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::Opened { .. } => {
                    self.engine.begin().map_err(|e| format!("begin: {e:?}"))?;
                }
                Event::SessionBegun(s) => self.attach_all(s)?,
                Event::Attached { link, source, .. } => {
                    if source.is_none() {
                        continue; // refused: the detach with the reason follows
                    }
                    self.engine
                        .grant_credit(link, CREDIT, false)
                        .map_err(|e| format!("credit: {e:?}"))?;
                    control.attached.fetch_add(1, Ordering::SeqCst);
                }
                Event::Delivery(d) => {
                    if self.engine.credit(d.link) < CREDIT / 2 {
                        let _ = self.engine.grant_credit(d.link, CREDIT, false);
                    }
                    let i = *self.by_link.get(&d.link).ok_or("delivery on no link")?;
                    self.on_message(i, &d.message);
                }
                Event::Detached { link, error, .. } => {
                    let i = self.by_link.get(&link).copied().unwrap_or(usize::MAX);
                    let what = self.plans.get(i).map_or("?", |p| p.pattern.as_str());
                    return Err(format!("link {what} detached: {error:?}"));
                }
                Event::SessionEnded { error, .. } => {
                    return Err(format!("session ended: {error:?}"));
                }
                Event::Closed { error, .. } => {
                    return Err(format!("connection closed: {error:?}"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn attach_all(&mut self, s: tickwire_amqp::engine::SessionId) -> Result<(), String> {
        for (i, plan) in self.plans.iter().enumerate() {
            let name = format!("sub-{i}-{}", plan.pattern);
            let query = format!("{}?format=binary", plan.pattern);
            let filters: &[(&str, &str)] = if plan.by_filter {
                &[("tickwire:format", "binary")]
            } else {
                &[]
            };
            let spec = LinkSpec {
                name: &name,
                role: Role::Receiver,
                source: Some(if plan.by_filter {
                    &plan.pattern
                } else {
                    &query
                }),
                target: None,
                filters,
                snd_settle_mode: 1,
            };
            let link = self
                .engine
                .attach(s, spec)
                .map_err(|e| format!("attach {}: {e:?}", plan.pattern))?;
            self.by_link.insert(link, i);
        }
        Ok(())
    }

    fn on_message(&mut self, i: usize, bytes: &[u8]) {
        let got = &mut self.got[i];
        let Ok(m) = Message::decode(bytes) else {
            got.other += 1;
            return;
        };
        let subject = m.properties.as_ref().and_then(|p| p.subject).unwrap_or("");
        let tick = match m.body {
            Body::Data(d) => d.data().next().and_then(Tick::read_from),
            _ => None,
        };
        let Some(tick) = tick else {
            got.other += 1;
            return;
        };
        if !matches(&self.plans[i].pattern, subject) && got.mismatched.len() < 5 {
            got.mismatched.push(subject.to_string());
        }
        let seq = tick.seq.get();
        if got.seqs.last().is_some_and(|&last| seq <= last) {
            got.out_of_order += 1;
        }
        got.seqs.push(seq);
        if self.keep_subjects {
            got.subjects.push(subject.to_string());
            got.instruments.push(tick.instrument.get());
        }
    }
}

/// Runs one connection until `control.stop`; returns what each of its links received.
fn run_conn(
    broker: SocketAddr,
    plans: Vec<Plan>,
    keep_subjects: bool,
    control: &Control,
) -> Result<Vec<Got>, String> {
    let mut sock = TcpStream::connect(broker).map_err(|e| format!("connect: {e}"))?;
    let _ = sock.set_nodelay(true);
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| format!("socket: {e}"))?;
    let mut cfg = Config::client("thousand-subscriptions");
    cfg.max_frame_size = 1 << 20;
    let mut c = Client {
        engine: Engine::new(cfg, Instant::now()),
        got: plans.iter().map(|_| Got::default()).collect(),
        plans,
        by_link: HashMap::new(),
        keep_subjects,
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut out = Vec::new();
    let t0 = Instant::now();
    while !control.stop.load(Ordering::SeqCst) {
        if t0.elapsed() > 4 * LIMIT {
            return Err("client ran past its limit".into());
        }
        out.clear();
        c.engine.poll_transmit(&mut out);
        sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        match sock.read(&mut buf) {
            Ok(0) => return Err("the appliance closed the connection".into()),
            Ok(n) => c.engine.handle_input(&buf[..n], Instant::now()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        c.handle_events(control)?;
    }
    Ok(c.got)
}

fn spawn_conn(
    broker: SocketAddr,
    plans: Vec<Plan>,
    keep_subjects: bool,
    control: &Arc<Control>,
) -> JoinHandle<Result<Vec<Got>, String>> {
    let control = Arc::clone(control);
    std::thread::spawn(move || run_conn(broker, plans, keep_subjects, &control))
}

/// The 1,000 patterns: 700 exact, 100 `opra/*/<OSI>`, 100 `opra/<U>/#`, 96 `opra/<U>/*`
/// and 4 `opra/*/*`, over the instruments the directory knows.
fn plans(app: &Running) -> Vec<Plan> {
    let options: Vec<(String, String)> = app
        .directory
        .iter()
        .filter(|i| i.osi.is_some())
        .map(|i| (i.underlying().to_string(), i.symbol()))
        .collect();
    let mut unds: Vec<String> = options.iter().map(|o| o.0.clone()).collect();
    unds.sort();
    unds.dedup();
    assert!(options.len() >= 100 && unds.len() >= 4, "{options:?}");
    (0..CONNS * LINKS_PER_CONN)
        .map(|k| {
            let (u, osi) = &options[(k * 37) % options.len()];
            let und = &unds[(k / 10) % unds.len()];
            let pattern = match k % 10 {
                0..=6 => format!("opra/{u}/{osi}"),
                7 => format!("opra/*/{osi}"),
                8 => format!("opra/{und}/#"),
                _ if k % 250 == 249 => "opra/*/*".to_string(),
                _ => format!("opra/{und}/*"),
            };
            Plan {
                pattern,
                by_filter: k % 2 == 0,
            }
        })
        .collect()
}

/// A Qpid Proton Python client with one receiver per address on one connection; prints
/// one JSON line per message (`i` = the address's index) until `stop_file` exists.
const PROTON_MULTI: &str = r#"
import base64, json, os, sys, time
from proton.handlers import MessagingHandler
from proton.reactor import Container

url, stop_file, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
addresses = sys.argv[4:]

def emit(o):
    sys.stdout.write(json.dumps(o) + "\n")

class Multi(MessagingHandler):
    def __init__(self):
        super().__init__(prefetch=500)
        self.t0 = time.time()
    def on_start(self, event):
        self.conn = event.container.connect(url)
        for i, a in enumerate(addresses):
            event.container.create_receiver(self.conn, a + "?format=binary", name="py-%d" % i)
        event.container.schedule(0.1, self)
    def on_link_opened(self, event):
        emit({"event": "attached", "link": event.link.name})
    def on_timer_task(self, event):
        if os.path.exists(stop_file) or time.time() - self.t0 > limit:
            emit({"event": "done"})
            sys.stdout.flush()
            self.conn.close()
        else:
            event.container.schedule(0.1, self)
    def on_message(self, event):
        body = event.message.body
        if isinstance(body, memoryview):
            body = bytes(body)
        b = base64.b64encode(body).decode() if isinstance(body, (bytes, bytearray)) else None
        emit({"event": "message", "i": int(event.link.name[3:]),
              "subject": event.message.subject, "body": {"binary": b}})

Container(Multi()).run()
"#;

/// The Proton connection: its child process and the file that tells it to stop.
struct Proton {
    client: Background,
    stop_file: std::path::PathBuf,
}

fn start_proton(app: &Running, addresses: &[String]) -> Proton {
    let stop_file = fresh_test_dir("thousand-subscriptions-stop");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg("-c")
        .arg(PROTON_MULTI)
        .arg(url(app))
        .arg(&stop_file)
        .arg("50")
        .args(addresses);
    Proton {
        client: Background::start(cmd),
        stop_file,
    }
}

/// Tells the Proton client to stop and returns, per address, what it received.
fn finish_proton(p: Proton, n: usize) -> Vec<Got> {
    std::fs::write(&p.stop_file, b"stop").expect("stop file");
    let lines = p.client.finish(LIMIT);
    let _ = std::fs::remove_file(&p.stop_file);
    assert!(
        event(&lines, "done").is_some(),
        "Proton client did not finish"
    );
    let mut got: Vec<Got> = (0..n).map(|_| Got::default()).collect();
    for m in messages(&lines) {
        let g = &mut got[m["i"].as_u64().expect("link index") as usize];
        let Some(t) = tick_of(m) else {
            g.other += 1;
            continue;
        };
        let seq = t.seq.get();
        if g.seqs.last().is_some_and(|&l| seq <= l) {
            g.out_of_order += 1;
        }
        g.seqs.push(seq);
        g.subjects
            .push(m["subject"].as_str().unwrap_or("").to_string());
    }
    got
}

/// Checks one link against the reference over `(s0, s1]`; `None` when all is well.
fn check(
    plan: &Plan,
    got: &Got,
    reference: &[(u64, &str)],
    (s0, s1): (u64, u64),
) -> Option<String> {
    let what = &plan.pattern;
    if !got.mismatched.is_empty() || got.out_of_order > 0 || got.other > 0 {
        return Some(format!(
            "{what}: subjects not matching {:?}, {} out of order, {} not ticks",
            got.mismatched, got.out_of_order, got.other
        ));
    }
    let inside = |s: &u64| *s > s0 && *s <= s1;
    let want: Vec<u64> = reference
        .iter()
        .filter(|(s, subj)| inside(s) && matches(what, subj))
        .map(|r| r.0)
        .collect();
    let have: Vec<u64> = got.seqs.iter().copied().filter(inside).collect();
    if want != have {
        let missing: Vec<u64> = want.iter().filter(|s| !have.contains(s)).copied().collect();
        let extra: Vec<u64> = have.iter().filter(|s| !want.contains(s)).copied().collect();
        return Some(format!(
            "{what}: {} expected, {} received; missing {:?}, unexpected {:?}",
            want.len(),
            have.len(),
            &missing[..missing.len().min(8)],
            &extra[..extra.len().min(8)]
        ));
    }
    None
}

/// The appliance's latest published sequence number (its figures, every 100 ms).
fn routed_seq(app: &Running) -> u64 {
    app.stats.fanout().seq
}

/// Every client connection of the test.
struct Fleet {
    /// The `opra/#` reference link's connection.
    reference: JoinHandle<Result<Vec<Got>, String>>,
    /// The 1,000 links' connections, in plan order.
    conns: Vec<JoinHandle<Result<Vec<Got>, String>>>,
    /// The Proton connection and its links' plans.
    proton: Proton,
    py_plans: Vec<Plan>,
}

/// What every link received.
struct Results {
    got: Vec<Got>,
    py_got: Vec<Got>,
    reference: Got,
}

/// Connects the reference, the 1,000 links and the Proton client.
fn start_fleet(app: &Running, plans: &[Plan], control: &Arc<Control>) -> Fleet {
    let all = Plan {
        pattern: "opra/#".into(),
        by_filter: true,
    };
    let reference = spawn_conn(app.amqp_addr, vec![all], true, control);
    let conns = plans
        .chunks(LINKS_PER_CONN)
        .map(|c| spawn_conn(app.amqp_addr, c.to_vec(), false, control))
        .collect();
    // Proton: two exact addresses, `*` on the underlying level, a wildcard per
    // underlying, `*` on the last level.
    let py_plans: Vec<Plan> = [0, 1, 7, 8, 9]
        .iter()
        .map(|&k| Plan {
            pattern: plans[k].pattern.clone(),
            by_filter: false,
        })
        .collect();
    let patterns: Vec<String> = py_plans.iter().map(|p| p.pattern.clone()).collect();
    let proton = start_proton(app, &patterns);
    Fleet {
        reference,
        conns,
        proton,
        py_plans,
    }
}

/// Waits until our links say they are attached and the appliance counts every link.
fn wait_attached(app: &Running, fleet: &Fleet, control: &Control, ours: usize) {
    let links = ours + fleet.py_plans.len();
    let t0 = Instant::now();
    while control.attached.load(Ordering::SeqCst) < ours
        || app.stats.fanout().subscribers.len() < links
    {
        assert!(
            t0.elapsed() < LIMIT,
            "{} of our links attached, {} links on the appliance",
            control.attached.load(Ordering::SeqCst),
            app.stats.fanout().subscribers.len()
        );
        let ended = fleet
            .conns
            .iter()
            .chain([&fleet.reference])
            .any(|c| c.is_finished());
        assert!(!ended, "a connection ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("{links} links attached in {:?}", t0.elapsed());
}

/// Stops every client and collects what each link received.
fn finish_fleet(fleet: Fleet, control: &Control) -> (Results, Vec<Plan>) {
    control.stop.store(true, Ordering::SeqCst);
    let py_got = finish_proton(fleet.proton, fleet.py_plans.len());
    let mut reference = fleet.reference.join().expect("thread").expect("reference");
    let mut got = Vec::new();
    for c in fleet.conns {
        got.extend(c.join().expect("thread").expect("client connection"));
    }
    let results = Results {
        got,
        py_got,
        reference: reference.pop().expect("one link"),
    };
    (results, fleet.py_plans)
}

#[test]
fn a_thousand_subscriptions_each_get_exactly_their_ticks() {
    let mut cfg = private_config(RATE);
    cfg.sim.underlyings = 8;
    cfg.sim.series_per_underlying = 20;
    println!("sim seed {}", cfg.sim.seed);
    let app = appliance(&cfg);
    wait_for_ticks(&app, 2_000, LIMIT);
    let plans = plans(&app);
    let control = Arc::new(Control::default());
    let fleet = start_fleet(&app, &plans, &control);
    wait_attached(&app, &fleet, &control, plans.len() + 1);
    // The figures are at most 100 ms old: half a second on, every tick past s0 was routed
    // after every attach.
    std::thread::sleep(Duration::from_millis(500));
    let s0 = routed_seq(&app);
    std::thread::sleep(WINDOW);
    let s1 = routed_seq(&app);
    // Let every link drain what was routed up to s1.
    std::thread::sleep(Duration::from_secs(2));
    let fan = app.stats.fanout();
    let dropped: u64 = fan.subscribers.iter().map(|s| s.dropped + s.gaps).sum();
    let (results, py_plans) = finish_fleet(fleet, &control);
    let directory = app.directory.clone();
    app.stop();
    assert_eq!(dropped, 0, "the appliance dropped updates for some link");
    subjects_name_the_ticks(&results.reference, &directory);
    verify(&plans, &py_plans, &results, (s0, s1));
}

/// Every subject the reference received is the address of the tick's instrument.
fn subjects_name_the_ticks(reference: &Got, directory: &tickwire_record::Directory) {
    assert_eq!(reference.subjects.len(), reference.instruments.len());
    for (subject, id) in reference.subjects.iter().zip(&reference.instruments) {
        let named = directory.get(*id).map(|i| i.address("opra"));
        assert_eq!(named.as_deref(), Some(subject.as_str()), "instrument {id}");
    }
}

/// Checks every link against the reference over `(s0, s1]`.
fn verify(plans: &[Plan], py_plans: &[Plan], res: &Results, (s0, s1): (u64, u64)) {
    let (got, py_got, reference) = (&res.got, &res.py_got, &res.reference);
    assert!(s1 > s0 + 5_000, "too few ticks in the window: ({s0}, {s1}]");
    let r: Vec<(u64, &str)> = reference
        .seqs
        .iter()
        .zip(&reference.subjects)
        .map(|(s, subj)| (*s, subj.as_str()))
        .collect();
    let window: Vec<u64> = r
        .iter()
        .map(|x| x.0)
        .filter(|s| *s > s0 && *s <= s1)
        .collect();
    let dense: Vec<u64> = (s0 + 1..=s1).collect();
    assert!(
        window == dense,
        "the opra/# reference missed ticks in ({s0}, {s1}]"
    );
    assert_eq!(
        reference.out_of_order + reference.other,
        0,
        "reference link"
    );
    let mut failures = Vec::new();
    let mut delivered = 0;
    let mut silent = 0;
    for (plan, g) in plans.iter().zip(got).chain(py_plans.iter().zip(py_got)) {
        if let Some(f) = check(plan, g, &r, (s0, s1)) {
            failures.push(f);
        }
        let n = g.seqs.iter().filter(|s| **s > s0 && **s <= s1).count();
        delivered += n;
        silent += usize::from(n == 0);
    }
    for (plan, g) in py_plans.iter().zip(py_got) {
        let bad = g.subjects.iter().find(|s| !matches(&plan.pattern, s));
        assert!(
            bad.is_none(),
            "Proton link {}: subject {bad:?}",
            plan.pattern
        );
    }
    println!(
        "window ({s0}, {s1}]: {} ticks; {delivered} messages checked over {} links; \
         {silent} links had no matching tick",
        s1 - s0,
        plans.len() + py_plans.len()
    );
    assert!(
        failures.is_empty(),
        "{} links wrong:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    assert!(
        silent * 10 < plans.len(),
        "{silent} links had no traffic: the universe is too large for the window"
    );
}
