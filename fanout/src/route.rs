//! Address routing: which subscriptions want a tick, in one table index per tick.
//!
//! The [`Router`] keeps, per instrument id, the list of subscriptions whose pattern
//! matches the instrument's address `<feed>/<underlying>/<symbol>`. The lists change only
//! on the control events that can change them:
//!
//! * a subscription is added: the matching instruments are walked (only the underlying's
//!   instruments when the pattern names the underlying; one instrument when it names the
//!   symbol too) and the subscription is appended to each list;
//! * a subscription is removed: the same walk removes it;
//! * an instrument appears in the [`Directory`]: its address is matched against a trie of
//!   every pattern (cost grows with the address depth, not the number of subscriptions).
//!
//! The per-tick lookup ([`Router::route`]) is a bounds check and an index into a table
//! pre-sized to the directory's capacity: no hashing, no allocation, whatever the number
//! of subscriptions. Owned by the fan-out thread; the control plane hands it subscribe and
//! unsubscribe requests to apply between batches.

use std::collections::HashMap;

use tickwire_record::{Directory, Tick};

use crate::pattern::{Level, Pattern, PatternError};

/// Identifies one subscription in a [`Router`]: dense from 0, reused after removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubId(u32);

impl SubId {
    /// The id as an index (for per-subscription tables the caller keeps).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Default)]
struct Node {
    literal: HashMap<Box<str>, usize>,
    star: Option<usize>,
    /// Subscriptions whose pattern ends exactly here.
    end: Vec<SubId>,
    /// Subscriptions whose pattern ends with `#` here.
    hash: Vec<SubId>,
}

/// A trie of patterns, one node per distinct pattern prefix.
struct Trie {
    nodes: Vec<Node>,
}

impl Trie {
    fn new() -> Self {
        Self {
            nodes: vec![Node::default()],
        }
    }

    /// The node a pattern ends at, creating the path; and whether it ends with `#`.
    fn path(&mut self, p: &Pattern) -> (usize, bool) {
        let mut n = 0;
        for level in p.levels() {
            let next = match level {
                Level::Hash => return (n, true),
                Level::Star => self.nodes[n].star,
                Level::Literal(s) => self.nodes[n].literal.get(s).copied(),
            };
            n = match next {
                Some(c) => c,
                None => {
                    let c = self.nodes.len();
                    self.nodes.push(Node::default());
                    match level {
                        Level::Literal(s) => _ = self.nodes[n].literal.insert(s.clone(), c),
                        _ => self.nodes[n].star = Some(c),
                    }
                    c
                }
            };
        }
        (n, false)
    }

    fn insert(&mut self, p: &Pattern, id: SubId) {
        let (n, hash) = self.path(p);
        let node = &mut self.nodes[n];
        if hash {
            node.hash.push(id)
        } else {
            node.end.push(id)
        }
    }

    fn remove(&mut self, p: &Pattern, id: SubId) {
        let (n, hash) = self.path(p);
        let node = &mut self.nodes[n];
        let list = if hash { &mut node.hash } else { &mut node.end };
        list.retain(|&s| s != id);
    }

    /// Appends every subscription matching `address` to `out` (each once).
    fn collect(&self, n: usize, address: &[&str], out: &mut Vec<SubId>) {
        let node = &self.nodes[n];
        out.extend_from_slice(&node.hash);
        let Some((first, rest)) = address.split_first() else {
            out.extend_from_slice(&node.end);
            return;
        };
        if let Some(&c) = node.literal.get(*first) {
            self.collect(c, rest, out);
        }
        if let Some(c) = node.star {
            self.collect(c, rest, out);
        }
    }
}

/// The routing index. See the module docs.
pub struct Router {
    feed: Box<str>,
    directory: Directory,
    /// Instruments indexed so far: ids `0..known`.
    known: u32,
    /// Per instrument id, the matching subscriptions. Sized to the directory's capacity.
    table: Box<[Vec<SubId>]>,
    /// Every live subscription: ticks naming no instrument (gaps, control) go to all.
    all: Vec<SubId>,
    patterns: Vec<Option<Pattern>>,
    free: Vec<u32>,
    trie: Trie,
    /// `(underlying, symbol)` per indexed instrument.
    names: Vec<(Box<str>, Box<str>)>,
    by_underlying: HashMap<Box<str>, Vec<u32>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Router({}: {} subscriptions, {} instruments)",
            self.feed,
            self.all.len(),
            self.known
        )
    }
}

