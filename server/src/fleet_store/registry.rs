//! The agent registry (design §2.5): each agent upserts its row at start and every
//! `heartbeat_secs`; a clean shutdown sets `stopped_at`. An agent whose heartbeat is older than
//! three intervals (by the store's clock) is silent. Tokens are never stored.

use std::sync::Arc;

use bbctl_api::{FleetAgents, RegisteredAgent};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Nullable, Text};

use super::conn::{on_conn, sql};
use super::{DbNow, FleetStore, StoreError};
use crate::master::MasterRuntime;

/// What this agent says about itself in the registry.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub url: String,
    pub standby: bool,
    pub host: String,
}

#[derive(QueryableByName)]
struct Previous {
    #[diesel(sql_type = Text)]
    url: String,
    /// Seconds since its last heartbeat.
    #[diesel(sql_type = Double)]
    v: f64,
    #[diesel(sql_type = Nullable<Double>)]
    stopped_at: Option<f64>,
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct AgentRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Bool)]
    standby: bool,
    #[diesel(sql_type = Text)]
    agent_version: String,
    #[diesel(sql_type = Text)]
    api_version: String,
    #[diesel(sql_type = Nullable<Text>)]
    buildbot_name: Option<String>,
    #[diesel(sql_type = Text)]
    host: String,
    #[diesel(sql_type = Double)]
    started_at: f64,
    #[diesel(sql_type = Double)]
    heartbeat_at: f64,
    #[diesel(sql_type = Nullable<Double>)]
    stopped_at: Option<f64>,
}

impl FleetStore {
    /// Upserts this agent's row. `first` (the heartbeat at start) resets `started_at`.
    /// Returns the URL of another live agent that registered under the same name (its row was
    /// fresh, not stopped, with another URL): two agents configured with one name.
    pub async fn heartbeat(
        &self,
        me: &Registration,
        buildbot_name: Option<String>,
        first: bool,
    ) -> Result<Option<String>, StoreError> {
        let (fleet, me) = (self.fleet().to_owned(), me.clone());
        let silent_after = 3.0 * self.heartbeat_interval().as_secs_f64();
        self.run(move |c| {
            let q = sql(
                c,
                "SELECT url, {now} - heartbeat_at AS v, stopped_at FROM agents \
                 WHERE fleet = $1 AND name = $2",
            );
            let before: Option<Previous> = on_conn!(c, |c| diesel::sql_query(q)
                .bind::<Text, _>(&fleet)
                .bind::<Text, _>(&me.name)
                .get_result(c)
                .optional())?;
            let clash = before
                .filter(|p| p.url != me.url && p.stopped_at.is_none() && p.v < silent_after)
                .map(|p| p.url);
            let started = if first {
                "excluded.started_at"
            } else {
                "agents.started_at"
            };
            let q = sql(
                c,
                &format!(
                    "INSERT INTO agents (fleet, name, url, standby, agent_version, api_version, \
                       buildbot_name, host, started_at, heartbeat_at, stopped_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {{now}}, {{now}}, NULL) \
                     ON CONFLICT (fleet, name) DO UPDATE SET url = excluded.url, \
                       standby = excluded.standby, agent_version = excluded.agent_version, \
                       api_version = excluded.api_version, \
                       buildbot_name = COALESCE(excluded.buildbot_name, agents.buildbot_name), \
                       host = excluded.host, started_at = {started}, \
                       heartbeat_at = excluded.heartbeat_at, stopped_at = NULL"
                ),
            );
            on_conn!(c, |c| diesel::sql_query(q)
                .bind::<Text, _>(&fleet)
                .bind::<Text, _>(&me.name)
                .bind::<Text, _>(&me.url)
                .bind::<Bool, _>(me.standby)
                .bind::<Text, _>(env!("CARGO_PKG_VERSION"))
                .bind::<Text, _>(bbctl_api::API_VERSION)
                .bind::<Nullable<Text>, _>(buildbot_name.as_deref())
                .bind::<Text, _>(&me.host)
                .execute(c))?;
            Ok(clash)
        })
        .await
    }

