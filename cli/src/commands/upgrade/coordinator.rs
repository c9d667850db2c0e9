//! The coordinator: the agent through which bbctl reaches the fleet store (the fleet lease and
//! the upgrade journals). With the store in the fleet's PostgreSQL every agent reaches the same
//! store, so the coordinator is the first agent answering `GET /v1/fleet/store` with
//! `reachable: true` — non-standby inventory masters by name, then standby ones, then the
//! inventory's `[[seeds]]` — and a call
//! that meets an unreachable agent, or one answering 503 `store_unavailable`, moves on to the
//! next one. With the store in an agent's own SQLite file (a single-host fleet) the coordinator
//! stays the first non-standby master by name, as before, and there is nothing to fail over to.
//! Every agent that answers must name the same store (`fleet`, `store_key`); two that differ are
//! refused (exit 2): their leases would not exclude each other.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bbctl_api::{ErrorCode, FleetStoreBackend, FleetStoreInfo};

use super::error::UpgradeError;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;

/// The agents that reach the fleet store, in the order they are tried; one of them is current.
#[derive(Debug, Clone)]
pub struct Coordinator {
    agents: Arc<Vec<AgentClient>>,
    current: Arc<AtomicUsize>,
}

/// What one agent said about its store.
enum Answer {
    Store(FleetStoreInfo),
    /// Unreachable, an error, or an agent from before the fleet store: it takes no part.
    Silent,
}

impl Coordinator {
    /// The coordinator of the inventory's fleet (see the module doc).
    pub async fn locate(ctx: &Ctx) -> Result<Coordinator, UpgradeError> {
        let mut targets: Vec<_> = ctx.targets().iter().collect();
        targets.sort_by(|a, b| (a.standby, &a.name).cmp(&(b.standby, &b.name)));
        // Then the inventory's seeds (an agent already listed is not asked twice). A seed is
        // never the SQLite fallback: it counts as a standby slot.
        let listed: Vec<reqwest::Url> = targets.iter().map(|t| t.url.clone()).collect();
        let seeds: Vec<_> = ctx
            .seeds()
            .iter()
            .filter(|s| !listed.contains(&s.url))
            .collect();
        let clients: Vec<AgentClient> = targets
            .iter()
            .chain(&seeds)
            .map(|t| ctx.client(t))
            .collect();
        let answers = futures_util::future::join_all(clients.iter().map(|c| async move {
            match c.fleet_store().await {
                Ok(info) => Answer::Store(info),
                Err(_) => Answer::Silent,
            }
        }))
        .await;
        let standby: Vec<bool> = targets
            .iter()
            .map(|t| t.standby)
            .chain(seeds.iter().map(|_| true))
            .collect();
        Coordinator::choose(clients, &standby, answers)
    }

    fn choose(
        clients: Vec<AgentClient>,
        standby: &[bool],
        answers: Vec<Answer>,
    ) -> Result<Coordinator, UpgradeError> {
        let infos: Vec<(&AgentClient, &FleetStoreInfo)> = clients
            .iter()
            .zip(&answers)
            .filter_map(|(c, a)| match a {
                Answer::Store(info) => Some((c, info)),
                _ => None,
            })
            .collect();
        let shared = infos
            .iter()
            .any(|(_, i)| i.backend == FleetStoreBackend::Postgres);
        if shared {
            let (_, first) = infos
                .iter()
                .find(|(_, i)| i.backend == FleetStoreBackend::Postgres)
                .expect("one is");
            if infos
                .iter()
                .any(|(_, i)| (&i.fleet, &i.store_key) != (&first.fleet, &first.store_key))
            {
                let said: Vec<String> = infos
                    .iter()
                    .map(|(c, i)| format!("{}: fleet {} in {}", c.name(), i.fleet, i.store_key))
                    .collect();
                return Err(UpgradeError::Usage(format!(
                    "refusing: the agents do not keep the fleet's state in the same store ({}); \
                     give every agent the same [fleet] name and db_url",
                    said.join("; ")
                )));
            }
            let mut agents: Vec<AgentClient> = Vec::new();
            let mut first_reachable = None;
            for (client, info) in &infos {
                if info.reachable && first_reachable.is_none() {
                    first_reachable = Some(agents.len());
                }
                agents.push((*client).clone());
            }
            return Ok(Coordinator {
                agents: Arc::new(agents),
                current: Arc::new(AtomicUsize::new(first_reachable.unwrap_or(0))),
            });
        }
        let first = clients
            .iter()
            .zip(standby)
            .find(|(_, standby)| !**standby)
            .map(|(c, _)| c.clone())
            .ok_or_else(|| {
                UpgradeError::Usage(
                    "the inventory has no non-standby master to coordinate on".into(),
                )
            })?;
        Ok(Coordinator::single(first))
    }

    /// A coordinator of one agent (a single-host store; tests).
    pub fn single(client: AgentClient) -> Coordinator {
        Coordinator::of(vec![client])
    }

