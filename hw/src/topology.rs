//! CPU topology read from `/sys/devices/system` (real files; a different root can be
//! given for tests with a synthetic tree).

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::HwError;

/// A physical core: one or more logical CPUs (hyperthread siblings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Core {
    /// `physical_package_id` (socket).
    pub package: u32,
    /// `core_id` within the package.
    pub core_id: u32,
    /// Online logical CPUs on this core, ascending.
    pub cpus: Vec<usize>,
}

/// A NUMA node and its online CPUs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NumaNode {
    /// Node number.
    pub id: u32,
    /// Online logical CPUs on the node, ascending.
    pub cpus: Vec<usize>,
}

/// The machine's CPUs as the kernel reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// Online logical CPUs (`cpu/online`), ascending.
    pub online: Vec<usize>,
    /// Physical cores, ordered by their first CPU.
    pub cores: Vec<Core>,
    /// NUMA nodes (one node 0 holding every CPU if the kernel exposes none).
    pub numa_nodes: Vec<NumaNode>,
    /// CPUs removed from the scheduler with `isolcpus=` (`cpu/isolated`).
    pub isolated: Vec<usize>,
    /// CPUs running tickless (`cpu/nohz_full`; empty if absent).
    pub nohz_full: Vec<usize>,
}

/// The default root: `/sys/devices/system`.
pub const SYS_DEVICES_SYSTEM: &str = "/sys/devices/system";

impl Topology {
    /// Reads the running machine's topology from `/sys/devices/system`.
    pub fn read() -> Result<Topology, HwError> {
        Topology::read_from(Path::new(SYS_DEVICES_SYSTEM))
    }

    /// Reads a topology from `root` laid out like `/sys/devices/system`.
    pub fn read_from(root: &Path) -> Result<Topology, HwError> {
        let cpu_dir = root.join("cpu");
        let online = parse_file(&cpu_dir.join("online"))?;
        if online.is_empty() {
            return Err(HwError::InvalidArgument(format!(
                "{}: no online CPU",
                root.display()
            )));
        }
        let cores = read_cores(&cpu_dir, &online)?;
        let numa_nodes = read_nodes(&root.join("node"), &online)?;
        let isolated = parse_optional(&cpu_dir.join("isolated"))?;
        let nohz_full = parse_optional(&cpu_dir.join("nohz_full"))?;
        Ok(Topology {
            online,
            cores,
            numa_nodes,
            isolated,
            nohz_full,
        })
    }

    /// Number of physical cores with at least one online CPU.
    pub fn core_count(&self) -> usize {
        self.cores.len()
    }

    /// Number of online logical CPUs.
    pub fn cpu_count(&self) -> usize {
        self.online.len()
    }

    /// The logical CPUs sharing a physical core with `cpu` (including `cpu`).
    pub fn siblings_of(&self, cpu: usize) -> &[usize] {
        self.cores
            .iter()
            .find(|c| c.cpus.contains(&cpu))
            .map_or(&[], |c| &c.cpus)
    }

    /// The NUMA node of `cpu`, if known.
    pub fn node_of(&self, cpu: usize) -> Option<u32> {
        self.numa_nodes
            .iter()
            .find(|n| n.cpus.contains(&cpu))
            .map(|n| n.id)
    }
}

fn read_cores(cpu_dir: &Path, online: &[usize]) -> Result<Vec<Core>, HwError> {
    let mut cores: Vec<Core> = Vec::new();
    for &cpu in online {
        let topo = cpu_dir.join(format!("cpu{cpu}/topology"));
        let core_id = read_u32(&topo.join("core_id")).unwrap_or(cpu as u32);
        let package = read_u32(&topo.join("physical_package_id")).unwrap_or(0);
        match cores
            .iter_mut()
            .find(|c| c.core_id == core_id && c.package == package)
        {
            Some(core) => core.cpus.push(cpu),
            None => cores.push(Core {
                package,
                core_id,
                cpus: vec![cpu],
            }),
        }
    }
    Ok(cores)
}

fn read_nodes(node_dir: &Path, online: &[usize]) -> Result<Vec<NumaNode>, HwError> {
    let ids = parse_optional(&node_dir.join("online"))?;
    if ids.is_empty() {
        return Ok(vec![NumaNode {
            id: 0,
            cpus: online.to_vec(),
        }]);
    }
    let mut nodes = Vec::with_capacity(ids.len());
    for id in ids {
        let list = parse_file(&node_dir.join(format!("node{id}/cpulist")))?;
        let cpus = list.into_iter().filter(|c| online.contains(c)).collect();
        nodes.push(NumaNode {
            id: id as u32,
            cpus,
        });
    }
    Ok(nodes)
}

fn read_u32(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn parse_file(path: &Path) -> Result<Vec<usize>, HwError> {
    let text = fs::read_to_string(path).map_err(|source| HwError::Environment {
        op: format!("read {}", path.display()),
        source,
    })?;
    parse_cpu_list(&text).map_err(|e| bad_list(path.to_path_buf(), e))
}

fn parse_optional(path: &Path) -> Result<Vec<usize>, HwError> {
    match fs::read_to_string(path) {
        Ok(text) => parse_cpu_list(&text).map_err(|e| bad_list(path.to_path_buf(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(HwError::Environment {
            op: format!("read {}", path.display()),
            source,
        }),
    }
}

fn bad_list(path: PathBuf, what: String) -> HwError {
    HwError::InvalidArgument(format!("{}: {what}", path.display()))
}

/// Largest CPU number accepted in a list (the kernel's `NR_CPUS` ceiling).
const MAX_CPU: usize = 8192;

/// Parses a kernel CPU list such as `0-3,8,10-11` (empty or whitespace → empty).
/// Returns ascending, de-duplicated CPU numbers, or what was wrong.
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (parse_cpu(a)?, parse_cpu(b)?),
            None => (parse_cpu(part)?, parse_cpu(part)?),
        };
        if lo > hi {
            return Err(format!("range {part} runs backwards"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

fn parse_cpu(s: &str) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a CPU number"))?;
    if n >= MAX_CPU {
        return Err(format!("CPU {n} above {MAX_CPU}"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n").unwrap(),
            vec![0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("5").unwrap(), vec![5]);
        assert_eq!(parse_cpu_list("1,1,0").unwrap(), vec![0, 1]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("0-99999").is_err());
    }
}