    /// A clean shutdown: this agent's row says since when it is stopped.
    pub async fn stopped(&self, name: &str) -> Result<(), StoreError> {
        let (fleet, name) = (self.fleet().to_owned(), name.to_owned());
        self.run(move |c| {
            let q = sql(
                c,
                "UPDATE agents SET stopped_at = {now} WHERE fleet = $1 AND name = $2",
            );
            on_conn!(c, |c| diesel::sql_query(q)
                .bind::<Text, _>(&fleet)
                .bind::<Text, _>(&name)
                .execute(c))?;
            Ok(())
        })
        .await
    }

    /// After `masters expire` proved the master named `buildbot_name` gone: the registry row of
    /// its agent, if that agent is silent too (its host is lost), is marked stopped so bbctl no
    /// longer counts it as one of the fleet's agents. A live agent is left alone; one that comes
    /// back registers again. Returns the agent's name when a row was marked.
    pub async fn retire_silent(&self, buildbot_name: &str) -> Result<Option<String>, StoreError> {
        let fleet = self.fleet().to_owned();
        let buildbot_name = buildbot_name.to_owned();
        let silent_after_secs = 3.0 * self.heartbeat_interval().as_secs_f64();
        self.run(move |c| {
            let q = sql(
                c,
                "UPDATE agents SET stopped_at = {now} WHERE fleet = $1 AND buildbot_name = $2 \
                   AND stopped_at IS NULL AND heartbeat_at < {now} - $3 RETURNING name",
            );
            let rows: Vec<Named> = on_conn!(c, |c| diesel::sql_query(q)
                .bind::<Text, _>(&fleet)
                .bind::<Text, _>(&buildbot_name)
                .bind::<Double, _>(silent_after_secs)
                .load(c))?;
            Ok(rows.into_iter().next().map(|r| r.name))
        })
        .await
    }

    /// `GET /v1/fleet/agents`: every row of this fleet, by name, with the store's clock.
    pub async fn agents(&self) -> Result<FleetAgents, StoreError> {
        let fleet = self.fleet().to_owned();
        let silent_after_secs = 3.0 * self.heartbeat_interval().as_secs_f64();
        self.run(move |c| {
            let q = sql(
                c,
                "SELECT name, url, standby, agent_version, api_version, buildbot_name, host, \
                   started_at, heartbeat_at, stopped_at FROM agents WHERE fleet = $1 ORDER BY name",
            );
            let rows: Vec<AgentRow> =
                on_conn!(c, |c| diesel::sql_query(q).bind::<Text, _>(&fleet).load(c))?;
            let now_q = sql(c, "SELECT {now} AS v");
            let now: DbNow = on_conn!(c, |c| diesel::sql_query(now_q).get_result(c))?;
            let agents = rows
                .into_iter()
                .map(|r| RegisteredAgent {
                    name: r.name,
                    url: r.url,
                    standby: r.standby,
                    agent_version: r.agent_version,
                    api_version: r.api_version,
                    buildbot_name: r.buildbot_name,
                    host: r.host,
                    started_at: r.started_at,
                    heartbeat_at: r.heartbeat_at,
                    stopped_at: r.stopped_at,
                })
                .collect();
            Ok(FleetAgents {
                fleet,
                db_now: now.v,
                silent_after_secs,
                agents,
            })
        })
        .await
    }
}

/// The heartbeat task: this agent's row at start, then every `heartbeat_secs`, with its master's
/// Buildbot name once the identity cache knows it. A failed heartbeat is logged once per outage.
pub async fn heartbeat_task(store: FleetStore, me: Registration, master: Arc<MasterRuntime>) {
    let mut first = true;
    let mut failing = false;
    loop {
        let buildbot_name = master.identity.get().map(|(_, name)| name);
        match store.heartbeat(&me, buildbot_name, first).await {
            Ok(clash) => {
                if let Some(url) = clash {
                    tracing::error!(
                        fleet = store.fleet(), name = %me.name, other = %url, ours = %me.url,
                        "another live agent is registered under this agent's name: two agents \
                         share one [agent] name"
                    );
                }
                if first {
                    tracing::info!(
                        fleet = store.fleet(), name = %me.name, url = %me.url,
                        "registered in the fleet registry"
                    );
                } else if failing {
                    tracing::info!(fleet = store.fleet(), "fleet store reachable again");
                }
                first = false;
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(fleet = store.fleet(), error = %e, "registry heartbeat failed");
                }
                failing = true;
            }
        }
        tokio::time::sleep(store.heartbeat_interval()).await;
    }
}
