//! A small SVG chart of a run: latency percentiles (corrected and raw) on the left, each
//! subscriber's delivered rate on the right. Plain SVG 1.1 text, no dependencies.

use std::fmt::Write as _;

use crate::report::{group, us, Report};

/// Chart width and height in pixels.
const W: f64 = 860.0;
const H: f64 = 360.0;
/// Plot area of each panel: top margin, bottom margin, panel width.
const TOP: f64 = 60.0;
const BOTTOM: f64 = 300.0;
const PANEL: f64 = 360.0;

/// Escapes text for XML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders the report as an SVG document.
pub fn render(rep: &Report) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" "#
    );
    let _ = writeln!(
        s,
        r#"viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let rate = if rep.run.rate == 0 {
        "flat out".to_string()
    } else {
        format!("{} ticks/s", group(rep.run.rate as f64))
    };
    let title = format!(
        "tickwire bench: {} subscribers, {rate}, {} msgs/s delivered, loss {}",
        rep.subscribers,
        group(rep.delivered_per_second),
        rep.loss
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="24" font-size="14">{}</text>"#,
        esc(&title)
    );
    latency_panel(&mut s, rep, 40.0);
    rate_panel(&mut s, rep, 460.0);
    s.push_str("</svg>\n");
    s
}

/// Log-scaled bars of the latency percentiles in microseconds.
fn latency_panel(s: &mut String, rep: &Report, x0: f64) {
    let c = rep.latency.corrected.points();
    let r = rep.latency.raw.points();
    let top = c.iter().chain(&r).map(|p| us(p.1)).fold(1.0, f64::max);
    let decades = top.log10().ceil().max(1.0);
    let y = |v: f64| BOTTOM - (v.max(1.0).log10() / decades) * (BOTTOM - TOP);
    let _ = writeln!(
        s,
        r#"<text x="{x0}" y="48">latency, feed receive to subscriber read (µs, log)</text>"#
    );
    for d in 0..=decades as u32 {
        let yy = y(10f64.powi(d as i32));
        let _ = write!(
            s,
            r##"<line x1="{x0}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/>"##,
            x0 + PANEL
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 4.0,
            yy + 4.0,
            10u64.pow(d)
        );
    }
    let step = PANEL / c.len() as f64;
    for (i, ((name, cv), (_, rv))) in c.iter().zip(r.iter()).enumerate() {
        let x = x0 + i as f64 * step + 6.0;
        let bw = (step - 12.0) / 2.0;
        for (k, (v, colour)) in [(*cv, "#c0392b"), (*rv, "#2980b9")].iter().enumerate() {
            let yy = y(us(*v));
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{yy:.1}" width="{bw:.1}" height="{:.1}" fill="{colour}">"#,
                x + k as f64 * bw,
                BOTTOM - yy,
            );
            let _ = writeln!(s, "<title>{name}: {:.1} µs</title></rect>", us(*v));
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{name}</text>"#,
            x + bw,
            BOTTOM + 14.0
        );
    }
    for (dx, colour, label) in [(0.0, "#c0392b", "corrected"), (90.0, "#2980b9", "raw")] {
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{colour}"/>"#,
            x0 + dx,
            BOTTOM + 26.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{label}</text>"#,
            x0 + dx + 14.0,
            BOTTOM + 35.0
        );
    }
}

/// One bar per subscriber: its delivered messages a second.
fn rate_panel(s: &mut String, rep: &Report, x0: f64) {
    let top = rep
        .per_subscriber
        .iter()
        .map(|l| l.per_second)
        .fold(1.0, f64::max);
    let _ = writeln!(
        s,
        r#"<text x="{x0}" y="48">messages/s per subscriber (max {})</text>"#,
        group(top)
    );
    let n = rep.per_subscriber.len().max(1) as f64;
    let step = PANEL / n;
    for (i, l) in rep.per_subscriber.iter().enumerate() {
        let h = l.per_second / top * (BOTTOM - TOP);
        let colour = if l.lost > 0 || l.error.is_some() {
            "#c0392b"
        } else {
            "#27ae60"
        };
        let _ = write!(
            s,
            r#"<rect x="{:.2}" y="{:.1}" width="{:.2}" height="{h:.1}" fill="{colour}">"#,
            x0 + i as f64 * step,
            BOTTOM - h,
            (step * 0.8).max(0.2),
        );
        let _ = writeln!(
            s,
            "<title>#{} {}: {} msgs/s, lost {}</title></rect>",
            l.index,
            esc(&l.address),
            group(l.per_second),
            l.lost
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{x0}" x2="{}" y1="{BOTTOM}" y2="{BOTTOM}" stroke="#333"/>"##,
        x0 + PANEL
    );
    let _ = writeln!(
        s,
        r#"<text x="{x0}" y="{}">subscribers 0..{} (red: loss or error)</text>"#,
        BOTTOM + 14.0,
        rep.per_subscriber.len().saturating_sub(1)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;
    use crate::report::{RunFacts, SubscriberLine};
    use std::collections::BTreeMap;

    fn report(subs: usize) -> Report {
        let mut rep = Report::build(
            RunFacts {
                mode: "appliance".into(),
                broker: "127.0.0.1:5672".into(),
                address: "opra/<&>/#".into(),
                rate: 0,
                duration_s: 1.0,
                layout: "spread".into(),
            },
            &[],
            BTreeMap::new(),
            Machine::read(),
        );
        rep.subscribers = subs;
        rep.latency.raw.p50_ns = 20_000;
        rep.latency.raw.max_ns = 2_000_000;
        rep.latency.corrected.p99_ns = 90_000;
        rep.per_subscriber = (0..subs)
            .map(|i| SubscriberLine {
                index: i,
                address: format!("opra/<U{i}>/#"),
                delivered: 100 * (i as u64 + 1),
                per_second: 100.0 * (i as f64 + 1.0),
                lost: (i == 1) as u64,
                gap_markers: 0,
                out_of_order: 0,
                error: None,
            })
            .collect();
        rep
    }

    #[test]
    fn chart_has_a_bar_per_percentile_and_subscriber() {
        let svg = render(&report(3));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 1 + 12 + 2 + 3, "{svg}");
        assert!(svg.contains("<title>p99: 90.0 µs</title>"), "{svg}");
        assert!(svg.contains("#1 opra/&lt;U1&gt;/#"), "escaped: {svg}");
        assert_eq!(
            svg.matches("fill=\"#c0392b\"><title>#").count(),
            1,
            "one red bar"
        );
        // The tallest subscriber bar spans the plot; heights never go negative.
        assert!(svg.contains("height=\"240.0\" fill=\"#27ae60\""), "{svg}");
        assert!(!svg.contains("height=\"-"), "{svg}");
    }

    #[test]
    fn empty_run_still_renders() {
        let svg = render(&report(0));
        assert!(svg.contains("subscribers 0..0"), "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
    }
}
