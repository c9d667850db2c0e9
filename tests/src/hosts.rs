//! The multi-host fleet (`scripts/fleet up --hosts`, docs/fleet.md "Multi-host fleet"): its
//! hosts, partitions (a host's link on the fleet bridge set down, then up), clients of its TLS
//! agents and the HAProxy runtime API of its load balancers over TCP.
//!
//! Every connection to a fleet address must come from inside a fleet namespace (the root
//! namespace has no route to the fleet's subnet): call these from a thread that entered one
//! ([`crate::netns::enter`], usually the `ops` host's), or from a thread of their own that does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::agent_client::AgentClient;
use crate::info::{HostInfo, LoadBalancerHost};
use crate::{Fleet, FleetOptions, netns};

impl Fleet {
    /// `scripts/fleet up --hosts` (after checking for root and `ip netns`: without them, an error
    /// saying what is missing).
    pub fn up_hosts(opts: FleetOptions) -> Result<Fleet> {
        netns::check_prerequisites()?;
        let fleet = Self::up_with_args(opts, &["--hosts"])?;
        if fleet.info.hosts.is_empty() {
            bail!("scripts/fleet up --hosts wrote no `hosts` in fleet.json");
        }
        Ok(fleet)
    }

    /// A host of a multi-host fleet (`db`, `ops`, `m1`, `lb1`, ...).
    pub fn host(&self, name: &str) -> &HostInfo {
        self.info
            .hosts
            .get(name)
            .unwrap_or_else(|| panic!("no host {name} in fleet.json"))
    }

    /// The `ops` host's namespace, where `bbctl` and the tests' clients run.
    pub fn ops_netns(&self) -> &str {
        &self.host("ops").netns
    }

    /// The host of slot `i` (`m1`, ...).
    pub fn slot_host(&self, i: usize) -> &str {
        self.info.masters[i]
            .host
            .as_deref()
            .expect("a multi-host fleet's slot has a host")
    }

    /// A client of slot `i`'s agent over TLS, trusting only the fleet CA (must be called from a
    /// fleet namespace).
    pub fn agent_tls(&self, i: usize) -> AgentClient {
        let ca = &self
            .info
            .tls
            .as_ref()
            .expect("a multi-host fleet has a CA")
            .ca_file;
        AgentClient::with_ca(&self.info.masters[i].agent_url, &self.token().unwrap(), ca)
            .expect("an agent client with the fleet CA")
    }

    /// Cuts `host` off from every other host (`up == false`) or joins it again.
    pub fn set_host_link(&self, host: &str, up: bool) -> Result<()> {
        let net = self
            .info
            .network
            .as_ref()
            .context("not a multi-host fleet")?;
        netns::set_link(&net.netns, host, up)
    }

    /// The load balancer `name` (`lb1`, `lb2`).
    pub fn load_balancer(&self, name: &str) -> &LoadBalancerHost {
        self.info
            .load_balancers
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no load balancer {name} in fleet.json"))
    }
}

/// Cuts a host off on creation and joins it again when dropped (also when the test panics), so a
/// failed assertion never leaves the fleet partitioned.
pub struct Partition<'a> {
    fleet: &'a Fleet,
    host: String,
    healed: bool,
}

impl<'a> Partition<'a> {
    pub fn cut(fleet: &'a Fleet, host: &str) -> Partition<'a> {
        fleet.set_host_link(host, false).unwrap();
        eprintln!("partition: {host} cut off");
        Partition {
            fleet,
            host: host.to_owned(),
            healed: false,
        }
    }

    pub fn heal(mut self) {
        self.healed = true;
        self.fleet.set_host_link(&self.host, true).unwrap();
        eprintln!("partition: {} joined again", self.host);
    }
}

impl Drop for Partition<'_> {
    fn drop(&mut self) {
        if !self.healed
            && let Err(e) = self.fleet.set_host_link(&self.host, true)
        {
            eprintln!("warning: {e:#}");
        }
    }
}

/// One command to an HAProxy runtime API at `tcp:ADDR:PORT`; returns its answer.
pub fn haproxy_command(runtime: &str, command: &str) -> Result<String> {
    let addr = runtime
        .strip_prefix("tcp:")
        .with_context(|| format!("not a tcp: runtime API: {runtime}"))?;
    let sock = addr
        .parse()
        .with_context(|| format!("bad address {addr}"))?;
    let mut stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .with_context(|| format!("connect to HAProxy's runtime API at {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .with_context(|| format!("read the answer to `{command}` from {addr}"))?;
    Ok(answer)
}

/// A session of an HAProxy (`show sess`) carried to a server of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbSession {
    /// The session's id for `shutdown session`.
    pub ptr: String,
    /// The client's `ADDR:PORT`.
    pub src: String,
    pub server: String,
}

/// The sessions HAProxy at `runtime` carries to servers of `backend`.
pub fn lb_sessions(runtime: &str, backend: &str) -> Result<Vec<LbSession>> {
    let answer = haproxy_command(runtime, "show sess")?;
    Ok(parse_sessions(&answer, backend))
}

fn parse_sessions(answer: &str, backend: &str) -> Vec<LbSession> {
    answer
        .lines()
        .filter_map(|line| {
            let (ptr, rest) = line.split_once(':')?;
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|f| f.strip_prefix(key).map(str::to_owned))
            };
            (field("be=")? == backend).then_some(())?;
            Some(LbSession {
                ptr: ptr.trim().to_owned(),
                src: field("src=")?,
                server: field("srv=")?,
            })
        })
        .collect()
}

/// `shutdown session PTR`: HAProxy closes both sides of one session.
pub fn lb_shutdown_session(runtime: &str, ptr: &str) -> Result<()> {
    let answer = haproxy_command(runtime, &format!("shutdown session {ptr}"))?;
    if !answer.trim().is_empty() {
        bail!("shutdown session {ptr}: {}", answer.trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_of_a_backend_with_their_server() {
        let answer = "0x55d0c0a0b000: proto=tcpv4 src=10.1.2.4:40100 fe=workers be=masters srv=master-2 ts=00 epoch=0 age=1m calls=3\n\
                      0x55d0c0a0c000: proto=tcpv4 src=10.1.2.3:5000 fe=GLOBAL be=<NONE> srv=<none> ts=00\n\n";
        assert_eq!(
            parse_sessions(answer, "masters"),
            vec![LbSession {
                ptr: "0x55d0c0a0b000".into(),
                src: "10.1.2.4:40100".into(),
                server: "master-2".into(),
            }]
        );
    }
}
