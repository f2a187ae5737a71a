//! The simulator: determinism, configuration, universe shape, start of day, faults.

use tickwire_feedhandler::sim::{Faults, SideFaults, Sim, SimConfig, Universe};
use tickwire_feedhandler::wire::{self, ControlEvent, Message, Side};

fn blocks(cfg: &SimConfig, n: usize) -> Vec<Vec<u8>> {
    let mut sim = Sim::new(cfg);
    (0..n).map(|_| sim.next_block().bytes.to_vec()).collect()
}

#[test]
fn same_seed_same_stream_other_seed_other_stream() {
    let cfg = SimConfig {
        seed: 42,
        ..SimConfig::default()
    };
    assert_eq!(blocks(&cfg, 3_000), blocks(&cfg, 3_000));
    let other = SimConfig {
        seed: 43,
        ..SimConfig::default()
    };
    assert_ne!(blocks(&cfg, 3_000), blocks(&other, 3_000));
}

#[test]
fn config_loads_from_toml() {
    let text = r#"
        seed = 7
        underlyings = 100
        series_per_underlying = 400
        lines = 96
        reset_at_seq = 100000
        [a]
        loss_ppm = 1000
        down = { from_block = 10, blocks = 5 }
        [b]
        reorder_ppm = 500
        lines = [1, 2]
    "#;
    let cfg: SimConfig = toml::from_str(text).unwrap();
    assert_eq!((cfg.seed, cfg.underlyings, cfg.lines), (7, 100, 96));
    assert_eq!(cfg.a.loss_ppm, 1000);
    assert_eq!(cfg.a.down.unwrap().blocks, 5);
    assert_eq!(cfg.b.lines, vec![1, 2]);
    assert_eq!(
        cfg.max_msgs_per_block,
        SimConfig::default().max_msgs_per_block
    );
    assert!(
        toml::from_str::<SimConfig>("sede = 1").is_err(),
        "unknown keys are refused"
    );
}

#[test]
fn universe_has_real_tickers_first_and_partitions_every_series_once() {
    let u = Universe::generate(5, 300, 200, 96);
    let names: Vec<&str> = u.underlyings.iter().take(4).map(|x| &*x.name).collect();
    assert_eq!(names, ["SPY", "QQQ", "IWM", "AAPL"]);
    let mut seen = std::collections::HashSet::new();
    assert!(
        u.underlyings.iter().all(|x| seen.insert(x.name.clone())),
        "unique names"
    );
    assert!(u.series.len() >= 300 * 180, "{} series", u.series.len());
    let mut count = 0;
    for (l, list) in u.by_line.iter().enumerate() {
        assert!(!list.is_empty(), "line {} carries series", l + 1);
        for (i, &s) in list.iter().enumerate() {
            let ser = &u.series[s as usize];
            assert_eq!(ser.line_index, i as u32);
            assert_eq!(u.underlyings[ser.underlying as usize].line as usize, l + 1);
            count += 1;
        }
    }
    assert_eq!(count, u.series.len());
    // Strikes straddle spot; calls and puts both present.
    let spy = &u.underlyings[0];
    let first = spy.first_series as usize;
    let ladder = &u.series[first..first + spy.n_series as usize];
    assert!(
        ladder.iter().any(|s| s.strike < spy.spot) && ladder.iter().any(|s| s.strike > spy.spot)
    );
}

#[test]
fn opra_scale_universe_builds() {
    let t = std::time::Instant::now();
    let u = Universe::generate(1, 2_500, 600, 96);
    eprintln!("{} series in {:?}", u.series.len(), t.elapsed());
    assert!(u.series.len() > 1_000_000, "{} series", u.series.len());
}

#[test]
fn each_line_starts_with_mappings_then_start_of_day() {
    let cfg = SimConfig {
        underlyings: 6,
        series_per_underlying: 100,
        lines: 3,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(&cfg);
    let per_line: Vec<usize> = sim.universe().by_line.iter().map(Vec::len).collect();
    let mut mapped = [0usize; 3];
    let mut started = [false; 3];
    let mut live = 0;
    for _ in 0..2_000 {
        let b = sim.next_block();
        let l = b.line as usize - 1;
        let (h, msgs) = wire::decode_block(b.bytes).unwrap();
        assert_eq!(h.seq, b.seq);
        for m in msgs {
            match m.unwrap() {
                Message::SeriesMapping(_) => {
                    assert!(!started[l], "mappings come before start of day");
                    mapped[l] += 1;
                }
                Message::Control(c) if c.event == ControlEvent::StartOfDay => {
                    assert_eq!(mapped[l], per_line[l], "every series mapped first");
                    started[l] = true;
                }
                _ => {
                    assert!(started[l], "live messages after start of day");
                    live += 1;
                }
            }
        }
    }
    assert!(started.iter().all(|&s| s) && live > 10_000);
}

#[test]
fn fault_rates_are_roughly_as_configured() {
    let cfg = SimConfig::default();
    let a = SideFaults {
        loss_ppm: 100_000,
        dup_ppm: 50_000,
        ..SideFaults::default()
    };
    let mut faults = Faults::new(9, cfg.lines, a, SideFaults::default());
    let mut sim = Sim::new(&cfg);
    let (mut sent_a, mut sent_b) = (0, 0);
    for _ in 0..20_000 {
        let b = sim.next_block();
        let (line, bytes) = (b.line, b.bytes.to_vec());
        faults.apply(line, Side::A, &bytes, &mut |_| sent_a += 1);
        faults.apply(line, Side::B, &bytes, &mut |_| sent_b += 1);
    }
    let c = *faults.counters();
    assert_eq!(sent_b, 20_000);
    assert!((1_600..2_400).contains(&c.lost), "{c:?}");
    assert!((700..1_100).contains(&c.duplicated), "{c:?}");
    assert_eq!(sent_a, 20_000 - c.lost + c.duplicated);
}
