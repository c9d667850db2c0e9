//! `GET /v1/master`'s whole picture of this master: the process, its Buildbot row, what runs on
//! it, what it runs, the drain, and every problem the agent sees — one line each, so that an
//! operator reads why a master is not what it should be.

use std::path::PathBuf;

use bbctl_api::{ActiveConfig, MasterInfo, RoutingState};

use super::{Topology, convert};
use crate::master::mq;

/// What the master runs, from the configuration service (`crate::configs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    /// The configuration in the basedir now.
    pub config: Option<ActiveConfig>,
    /// The `buildbot` executable the master runs (or runs at its next start).
    pub executable: PathBuf,
}

impl Topology {
    /// This master as the agent sees it; `running` is what it runs.
    pub async fn master_info(&self, running: Running) -> MasterInfo {
        let this = &self.inner.this;
        let proc = self.process();
        let mut problems = Vec::new();
        let (snap, age) = match self.snapshot().await {
            Ok((s, age)) => (Some(s), Some(age)),
            Err(e) => {
                if proc.running {
                    problems.push(e.to_string());
                }
                (None, None)
            }
        };
        // Reads may work anonymously while the `[master.rest_auth]` login fails: say so before
        // a drain's pause is refused.
        if proc.running
            && let Some(p) = self.inner.rest.login_problem().await
        {
            problems.push(format!("cannot log in to the master's www: {p}"));
        }
        let row = snap.as_ref().and_then(|s| self.find(&s.masters)).cloned();
        if proc.running && mq::lost_mq(&this.basedir) {
            problems.insert(0, mq::LOST_MQ.to_owned());
        }
        if proc.running && snap.is_some() && row.is_none() {
            problems.push("the master is not (yet) listed in /api/v2/masters".into());
        }
        if proc.running && row.as_ref().is_some_and(|m| !m.active) {
            problems.push("the master process runs but Buildbot shows it inactive".into());
        }
        let (workers, builds, claimed) = match (&snap, &row) {
            (Some(s), Some(m)) => (
                convert::workers_of(s, m.masterid),
                convert::builds_of(s, m.masterid),
                convert::requests_of(s, m.masterid),
            ),
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        if let Some(s) = &snap {
            problems.extend(self.inner.drain.leftovers(&s.workers).await);
        }
        // Never slower than the status's short timeout (`crate::lb::LbStatus`).
        let (routing, routing_reason) = match self.inner.lb.routing().await {
            Ok(r) => (RoutingState::from(r), None),
            Err(why) => (RoutingState::Unknown, Some(why)),
        };
        let runtime = &self.inner.runtime;
        let exe = &running.executable;
        // A master's id and name never change for its basedir: once found, they stay known
        // while its REST API is down (stopped, restarting), so that a reader such as an
        // upgrade's verify can still tell which claims and workers were this master's.
        let (masterid, buildbot_name) = match (&row, runtime.identity.get()) {
            (Some(m), _) => (Some(m.masterid), Some(m.name.clone())),
            (None, Some((id, name))) => (Some(id), Some(name)),
            (None, None) => (None, None),
        };
        MasterInfo {
            agent_name: this.agent.clone(),
            state: self.master_state(proc.running, row.as_ref()),
            buildbot_name,
            masterid,
            active: row.as_ref().map(|m| m.active),
            last_active: row.as_ref().and_then(|m| m.last_active),
            basedir: this.basedir.display().to_string(),
            rest_url: this.rest_url.clone(),
            process: proc,
            buildbot_version: runtime.versions.get(exe).await,
            buildbot_db_head: runtime.schemas.get(exe).await,
            buildbot_executable: Some(exe.display().to_string()),
            config: running.config,
            workers,
            builds,
            claimed_requests: claimed,
            drain: self.inner.drain.status(),
            routing: Some(routing),
            routing_reason,
            problems,
            snapshot_age_secs: age.map(|a| tenths_ms(a.as_secs_f64())),
        }
    }
}

/// Seconds to the millisecond.
fn tenths_ms(secs: f64) -> f64 {
    (secs * 1000.0).round() / 1000.0
}
