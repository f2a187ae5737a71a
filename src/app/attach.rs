//! What a subscriber asked for when it attached: the address pattern and the `tickwire:`
//! options, from source filters or from a query on the address
//! (`opra/SPY/#?snapshot=true&format=binary`). Refusals carry an AMQP condition and a
//! description a person understands.

use tickwire_fanout::{BodyFormat, Pattern, SlowPolicy};
use tickwire_replay::{End, Pace, Start, StreamOffset};

/// Filter keys (and address query names without the prefix) this appliance understands.
pub mod keys {
    /// `map` (default) or `binary`.
    pub const FORMAT: &str = "tickwire:format";
    /// `ring` (default), `disconnect` or `conflate`.
    pub const SLOW_POLICY: &str = "tickwire:slow-policy";
    /// `true`: the current value of every matching instrument first.
    pub const SNAPSHOT: &str = "tickwire:snapshot";
    /// Replay start: `first`, `last`, `seq:N`, `time:<RFC 3339>`.
    pub const REPLAY_FROM: &str = "tickwire:replay-from";
    /// Replay end position.
    pub const REPLAY_TO: &str = "tickwire:replay-to";
    /// Replay pace: `recorded`, `Nx`, `max`.
    pub const PACE: &str = "tickwire:pace";
}

/// A refusal: the AMQP error condition and its description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The condition symbol, e.g. `amqp:not-found`.
    pub condition: &'static str,
    /// What went wrong, for a person.
    pub description: String,
}

impl Refusal {
    fn new(condition: &'static str, description: impl Into<String>) -> Self {
        Self {
            condition,
            description: description.into(),
        }
    }
}

/// A subscription request, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// The address pattern without its query.
    pub pattern_text: String,
    /// The parsed pattern.
    pub pattern: Pattern,
    /// Body format.
    pub format: BodyFormat,
    /// Slow-consumer policy.
    pub policy: SlowPolicy,
    /// Last value first.
    pub snapshot: bool,
    /// History first (`tickwire:replay-from`), then live.
    pub replay: Option<ReplaySpec>,
}

/// What a replaying link asked for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplaySpec {
    /// Where history starts.
    pub start: Start,
    /// Where the link ends (`tickwire:replay-to`), if it does.
    pub end: Option<End>,
    /// How fast history is sent (`tickwire:pace`; `max` by default).
    pub pace: Pace,
}

