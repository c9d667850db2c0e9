//! Several HAProxy load balancers in front of the same masters (`[load_balancer]
//! runtime_sockets`, docs/agent-config.md): workers reach the fleet through any of them (DNS
//! round robin, one per site), and each has this master as the same `server` in the same
//! `backend`. [`HaproxyGroup`] drives every one through its own runtime API, one
//! [`HaproxyHook`] each, and keeps the [`LoadBalancerHook`] contract:
//!
//! * `stop_routing` / `resume_routing` ask every load balancer at once and wait for all; when
//!   one fails the others are still changed, and the error ([`LbError::Partial`]) names which
//!   failed and which did it. The calls are idempotent: the caller retries the whole call.
//! * `routing_state` is the state of the load balancer that routes the least here
//!   ([`most_drained`]): `ready` only when every load balancer routes here, so that a start
//!   never takes a master half out of rotation for in rotation (and forgets that a drain took
//!   it out) — it puts it back on every one. Whether routing is *stopped* is never read from
//!   it: a drain counts routing as stopped only once `stop_routing` succeeded on every load
//!   balancer. A load balancer that does not answer makes it an error naming it. Readers that show each
//!   load balancer's state (`super::LbStatus`) use [`HaproxyGroup::load_balancers`].
//! * `close_worker_session`: the master logged the worker's peer, the load balancer's end of
//!   the connection. The load balancers whose runtime address is that host are searched first
//!   (several when they share a host, e.g. all on loopback), the others only when the session
//!   is not there or none is at that host (a management address apart from the one facing the
//!   masters). The session is matched exactly (HAProxy's backend-side address and port,
//!   `HaproxyHook::find_session`) and closed on the load balancer that carries it. It is [`LbError::SessionNotFound`] only when every load balancer
//!   answered and none has it; when one that could carry it does not answer, nothing is claimed
//!   closed and the error ([`LbError::SessionSearchIncomplete`]) names it.
//! * `check` checks every load balancer: a wrong setting on any one is a setting error naming
//!   it; one that does not answer is "unavailable", named.

use std::net::IpAddr;

use futures_util::future::{BoxFuture, join_all};

use super::check::LbCheckError;
use super::haproxy::{HaproxyHook, Session};
use super::{
    CloseOutcome, HaproxySocket, LbError, LbFailure, LoadBalancerHook, Routing, WorkerAttach,
};

/// The hook for kind `haproxy` with several `runtime_sockets`.
#[derive(Debug, Clone)]
pub struct HaproxyGroup {
    members: Vec<Member>,
}

#[derive(Debug, Clone)]
struct Member {
    /// The runtime socket as configured: how errors and readers name this load balancer.
    name: String,
    /// The runtime API's IP address (`tcp:IP:PORT`); `None` for a unix socket or a host name.
    address: Option<IpAddr>,
    hook: HaproxyHook,
}

impl HaproxyGroup {
    pub fn new(sockets: Vec<HaproxySocket>, backend: String, server: String) -> Self {
        let members = sockets
            .into_iter()
            .map(|socket| Member {
                name: socket.to_string(),
                address: ip_of(&socket),
                hook: HaproxyHook::new(socket, backend.clone(), server.clone()),
            })
            .collect();
        HaproxyGroup { members }
    }

    /// Runs `op` on every load balancer at once; the answers in configuration order.
    async fn on_all<'a, T>(
        &'a self,
        op: impl Fn(&'a HaproxyHook) -> BoxFuture<'a, Result<T, LbError>>,
    ) -> Vec<(&'a str, Result<T, LbError>)> {
        let answers = join_all(self.members.iter().map(|m| op(&m.hook))).await;
        self.members
            .iter()
            .map(|m| m.name.as_str())
            .zip(answers)
            .collect()
    }

