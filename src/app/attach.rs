//! What a subscriber asked for when it attached: the address pattern and the `tickwire:`
//! options, from source filters or from a query on the address
//! (`opra/SPY/#?snapshot=true&format=binary`). Refusals carry an AMQP condition and a
//! description a person understands.

use tickwire_fanout::{BodyFormat, Pattern, SlowPolicy};

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in &opts {
        if seen.contains(&k.as_str()) {
            return Err(Refusal::new(
                "amqp:invalid-field",
                format!("option {k} given twice"),
            ));
        }
        seen.push(k);
        apply_option(&mut sub, k, v)?;
    }
    Ok(sub)
}

fn apply_option(sub: &mut Subscription, key: &str, value: &str) -> Result<(), Refusal> {
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
        keys::REPLAY_FROM | keys::REPLAY_TO | keys::PACE => {
            return Err(Refusal::new(
                "amqp:not-implemented",
                format!("{key}: replay from the journal is not served by this build yet"),
            ));
        }
        _ => {
            return Err(Refusal::new(
                "amqp:invalid-field",
                format!(
                    "unknown option {key}; known: tickwire:format, tickwire:slow-policy, \
                     tickwire:snapshot"
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
}
