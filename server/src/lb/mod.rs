//! Load-balancer hooks: how a drain stops new worker connections reaching this master and hands
//! each attached worker off to another master.
//!
//! Workers know one address, the load balancer's. A drain (issue 4) needs three things from
//! whatever sits at that address: stop routing new connections here, route again (cancel), and
//! close exactly one worker's connection so that the worker reconnects elsewhere. The worker's
//! connection is identified from the master's side: the master logs the peer address of every
//! attaching worker ([`attach_log`]), and that peer is the load balancer's end of the connection.
//!
//! Implementations: [`NoopHook`] (kind `none`), [`haproxy::HaproxyHook`] (HAProxy runtime API),
//! [`multi::HaproxyGroup`] (several HAProxy load balancers in front of the same masters, each
//! driven through its own runtime API) and [`relay::Relay`] (the agent relays the worker port
//! itself). [`build`] makes one from the
//! [`LbConfig`] parsed, once, from the `[load_balancer]` settings of `docs/agent-config.md`.
//! [`check`] tells whether those settings work against the real load balancer (at agent start
//! and on `/readyz`), [`LbStatus`] is the hook as readers see it: the routing state and the
//! check, never slower than a short timeout.

pub mod attach_log;
pub mod check;
mod config;
#[cfg(test)]
mod fake_haproxy;
pub mod haproxy;
pub mod multi;
#[cfg(test)]
mod real_haproxy;
pub mod relay;
mod status;
#[cfg(test)]
mod test_support;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use attach_log::WorkerAttach;
pub use check::LbCheckError;
pub use config::{HaproxySocket, LbConfig, LbConfigError, LbSettings};
pub use status::LbStatus;

/// Whether the load balancer sends new worker connections to this master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// New connections are routed here.
    Ready,
    /// HAProxy `drain` admin state: only persistent connections are routed here (set by an
    /// operator, never by the hook).
    Drain,
    /// No new connection reaches this master.
    Maint,
    /// No hook is configured: nothing is known about routing.
    Unmanaged,
}

impl From<Routing> for bbctl_api::RoutingState {
    fn from(r: Routing) -> Self {
        match r {
            Routing::Ready => bbctl_api::RoutingState::Ready,
            Routing::Drain => bbctl_api::RoutingState::Drain,
            Routing::Maint => bbctl_api::RoutingState::Maint,
            Routing::Unmanaged => bbctl_api::RoutingState::Unmanaged,
        }
    }
}

/// What closing a worker's session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The connection was closed; `session` names it as the load balancer knows it (an HAProxy
    /// session pointer, or the relay's `client -> outbound` pair).
    Closed { session: String },
}

#[derive(Debug, thiserror::Error)]
pub enum LbError {
    #[error(
        "no load-balancer hook configured (set [load_balancer] kind = \"haproxy\" or \"relay\")"
    )]
    NotConfigured,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: no answer within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("HAProxy refused `{command}`: {reply}")]
    Rejected { command: String, reply: String },
    #[error("cannot parse HAProxy's answer to `{command}`: {message}")]
    Parse { command: String, message: String },
    #[error("HAProxy has no server `{backend}/{server}`")]
    NoSuchServer { backend: String, server: String },
    /// No live connection matches the worker's logged peer address: the worker may have left
    /// by itself (or reconnected since the log line was written).
    #[error("no live session for worker `{worker}` from {peer_host}:{peer_port}")]
    SessionNotFound {
        worker: String,
        peer_host: String,
        peer_port: u16,
    },
    /// Several load balancers ([`multi`]): `action` failed on the ones in `failed` (each with
    /// why) and worked on the ones in `ok` (for a read, with what each said). Every hook call is
    /// idempotent: calling it again retries them all.
    #[error("{action}: {}", multi::describe(.failed, .ok, "worked on"))]
    Partial {
        action: String,
        failed: Vec<LbFailure>,
        ok: Vec<String>,
    },
    /// Several load balancers: the worker's session is on none of those that answered
    /// (`searched`), and the ones in `failed` could not be searched — it may be there, so
    /// nothing was closed. Retry once they answer.
    #[error(
        "cannot tell where worker `{worker}`'s session from {peer_host}:{peer_port} is: {}",
        multi::describe(.failed, .searched, "not on")
    )]
    SessionSearchIncomplete {
        worker: String,
        peer_host: String,
        peer_port: u16,
        failed: Vec<LbFailure>,
        searched: Vec<String>,
    },
}

/// One load balancer of several that did not do what was asked.
#[derive(Debug)]
pub struct LbFailure {
    /// The load balancer, as configured (`tcp:10.77.0.21:9999`, a socket path).
    pub lb: String,
    pub error: LbError,
}

