//! Linux network namespaces for the multi-host fleet (`scripts/fleet up --hosts`): its hosts are
//! namespaces, and the root namespace has no route to them, so every connection a test makes to
//! a fleet address must come from inside one of them.
//!
//! A network namespace belongs to a thread: [`enter`] moves the calling thread into a named
//! namespace (`/run/netns/<name>`, as `ip netns` makes them) until its guard is dropped. Threads
//! and processes the thread creates meanwhile start in that namespace too, so HTTP clients (a
//! reqwest blocking client starts its runtime thread when it is built) and `bbctl` children must
//! be created after entering.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};

fn named(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

const OWN: &str = "/proc/thread-self/ns/net";

/// The calling thread is inside a namespace of its own until dropped, then back where it was.
#[must_use = "dropping the guard leaves the namespace at once"]
pub struct NetnsGuard {
    name: String,
    previous: File,
}

impl NetnsGuard {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.previous, CloneFlags::CLONE_NEWNET) {
            eprintln!(
                "warning: could not leave network namespace {}: {e}",
                self.name
            );
        }
    }
}

/// Moves the calling thread into the network namespace `name` (`ip netns` names it).
pub fn enter(name: &str) -> Result<NetnsGuard> {
    let previous = File::open(OWN).with_context(|| format!("open {OWN}"))?;
    let target = File::open(named(name))
        .with_context(|| format!("network namespace {name} does not exist"))?;
    setns(&target, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("setns into network namespace {name}"))?;
    if !is_in(name)? {
        bail!("setns into {name} returned but the thread is not in it");
    }
    Ok(NetnsGuard {
        name: name.to_owned(),
        previous,
    })
}

/// Whether the calling thread is in the network namespace `name`.
pub fn is_in(name: &str) -> Result<bool> {
    let own = std::fs::metadata(OWN).with_context(|| format!("stat {OWN}"))?;
    let target = std::fs::metadata(named(name))
        .with_context(|| format!("network namespace {name} does not exist"))?;
    Ok((own.dev(), own.ino()) == (target.dev(), target.ino()))
}

/// Panics unless the calling thread is in the network namespace `name`: call it before building
/// any client of a fleet address, so no connection ever leaves through the root namespace.
pub fn assert_in(name: &str) {
    match is_in(name) {
        Ok(true) => {}
        Ok(false) => panic!("this thread is not in the fleet's namespace {name}"),
        Err(e) => panic!("{e:#}"),
    }
}

/// What a multi-host fleet needs on this machine: root and `ip netns`. An error is one line
/// saying what is missing (the multi-host tests fail with it, they never skip).
pub fn check_prerequisites() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("the multi-host fleet needs root (network namespaces): run the tests as root");
    }
    let out = Command::new("ip").args(["netns", "list"]).output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => bail!(
            "`ip netns list` failed ({}): the multi-host fleet needs iproute2's ip netns",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => bail!("`ip` not found ({e}): the multi-host fleet needs iproute2 (ip netns)"),
    }
}

/// `ip -n <bridge netns> link set v-<host> up|down`: the host is cut off from every other one
/// (its veth end on the fleet's bridge goes down), or joined again.
pub fn set_link(bridge_netns: &str, host: &str, up: bool) -> Result<()> {
    let state = if up { "up" } else { "down" };
    let link = format!("v-{host}");
    let out = Command::new("ip")
        .args(["-n", bridge_netns, "link", "set", &link, state])
        .output()
        .context("run ip link set")?;
    if !out.status.success() {
        bail!(
            "ip -n {bridge_netns} link set {link} {state}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
