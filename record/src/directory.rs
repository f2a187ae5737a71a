//! The symbol directory: instrument symbols ↔ dense instrument ids.
//!
//! One thread (the feed thread) adds instruments; any thread reads them by id without a
//! lock. Storage is sized once at start-up: a slot per possible instrument, each written at
//! most once, so a reader either sees a complete entry or none.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::OsiSymbol;

/// Longest underlying symbol kept, in bytes (OPRA underlyings are at most 11 characters;
/// longer ones are cut).
pub const UNDERLYING_MAX: usize = 11;

/// One entry of the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// Dense id, as carried in [`crate::Tick::instrument`].
    pub id: u32,
    /// The underlying's name, e.g. `SPY`, space-padded.
    underlying: [u8; UNDERLYING_MAX],
    underlying_len: u8,
    /// The option series, or `None` when the instrument is the underlying itself.
    pub osi: Option<OsiSymbol>,
}

impl Instrument {
    /// The underlying's symbol.
    pub fn underlying(&self) -> &str {
        std::str::from_utf8(&self.underlying[..self.underlying_len as usize]).unwrap_or("")
    }

    /// The underlying's symbol space-padded to [`UNDERLYING_MAX`] bytes, and its length:
    /// a per-tick encoder copies the whole fixed-size array (a few moves, no `memcpy`
    /// call) and keeps the first `len` bytes.
    pub fn underlying_padded(&self) -> (&[u8; UNDERLYING_MAX], usize) {
        (&self.underlying, self.underlying_len as usize)
    }

    /// The last level of the instrument's address: the compact OSI symbol, or the
    /// underlying's symbol for an underlying.
    pub fn symbol(&self) -> String {
        match self.osi {
            Some(o) => o.to_string(),
            None => self.underlying().to_string(),
        }
    }

    /// The instrument's address under `feed`: `<feed>/<underlying>/<symbol>`.
    pub fn address(&self, feed: &str) -> String {
        format!("{feed}/{}/{}", self.underlying(), self.symbol())
    }
}

/// The directory is full: it was sized for fewer instruments than the feed names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectoryFull {
    /// The capacity it was created with.
    pub capacity: u32,
}

impl std::fmt::Display for DirectoryFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "symbol directory full ({} instruments); raise its capacity",
            self.capacity
        )
    }
}

impl std::error::Error for DirectoryFull {}

/// The name index: (underlying, series) → id.
type NameIndex = HashMap<(Box<str>, Option<OsiSymbol>), u32>;

struct Shared {
    slots: Box<[OnceLock<Instrument>]>,
    len: AtomicU32,
    /// Symbol → id. Touched only when an instrument is added or looked up by name (series
    /// mapping messages, subscriptions, the console): never per tick.
    by_name: Mutex<NameIndex>,
}

/// A shared, growable-to-capacity map between instruments and ids. Cloning is cheap and
/// every clone sees the same entries.
#[derive(Clone)]
pub struct Directory {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Directory({} of {})", self.len(), self.capacity())
    }
}

