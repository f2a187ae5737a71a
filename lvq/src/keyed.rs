//! [`KeyedLvq`]: Qpid-style last-value queues for messages clients publish.
//!
//! Not on the feed hot path: allocation is allowed, memory is bounded by
//! [`KeyedLvqConfig::max_keys`] and [`KeyedLvqConfig::max_bytes`].

use crate::error::Error;
use std::collections::{BTreeMap, HashMap};

/// Limits and the key of one keyed last-value queue (from the address's config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedLvqConfig {
    /// Name of the application property whose (string) value is the key. The AMQP layer
    /// extracts it; the queue stores and reports it.
    pub key_property: String,
    /// Most distinct keys held at once.
    pub max_keys: usize,
    /// Most bytes held at once, counting each entry's key and body bytes.
    pub max_bytes: usize,
}

/// One stored message.
#[derive(Debug)]
struct Entry {
    key: Box<str>,
    body: Box<[u8]>,
}

/// A message as a consumer reads it (borrowed from the queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyedMessage<'a> {
    /// Position in the queue: increases with every publish; later is newer.
    pub position: u64,
    /// The key value.
    pub key: &'a str,
    /// The opaque encoded message bytes, as published.
    pub body: &'a [u8],
}

/// What [`KeyedLvq::publish`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's position.
    pub position: u64,
    /// Whether it replaced an older message with the same key.
    pub replaced: bool,
}

/// A consumer's place in a [`KeyedLvq`]: it has read every position below `next`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyedCursor {
    next: u64,
}

impl KeyedCursor {
    /// The next position this consumer will read from.
    pub fn next_position(&self) -> u64 {
        self.next
    }
}

/// A keyed last-value queue: for each key, only the latest message published with it.
///
/// Publishing a message with a key already held removes the older message and appends
/// the new one at the tail (Qpid LVQ). A consumer [`Self::attach`]es and drains
/// [`Self::poll_next`]: it gets the latest message per key in order of last update, then
/// each later update as it comes; a consumer that falls behind skips messages replaced
/// before it read them (it sees only the latest per key). Single-threaded: the owner
/// serialises publishes and polls.
#[derive(Debug)]
pub struct KeyedLvq {
    config: KeyedLvqConfig,
    /// Key -> position of its latest message.
    by_key: HashMap<Box<str>, u64>,
    /// Position -> message; ascending = order of last update.
    by_position: BTreeMap<u64, Entry>,
    next_position: u64,
    bytes: usize,
    replaced: u64,
}

impl KeyedLvq {
    /// An empty queue.
    pub fn new(config: KeyedLvqConfig) -> Self {
        Self {
            config,
            by_key: HashMap::new(),
            by_position: BTreeMap::new(),
            next_position: 0,
            bytes: 0,
            replaced: 0,
        }
    }

    /// The queue's configuration.
    pub fn config(&self) -> &KeyedLvqConfig {
        &self.config
    }

    /// Stores `body` as the latest message for `key`, replacing any older one.
    /// Fails, storing nothing, if the key is empty or a limit would be exceeded.
    pub fn publish(&mut self, key: &str, body: &[u8]) -> Result<Published, Error> {
        if key.is_empty() {
            return Err(Error::EmptyKey);
        }
        let needed = key.len() + body.len();
        let max_bytes = self.config.max_bytes;
        if needed > max_bytes {
            return Err(Error::MessageTooLarge { needed, max_bytes });
        }
        let old = self.by_key.get(key).copied();
        let freed = old.map_or(0, |p| self.entry_bytes(p));
        if old.is_none() && self.by_key.len() >= self.config.max_keys {
            return Err(Error::TooManyKeys {
                max_keys: self.config.max_keys,
            });
        }
        if self.bytes - freed + needed > max_bytes {
            return Err(Error::QueueFull {
                held: self.bytes,
                needed,
                max_bytes,
            });
        }
        let position = self.next_position;
        self.next_position += 1;
        let entry = Entry {
            key: key.into(),
            body: body.into(),
        };
        if let Some(p) = old {
            self.by_position.remove(&p);
            self.replaced += 1;
            *self.by_key.get_mut(key).expect("key held") = position;
        } else {
            self.by_key.insert(key.into(), position);
        }
        self.by_position.insert(position, entry);
        self.bytes = self.bytes - freed + needed;
        Ok(Published {
            position,
            replaced: old.is_some(),
        })
    }

    fn entry_bytes(&self, position: u64) -> usize {
        self.by_position
            .get(&position)
            .map_or(0, |e| e.key.len() + e.body.len())
    }

    /// Removes the message for `key`; returns whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(p) = self.by_key.remove(key) else {
            return false;
        };
        if let Some(e) = self.by_position.remove(&p) {
            self.bytes -= e.key.len() + e.body.len();
        }
        true
    }

    /// A consumer that will read every held message (latest per key, oldest update
    /// first), then every later update.
    pub fn attach(&self) -> KeyedCursor {
        KeyedCursor { next: 0 }
    }

    /// A consumer that will read only updates published from now on.
    pub fn attach_live(&self) -> KeyedCursor {
        KeyedCursor {
            next: self.next_position,
        }
    }

    /// The next message for `cursor`, advancing it; `None` when it has read everything.
    pub fn poll_next(&self, cursor: &mut KeyedCursor) -> Option<KeyedMessage<'_>> {
        let (&position, e) = self.by_position.range(cursor.next..).next()?;
        cursor.next = position + 1;
        Some(KeyedMessage {
            position,
            key: &e.key,
            body: &e.body,
        })
    }

    /// The latest message for `key`.
    pub fn get(&self, key: &str) -> Option<KeyedMessage<'_>> {
        let p = *self.by_key.get(key)?;
        let e = self.by_position.get(&p)?;
        Some(KeyedMessage {
            position: p,
            key: &e.key,
            body: &e.body,
        })
    }

    /// Every held message in order of last update (for `lvq dump`).
    pub fn iter(&self) -> impl Iterator<Item = KeyedMessage<'_>> + '_ {
        self.by_position.iter().map(|(&position, e)| KeyedMessage {
            position,
            key: &e.key,
            body: &e.body,
        })
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Bytes held (keys + bodies).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages replaced by a newer one with the same key, so far.
    pub fn replaced(&self) -> u64 {
        self.replaced
    }
}
