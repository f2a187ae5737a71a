//! Helpers for tests with real sockets: multicast on `lo`, unique groups and ports, and a
//! network namespace joined to this one by a veth pair.
//!
//! These run `ip(8)` and need root (`CAP_NET_ADMIN`); they are meant for tests and
//! benches, never for the appliance's start-up path.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::Command;

use crate::multicast::interface_has_multicast;

/// Turns multicast on for `lo` if it is off (`ip link set lo multicast on`), then checks it.
pub fn enable_loopback_multicast() -> io::Result<()> {
    if interface_has_multicast("lo")? {
        return Ok(());
    }
    run_ip(&["link", "set", "lo", "multicast", "on"])?;
    if interface_has_multicast("lo")? {
        Ok(())
    } else {
        Err(io::Error::other(
            "lo still has no MULTICAST flag after `ip link set`",
        ))
    }
}

/// A UDP port unique to this process and `salt` (in 20000..60000), so tests running in
/// parallel, and other processes' tests, do not collide.
pub fn unique_port(salt: u16) -> u16 {
    let pid = std::process::id();
    20_000 + ((pid.wrapping_mul(131) + u32::from(salt) * 7) % 40_000) as u16
}

/// An administratively scoped group `239.255.X.salt` with `X` derived from the pid.
pub fn unique_group(salt: u8) -> Ipv4Addr {
    Ipv4Addr::new(239, 255, (std::process::id() % 251) as u8, salt)
}

/// Runs `ip args...`; an error carries its stderr.
fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kind = if stderr.contains("Operation not permitted") {
        io::ErrorKind::PermissionDenied
    } else {
        io::ErrorKind::Other
    };
    Err(io::Error::new(
        kind,
        format!("ip {}: {}", args.join(" "), stderr.trim()),
    ))
}

/// A network namespace plus a veth pair: `host_if` (address `host_addr`/30) stays in the
/// current namespace, `ns_if` (address `ns_addr`/30) lives in the namespace. Both ends
/// and `lo` in the namespace are up. Dropping it deletes the namespace and the pair.
#[derive(Debug)]
pub struct VethNamespace {
    /// Namespace name (as for `ip netns exec`).
    pub name: String,
    /// The veth end in the current namespace.
    pub host_if: String,
    /// The veth end inside the namespace.
    pub ns_if: String,
    /// Address of `host_if`.
    pub host_addr: Ipv4Addr,
    /// Address of `ns_if`.
    pub ns_addr: Ipv4Addr,
}

impl VethNamespace {
    /// Creates the namespace and pair, named from the pid and `tag` (0..64, unique per
    /// test in a process). `PermissionDenied` if the kernel refuses namespaces (EPERM):
    /// callers may skip with that reason; any other error is a real failure.
    pub fn create(tag: u8) -> io::Result<VethNamespace> {
        let pid = std::process::id();
        let tag = tag % 64;
        let base = (pid % 256) as u8;
        let me = VethNamespace {
            name: format!("twns{pid}x{tag}"),
            host_if: format!("twh{pid}x{tag}"),
            ns_if: format!("twn{pid}x{tag}"),
            host_addr: Ipv4Addr::new(10, 213, base, tag * 4 + 1),
            ns_addr: Ipv4Addr::new(10, 213, base, tag * 4 + 2),
        };
        run_ip(&["netns", "add", &me.name])?;
        // From here on `me` is dropped (and cleaned up) on any error.
        me.wire()?;
        Ok(me)
    }

    fn wire(&self) -> io::Result<()> {
        let (ns, h, n) = (
            self.name.as_str(),
            self.host_if.as_str(),
            self.ns_if.as_str(),
        );
        let host_cidr = format!("{}/30", self.host_addr);
        let ns_cidr = format!("{}/30", self.ns_addr);
        run_ip(&["link", "add", h, "type", "veth", "peer", "name", n])?;
        run_ip(&["link", "set", n, "netns", ns])?;
        run_ip(&["addr", "add", &host_cidr, "dev", h])?;
        run_ip(&["link", "set", h, "multicast", "on", "up"])?;
        run_ip(&["-n", ns, "addr", "add", &ns_cidr, "dev", n])?;
        run_ip(&["-n", ns, "link", "set", n, "multicast", "on", "up"])?;
        run_ip(&["-n", ns, "link", "set", "lo", "up"])
    }

    /// Moves the **calling thread** into the namespace (see [`enter_netns`]).
    pub fn enter_current_thread(&self) -> io::Result<()> {
        enter_netns(&self.name)
    }
}

/// Moves the **calling thread** into the named network namespace (`setns(CLONE_NEWNET)`
/// on `/run/netns/<name>`); sockets it opens afterwards live there. Use a dedicated thread.
pub fn enter_netns(name: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{name}"))?;
    // SAFETY: `file` is an open namespace fd for the duration of the call; setns only
    // changes the calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Drop for VethNamespace {
    fn drop(&mut self) {
        // Deleting the namespace destroys `ns_if`, and with it the whole pair; the second
        // call covers a failure between creating the pair and moving one end.
        let _ = run_ip(&["netns", "del", &self.name]);
        let _ = run_ip(&["link", "del", &self.host_if]);
    }
}