impl Router {
    /// A router for addresses under `feed` (e.g. `opra`) over `directory`'s instruments.
    /// Allocates the per-instrument table for the directory's full capacity up front.
    pub fn new(feed: &str, directory: Directory) -> Self {
        let table = (0..directory.capacity()).map(|_| Vec::new()).collect();
        Self {
            feed: feed.into(),
            directory,
            known: 0,
            table,
            all: Vec::new(),
            patterns: Vec::new(),
            free: Vec::new(),
            trie: Trie::new(),
            names: Vec::new(),
            by_underlying: HashMap::new(),
        }
    }

    /// Live subscriptions.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// A subscription's pattern, if it is live.
    pub fn pattern(&self, id: SubId) -> Option<&Pattern> {
        self.patterns.get(id.index())?.as_ref()
    }

    /// Parses `address` and subscribes it. Control plane.
    pub fn subscribe_str(&mut self, address: &str) -> Result<SubId, PatternError> {
        Ok(self.subscribe(Pattern::parse(address)?))
    }

    /// Adds a subscription and indexes every instrument it matches. Control plane: cost
    /// is the number of candidate instruments.
    pub fn subscribe(&mut self, pattern: Pattern) -> SubId {
        self.sync();
        let id = match self.free.pop() {
            Some(i) => SubId(i),
            None => {
                self.patterns.push(None);
                SubId(self.patterns.len() as u32 - 1)
            }
        };
        self.trie.insert(&pattern, id);
        self.for_each_match(&pattern, |list| list.push(id));
        self.patterns[id.index()] = Some(pattern);
        self.all.push(id);
        id
    }

    /// Removes a subscription. Returns false if it was not live. Control plane.
    pub fn unsubscribe(&mut self, id: SubId) -> bool {
        let Some(pattern) = self.patterns.get_mut(id.index()).and_then(Option::take) else {
            return false;
        };
        self.trie.remove(&pattern, id);
        self.for_each_match(&pattern, |list| list.retain(|&s| s != id));
        self.all.retain(|&s| s != id);
        self.free.push(id.0);
        true
    }

    fn for_each_match(&mut self, p: &Pattern, mut f: impl FnMut(&mut Vec<SubId>)) {
        let lv = p.levels();
        if let Some(Level::Literal(feed)) = lv.first() {
            if *feed != self.feed {
                return;
            }
        }
        let by_und = match lv.get(1) {
            Some(Level::Literal(u)) => match self.by_underlying.get(u) {
                Some(ids) => Some(ids.as_slice()),
                None => return,
            },
            _ => None,
        };
        let mut check = |id: u32| {
            let (u, s) = &self.names[id as usize];
            if p.matches(&[&self.feed, u, s]) {
                f(&mut self.table[id as usize]);
            }
        };
        match by_und {
            Some(ids) => ids.iter().for_each(|&id| check(id)),
            None => (0..self.known).for_each(check),
        }
    }

    /// Indexes instruments added to the directory since the last call; returns how many.
    /// Called by [`Router::route`] when a tick names an unindexed instrument.
    pub fn sync(&mut self) -> u32 {
        let len = self.directory.len().min(self.table.len() as u32);
        let start = self.known;
        let mut scratch = Vec::new();
        for id in start..len {
            let Some(inst) = self.directory.get(id) else {
                break;
            };
            let (u, s): (Box<str>, Box<str>) = (inst.underlying().into(), inst.symbol().into());
            scratch.clear();
            self.trie.collect(0, &[&self.feed, &u, &s], &mut scratch);
            self.table[id as usize].extend_from_slice(&scratch);
            self.by_underlying.entry(u.clone()).or_default().push(id);
            self.names.push((u, s));
            self.known = id + 1;
        }
        self.known - start
    }

    /// The subscriptions that want a tick for `instrument`: one index, no hashing, no
    /// allocation. [`Tick::NO_INSTRUMENT`] (gaps, control events) goes to every
    /// subscription. An instrument not yet indexed triggers [`Router::sync`] (the only
    /// allocating path, once per new instrument).
    #[inline]
    pub fn route(&mut self, instrument: u32) -> &[SubId] {
        if instrument >= self.known && instrument != Tick::NO_INSTRUMENT {
            self.sync();
        }
        self.subscribers(instrument)
    }

    /// Like [`Router::route`] but never indexes: an unindexed instrument has none.
    #[inline]
    pub fn subscribers(&self, instrument: u32) -> &[SubId] {
        if instrument == Tick::NO_INSTRUMENT {
            return &self.all;
        }
        match self.table.get(instrument as usize) {
            Some(list) if instrument < self.known => list,
            _ => &[],
        }
    }
}
