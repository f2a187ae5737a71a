//! Subscription patterns over instrument addresses `<feed>/<underlying>/<symbol>`.
//!
//! A pattern is `/`-separated levels. Each level is a literal (ASCII letters, digits,
//! `.`, `-`, `_`; case-sensitive), `*` (exactly one level) or `#` (zero or more levels,
//! last level only; AMQP/RabbitMQ topic semantics). Wildcards are whole levels: `SPY*`
//! is an error. Parsing runs on the control plane at attach time; its errors become the
//! attach refusal's description. Strip any `?query` before parsing.

use std::fmt;

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 256;
/// Levels in an instrument address (`feed`, `underlying`, `symbol`).
pub const ADDRESS_LEVELS: usize = 3;

/// One level of a [`Pattern`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Matches exactly this text.
    Literal(Box<str>),
    /// `*`: any one level.
    Star,
    /// `#`: zero or more levels (always the last level).
    Hash,
}

/// A subscription address that is not a valid pattern: malformed input from the peer.
/// Level indexes count from 0.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The address is empty.
    Empty,
    /// Longer than [`MAX_PATTERN_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A level is empty (`opra//SPY`, a leading or trailing `/`).
    EmptyLevel {
        /// Which level.
        level: usize,
    },
    /// `#` appears before the last level.
    HashNotLast {
        /// Which level.
        level: usize,
    },
    /// `*` or `#` mixed with other characters in one level (`SPY*`).
    PartialWildcard {
        /// Which level.
        level: usize,
    },
    /// A character outside `A-Z a-z 0-9 . - _`.
    BadCharacter {
        /// Which level.
        level: usize,
        /// The offending character.
        ch: char,
    },
    /// More levels than an address has, so it could never match.
    TooManyLevels {
        /// Levels in the pattern, not counting a trailing `#`.
        levels: usize,
    },
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty address"),
            Self::TooLong { len } => {
                write!(f, "address is {len} bytes, longer than {MAX_PATTERN_LEN}")
            }
            Self::EmptyLevel { level } => write!(f, "level {level} is empty"),
            Self::HashNotLast { level } => {
                write!(f, "'#' at level {level} must be the last level")
            }
            Self::PartialWildcard { level } => write!(
                f,
                "level {level} mixes '*' or '#' with text; wildcards match whole levels"
            ),
            Self::BadCharacter { level, ch } => {
                write!(f, "level {level} has bad character {ch:?}")
            }
            Self::TooManyLevels { levels } => write!(
                f,
                "{levels} levels; addresses have {ADDRESS_LEVELS} (feed/underlying/symbol)"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

/// A parsed, validated subscription pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pattern {
    levels: Box<[Level]>,
}

fn literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

fn parse_level(level: usize, text: &str, last: bool) -> Result<Level, PatternError> {
    match text {
        "" => Err(PatternError::EmptyLevel { level }),
        "*" => Ok(Level::Star),
        "#" if last => Ok(Level::Hash),
        "#" => Err(PatternError::HashNotLast { level }),
        _ => {
            if text.contains(['*', '#']) {
                return Err(PatternError::PartialWildcard { level });
            }
            match text.chars().find(|&c| !literal_char(c)) {
                Some(ch) => Err(PatternError::BadCharacter { level, ch }),
                None => Ok(Level::Literal(text.into())),
            }
        }
    }
}

impl Pattern {
    /// Parses and validates `text`, e.g. `opra/SPY/#` or `opra/*/SPY261218C00450000`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong { len: text.len() });
        }
        let count = text.split('/').count();
        let levels = text
            .split('/')
            .enumerate()
            .map(|(i, t)| parse_level(i, t, i + 1 == count))
            .collect::<Result<Box<[Level]>, _>>()?;
        let fixed = levels.iter().filter(|l| **l != Level::Hash).count();
        if fixed > ADDRESS_LEVELS {
            return Err(PatternError::TooManyLevels { levels: fixed });
        }
        Ok(Self { levels })
    }

    /// The levels, in order.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Whether the pattern matches an address given as its levels.
    pub fn matches(&self, address: &[&str]) -> bool {
        match_levels(&self.levels, address)
    }
}

fn match_levels(pattern: &[Level], address: &[&str]) -> bool {
    match (pattern.first(), address.first()) {
        (Some(Level::Hash), _) => true,
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Level::Star), Some(_)) => match_levels(&pattern[1..], &address[1..]),
        (Some(Level::Literal(l)), Some(a)) => {
            **l == **a && match_levels(&pattern[1..], &address[1..])
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in self.levels.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match l {
                Level::Literal(s) => f.write_str(s)?,
                Level::Star => f.write_str("*")?,
                Level::Hash => f.write_str("#")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p = Pattern::parse("opra/SPY/#").unwrap();
        assert!(p.matches(&["opra", "SPY", "SPY261218C00450000"]));
        assert!(p.matches(&["opra", "SPY"]));
        assert!(!p.matches(&["opra", "QQQ", "QQQ261218C00450000"]));
        let p = Pattern::parse("opra/*/SPY261218C00450000").unwrap();
        assert!(p.matches(&["opra", "SPY", "SPY261218C00450000"]));
        assert!(!p.matches(&["opra", "SPY"]));
        assert!(Pattern::parse("#").unwrap().matches(&["a", "b", "c"]));
        assert!(Pattern::parse("opra/SPY/SPY/#")
            .unwrap()
            .matches(&["opra", "SPY", "SPY"]));
        assert_eq!(p.to_string(), "opra/*/SPY261218C00450000");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        use PatternError::*;
        assert_eq!(Pattern::parse(""), Err(Empty));
        assert_eq!(Pattern::parse("opra//SPY"), Err(EmptyLevel { level: 1 }));
        assert_eq!(Pattern::parse("opra/"), Err(EmptyLevel { level: 1 }));
        assert_eq!(Pattern::parse("opra/#/x"), Err(HashNotLast { level: 1 }));
        assert_eq!(
            Pattern::parse("opra/SPY*"),
            Err(PartialWildcard { level: 1 })
        );
        assert_eq!(
            Pattern::parse("opra/SPY?snapshot=true"),
            Err(BadCharacter { level: 1, ch: '?' })
        );
        assert_eq!(Pattern::parse("a/b/c/d"), Err(TooManyLevels { levels: 4 }));
        assert_eq!(Pattern::parse(&"a".repeat(300)), Err(TooLong { len: 300 }));
        assert!(Pattern::parse("a/b/c/#").is_ok());
        let msg = Pattern::parse("opra/#/x").unwrap_err().to_string();
        assert!(msg.contains("last level"), "{msg}");
    }
}
