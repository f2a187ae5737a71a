//! Pinning plans (which CPU runs which stage) and thread pinning.

use serde::Serialize;

use crate::{HwError, ThreadingMode, Topology};

/// A stage of the appliance that may get its own thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Stage {
    /// Feed receive: recvmmsg, arbitration, normalization.
    Feed,
    /// Fan-out: routing, encoding, vectored writes to subscribers.
    Fanout,
    /// Journal: durable capture.
    Journal,
    /// Control plane: tokio runtime, accepts, management API.
    Control,
}

impl Stage {
    /// The data-plane stages, in pipeline order.
    pub const DATA_PLANE: [Stage; 3] = [Stage::Feed, Stage::Fanout, Stage::Journal];
}

/// Which logical CPU each stage is pinned to. `None` = leave the thread unpinned.
///
/// Rules ([`PinPlan::new`]):
/// - one logical CPU per physical core is used (never two busy stages on hyperthread
///   siblings); isolated cores are preferred, then the highest-numbered cores;
/// - the lowest-numbered non-isolated core is kept for the control plane, the kernel and
///   interrupts whenever there are at least two cores;
/// - `Shared`: all data-plane stages on one CPU; `Dedicated`: one CPU each, wrapping
///   around (and saying so in `notes`) when there are fewer cores than stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinPlan {
    /// The mode the plan was made for.
    pub mode: ThreadingMode,
    /// Feed stage CPU.
    pub feed: Option<usize>,
    /// Fan-out stage CPU.
    pub fanout: Option<usize>,
    /// Journal stage CPU.
    pub journal: Option<usize>,
    /// Control-plane CPU; `None` on a one-core box (the control plane floats).
    pub control: Option<usize>,
    /// Compromises the plan had to make, for the start-up log.
    pub notes: Vec<String>,
}

impl PinPlan {
    /// Plans `mode` on `topo`.
    pub fn new(mode: ThreadingMode, topo: &Topology) -> PinPlan {
        let mut cores: Vec<(bool, usize)> = topo
            .cores
            .iter()
            .filter_map(|c| {
                c.cpus
                    .first()
                    .map(|&cpu| (topo.isolated.contains(&cpu), cpu))
            })
            .collect();
        // Isolated first, then by descending CPU number.
        cores.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut notes = Vec::new();
        let control = if cores.len() >= 2 {
            let idx = cores.iter().rposition(|c| !c.0).unwrap_or(cores.len() - 1);
            Some(cores.remove(idx).1)
        } else {
            notes.push("one core: data plane and control plane share it".to_string());
            None
        };
        let data: Vec<usize> = cores.iter().map(|c| c.1).collect();
        let pick = |i: usize| data.get(i % data.len().max(1)).copied();
        let (feed, fanout, journal) = match mode {
            ThreadingMode::Shared => (pick(0), pick(0), pick(0)),
            ThreadingMode::Dedicated => {
                if data.len() < Stage::DATA_PLANE.len() {
                    notes.push(format!(
                        "dedicated mode with {} data cores for 3 stages: some share a core",
                        data.len()
                    ));
                }
                (pick(0), pick(1), pick(2))
            }
        };
        PinPlan {
            mode,
            feed,
            fanout,
            journal,
            control,
            notes,
        }
    }

    /// The CPU planned for `stage`.
    pub fn cpu_for(&self, stage: Stage) -> Option<usize> {
        match stage {
            Stage::Feed => self.feed,
            Stage::Fanout => self.fanout,
            Stage::Journal => self.journal,
            Stage::Control => self.control,
        }
    }
}

/// Pins the calling thread to logical CPU `cpu` (via `core_affinity`).
/// `InvalidArgument` if `cpu` is beyond `CPU_SETSIZE`, offline, or outside the cpuset
/// (`EINVAL`); `NotPermitted` on `EPERM`.
pub fn pin_current_thread(cpu: usize) -> Result<(), HwError> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= max {
        return Err(HwError::InvalidArgument(format!(
            "cpu {cpu} is beyond CPU_SETSIZE {max}"
        )));
    }
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    Err(match source.raw_os_error() {
        Some(libc::EINVAL) => HwError::InvalidArgument(format!(
            "cpu {cpu} is offline or not in this process's cpuset ({source})"
        )),
        Some(libc::EPERM) => HwError::NotPermitted {
            op: "sched_setaffinity",
            source,
            fix: "allow the CPU in the container's cpuset (docker --cpuset-cpus)",
        },
        _ => HwError::Environment {
            op: format!("sched_setaffinity(cpu {cpu})"),
            source,
        },
    })
}

/// The calling thread's CPU affinity (`sched_getaffinity`), ascending.
pub fn current_affinity() -> Result<Vec<usize>, HwError> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a live cpu_set_t of `size` bytes that the call fills in.
    let rc = unsafe { libc::sched_getaffinity(0, size, &mut set) };
    if rc != 0 {
        let source = std::io::Error::last_os_error();
        return Err(HwError::Environment {
            op: "sched_getaffinity".into(),
            source,
        });
    }
    let max = 8 * size;
    // SAFETY: `cpu < max` is within the set's bit capacity.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{Core, NumaNode};

    fn topo(cpus: usize, isolated: &[usize]) -> Topology {
        let online: Vec<usize> = (0..cpus).collect();
        Topology {
            cores: online
                .iter()
                .map(|&c| Core {
                    package: 0,
                    core_id: c as u32,
                    cpus: vec![c],
                })
                .collect(),
            numa_nodes: vec![NumaNode {
                id: 0,
                cpus: online.clone(),
            }],
            online,
            isolated: isolated.to_vec(),
            nohz_full: Vec::new(),
        }
    }

    #[test]
    fn two_cores_shared() {
        let p = PinPlan::new(ThreadingMode::Shared, &topo(2, &[]));
        assert_eq!(
            (p.feed, p.fanout, p.journal, p.control),
            (Some(1), Some(1), Some(1), Some(0))
        );
        assert!(p.notes.is_empty());
    }

    #[test]
    fn eight_cores_dedicated_prefers_isolated() {
        let p = PinPlan::new(ThreadingMode::Dedicated, &topo(8, &[2, 3, 4]));
        assert_eq!((p.feed, p.fanout, p.journal), (Some(4), Some(3), Some(2)));
        assert_eq!(p.control, Some(0));
    }

    #[test]
    fn one_core_everything_there() {
        let p = PinPlan::new(ThreadingMode::Dedicated, &topo(1, &[]));
        assert_eq!(
            (p.feed, p.fanout, p.journal, p.control),
            (Some(0), Some(0), Some(0), None)
        );
        assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
    }

    #[test]
    fn siblings_never_both_used() {
        let mut t = topo(4, &[]);
        // Two physical cores with two hyperthreads each: {0,2} and {1,3}.
        t.cores = vec![
            Core {
                package: 0,
                core_id: 0,
                cpus: vec![0, 2],
            },
            Core {
                package: 0,
                core_id: 1,
                cpus: vec![1, 3],
            },
        ];
        let p = PinPlan::new(ThreadingMode::Shared, &t);
        assert_eq!((p.feed, p.control), (Some(1), Some(0)));
    }
}