    /// A coordinator trying `agents` in this order.
    pub fn of(agents: Vec<AgentClient>) -> Coordinator {
        assert!(!agents.is_empty(), "a coordinator needs an agent");
        Coordinator {
            agents: Arc::new(agents),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The agent calls go to now.
    pub fn current(&self) -> &AgentClient {
        &self.agents[self.current.load(Ordering::Relaxed) % self.agents.len()]
    }

    /// Every agent that reaches the store, in order.
    pub fn agents(&self) -> &[AgentClient] {
        &self.agents
    }

    /// Runs `op` against the current agent; when that agent does not answer or cannot reach the
    /// store, against the next ones in turn (the first that answers becomes current). The last
    /// error when none does.
    pub async fn call<T, F, Fut>(&self, op: F) -> Result<T, ApiError>
    where
        F: Fn(AgentClient) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let n = self.agents.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for k in 0..n {
            let i = (start + k) % n;
            match op(self.agents[i].clone()).await {
                Err(err) if store_unreachable(&err) => last = Some(err),
                answer => {
                    self.current.store(i, Ordering::Relaxed);
                    return answer;
                }
            }
        }
        Err(last.expect("at least one agent was tried"))
    }
}

/// Whether `err` means "the store could not be reached through this agent": the agent did not
/// answer, or answered 503 `store_unavailable`. The run fails over, or pauses.
pub fn store_unreachable(err: &ApiError) -> bool {
    err.unreachable_agent().is_some() || err.is(ErrorCode::StoreUnavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(name: &str, port: u16) -> AgentClient {
        AgentClient::new(
            reqwest::Client::new(),
            name.into(),
            format!("http://127.0.0.1:{port}").parse().unwrap(),
            crate::secret::Secret::new("t"),
            std::time::Duration::from_secs(2),
        )
    }

    fn store(backend: FleetStoreBackend, key: &str, reachable: bool) -> Answer {
        Answer::Store(FleetStoreInfo {
            fleet: "prod".into(),
            backend,
            store_key: key.into(),
            reachable,
            db_now: None,
            error: None,
            heartbeat_secs: 10.0,
        })
    }

    #[test]
    fn the_first_agent_reaching_the_store_coordinates() {
        let clients = vec![client("m1", 1), client("m2", 2), client("m3", 3)];
        let pg = FleetStoreBackend::Postgres;
        let answers = vec![
            Answer::Silent,
            store(pg, "db:5432/bbctl_fleet", false),
            store(pg, "db:5432/bbctl_fleet", true),
        ];
        let c = Coordinator::choose(clients, &[false, false, true], answers).unwrap();
        assert_eq!(c.current().name(), "m3");
        let names: Vec<&str> = c.agents().iter().map(|a| a.name()).collect();
        assert_eq!(names, ["m2", "m3"], "a silent agent is not a candidate");
    }

    #[test]
    fn agents_naming_different_stores_are_refused() {
        let clients = vec![client("m1", 1), client("m2", 2)];
        let answers = vec![
            store(FleetStoreBackend::Postgres, "db:5432/bbctl_fleet", true),
            store(FleetStoreBackend::Sqlite, "sqlite:m2", true),
        ];
        let err = Coordinator::choose(clients, &[false, false], answers).unwrap_err();
        assert_eq!(err.exit(), crate::exit::Exit::Usage);
        assert!(
            err.to_string().contains("m2: fleet prod in sqlite:m2"),
            "{err}"
        );
    }

    #[test]
    fn a_sqlite_store_keeps_the_first_non_standby_master() {
        let clients = vec![client("m1", 1), client("m2", 2)];
        let answers = vec![
            store(FleetStoreBackend::Sqlite, "sqlite:m1", true),
            store(FleetStoreBackend::Sqlite, "sqlite:m2", true),
        ];
        let c = Coordinator::choose(clients, &[false, false], answers).unwrap();
        assert_eq!(c.agents().len(), 1);
        assert_eq!(c.current().name(), "m1");
    }

    /// A call that meets an agent that does not answer, then one whose store is down, is made
    /// through the next agent, which stays current.
    #[tokio::test]
    async fn a_call_fails_over_to_the_next_agent() {
        use axum::routing::get;
        let down = axum::Router::new().route(
            "/v1/lease",
            get(|| async {
                let body = serde_json::json!({"error": {"code": "store_unavailable",
                    "message": "the fleet store does not answer"}});
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(body),
                )
            }),
        );
        let up = axum::Router::new().route(
            "/v1/lease",
            get(|| async { axum::Json(crate::commands::upgrade::lease::tests::lease("up-1", 3)) }),
        );
        let gone = client("m0", closed_port().await);
        let c = Coordinator::of(vec![
            gone,
            crate::client::test_agent(down).await,
            named(crate::client::test_agent(up).await, "m2"),
        ]);
        let lease = c
            .call(|a| async move { a.lease_get().await })
            .await
            .unwrap();
        assert_eq!(lease.epoch, 3);
        assert_eq!(c.current().name(), "m2");
    }

    fn named(c: AgentClient, name: &str) -> AgentClient {
        AgentClient::new(
            reqwest::Client::new(),
            name.into(),
            c.url().clone(),
            crate::secret::Secret::new("t"),
            std::time::Duration::from_secs(2),
        )
    }

    async fn closed_port() -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    }
}