/// Parses an attach's source address and filters (`(key, text value)` pairs).
///
/// `roots` are the first levels an address may start with: the feed (market data) and the
/// publish prefix's first level (published data). Filters whose key
/// is not `tickwire:` are ignored (other brokers' selectors); an unknown `tickwire:` key,
/// a bad value, or a key given twice is refused with `amqp:invalid-field`.
pub fn parse_subscription(
    roots: &[&str],
    address: Option<&str>,
    filters: &[(String, Option<String>)],
) -> Result<Subscription, Refusal> {
    let Some(address) = address.filter(|a| !a.is_empty()) else {
        return Err(Refusal::new(
            "amqp:invalid-field",
            "the source has no address: attach to <feed>/<underlying>/<series>, e.g. opra/SPY/#",
        ));
    };
    let (path, query) = match address.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (address, None),
    };
    let mut opts: Vec<(String, String)> = Vec::new();
    for (k, v) in filters {
        if !k.starts_with("tickwire:") {
            continue;
        }
        let v = v.clone().ok_or_else(|| {
            Refusal::new(
                "amqp:invalid-field",
                format!("filter {k} must be a string or symbol"),
            )
        })?;
        opts.push((k.clone(), v));
    }
    for pair in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        opts.push((format!("tickwire:{k}"), v.to_string()));
    }
    let pattern = Pattern::parse(path).map_err(|e| {
        Refusal::new(
            "amqp:invalid-field",
            format!("address {path:?} is not valid: {e}"),
        )
    })?;
    let root = path.split('/').next().unwrap_or("");
    if !roots.contains(&root) {
        return Err(Refusal::new(
            "amqp:not-found",
            format!(
                "nothing is published under {path:?}: addresses start with {}",
                roots
                    .iter()
                    .map(|r| format!("{r}/"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    let mut sub = Subscription {
        pattern_text: path.to_string(),
        pattern,
        format: BodyFormat::Map,
        policy: SlowPolicy::Ring,
        snapshot: false,
        replay: None,
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut replay = ReplayParts::default();
    for (k, v) in &opts {
        if seen.contains(&k.as_str()) {
            return Err(Refusal::new(
                "amqp:invalid-field",
                format!("option {k} given twice"),
            ));
        }
        seen.push(k);
        apply_option(&mut sub, &mut replay, k, v)?;
    }
    sub.replay = replay.finish(sub.snapshot)?;
    Ok(sub)
}

/// The replay options as given, checked together once all are read.
#[derive(Default)]
struct ReplayParts {
    start: Option<Start>,
    end: Option<End>,
    pace: Option<Pace>,
}

impl ReplayParts {
    fn finish(self, snapshot: bool) -> Result<Option<ReplaySpec>, Refusal> {
        let Some(start) = self.start else {
            if self.end.is_some() || self.pace.is_some() {
                return Err(Refusal::new(
                    "amqp:invalid-field",
                    "tickwire:replay-to and tickwire:pace need tickwire:replay-from",
                ));
            }
            return Ok(None);
        };
        if snapshot {
            return Err(Refusal::new(
                "amqp:invalid-field",
                "tickwire:snapshot and tickwire:replay-from cannot be combined: a replay \
                 already starts from history",
            ));
        }
        if start == Start::Live && self.end.is_none() && self.pace.is_none() {
            return Ok(None);
        }
        Ok(Some(ReplaySpec {
            start,
            end: self.end,
            pace: self.pace.unwrap_or(Pace::Max),
        }))
    }
}

/// The filter key RabbitMQ stream clients use for where to start.
pub const STREAM_OFFSET_KEY: &str = "rabbitmq:stream-offset-spec";

/// Decodes a `rabbitmq:stream-offset-spec` value (its text, or the raw AMQP encoding of a
/// number or timestamp) into the `tickwire:replay-from` text it stands for.
pub fn stream_offset_filter(text: Option<&str>, raw: &[u8]) -> Result<String, Refusal> {
    let be = |n: usize| -> Option<u64> {
        let b = raw.get(1..1 + n)?;
        Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    };
    let spec = match (text, raw.first()) {
        (Some(t), _) => Some(StreamOffset::Text(t)),
        (None, Some(0x83)) => be(8).map(|v| StreamOffset::TimestampMs(v as i64)),
        (None, Some(0x80 | 0x81)) => be(8).map(StreamOffset::Offset),
        (None, Some(0x70 | 0x71)) => be(4).map(StreamOffset::Offset),
        (None, Some(0x52..=0x55)) => be(1).map(StreamOffset::Offset),
        (None, Some(0x43 | 0x44)) => Some(StreamOffset::Offset(0)),
        _ => None,
    };
    let bad = |why: String| Refusal::new("amqp:invalid-field", why);
    let spec = spec.ok_or_else(|| {
        bad(format!(
            "{STREAM_OFFSET_KEY} must be first, last, next, an offset or a timestamp"
        ))
    })?;
    let signed_neg = matches!(raw.first(), Some(0x71 | 0x81 | 0x54 | 0x55))
        && raw.get(1).is_some_and(|b| b & 0x80 != 0);
    if signed_neg {
        return Err(bad(format!("{STREAM_OFFSET_KEY}: a negative offset")));
    }
    Ok(
        match Start::from_stream_offset(spec).map_err(|e| bad(e.0))? {
            Start::First => "first".into(),
            Start::Last => "last".into(),
            Start::Live => "live".into(),
            Start::Seq(n) => format!("seq:{n}"),
            Start::TimeNs(t) => format!("time:{}", tickwire_replay::format_time_ns(t)),
        },
    )
}

fn apply_option(
    sub: &mut Subscription,
    replay: &mut ReplayParts,
    key: &str,
    value: &str,
) -> Result<(), Refusal> {
    let bad = |allowed: &str| {
        Refusal::new(
            "amqp:invalid-field",
            format!("{key} = {value:?} is not valid; use {allowed}"),
        )
    };
    match key {
        keys::FORMAT => {
            sub.format = BodyFormat::from_name(value).ok_or_else(|| bad("map or binary"))?;
        }
        keys::SLOW_POLICY => {
            sub.policy =
                SlowPolicy::from_name(value).ok_or_else(|| bad("ring, disconnect or conflate"))?;
        }
        keys::SNAPSHOT => {
            sub.snapshot = match value {
                "true" => true,
                "false" => false,
                _ => return Err(bad("true or false")),
            };
        }
        keys::REPLAY_FROM => {
            let start = match value {
                // What `rabbitmq:stream-offset-spec` = next maps to: live only.
                "live" => Start::Live,
                _ => Start::parse(value).map_err(|e| Refusal::new("amqp:invalid-field", e.0))?,
            };
            replay.start = Some(start);
        }
        keys::REPLAY_TO => {
            replay.end =
                Some(End::parse(value).map_err(|e| Refusal::new("amqp:invalid-field", e.0))?);
        }
        keys::PACE => {
            replay.pace =
                Some(Pace::parse(value).map_err(|e| Refusal::new("amqp:invalid-field", e.0))?);
        }
        _ => {
            return Err(Refusal::new(
                "amqp:invalid-field",
                format!(
                    "unknown option {key}; known: tickwire:format, tickwire:slow-policy, \
                     tickwire:snapshot, tickwire:replay-from, tickwire:replay-to, tickwire:pace"
                ),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &str, v: &str) -> (String, Option<String>) {
        (k.to_string(), Some(v.to_string()))
    }

    #[test]
    fn defaults_and_filters() {
        let s = parse_subscription(&["opra", "pub"], Some("opra/SPY/#"), &[]).unwrap();
        assert_eq!(
            (s.format, s.policy, s.snapshot),
            (BodyFormat::Map, SlowPolicy::Ring, false)
        );
        let s = parse_subscription(
            &["opra", "pub"],
            Some("opra/*/SPY261218C00450000"),
            &[
                f(keys::FORMAT, "binary"),
                f(keys::SLOW_POLICY, "conflate"),
                f("jms", "x"),
            ],
        )
        .unwrap();
        assert_eq!(
            (s.format, s.policy),
            (BodyFormat::Binary, SlowPolicy::Conflate)
        );
    }

    #[test]
    fn query_on_the_address() {
        let s = parse_subscription(
            &["opra", "pub"],
            Some("opra/SPY/#?snapshot=true&format=binary&slow-policy=disconnect"),
            &[],
        )
        .unwrap();
        assert_eq!(s.pattern_text, "opra/SPY/#");
        assert!(s.snapshot);
        assert_eq!(
            (s.format, s.policy),
            (BodyFormat::Binary, SlowPolicy::Disconnect)
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let r = parse_subscription(&["opra", "pub"], Some("nyse/IBM/#"), &[]).unwrap_err();
        assert_eq!(r.condition, "amqp:not-found");
        let r = parse_subscription(&["opra", "pub"], Some("opra/#/x"), &[]).unwrap_err();
        assert_eq!(r.condition, "amqp:invalid-field");
        let r = parse_subscription(
            &["opra", "pub"],
            Some("opra/SPY/#"),
            &[f(keys::FORMAT, "xml")],
        )
        .unwrap_err();
        assert!(r.description.contains("map or binary"), "{}", r.description);
        let r =
            parse_subscription(&["opra", "pub"], Some("opra/SPY/#?colour=red"), &[]).unwrap_err();
        assert!(r.description.contains("unknown option tickwire:colour"));
        let r = parse_subscription(&["opra", "pub"], None, &[]).unwrap_err();
        assert_eq!(r.condition, "amqp:invalid-field");
        let r = parse_subscription(
            &["opra", "pub"],
            Some("opra/SPY/#?format=map"),
            &[f(keys::FORMAT, "binary")],
        )
        .unwrap_err();
        assert!(r.description.contains("twice"));
    }

    #[test]
    fn replay_options() {
        let roots = ["opra", "pub"];
        let s = parse_subscription(
            &roots,
            Some("opra/SPY/#?replay-from=seq:10&pace=10x"),
            &[f(keys::REPLAY_TO, "seq:20")],
        )
        .unwrap();
        let r = s.replay.unwrap();
        assert_eq!(
            (r.start, r.end, r.pace),
            (Start::Seq(10), Some(End::Seq(20)), Pace::Times(10.0))
        );
        let s = parse_subscription(&roots, Some("opra/#?replay-from=first"), &[]).unwrap();
        assert_eq!(s.replay.unwrap().pace, Pace::Max);
        let s = parse_subscription(&roots, Some("opra/#?replay-from=live"), &[]).unwrap();
        assert!(s.replay.is_none(), "live only is a plain subscription");
        for (q, want) in [
            ("replay-from=yesterday", "first, last, seq:N"),
            ("pace=fast", "recorded, Nx"),
            ("replay-to=seq:5", "need tickwire:replay-from"),
            ("replay-from=first&snapshot=true", "cannot be combined"),
        ] {
            let r = parse_subscription(&roots, Some(&format!("opra/#?{q}")), &[]).unwrap_err();
            assert_eq!(r.condition, "amqp:invalid-field", "{q}");
            assert!(r.description.contains(want), "{q}: {}", r.description);
        }
    }

    #[test]
    fn rabbitmq_stream_offsets() {
        assert_eq!(stream_offset_filter(Some("first"), &[]).unwrap(), "first");
        assert_eq!(stream_offset_filter(Some("next"), &[]).unwrap(), "live");
        let long = [0x81, 0, 0, 0, 0, 0, 0, 0, 41];
        assert_eq!(stream_offset_filter(None, &long).unwrap(), "seq:42");
        assert_eq!(stream_offset_filter(None, &[0x53, 9]).unwrap(), "seq:10");
        assert_eq!(stream_offset_filter(None, &[0x44]).unwrap(), "seq:1");
        let ts = [0x83, 0, 0, 0, 0, 0, 0, 0x03, 0xe8];
        assert_eq!(
            stream_offset_filter(None, &ts).unwrap(),
            "time:1970-01-01T00:00:01Z"
        );
        assert!(
            stream_offset_filter(None, &[0x55, 0xff]).is_err(),
            "negative"
        );
        assert!(
            stream_offset_filter(None, &[0xa1, 1, b'x']).is_err(),
            "undecoded"
        );
        assert!(stream_offset_filter(Some("newest"), &[]).is_err());
    }
}
