//! `tickwire bench --layout pinned`: the load around the appliance on one thread.
//!
//! On a small box the simulator (standing in for the exchange) and the subscribers
//! (standing in for the consumers) are not part of the appliance, yet in the `spread`
//! layout each is a thread of its own that the kernel schedules on the same cores as the
//! appliance's data thread. On two cores that is three busy threads on two CPUs, and a
//! tick's latency then measures the scheduler's time slices. In the pinned layout the
//! simulator and every subscriber are stepped from one busy-polling thread pinned to the
//! CPU the appliance leaves to its control plane, and the data thread busy-polls on its
//! own: each side of the measurement keeps its core, as the exchange, the appliance and
//! its consumers would on separate machines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickwire_bench::subscriber::{Control, Group, SubscriberResult, SubscriberSpec};

use crate::app::sim::SimDriver;

/// Starts the harness thread `tw-harness`. Pinned to `cpu` when given (a refusal is
/// reported on standard error and the thread runs unpinned), it connects the subscribers,
/// then steps the simulator (none when the bench measures another broker) and serves the
/// subscribers until `control.stop` is set, and returns the subscribers' results.
/// `busy_ns` grows by the time spent in iterations that did work (sent blocks or served
/// connections).
pub fn spawn(
    mut sim: Option<SimDriver>,
    specs: Vec<SubscriberSpec>,
    control: Arc<Control>,
    cpu: Option<usize>,
    busy_ns: Arc<AtomicU64>,
) -> std::io::Result<JoinHandle<Vec<SubscriberResult>>> {
    std::thread::Builder::new()
        .name("tw-harness".into())
        .spawn(move || {
            if let Some(c) = cpu {
                if let Err(e) = tickwire_hw::pin_current_thread(c) {
                    eprintln!("tickwire bench: the harness could not be pinned to cpu {c}: {e}");
                }
            }
            let mut group = Group::connect(specs, &control);
            if let Some(s) = sim.as_mut() {
                s.restart_clock();
            }
            let (mut prev, mut worked) = (Instant::now(), false);
            while !control.stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                if worked {
                    let ns = now.duration_since(prev).as_nanos() as u64;
                    busy_ns.fetch_add(ns, Ordering::Relaxed);
                }
                prev = now;
                let sent = sim.as_mut().map_or(0, SimDriver::step);
                let served = match group.poll(Some(Duration::ZERO), &control) {
                    Ok(n) => n,
                    Err(_) => break,
                };
                worked = sent + served > 0;
                if !worked {
                    std::hint::spin_loop();
                }
            }
            group.finish(&control)
        })
}
