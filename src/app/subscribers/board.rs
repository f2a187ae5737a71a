//! The fan-out's figures for the console (`/api/stats`).

use super::FanoutAgent;
use crate::app::stats::SubscriberStats;

impl FanoutAgent {
    /// Writes the fan-out figures into the console board, in place: the subscriber rows
    /// and their strings are reused, so after the first call this allocates only when a
    /// link or a longer address appears (`tests/data_path_alloc.rs`).
    pub(super) fn publish_stats(&mut self) {
        let tail = self.reader.cursor().saturating_sub(1);
        let conns = self.conns.iter().flatten().count() as u64;
        let (subs, all) = (&self.subs, &self.conns);
        let (ticks, delivered, lapped) = (self.ticks_in, self.delivered, self.lapped);
        let closed_with_error = self.closed_with_error;
        self.stats.update_fanout(|f| {
            f.ticks_routed = ticks;
            f.delivered = delivered;
            f.lapped = lapped;
            f.connections = conns;
            f.closed_with_error = closed_with_error;
            f.seq = tail;
            let mut n = 0;
            for s in subs.iter().flatten() {
                let Some(q) = s.queue.as_ref() else { continue };
                if f.subscribers.len() == n {
                    f.subscribers.push(SubscriberStats::default());
                }
                let row = &mut f.subscribers[n];
                n += 1;
                row.address.clone_from(&s.address);
                match all.get(s.conn).and_then(Option::as_ref) {
                    Some(c) => row.peer.clone_from(&c.peer),
                    None => row.peer.clear(),
                }
                let st = q.stats();
                row.format = q.config().format.name();
                row.policy = q.config().policy.name();
                row.delivered = st.delivered + s.replay.as_ref().map_or(0, |r| r.sent());
                row.dropped = st.dropped;
                row.conflated = st.conflated;
                row.gaps = st.gaps;
                row.queue_bytes = st.queue_bytes as u64;
                row.lag = st.lag(tail);
                row.replay = s.replay.as_ref().map_or("", |r| r.phase.name());
            }
            f.subscribers.truncate(n);
        });
    }
}
