//! The report of one run: rates, loss, latency percentiles (raw and corrected for
//! coordinated omission), CPU per stage and the machine, as JSON or a readable table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::machine::Machine;
use crate::subscriber::{new_histogram, SubscriberResult};

/// How a run was set up, as the command line and the harness know it.
#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    /// `appliance` (ours, started in-process) or `target` (another broker).
    pub mode: String,
    /// The broker the subscribers connected to.
    pub broker: String,
    /// The source address pattern (`{u}` stands for each subscriber's underlying).
    pub address: String,
    /// Target feed rate in ticks a second (0 = flat out, or unknown for a target).
    pub rate: u64,
    /// Seconds the measured window lasted (wall clock).
    pub duration_s: f64,
    /// Where the load ran: `spread` or `pinned` (`tickwire bench --layout`).
    pub layout: String,
}

/// Latency percentiles in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Values recorded (including the synthetic ones of a correction).
    pub samples: u64,
    /// Mean.
    pub mean_ns: f64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// 99.99th percentile.
    pub p9999_ns: u64,
    /// Largest.
    pub max_ns: u64,
}

impl Percentiles {
    /// Reads the percentiles of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            samples: h.len(),
            mean_ns: h.mean(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            p9999_ns: h.value_at_quantile(0.9999),
            max_ns: h.max(),
        }
    }

    /// (label, value) pairs in order, for tables and charts.
    pub fn points(&self) -> [(&'static str, u64); 6] {
        [
            ("p50", self.p50_ns),
            ("p90", self.p90_ns),
            ("p99", self.p99_ns),
            ("p99.9", self.p999_ns),
            ("p99.99", self.p9999_ns),
            ("max", self.max_ns),
        ]
    }
}

/// End-to-end latency, feed packet receive (`ts_recv`) to subscriber read.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Corrected for coordinated omission (each subscriber's values, with the synthetic
    /// values `record_correct` adds at its expected interval); equals `raw` when flat out.
    pub corrected: Percentiles,
    /// As measured.
    pub raw: Percentiles,
    /// The expected interval used for the correction (the first subscriber's), ns.
    pub expected_interval_ns: u64,
}

/// One subscriber's line of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SubscriberLine {
    /// Index.
    pub index: usize,
    /// Source address.
    pub address: String,
    /// Messages delivered in the window.
    pub delivered: u64,
    /// Messages a second.
    pub per_second: f64,
    /// Ticks lost (by sequence for subscribers taking everything, else by gap markers).
    pub lost: u64,
    /// Gap markers received.
    pub gap_markers: u64,
    /// Ticks out of sequence order.
    pub out_of_order: u64,
    /// The error that ended it early, if any.
    pub error: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's set-up.
    pub run: RunFacts,
    /// Number of subscribers.
    pub subscribers: usize,
    /// Messages delivered to all subscribers in the window.
    pub delivered: u64,
    /// Messages a second, all subscribers.
    pub delivered_per_second: f64,
    /// Messages a second, per subscriber: mean, lowest, highest.
    pub per_subscriber_mean: f64,
    /// Lowest per-subscriber rate.
    pub per_subscriber_min: f64,
    /// Highest per-subscriber rate.
    pub per_subscriber_max: f64,
    /// Ticks lost in all (by sequence for subscribers taking everything, else by gap
    /// markers).
    pub loss: u64,
    /// Ticks the gap markers said were dropped, all subscribers.
    pub dropped_by_markers: u64,
    /// Subscribers that ended with an error.
    pub failed: usize,
    /// Latency.
    pub latency: Latency,
    /// CPU seconds per stage during the window.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// CPU per stage as a percentage of one core.
    pub cpu_percent: BTreeMap<String, f64>,
    /// The appliance's data-plane runners and the pinned layout's harness: the share of the
    /// window spent in cycles that did work. A busy-polling thread's CPU time is always
    /// near 100%, so this is what says which one limits the run.
    pub busy_percent: BTreeMap<String, f64>,
    /// The machine.
    pub machine: Machine,
    /// Figures from the appliance itself (feed, fan-out), when it ran in-process.
    pub appliance: Option<serde_json::Value>,
    /// Every subscriber.
    pub per_subscriber: Vec<SubscriberLine>,
}

