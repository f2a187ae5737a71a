//! Messages clients publish (links attached as receivers under the publish prefix): keyed
//! last-value queues, delivery to matching subscribers, and settlement — at once, or for
//! a durable message once the journal commit holding it completed (`durable.rs`).

use tickwire_amqp::engine::{Delivery, DeliveryState, ErrorCondition};
use tickwire_amqp::message::Sections;

use super::{FanoutAgent, PUBLISH_CREDIT};
use crate::app::durable::{Outcome, Waiting};

impl FanoutAgent {
    /// A client published a message: hand it to every matching subscriber that has
    /// credit (published data is not queued for slow subscribers), and settle it: now,
    /// or after its commit if it is durable and the journal runs.
    pub(super) fn on_publish(&mut self, slot: usize, d: Delivery) {
        let Some(pub_addr) = self
            .subs
            .iter()
            .flatten()
            .find_map(|s| (s.conn == slot && s.link == d.link).then(|| s.address.clone()))
        else {
            return;
        };
        let keyed = self.keyed.find(&pub_addr);
        let outcome = match keyed {
            Some(i) => self.keyed.publish(i, &d.message),
            None => Ok(()),
        };
        let durable = self.durable.is_some()
            && outcome.is_ok()
            && Sections::scan(&d.message).is_ok_and(|s| s.durable);
        let w = Waiting {
            conn: slot,
            link: d.link,
            delivery_id: d.delivery_id,
            presettled: d.settled,
        };
        if let Some(conn) = self.conns[slot].as_mut() {
            if !durable {
                let state = match &outcome {
                    Ok(()) => DeliveryState::Accepted,
                    Err(r) => DeliveryState::Rejected(Some(ErrorCondition::new(
                        r.condition,
                        r.description.clone(),
                    ))),
                };
                settle(conn, w, state);
            }
            if conn.engine.credit(d.link) < PUBLISH_CREDIT / 2 {
                let _ = conn.engine.grant_credit(d.link, PUBLISH_CREDIT, false);
            }
        }
        if outcome.is_ok() {
            self.forward(&pub_addr, &d.message);
            if durable {
                self.submit_durable(w, d.message);
                return;
            }
        }
        if let Some(conn) = self.conns[slot].as_mut() {
            conn.engine.recycle(d);
        }
    }

    /// Sends a published message to every matching subscriber with credit.
    fn forward(&mut self, pub_addr: &str, message: &[u8]) {
        let levels: Vec<&str> = pub_addr.split('/').collect();
        for s in self.subs.iter().flatten() {
            let Some(req) = &s.request else { continue };
            // Consumers of a keyed queue read it through their cursor (in `transmit`).
            if s.keyed.is_some() || !req.pattern.matches(&levels) {
                continue;
            }
            if let Some(conn) = self.conns[s.conn].as_mut() {
                if conn.engine.sendable(s.link) > 0
                    && conn.engine.send(s.link, message, true).is_ok()
                {
                    self.delivered += 1;
                }
            }
        }
    }

    /// Hands a durable publish to the journal; refuses it if too many are in flight.
    fn submit_durable(&mut self, w: Waiting, message: Vec<u8>) {
        let Some(end) = self.durable.as_mut() else {
            return;
        };
        if end.submit(w, message) {
            return;
        }
        if let Some(conn) = self.conns[w.conn].as_mut() {
            let err = ErrorCondition::new(
                "amqp:resource-limit-exceeded",
                "too many durable publishes waiting for the journal; retry",
            );
            settle(conn, w, DeliveryState::Rejected(Some(err)));
        }
    }

    /// Settles durable publishes whose commit completed (or that the journal refused).
    pub(super) fn settle_durable(&mut self) {
        let Some(end) = self.durable.as_mut() else {
            return;
        };
        let horizon = self.reader.cursor();
        while let Some(o) = end.poll(horizon) {
            let (w, state) = match o {
                Outcome::Durable(w) => (w, DeliveryState::Accepted),
                Outcome::Lost(w) => {
                    let err = ErrorCondition::new(
                        "amqp:internal-error",
                        "the journal could not store this message (see the console alarm)",
                    );
                    (w, DeliveryState::Rejected(Some(err)))
                }
            };
            if let Some(conn) = self.conns.get_mut(w.conn).and_then(Option::as_mut) {
                settle(conn, w, state);
            }
        }
    }
}

/// Settles a publish with `state`, unless its publisher settled it already.
fn settle(conn: &mut super::Conn, w: Waiting, state: DeliveryState) {
    if !w.presettled {
        let _ = conn
            .engine
            .disposition(w.link, w.delivery_id, w.delivery_id, true, Some(state));
    }
}