impl LbError {
    /// The load balancers a call of several failed on (empty for any other error): what a
    /// caller names when it says which load balancer keeps it waiting.
    pub fn failed_load_balancers(&self) -> Vec<&str> {
        match self {
            LbError::Partial { failed, .. } | LbError::SessionSearchIncomplete { failed, .. } => {
                failed.iter().map(|f| f.lb.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LbError::Io {
            what: what.into(),
            source,
        }
    }
}

/// The operations a drain needs from the load balancer. Every method is idempotent.
///
/// A hook may drive several load balancers ([`multi::HaproxyGroup`]): then `stop_routing` and
/// `resume_routing` act on every one (all are tried even when one fails; the error,
/// [`LbError::Partial`], names which failed and which did it), `routing_state` is
/// [`Routing::Ready`] only when every one says so (see [`multi::most_drained`]), and
/// `close_worker_session` closes the session on whichever load balancer carries it.
pub trait LoadBalancerHook: Send + Sync {
    /// `none`, `haproxy` or `relay`.
    fn kind(&self) -> &'static str;
    /// No new worker connection reaches this master; existing ones are kept.
    fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>>;
    /// New worker connections reach this master again.
    fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>>;
    fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>>;
    /// Whether the settings work against the real load balancer ([`check`]); a kind with
    /// nothing to check answers `Ok`.
    fn check(&self) -> BoxFuture<'_, Result<(), LbCheckError>> {
        Box::pin(async { Ok(()) })
    }
    /// Closes the one connection the master logged for `attach`, so that the worker reconnects
    /// through the load balancer. [`LbError::SessionNotFound`] if it is already gone.
    fn close_worker_session<'a>(
        &'a self,
        attach: &'a WorkerAttach,
    ) -> BoxFuture<'a, Result<CloseOutcome, LbError>>;
    /// The load balancers this hook drives, each named (its runtime socket as configured) and
    /// as a hook of one load balancer, for readers that report on each ([`LbStatus`]). Empty
    /// (the default): the hook is one load balancer, or none, and answers for itself.
    fn load_balancers(&self) -> Vec<(String, &dyn LoadBalancerHook)> {
        Vec::new()
    }
}

/// Kind `none`: routing is not managed; closing a session is impossible.
#[derive(Debug, Default)]
pub struct NoopHook;

impl LoadBalancerHook for NoopHook {
    fn kind(&self) -> &'static str {
        "none"
    }
    fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(async { Err(LbError::NotConfigured) })
    }
    fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(async { Err(LbError::NotConfigured) })
    }
    fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>> {
        Box::pin(async { Ok(Routing::Unmanaged) })
    }
    fn close_worker_session<'a>(
        &'a self,
        _attach: &'a WorkerAttach,
    ) -> BoxFuture<'a, Result<CloseOutcome, LbError>> {
        Box::pin(async { Err(LbError::NotConfigured) })
    }
}

/// Builds the configured hook. For `relay` this binds the listen address and starts relaying
/// at once (it must run inside a tokio runtime): the relay *is* the worker port.
pub async fn build(cfg: &LbConfig) -> Result<Arc<dyn LoadBalancerHook>, LbError> {
    Ok(match cfg {
        LbConfig::None => Arc::new(NoopHook),
        LbConfig::Haproxy {
            runtime_sockets,
            backend,
            server,
        } => match runtime_sockets.as_slice() {
            [one] => Arc::new(haproxy::HaproxyHook::new(
                one.clone(),
                backend.clone(),
                server.clone(),
            )),
            several => Arc::new(multi::HaproxyGroup::new(
                several.to_vec(),
                backend.clone(),
                server.clone(),
            )),
        },
        LbConfig::Relay { listen, target } => {
            Arc::new(relay::Relay::start(*listen, *target).await?)
        }
    })
}

/// Whether `host` (as a log line or HAProxy prints it) and `ip` are the same address, treating an
/// IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a dual-stack listener reports) as IPv4.
pub(crate) fn same_host(host: &str, ip: std::net::IpAddr) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(h) => h.to_canonical() == ip.to_canonical(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attach() -> WorkerAttach {
        WorkerAttach {
            worker: "w1".into(),
            peer_host: "127.0.0.1".into(),
            peer_port: 4000,
        }
    }

    #[tokio::test]
    async fn noop_hook_is_unmanaged_and_refuses_to_act() {
        let hook = build(&LbConfig::None).await.unwrap();
        assert_eq!(hook.kind(), "none");
        assert_eq!(hook.routing_state().await.unwrap(), Routing::Unmanaged);
        let err = hook.close_worker_session(&attach()).await.unwrap_err();
        assert!(
            err.to_string().contains("no load-balancer hook configured"),
            "{err}"
        );
        assert!(matches!(
            hook.stop_routing().await,
            Err(LbError::NotConfigured)
        ));
        assert!(matches!(
            hook.resume_routing().await,
            Err(LbError::NotConfigured)
        ));
    }

    #[test]
    fn same_host_canonicalises_mapped_addresses() {
        let v4: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert!(same_host("127.0.0.1", v4));
        assert!(same_host("::ffff:127.0.0.1", v4));
        assert!(same_host("[::1]", "::1".parse().unwrap()));
        assert!(!same_host("127.0.0.2", v4));
        assert!(!same_host("localhost", v4));
    }
}
