//! Positions and paces as users write them.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A value a user gave that does not parse; the text says what would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// Where a replay starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The oldest record the journal still holds.
    First,
    /// The newest record in the journal (then live).
    Last,
    /// Appliance sequence number `N` (or the first held after it).
    Seq(u64),
    /// The first tick received at or after this time (ns since the Unix epoch).
    TimeNs(u64),
    /// Nothing from the journal: live from the next tick (RabbitMQ's `next`).
    Live,
}

/// Where a replay ends (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// After appliance sequence number `N`.
    Seq(u64),
    /// After the last tick received at or before this time (ns since the Unix epoch).
    TimeNs(u64),
}

/// How fast a replay runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the reader takes it.
    Max,
    /// The recorded inter-arrival times divided by this factor (1 = as recorded).
    Times(f64),
}

/// A RabbitMQ `rabbitmq:stream-offset-spec` filter value, as decoded from AMQP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOffset<'a> {
    /// A string or symbol: `first`, `last` or `next`.
    Text(&'a str),
    /// A numeric offset (0 = the first message of the stream).
    Offset(u64),
    /// An AMQP timestamp: milliseconds since the Unix epoch.
    TimestampMs(i64),
}

/// Parses an RFC 3339 time (`2026-11-24T14:30:00Z`, `…T09:30:00.25-05:00`) into ns since
/// the Unix epoch.
pub fn parse_time_ns(text: &str) -> Result<u64, SpecError> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        SpecError(format!(
            "{text:?} is not an RFC 3339 time ({e}); write e.g. 2026-11-24T14:30:00Z"
        ))
    })?;
    u64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| SpecError(format!("{text:?} is before 1970")))
}

/// Formats ns since the Unix epoch as RFC 3339 in UTC, with nanoseconds.
pub fn format_time_ns(ns: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ns.to_string())
}

fn seq_of(text: &str, what: &str) -> Result<u64, SpecError> {
    text.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
        SpecError(format!(
            "{what} needs a sequence number from 1, not {text:?}"
        ))
    })
}

impl Start {
    /// Parses `first`, `last`, `seq:N` or `time:<RFC 3339>`.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        match text {
            "first" => return Ok(Self::First),
            "last" => return Ok(Self::Last),
            _ => {}
        }
        if let Some(n) = text.strip_prefix("seq:") {
            return Ok(Self::Seq(seq_of(n, "seq:")?));
        }
        if let Some(t) = text.strip_prefix("time:") {
            return Ok(Self::TimeNs(parse_time_ns(t)?));
        }
        Err(SpecError(format!(
            "replay start {text:?} is not valid; use first, last, seq:N or time:<RFC 3339>"
        )))
    }

    /// Maps a RabbitMQ stream offset onto a start: `first`, `last` and `next` by name, a
    /// numeric offset `N` to seq `N + 1` (offsets count from 0, seqs from 1), a timestamp
    /// to the first tick received at or after it.
    pub fn from_stream_offset(spec: StreamOffset<'_>) -> Result<Self, SpecError> {
        match spec {
            StreamOffset::Text("first") => Ok(Self::First),
            StreamOffset::Text("last") => Ok(Self::Last),
            StreamOffset::Text("next") => Ok(Self::Live),
            StreamOffset::Text(t) => Err(SpecError(format!(
                "rabbitmq:stream-offset-spec {t:?} is not valid; use first, last, next, an \
                 offset or a timestamp"
            ))),
            StreamOffset::Offset(n) => Ok(Self::Seq(n.saturating_add(1))),
            StreamOffset::TimestampMs(ms) => u64::try_from(ms)
                .map(|ms| Self::TimeNs(ms.saturating_mul(1_000_000)))
                .map_err(|_| SpecError(format!("stream offset timestamp {ms} is before 1970"))),
        }
    }
}

