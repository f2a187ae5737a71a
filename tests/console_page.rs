//! The console page itself: its script, run under node against a live appliance, renders
//! the figures, the lines and the tuning findings from `/api/stats`, and says so plainly
//! when the appliance cannot be reached.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// Runs `tests/js/console_page.js` on the page the console serves; `base` is the console's
/// URL, or `unreachable` for a `fetch` that always fails.
fn render(console: SocketAddr, base: &str, tag: &str) -> Value {
    let dir = common::fresh_test_dir(tag);
    std::fs::create_dir_all(&dir).expect("test dir");
    let page = dir.join("console.html");
    std::fs::write(&page, fetch_page(console)).expect("write page");
    let out = Command::new("node")
        .arg(common::root().join("tests/js/console_page.js"))
        .arg(&page)
        .arg(base)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

/// `GET /` from the console.
fn fetch_page(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("page");
    let body = raw.split_once("\r\n\r\n").expect("head and body").1;
    assert!(body.contains("<script>"), "{}", &raw[..raw.len().min(300)]);
    body.to_string()
}

#[test]
fn the_page_renders_live_figures_and_the_tuning_findings() {
    let app = common::appliance(&common::private_config(2_000));
    common::wait_for_ticks(&app, 500, Duration::from_secs(20));
    let console = app.console_addr.expect("console on");
    let stats = common::console_stats(console).expect("/api/stats");
    let got = render(console, &format!("http://{console}"), "console-live");
    assert_eq!(got["errors"], serde_json::json!([]), "{got}");
    let r = &got["rendered"];
    let status = r["status"].as_str().unwrap_or_default();
    assert!(status.starts_with("up "), "status {status:?}");
    let cards = r["cards"].as_str().unwrap_or_default();
    assert!(
        cards.contains("ticks/s in") && cards.contains("appliance seq"),
        "{cards}"
    );
    let lines = r["lines"].as_str().unwrap_or_default();
    assert_eq!(
        lines.matches("<tr>").count(),
        1 + 4,
        "header and 4 lines: {lines}"
    );
    let findings = stats["tuning"]["findings"]
        .as_array()
        .expect("tuning in /api/stats");
    let tuning = r["tuning"].as_str().unwrap_or_default();
    for f in findings {
        let check = f["check"].as_str().unwrap();
        assert!(tuning.contains(check), "{check} missing from {tuning:?}");
    }
    assert_eq!(tuning.is_empty(), findings.is_empty(), "{tuning:?}");
    let passed = stats["tuning"]["passed"].as_array().expect("passed");
    assert_eq!(findings.len() + passed.len(), 10, "every check ran once");
}

#[test]
fn an_unreachable_appliance_is_said_plainly() {
    let app = common::appliance(&common::private_config(1_000));
    let console = app.console_addr.expect("console on");
    let got = render(console, "unreachable", "console-down");
    assert_eq!(got["errors"], serde_json::json!([]), "{got}");
    let status = got["rendered"]["status"].as_str().unwrap_or_default();
    assert!(
        status.starts_with("console unreachable: "),
        "status {status:?}"
    );
}
