//! The routing index against brute-force matching: thousands of wildcard and exact
//! subscriptions, instruments added before and after subscribing, removals.

use proptest::prelude::*;
use tickwire_fanout::{Pattern, Router, SubId};
use tickwire_record::{Directory, OsiSymbol, PutCall, Tick};

const ROOTS: [&str; 5] = ["SPY", "QQQ", "AAPL", "IWM", "SPXW"];

/// `(root, strike index, call)`: strike index 0 is the underlying itself.
type Inst = (usize, u32, bool);

fn symbol(&(r, k, call): &Inst) -> String {
    if k == 0 {
        return ROOTS[r].to_string();
    }
    let pc = if call { PutCall::Call } else { PutCall::Put };
    OsiSymbol::new(ROOTS[r], 26, 12, 18, pc, k * 5_000)
        .unwrap()
        .to_string()
}

fn intern(d: &Directory, i: &Inst) {
    let osi = (i.1 != 0).then(|| OsiSymbol::parse(&symbol(i)).unwrap());
    d.intern(ROOTS[i.0], osi).unwrap();
}

fn inst() -> impl Strategy<Value = Inst> {
    (0..ROOTS.len(), 0..6u32, any::<bool>())
}

fn level(depth: usize) -> BoxedStrategy<String> {
    let lit = match depth {
        0 => prop_oneof![Just("opra".to_string()), Just("cboe".to_string())].boxed(),
        1 => (0..ROOTS.len() + 1)
            .prop_map(|i| ROOTS.get(i).unwrap_or(&"TSLA").to_string())
            .boxed(),
        _ => inst().prop_map(|i| symbol(&i)).boxed(),
    };
    prop_oneof![
        6 => lit,
        2 => Just("*".to_string()),
        1 => Just("#".to_string()),
    ]
    .boxed()
}

fn pattern() -> impl Strategy<Value = String> {
    (level(0), level(1), level(2), level(3), 1..=4usize).prop_map(|(a, b, c, d, n)| {
        let mut levels = vec![a, b, c, d];
        levels.truncate(n);
        for l in levels.iter_mut().take(n - 1) {
            if l == "#" {
                *l = "*".into();
            }
        }
        if n == 4 {
            levels[3] = "#".into();
        }
        levels.join("/")
    })
}

/// An independent matcher on the raw strings.
fn brute(pattern: &[&str], address: &[&str]) -> bool {
    match (pattern.split_first(), address.split_first()) {
        (Some((&"#", _)), _) => true,
        (None, None) => true,
        (Some((&p, pr)), Some((&a, ar))) => (p == "*" || p == a) && brute(pr, ar),
        _ => false,
    }
}

fn check(router: &mut Router, dir: &Directory, live: &[(SubId, String)]) {
    for inst in dir.iter() {
        let addr = inst.address("opra");
        let levels: Vec<&str> = addr.split('/').collect();
        let mut want: Vec<SubId> = live
            .iter()
            .filter(|(_, p)| brute(&p.split('/').collect::<Vec<_>>(), &levels))
            .map(|(id, _)| *id)
            .collect();
        let mut got = router.route(inst.id).to_vec();
        want.sort();
        got.sort();
        assert_eq!(got, want, "instrument {addr}");
    }
    let mut all = router.route(Tick::NO_INSTRUMENT).to_vec();
    all.sort();
    let mut want: Vec<SubId> = live.iter().map(|(id, _)| *id).collect();
    want.sort();
    assert_eq!(all, want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn router_agrees_with_brute_force(
        insts in proptest::collection::vec(inst(), 1..120),
        pats in proptest::collection::vec(pattern(), 1000..2500),
        removals in proptest::collection::vec(any::<proptest::sample::Index>(), 0..400),
        split in 0..120usize,
    ) {
        let dir = Directory::with_capacity(256);
        let mut router = Router::new("opra", dir.clone());
        let split = split.min(insts.len());
        insts[..split].iter().for_each(|i| intern(&dir, i));
        let mut live: Vec<(SubId, String)> = Vec::new();
        for p in &pats {
            let id = router.subscribe(Pattern::parse(p).unwrap());
            live.push((id, p.clone()));
        }
        check(&mut router, &dir, &live);
        insts[split..].iter().for_each(|i| intern(&dir, i));
        for r in &removals {
            if live.is_empty() {
                break;
            }
            let (id, _) = live.swap_remove(r.index(live.len()));
            prop_assert!(router.unsubscribe(id));
            prop_assert!(!router.unsubscribe(id));
        }
        check(&mut router, &dir, &live);
        // Reused ids route correctly too.
        for p in pats.iter().take(50) {
            live.push((router.subscribe_str(p).unwrap(), p.clone()));
        }
        check(&mut router, &dir, &live);
        prop_assert_eq!(router.len(), live.len());
    }
}

#[test]
fn exact_and_wildcard_examples() {
    let dir = Directory::with_capacity(8);
    let spy = dir
        .intern("SPY", Some(OsiSymbol::parse("SPY261218C00450000").unwrap()))
        .unwrap();
    let qqq = dir.intern("QQQ", None).unwrap();
    let mut r = Router::new("opra", dir.clone());
    let all_spy = r.subscribe_str("opra/SPY/#").unwrap();
    let exact = r.subscribe_str("opra/*/SPY261218C00450000").unwrap();
    let under = r.subscribe_str("opra/*/QQQ").unwrap();
    let other_feed = r.subscribe_str("cboe/#").unwrap();
    assert_eq!(r.route(spy), [all_spy, exact]);
    assert_eq!(r.route(qqq), [under]);
    assert!(r.subscribe_str("opra/SPY*").is_err());
    let late = dir.intern("SPY", None).unwrap();
    assert_eq!(r.subscribers(late), []);
    assert_eq!(r.route(late), [all_spy]);
    assert!(r.unsubscribe(all_spy));
    assert_eq!(r.route(spy), [exact]);
    assert_eq!(r.route(Tick::NO_INSTRUMENT), [exact, under, other_feed]);
    assert_eq!(
        r.pattern(exact).unwrap().to_string(),
        "opra/*/SPY261218C00450000"
    );
}