impl Directory {
    /// A directory with room for `capacity` instruments.
    pub fn with_capacity(capacity: u32) -> Self {
        let slots = (0..capacity).map(|_| OnceLock::new()).collect();
        Self {
            shared: Arc::new(Shared {
                slots,
                len: AtomicU32::new(0),
                by_name: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many instruments it can hold.
    pub fn capacity(&self) -> u32 {
        self.shared.slots.len() as u32
    }

    /// How many instruments it holds now.
    pub fn len(&self) -> u32 {
        self.shared.len.load(Ordering::Acquire)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The instrument with id `id`, if there is one. Lock-free; callable from any thread.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Instrument> {
        self.shared.slots.get(id as usize)?.get()
    }

    /// The id of an instrument, adding it if new. `underlying` longer than 11 bytes is cut.
    /// Call from one thread at a time per directory (the feed thread); readers may run
    /// concurrently.
    pub fn intern(&self, underlying: &str, osi: Option<OsiSymbol>) -> Result<u32, DirectoryFull> {
        let mut map = self
            .shared
            .by_name
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Cut at a character boundary: a name read back from a damaged symbol log may hold
        // multi-byte characters, and slicing inside one would panic.
        let u = &underlying[..underlying.floor_char_boundary(UNDERLYING_MAX)];
        if let Some(&id) = map.get(&(Box::from(u), osi)) {
            return Ok(id);
        }
        let id = self.shared.len.load(Ordering::Relaxed);
        let slot = self.shared.slots.get(id as usize).ok_or(DirectoryFull {
            capacity: self.capacity(),
        })?;
        let mut name = [b' '; UNDERLYING_MAX];
        name[..u.len()].copy_from_slice(u.as_bytes());
        let entry = Instrument {
            id,
            underlying: name,
            underlying_len: u.len() as u8,
            osi,
        };
        let _ = slot.set(entry);
        self.shared.len.store(id + 1, Ordering::Release);
        map.insert((Box::from(u), osi), id);
        Ok(id)
    }

    /// The id of an instrument already in the directory.
    pub fn lookup(&self, underlying: &str, osi: Option<OsiSymbol>) -> Option<u32> {
        let map = self
            .shared
            .by_name
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.get(&(Box::from(underlying), osi)).copied()
    }

    /// The id `other` gives the instrument this directory calls `id`, if both know it.
    /// Ids follow each directory's order of first sight, so two directories fed the same
    /// instruments in a different order (a reference and a receiver) differ; this maps
    /// one onto the other by name. [`Tick::NO_INSTRUMENT`](crate::Tick::NO_INSTRUMENT)
    /// maps to itself. Control plane and tests only: it locks `other`'s name index.
    pub fn id_in(&self, id: u32, other: &Directory) -> Option<u32> {
        if id == crate::Tick::NO_INSTRUMENT {
            return Some(id);
        }
        let i = self.get(id)?;
        other.lookup(i.underlying(), i.osi)
    }

    /// Every instrument in id order (a snapshot of the current length).
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_is_cut_between_characters() {
        let d = Directory::with_capacity(4);
        // Ten ASCII bytes, then a two-byte character across the 11-byte limit.
        let id = d.intern("ABCDEFGHIJé", None).unwrap();
        assert_eq!(d.get(id).unwrap().underlying(), "ABCDEFGHIJ");
        let id = d.intern("ABCDEFGHIJKLMN", None).unwrap();
        assert_eq!(d.get(id).unwrap().underlying(), "ABCDEFGHIJK");
    }

    #[test]
    fn interns_once_and_reads_back() {
        let d = Directory::with_capacity(2);
        let osi = OsiSymbol::parse("SPY261218C00450000").unwrap();
        let a = d.intern("SPY", Some(osi)).unwrap();
        let b = d.intern("SPY", None).unwrap();
        assert_eq!(d.intern("SPY", Some(osi)).unwrap(), a);
        assert_ne!(a, b);
        assert_eq!(
            d.get(a).unwrap().address("opra"),
            "opra/SPY/SPY261218C00450000"
        );
        assert_eq!(d.get(b).unwrap().address("opra"), "opra/SPY/SPY");
        assert_eq!(d.lookup("SPY", Some(osi)), Some(a));
        assert_eq!(d.intern("QQQ", None), Err(DirectoryFull { capacity: 2 }));
        assert_eq!(d.iter().count(), 2);
        let other = Directory::with_capacity(4);
        other.intern("SPY", None).unwrap();
        assert_eq!(d.id_in(a, &other), None, "other has not seen the option");
        assert_eq!(d.id_in(b, &other), Some(0));
        assert_eq!(
            d.id_in(crate::Tick::NO_INSTRUMENT, &other),
            Some(crate::Tick::NO_INSTRUMENT)
        );
    }

    #[test]
    fn readers_on_other_threads_see_complete_entries() {
        let d = Directory::with_capacity(10_000);
        let r = d.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = 0;
            while seen < 10_000 {
                let n = r.len();
                for i in seen..n {
                    assert_eq!(r.get(i).unwrap().id, i);
                }
                seen = n;
            }
        });
        for i in 0..10_000u32 {
            d.intern(&format!("U{i}"), None).unwrap();
        }
        reader.join().unwrap();
    }
}
