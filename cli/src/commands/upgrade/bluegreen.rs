//! Step 3, the switch — the step bodies both strategies are made of: start a master on the new
//! configuration and gate on its health; drain old masters (all at once, so the load balancer
//! stops routing to every one of them before any worker is handed off); follow the drains.
//! Blue-green runs them as start-new × N, drain(all old), wait; rolling per batch (see
//! [`super::rolling`]). Each body looks before it acts, so a resumed step does no harm.

use std::time::Duration;

use bbctl_api::{ActivateRequest, DrainPhase, DrainRequest, MasterState, OperationRequest};

use super::journal::Journal;
use super::{Fail, Runner, StepFail};
use crate::client::{AgentClient, ApiError};
use crate::report::DrainRow;

/// `POST /v1/master/start` returns once the master is healthy or its start timeout passed.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// After a successful start, how long `/readyz` may take to say ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A new master must have run this long before old ones are drained: the load balancer's health
/// checks mark a new server up 3–4 s after it starts listening (docs/fleet.md).
const LB_SETTLE: f64 = 5.0;

impl Runner<'_> {
    /// Activates the new configuration on `master`, starts it, and gates on its health.
    pub(super) async fn start_new(&self, j: &Journal, master: &str) -> Result<String, StepFail> {
        let client = self.client(master)?;
        let info = client.master().await.map_err(StepFail::api)?;
        let sha = &j.config_sha256;
        let on_new = super::code::runs(super::code::on(&info), (Some(sha), j.buildbot.as_deref()));
        let request = OperationRequest {
            reason: Some(format!("upgrade {}: {}", j.id, j.reason)),
        };
        if info.process.running {
            if !on_new {
                return Err(StepFail::Other(Fail::failed(
                    format!("{master} runs another configuration; it should have been drained"),
                    vec![],
                )));
            }
        } else {
            if !on_new {
                let activate = ActivateRequest {
                    reason: request.reason.clone(),
                    buildbot: j.buildbot.clone(),
                };
                let result = client.activate(sha, &activate).await;
                gate_result(master, "activate", result)?;
            }
            start_or_join(&client, master, &request).await?;
        }
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            match client.readyz().await {
                Ok((true, _)) => {
                    let routing = match client.routing_resume().await {
                        Err(err) if err.is_unreachable() => return Err(StepFail::api(err)),
                        answer => routing_outcome(&client, answer).map_err(StepFail::Gate)?,
                    };
                    return Ok(format!(
                        "{master} is running {} and ready; {routing}",
                        j.config_label
                    ));
                }
                Ok((false, health)) if tokio::time::Instant::now() >= deadline => {
                    return Err(StepFail::Gate(Fail::failed(
                        format!("{master} did not become ready within {READY_TIMEOUT:?}"),
                        health.reasons,
                    )));
                }
                // The agent, not the master, is gone: pause (super::pause), not roll back.
                Err(err) if err.is_unreachable() => return Err(StepFail::api(err)),
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    return Err(StepFail::Gate(Fail::from_api(err)));
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// Starts the drains of `masters` at once (a master already stopped, or draining for this
    /// upgrade, is left alone).
    pub(super) async fn drain(&self, j: &Journal, masters: &[String]) -> Result<String, StepFail> {
        self.settle_new_masters(j).await?;
        let request = DrainRequest {
            deadline_secs: j.options.deadline_secs,
            force_after_deadline: j.options.force_after_deadline,
            reason: Some(format!("upgrade {}: {}", j.id, j.reason)),
            requested_by: Some(j.requested_by.clone()),
        };
        let mut clients = Vec::new();
        for m in masters {
            clients.push(self.client(m)?);
        }
        let answers = futures_util::future::join_all(clients.iter().map(|client| {
            let request = &request;
            async move {
                let info = client.master().await?;
                if !info.process.running {
                    return Ok(format!("{} already stopped", client.name()));
                }
                if let Some(d) = &info.drain
                    && d.started_at >= j.started_at
                    && matches!(
                        d.phase,
                        DrainPhase::Draining | DrainPhase::Stopping | DrainPhase::Drained
                    )
                {
                    return Ok(format!("{} already draining", client.name()));
                }
                client.drain_start(request).await?;
                Ok::<_, ApiError>(format!("{} draining", client.name()))
            }
        }))
        .await;
        let mut done = Vec::new();
        for answer in answers {
            done.push(answer.map_err(StepFail::api)?);
        }
        Ok(done.join(", "))
    }

    /// Waits until every new master has run [`LB_SETTLE`] seconds (blue-green only).
    async fn settle_new_masters(&self, j: &Journal) -> Result<(), StepFail> {
        let mut longest = 0.0f64;
        for m in j.new.iter().filter(|m| !j.old.contains(m)) {
            let info = self.client(m)?.master().await.map_err(StepFail::api)?;
            if let Some(up) = info.process.uptime_secs {
                longest = longest.max(LB_SETTLE - up);
            }
        }
        if longest > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(longest)).await;
        }
        Ok(())
    }

    /// Follows the drains of `masters` until they end; records their final status.
    pub(super) async fn wait_drained(
        &self,
        j: &mut Journal,
        masters: &[String],
    ) -> Result<String, StepFail> {
        let mut clients = Vec::new();
        let mut rows = Vec::new();
        for m in masters {
            let client = self.client(m)?;
            match client.drain_status().await {
                Ok(status) => {
                    rows.push(DrainRow {
                        master: m.clone(),
                        status,
                    });
                    clients.push(client);
                }
                Err(ApiError::Agent { status: 404, .. }) => {
                    let info = client.master().await.map_err(StepFail::api)?;
                    if info.process.running {
                        return Err(StepFail::Other(Fail::failed(
                            format!("{m} runs and has no drain"),
                            vec![],
                        )));
                    }
                }
                Err(err) => return Err(StepFail::api(err)),
            }
        }
        let rows = crate::commands::drain_follow::follow(self.ctx, clients.clone(), rows).await;
        // A drain that was left unfinished because its agent stopped answering: pause.
        for (row, client) in rows.iter().zip(&clients) {
            if !crate::commands::drain_follow::finished(row.status.phase)
                && let Err(err) = client.drain_status().await
                && err.is_unreachable()
            {
                return Err(StepFail::api(err));
            }
        }
        let mut failures = Vec::new();
        let mut deadline = Vec::new();
        for row in rows {
            match row.status.phase {
                DrainPhase::Drained => {}
                DrainPhase::DeadlinePassed => deadline.push(row.master.clone()),
                phase => failures.push(format!(
                    "{}: drain {phase:?}: {}",
                    row.master,
                    row.status.message.clone().unwrap_or_default()
                )),
            }
            j.drains.insert(row.master.clone(), row.status);
        }
        if !deadline.is_empty() {
            return Err(StepFail::Deadline(format!(
                "the drain deadline passed on {}",
                deadline.join(", ")
            )));
        }
        if !failures.is_empty() {
            return Err(StepFail::Other(Fail::failed(
                "a drain did not complete",
                failures,
            )));
        }
        Ok(format!("{} drained", masters.join(", ")))
    }
}