    /// `stop_routing` / `resume_routing`: done on all, or [`LbError::Partial`].
    async fn change_all(&self, action: &str, stop: bool) -> Result<(), LbError> {
        let answers = self
            .on_all(|hook| {
                if stop {
                    hook.stop_routing()
                } else {
                    hook.resume_routing()
                }
            })
            .await;
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for (name, answer) in answers {
            match answer {
                Ok(()) => ok.push(name.to_owned()),
                Err(error) => failed.push(LbFailure {
                    lb: name.to_owned(),
                    error,
                }),
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        let err = LbError::Partial {
            action: action.into(),
            failed,
            ok,
        };
        tracing::warn!(error = %err, "not every load balancer did it; the caller retries");
        Err(err)
    }

    async fn routing(&self) -> Result<Routing, LbError> {
        let answers = self.on_all(|hook| hook.routing_state()).await;
        let (mut states, mut ok, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (name, answer) in answers {
            match answer {
                Ok(state) => {
                    states.push(state);
                    ok.push(format!("{name} ({})", routing_word(state)));
                }
                Err(error) => failed.push(LbFailure {
                    lb: name.to_owned(),
                    error,
                }),
            }
        }
        if !failed.is_empty() {
            return Err(LbError::Partial {
                action: "read the routing state".into(),
                failed,
                ok,
            });
        }
        Ok(most_drained(&states).unwrap_or(Routing::Unmanaged))
    }

    async fn check_all(&self) -> Result<(), LbCheckError> {
        let checks = join_all(self.members.iter().map(|m| m.hook.check_settings())).await;
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for (m, check) in self.members.iter().zip(checks) {
            match check {
                Ok(()) => ok.push(m.name.clone()),
                Err(LbCheckError::Setting { key, message }) => {
                    let message = if message.contains(&m.name) {
                        message
                    } else {
                        format!("{message} (HAProxy runtime API at {})", m.name)
                    };
                    let key = match key {
                        "load_balancer.runtime_socket" => "load_balancer.runtime_sockets",
                        other => other,
                    };
                    return Err(LbCheckError::Setting { key, message });
                }
                Err(LbCheckError::Unavailable(error)) => failed.push(LbFailure {
                    lb: m.name.clone(),
                    error,
                }),
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        Err(LbCheckError::Unavailable(LbError::Partial {
            action: "check the settings".into(),
            failed,
            ok,
        }))
    }

    /// The load balancers to search for `attach`'s session, in two rounds: those whose runtime
    /// address is the logged peer host, then the others.
    fn search_rounds(&self, attach: &WorkerAttach) -> [Vec<&Member>; 2] {
        let (first, rest) = self.members.iter().partition(|m| {
            m.address
                .is_some_and(|ip| super::same_host(&attach.peer_host, ip))
        });
        [first, rest]
    }

    async fn close(&self, attach: &WorkerAttach) -> Result<CloseOutcome, LbError> {
        let (mut searched, mut failed) = (Vec::new(), Vec::new());
        for round in self.search_rounds(attach) {
            let found = join_all(round.iter().map(|m| m.hook.find_session(attach))).await;
            let mut carrier: Option<(&Member, Session)> = None;
            for (m, answer) in round.into_iter().zip(found) {
                match answer {
                    Ok(Some(session)) => {
                        carrier.get_or_insert((m, session));
                    }
                    Ok(None) => searched.push(m.name.clone()),
                    Err(error) => failed.push(LbFailure {
                        lb: m.name.clone(),
                        error,
                    }),
                }
            }
            if let Some((m, session)) = carrier {
                return close_on(m, session, attach).await;
            }
        }
        if failed.is_empty() {
            return Err(not_found(attach));
        }
        Err(LbError::SessionSearchIncomplete {
            worker: attach.worker.clone(),
            peer_host: attach.peer_host.clone(),
            peer_port: attach.peer_port,
            failed,
            searched,
        })
    }
}

async fn close_on(
    m: &Member,
    session: Session,
    attach: &WorkerAttach,
) -> Result<CloseOutcome, LbError> {
    if !m.hook.client().shutdown_session(&session.id).await? {
        // It was there a moment ago: it ended by itself.
        return Err(not_found(attach));
    }
    tracing::info!(
        worker = %attach.worker, session = %session.id, load_balancer = %m.name,
        "closed the worker's HAProxy session"
    );
    Ok(CloseOutcome::Closed {
        session: format!("{} on {}", session.id, m.name),
    })
}

fn not_found(attach: &WorkerAttach) -> LbError {
    LbError::SessionNotFound {
        worker: attach.worker.clone(),
        peer_host: attach.peer_host.clone(),
        peer_port: attach.peer_port,
    }
}

/// The IP address of a `tcp:IP:PORT` runtime socket.
fn ip_of(socket: &HaproxySocket) -> Option<IpAddr> {
    match socket {
        HaproxySocket::Tcp(hostport) => {
            let (host, _) = hostport.rsplit_once(':')?;
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        }
        HaproxySocket::Unix(_) => None,
    }
}

/// The routing state of several load balancers taken together: the state of the one that
/// routes the fewest new worker connections here (`maint` before `drain` before `ready`).
/// `Ready` only when all route here; `None` for no state at all.
pub fn most_drained(states: &[Routing]) -> Option<Routing> {
    let rank = |r: &Routing| match r {
        Routing::Maint => 0,
        Routing::Drain => 1,
        Routing::Ready => 2,
        Routing::Unmanaged => 3,
    };
    states.iter().copied().min_by_key(rank)
}

/// `ready`, `drain`, `maint`, `unmanaged`.
pub fn routing_word(r: Routing) -> &'static str {
    bbctl_api::RoutingState::from(r).as_str()
}

/// `failed on A (why); worked on B, C` — the text of [`LbError::Partial`] and
/// [`LbError::SessionSearchIncomplete`] (`ok_label` says what the others did).
pub fn describe(failed: &[LbFailure], ok: &[String], ok_label: &str) -> String {
    let failed: Vec<String> = failed
        .iter()
        .map(|f| format!("{} ({})", f.lb, f.error))
        .collect();
    format!(
        "failed on {}; {ok_label} {}",
        failed.join(", "),
        if ok.is_empty() {
            "none".to_owned()
        } else {
            ok.join(", ")
        }
    )
}

impl LoadBalancerHook for HaproxyGroup {
    fn kind(&self) -> &'static str {
        "haproxy"
    }

    fn stop_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(self.change_all("stop routing", true))
    }

    fn resume_routing(&self) -> BoxFuture<'_, Result<(), LbError>> {
        Box::pin(self.change_all("resume routing", false))
    }

    fn routing_state(&self) -> BoxFuture<'_, Result<Routing, LbError>> {
        Box::pin(self.routing())
    }

    fn check(&self) -> BoxFuture<'_, Result<(), LbCheckError>> {
        Box::pin(self.check_all())
    }

    fn close_worker_session<'a>(
        &'a self,
        attach: &'a WorkerAttach,
    ) -> BoxFuture<'a, Result<CloseOutcome, LbError>> {
        Box::pin(self.close(attach))
    }

    fn load_balancers(&self) -> Vec<(String, &dyn LoadBalancerHook)> {
        self.members
            .iter()
            .map(|m| (m.name.clone(), &m.hook as &dyn LoadBalancerHook))
            .collect()
    }
}

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;
