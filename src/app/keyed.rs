//! Keyed last-value queues for published messages (Qpid LVQ semantics): the addresses the
//! `[lvq]` config section declares, each a [`KeyedLvq`] keyed by an application property.
//!
//! Control-plane work on the data-plane thread: publishes are rare next to ticks, and the
//! queue allocates per stored message (bounded by its `max_keys` and `max_bytes`).

use tickwire_amqp::message::Message;
use tickwire_amqp::Value;
use tickwire_lvq::{KeyedLvq, KeyedLvqConfig};

use crate::config::KeyedQueueConfig;

/// Why a publish to a keyed queue was refused: the message broke the queue's contract
/// (no key, not decodable) or the queue is at a limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The AMQP condition for the `rejected` outcome.
    pub condition: &'static str,
    /// What went wrong, for a person.
    pub description: String,
}

/// Every keyed queue, by address. Owned by the fan-out thread.
#[derive(Debug, Default)]
pub struct KeyedQueues {
    queues: Vec<(String, KeyedLvq)>,
}

impl KeyedQueues {
    /// The queues the config declares.
    pub fn new(cfg: &[KeyedQueueConfig]) -> Self {
        let queues = cfg
            .iter()
            .map(|q| {
                let lvq = KeyedLvq::new(KeyedLvqConfig {
                    key_property: q.key.clone(),
                    max_keys: q.max_keys,
                    max_bytes: q.max_bytes,
                });
                (q.address.clone(), lvq)
            })
            .collect();
        Self { queues }
    }

    /// The index of the queue at `address`, if it is one.
    pub fn find(&self, address: &str) -> Option<usize> {
        self.queues.iter().position(|(a, _)| a == address)
    }

    /// The queue at index `i` (from [`Self::find`]).
    pub fn get(&self, i: usize) -> &KeyedLvq {
        &self.queues[i].1
    }

    /// Stores `message` (encoded sections, as published) in queue `i` under the value of
    /// its key property.
    pub fn publish(&mut self, i: usize, message: &[u8]) -> Result<(), Refused> {
        let (address, lvq) = &mut self.queues[i];
        let prop = lvq.config().key_property.clone();
        let key = key_of(message, &prop).map_err(|why| Refused {
            condition: "amqp:invalid-field",
            description: format!("{address} is a last-value queue keyed by {prop:?}: {why}"),
        })?;
        lvq.publish(&key, message).map(|_| ()).map_err(|e| Refused {
            condition: "amqp:resource-limit-exceeded",
            description: format!("{address}: {e}"),
        })
    }
}

/// The key: the application property `prop`, a string or symbol (integers are taken as
/// their decimal text).
fn key_of(message: &[u8], prop: &str) -> Result<String, String> {
    let m = Message::decode(message).map_err(|e| format!("the message does not decode: {e}"))?;
    let props = m
        .application_properties
        .ok_or("the message has no application-properties")?;
    let v = props
        .get_str(prop)
        .map_err(|e| format!("bad application-properties: {e}"))?
        .ok_or_else(|| format!("the message has no application property {prop:?}"))?;
    let key = match v {
        Value::String(s) | Value::Symbol(s) => s.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Long(n) => n.to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Ulong(n) => n.to_string(),
        other => return Err(format!("property {prop:?} must be a string, not {other:?}")),
    };
    if key.is_empty() {
        return Err(format!("property {prop:?} is empty"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_amqp::codes::descriptor as d;
    use tickwire_amqp::message::MessageWriter;
    use tickwire_amqp::Encoder;

    fn msg(key: Option<&str>, body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = Encoder::new(&mut out);
        let mut w = MessageWriter::new(&mut e);
        if let Some(k) = key {
            w.map_section_with(d::APPLICATION_PROPERTIES, |e| {
                e.string("symbol").string(k);
            });
        }
        w.amqp_value(|e| {
            e.string(body);
        });
        out
    }

    #[test]
    fn latest_per_key_and_refusals() {
        let cfg = KeyedQueueConfig {
            address: "pub/prices".into(),
            key: "symbol".into(),
            max_keys: 2,
            max_bytes: 1 << 16,
        };
        let mut q = KeyedQueues::new(&[cfg]);
        let i = q.find("pub/prices").unwrap();
        assert_eq!(q.find("pub/other"), None);
        q.publish(i, &msg(Some("IBM"), "1")).unwrap();
        q.publish(i, &msg(Some("AAPL"), "2")).unwrap();
        q.publish(i, &msg(Some("IBM"), "3")).unwrap();
        assert_eq!(q.get(i).len(), 2);
        let r = q.publish(i, &msg(None, "4")).unwrap_err();
        assert!(r.description.contains("application"), "{}", r.description);
        let r = q.publish(i, &msg(Some("MSFT"), "5")).unwrap_err();
        assert_eq!(r.condition, "amqp:resource-limit-exceeded");
    }
}
