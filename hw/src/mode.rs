//! Threading modes, after Aeron's: `dedicated` (a core per data-plane stage) or `shared`
//! (all data-plane stages on one pinned thread).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How data-plane stages map to threads. Serialized as `"dedicated"` / `"shared"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ThreadingMode {
    /// One pinned, busy-polling thread per data-plane stage (feed, fan-out, journal).
    Dedicated,
    /// All data-plane stages as agents on one pinned thread; the control plane elsewhere.
    Shared,
}

impl ThreadingMode {
    /// Fewest physical cores for [`ThreadingMode::Dedicated`]: three busy data-plane stages
    /// (feed, fan-out, journal) plus one core left for the control plane, the kernel and
    /// interrupts. Below that, busy threads would fight each other and the OS for cores.
    pub const DEDICATED_MIN_CORES: usize = 4;

    /// The mode for a machine with `core_count` physical cores: `Dedicated` from
    /// [`Self::DEDICATED_MIN_CORES`] up, `Shared` below (so a 2-core box runs `shared`).
    pub fn auto(core_count: usize) -> ThreadingMode {
        if core_count >= Self::DEDICATED_MIN_CORES {
            ThreadingMode::Dedicated
        } else {
            ThreadingMode::Shared
        }
    }

    /// The config name: `dedicated` or `shared`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadingMode::Dedicated => "dedicated",
            ThreadingMode::Shared => "shared",
        }
    }
}

impl fmt::Display for ThreadingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ThreadingMode {
    type Err = String;

    fn from_str(s: &str) -> Result<ThreadingMode, String> {
        match s {
            "dedicated" => Ok(ThreadingMode::Dedicated),
            "shared" => Ok(ThreadingMode::Shared),
            other => Err(format!(
                "unknown threading mode {other:?}: use dedicated or shared"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_thresholds() {
        assert_eq!(ThreadingMode::auto(0), ThreadingMode::Shared);
        assert_eq!(ThreadingMode::auto(1), ThreadingMode::Shared);
        assert_eq!(ThreadingMode::auto(2), ThreadingMode::Shared);
        assert_eq!(ThreadingMode::auto(3), ThreadingMode::Shared);
        assert_eq!(ThreadingMode::auto(4), ThreadingMode::Dedicated);
        assert_eq!(ThreadingMode::auto(64), ThreadingMode::Dedicated);
    }

    #[test]
    fn names_round_trip() {
        for m in [ThreadingMode::Dedicated, ThreadingMode::Shared] {
            assert_eq!(m.as_str().parse::<ThreadingMode>().unwrap(), m);
        }
        assert!("Shared".parse::<ThreadingMode>().is_err());
    }
}