impl Report {
    /// Builds the report from the subscribers' results.
    pub fn build(
        run: RunFacts,
        results: &[SubscriberResult],
        cpu_seconds: BTreeMap<String, f64>,
        machine: Machine,
    ) -> Self {
        let secs = run.duration_s.max(1e-9);
        let lines: Vec<SubscriberLine> = results
            .iter()
            .map(|r| SubscriberLine {
                index: r.index,
                address: r.address.clone(),
                delivered: r.delivered,
                per_second: r.delivered as f64 / secs,
                lost: r.lost(),
                gap_markers: r.gap_markers,
                out_of_order: r.out_of_order,
                error: r.error.clone(),
            })
            .collect();
        let rates = lines.iter().map(|l| l.per_second);
        let delivered: u64 = lines.iter().map(|l| l.delivered).sum();
        let n = lines.len().max(1) as f64;
        let cpu_percent = cpu_seconds
            .iter()
            .map(|(k, v)| (k.clone(), (v / secs * 1000.0).round() / 10.0))
            .collect();
        Self {
            subscribers: results.len(),
            delivered,
            delivered_per_second: delivered as f64 / secs,
            per_subscriber_mean: delivered as f64 / secs / n,
            per_subscriber_min: if lines.is_empty() {
                0.0
            } else {
                rates.clone().fold(f64::INFINITY, f64::min)
            },
            per_subscriber_max: rates.fold(0.0, f64::max),
            loss: lines.iter().map(|l| l.lost).sum(),
            dropped_by_markers: results.iter().map(|r| r.dropped_by_marker).sum(),
            failed: lines.iter().filter(|l| l.error.is_some()).count(),
            latency: latency(results),
            cpu_seconds,
            cpu_percent,
            busy_percent: BTreeMap::new(),
            machine,
            appliance: None,
            per_subscriber: lines,
            run,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The report as a readable table (subscriber lines capped at `max_lines`).
    pub fn to_table(&self, max_lines: usize) -> String {
        let mut s = String::new();
        let r = &self.run;
        let rate = if r.rate == 0 {
            "flat out".to_string()
        } else {
            format!("{} ticks/s", group(r.rate as f64))
        };
        let m = &self.machine;
        let _ = writeln!(
            s,
            "tickwire bench: {} {} ({rate}), {} layout",
            r.mode, r.broker, r.layout
        );
        let _ = writeln!(
            s,
            "machine: {} cores, {}, Linux {}, {:.1} GiB, load {:.2}",
            m.cores,
            m.cpu_model,
            m.kernel,
            m.memory_bytes as f64 / (1u64 << 30) as f64,
            m.load_average
        );
        if !m.mistuned.is_empty() {
            let _ = writeln!(s, "mistuned: {}", m.mistuned.join(", "));
        }
        let _ = writeln!(
            s,
            "{} subscribers on {:?} for {:.2} s",
            self.subscribers, r.address, r.duration_s
        );
        let _ = writeln!(
            s,
            "delivered: {} messages, {} msgs/s in all, per subscriber mean {} (min {}, \
             max {})",
            group(self.delivered as f64),
            group(self.delivered_per_second),
            group(self.per_subscriber_mean),
            group(self.per_subscriber_min),
            group(self.per_subscriber_max),
        );
        let _ = writeln!(
            s,
            "loss: {} ticks; failed subscribers: {}",
            self.loss, self.failed
        );
        self.latency_table(&mut s);
        let _ = writeln!(s, "cpu (% of one core):");
        for (k, v) in &self.cpu_percent {
            let _ = writeln!(s, "  {k:<14} {v:>7.1}%");
        }
        if !self.busy_percent.is_empty() {
            let _ = writeln!(s, "busy (% of the window in cycles that did work):");
            for (k, v) in &self.busy_percent {
                let _ = writeln!(s, "  {k:<14} {v:>7.1}%");
            }
        }
        let _ = writeln!(s, "per subscriber:");
        for l in self.per_subscriber.iter().take(max_lines) {
            let _ = writeln!(
                s,
                "  #{:<4} {:<28} {:>12} msgs/s  lost {}{}",
                l.index,
                l.address,
                group(l.per_second),
                l.lost,
                l.error
                    .as_deref()
                    .map_or(String::new(), |e| format!("  ({e})"))
            );
        }
        if self.per_subscriber.len() > max_lines {
            let more = self.per_subscriber.len() - max_lines;
            let _ = writeln!(s, "  ... {more} more (see --json)");
        }
        s
    }

    fn latency_table(&self, s: &mut String) {
        let l = &self.latency;
        let _ = writeln!(
            s,
            "latency, feed receive to subscriber read (µs), {} samples; corrected at an \
             expected interval of {} ns:",
            l.raw.samples, l.expected_interval_ns
        );
        let _ = writeln!(s, "  {:<10} {:>12} {:>12}", "", "corrected", "raw");
        for ((name, c), (_, r)) in l.corrected.points().iter().zip(l.raw.points()) {
            let _ = writeln!(s, "  {name:<10} {:>12.1} {:>12.1}", us(*c), us(r));
        }
    }
}

/// Nanoseconds as microseconds.
pub fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// A number with thousands separators (`12 345 678`), rounded to an integer.
pub fn group(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Merges every subscriber's latency, raw and corrected at its own expected interval.
pub fn latency(results: &[SubscriberResult]) -> Latency {
    let mut raw = new_histogram();
    let mut corrected = new_histogram();
    for r in results {
        let _ = raw.add(&r.latency);
        if r.expected_interval_ns > 0 {
            add_corrected(&mut corrected, &r.latency, r.expected_interval_ns);
        } else {
            let _ = corrected.add(&r.latency);
        }
    }
    Latency {
        corrected: Percentiles::of(&corrected),
        raw: Percentiles::of(&raw),
        expected_interval_ns: results.first().map_or(0, |r| r.expected_interval_ns),
    }
}

/// Adds `source` to `into` corrected for coordinated omission at `interval` ns: each value
/// `v` recorded `n` times also counts `n` times for every missing value `v - interval`,
/// `v - 2 × interval`, … down to `interval`, as `Histogram::record_n_correct` does. That
/// method walks the missing values one by one: a 1 s latency at a 200 ns interval is 5 M
/// steps per recorded value, and a backlogged run at millions of ticks a second took over
/// 30 s to report. Here the walk goes a histogram bucket at a time, counting the missing
/// values each bucket holds, so the result is the same bucket for bucket.
pub fn add_corrected(into: &mut Histogram<u64>, source: &Histogram<u64>, interval: u64) {
    for v in source.iter_recorded() {
        let (value, n) = (v.value_iterated_to(), v.count_at_value());
        // Recorded values stand for their bucket's highest equivalent value, as in
        // `record_n_correct` (which is given the value itself).
        let _ = into.record_n(value, n);
        if interval == 0 || value <= interval {
            continue;
        }
        let mut missing = value - interval;
        while missing >= interval {
            // Every missing value from `missing` down to the bottom of its bucket.
            let low = into.lowest_equivalent(missing).max(interval);
            let k = (missing - low) / interval + 1;
            let _ = into.record_n(missing, n.saturating_mul(k));
            missing = missing.saturating_sub(k * interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::{SubscriberSpec, Tally};

    fn result(index: usize, delivered: u64, lat: &[u64], interval: u64) -> SubscriberResult {
        let spec = SubscriberSpec {
            index,
            broker: "127.0.0.1:1".parse().unwrap(),
            address: format!("opra/U{index}/#"),
            filters: Vec::new(),
            credit: 10,
            dense: false,
            expected_interval_ns: interval,
            read_buffer: 4096,
        };
        let mut r = Tally::new(&spec).result;
        r.delivered = delivered;
        for &v in lat {
            r.latency.record(v).unwrap();
        }
        r
    }

    fn facts() -> RunFacts {
        RunFacts {
            mode: "appliance".into(),
            broker: "127.0.0.1:5672".into(),
            address: "opra/#".into(),
            rate: 1000,
            layout: "pinned".into(),
            duration_s: 2.0,
        }
    }

    #[test]
    fn rates_and_loss_add_up() {
        let mut a = result(0, 2000, &[1_000; 10], 0);
        a.dropped_by_marker = 3;
        let b = result(1, 1000, &[2_000; 10], 0);
        let rep = Report::build(facts(), &[a, b], BTreeMap::new(), Machine::read());
        assert_eq!(rep.delivered, 3000);
        assert_eq!(rep.delivered_per_second, 1500.0);
        assert_eq!(
            (rep.per_subscriber_min, rep.per_subscriber_max),
            (500.0, 1000.0)
        );
        assert_eq!(rep.per_subscriber_mean, 750.0);
        assert_eq!(rep.loss, 3);
        assert_eq!(rep.latency.raw.samples, 20);
        assert_eq!(
            rep.latency.raw, rep.latency.corrected,
            "no interval: no correction"
        );
        let json: serde_json::Value = serde_json::from_str(&rep.to_json()).unwrap();
        for key in [
            "delivered",
            "loss",
            "latency",
            "cpu_percent",
            "machine",
            "per_subscriber",
        ] {
            assert!(!json[key].is_null(), "{key} missing");
        }
        assert_eq!(
            json["latency"]["raw"]["max_ns"].as_u64().unwrap() / 10,
            2_001 / 10
        );
    }

    #[test]
    fn bucketwise_correction_equals_the_histograms_own() {
        let mut h = new_histogram();
        let mut x = 12_345u64;
        for i in 0..5_000u64 {
            // Latencies from 1 µs to 50 ms, a few repeated.
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = 1_000 + (x >> 33) % 50_000_000;
            h.record_n(v, 1 + i % 3).unwrap();
        }
        for interval in [1_000, 7_919, 250_000] {
            let theirs = h.clone_correct(interval);
            let mut mine = new_histogram();
            add_corrected(&mut mine, &h, interval);
            assert_eq!(mine.len(), theirs.len(), "interval {interval}");
            let a: Vec<_> = mine
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect();
            let b: Vec<_> = theirs
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect();
            assert_eq!(a, b, "interval {interval}");
        }
    }

    #[test]
    fn correction_fills_in_what_a_stall_hid() {
        // 99 fast values and one 1 ms stall at an expected interval of 10 µs: the stall
        // hid about 99 more sends, whose latencies run from 990 µs down to 10 µs.
        let mut lat = vec![1_000; 99];
        lat.push(1_000_000);
        let r = result(0, 100, &lat, 10_000);
        let l = latency(&[r]);
        assert_eq!(l.raw.samples, 100);
        assert!(l.raw.p90_ns < 2_000, "{:?}", l.raw);
        assert!(l.corrected.samples >= 190, "{:?}", l.corrected);
        assert!(l.corrected.p90_ns > 100_000, "{:?}", l.corrected);
        assert_eq!(l.expected_interval_ns, 10_000);
    }

    #[test]
    fn table_reads_well() {
        let mut a = result(0, 5_000_000, &[1_500], 0);
        a.error = Some("link detached".into());
        let mut cpu = BTreeMap::new();
        cpu.insert("tw-data".to_string(), 1.5);
        let mut rep = Report::build(facts(), &[a.clone(), a], cpu, Machine::read());
        rep.busy_percent.insert("tw-harness".to_string(), 42.5);
        let t = rep.to_table(1);
        assert!(t.contains("pinned layout"), "{t}");
        assert!(t.contains("42.5%"), "{t}");
        assert!(t.contains("2,500,000 msgs/s"), "{t}");
        assert!(t.contains("tw-data"), "{t}");
        assert!(t.contains("75.0%"), "{t}");
        assert!(t.contains("1 more"), "{t}");
        assert!(t.contains("link detached"), "{t}");
        assert_eq!(group(1234567.4), "1,234,567");
        assert_eq!(group(999.0), "999");
    }
}