/// Puts a started master back in the load balancer's rotation: a drain leaves its slot out on
/// purpose, so a slot that ran the old configuration (rolling) or was started again (rollback)
/// would otherwise receive no worker. An agent without a load-balancer hook is left alone.
pub(super) async fn route_here(client: &AgentClient) -> Result<String, Fail> {
    routing_outcome(client, client.routing_resume().await)
}

/// What `POST /v1/routing/resume` answered, as a step message or a gate failure.
fn routing_outcome(
    client: &AgentClient,
    answer: Result<serde_json::Value, ApiError>,
) -> Result<String, Fail> {
    match answer {
        Ok(v) => Ok(format!(
            "load balancer routes workers here ({})",
            v["routing"].as_str().unwrap_or("?")
        )),
        Err(ApiError::Agent { status: 409, .. }) => {
            Ok("routing not managed by the agent".to_string())
        }
        Err(err) => Err(Fail::failed(
            format!(
                "{}: could not route workers to it: {}",
                client.name(),
                err.short()
            ),
            log_lines(&err),
        )),
    }
}

/// Starts `master` — or, when its agent is still busy with a start asked for before a resume (the
/// `bbctl` that asked was killed mid-call), waits for that start to end instead of failing the
/// gate: a 409 while the master comes up is not a failed start.
async fn start_or_join(
    client: &AgentClient,
    master: &str,
    request: &OperationRequest,
) -> Result<(), StepFail> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let result = client.with_timeout(START_TIMEOUT).start(request).await;
        if !matches!(&result, Err(ApiError::Agent { status: 409, .. })) {
            return gate_result(master, "start", result);
        }
        match client.master().await {
            Ok(info) if info.process.running && info.state != MasterState::Starting => {
                return Ok(());
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return gate_result(master, "start", result);
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// A failed activate/start is a gate failure, with the agent's log lines.
fn gate_result(
    master: &str,
    what: &str,
    result: Result<bbctl_api::OperationResult, ApiError>,
) -> Result<(), StepFail> {
    match result {
        Ok(r) if r.ok => Ok(()),
        Ok(r) => Err(StepFail::Gate(Fail::failed(
            format!("{master}: {what} failed: {}", r.message),
            r.log_lines,
        ))),
        // The agent went away mid-call: pause and look again (the start may have gone on).
        Err(err) if err.is_unreachable() => Err(StepFail::api(err)),
        Err(err) => {
            let lines = log_lines(&err);
            Err(StepFail::Gate(Fail::failed(
                format!("{master}: {what} failed: {}", err.short()),
                lines,
            )))
        }
    }
}

/// The log lines an agent attached to an error (`details.log_lines`).
pub fn log_lines(err: &ApiError) -> Vec<String> {
    err.details()
        .and_then(|d| d.get("log_lines").or_else(|| d.get("output")))
        .and_then(|v| v.as_array())
        .map(|lines| {
            lines
                .iter()
                .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