impl End {
    /// Parses `seq:N` or `time:<RFC 3339>`.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        if let Some(n) = text.strip_prefix("seq:") {
            return Ok(Self::Seq(seq_of(n, "seq:")?));
        }
        if let Some(t) = text.strip_prefix("time:") {
            return Ok(Self::TimeNs(parse_time_ns(t)?));
        }
        Err(SpecError(format!(
            "replay end {text:?} is not valid; use seq:N or time:<RFC 3339>"
        )))
    }

    /// Whether a tick with this seq and receive time lies past the end.
    pub fn is_past(self, seq: u64, ts_recv_ns: u64) -> bool {
        match self {
            Self::Seq(n) => seq > n,
            Self::TimeNs(t) => ts_recv_ns > t,
        }
    }
}

impl Pace {
    /// Parses `recorded` (= `1x`), `Nx` (a positive factor, e.g. `10x`, `0.5x`) or `max`.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        match text {
            "max" => return Ok(Self::Max),
            "recorded" => return Ok(Self::Times(1.0)),
            _ => {}
        }
        text.strip_suffix('x')
            .and_then(|f| f.parse::<f64>().ok())
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(Self::Times)
            .ok_or_else(|| {
                SpecError(format!(
                    "pace {text:?} is not valid; use recorded, Nx (e.g. 10x) or max"
                ))
            })
    }
}

impl fmt::Display for Pace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Max => f.write_str("max"),
            Self::Times(x) if *x == 1.0 => f.write_str("recorded"),
            Self::Times(x) => write!(f, "{x}x"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts() {
        assert_eq!(Start::parse("first"), Ok(Start::First));
        assert_eq!(Start::parse("last"), Ok(Start::Last));
        assert_eq!(Start::parse("seq:42"), Ok(Start::Seq(42)));
        assert_eq!(
            Start::parse("time:1970-01-01T00:00:01.5Z"),
            Ok(Start::TimeNs(1_500_000_000))
        );
        assert_eq!(
            Start::parse("time:1970-01-01T01:00:00+01:00"),
            Ok(Start::TimeNs(0))
        );
        for bad in [
            "",
            "seq:",
            "seq:0",
            "seq:-1",
            "time:yesterday",
            "latest",
            "time:",
        ] {
            let e = Start::parse(bad).unwrap_err();
            assert!(!e.0.is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn ends_and_paces() {
        assert_eq!(End::parse("seq:7"), Ok(End::Seq(7)));
        assert!(End::parse("first").is_err());
        assert!(End::Seq(7).is_past(8, 0) && !End::Seq(7).is_past(7, u64::MAX));
        assert!(End::TimeNs(5).is_past(1, 6) && !End::TimeNs(5).is_past(u64::MAX, 5));
        assert_eq!(Pace::parse("max"), Ok(Pace::Max));
        assert_eq!(Pace::parse("recorded"), Ok(Pace::Times(1.0)));
        assert_eq!(Pace::parse("10x"), Ok(Pace::Times(10.0)));
        assert_eq!(Pace::parse("0.5x"), Ok(Pace::Times(0.5)));
        for bad in ["0x", "-2x", "x", "fast", "10", "NaNx", "infx"] {
            assert!(Pace::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Pace::Times(1.0).to_string(), "recorded");
        assert_eq!(Pace::Times(10.0).to_string(), "10x");
    }

    #[test]
    fn rabbitmq_offsets() {
        use StreamOffset::*;
        assert_eq!(Start::from_stream_offset(Text("first")), Ok(Start::First));
        assert_eq!(Start::from_stream_offset(Text("next")), Ok(Start::Live));
        assert_eq!(Start::from_stream_offset(Offset(0)), Ok(Start::Seq(1)));
        assert_eq!(
            Start::from_stream_offset(TimestampMs(1_500)),
            Ok(Start::TimeNs(1_500_000_000))
        );
        assert!(Start::from_stream_offset(TimestampMs(-1)).is_err());
        assert!(Start::from_stream_offset(Text("newest")).is_err());
    }

    #[test]
    fn times_round_trip() {
        let ns = parse_time_ns("2026-11-24T14:30:00.123456789Z").unwrap();
        assert_eq!(format_time_ns(ns), "2026-11-24T14:30:00.123456789Z");
    }
}
