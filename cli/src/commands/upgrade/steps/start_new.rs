//! start-new (both strategies): activate the new configuration — with the new masters'
//! Buildbot — on a master, start it, gate on its health (a failed gate rolls the upgrade back),
//! and put it back in the load balancer's rotation.

use std::time::Duration;

use bbctl_api::{
    ActivateRequest, ErrorCode, MasterState, OperationRequest, OperationResult, StartRequest,
};

use crate::client::{AgentClient, ApiError};
use crate::commands::upgrade::error::UpgradeError;
use crate::commands::upgrade::journal::Store;
use crate::commands::upgrade::plan::Target;
use crate::commands::upgrade::run::Runner;
use crate::report::upgrade::{Journal, StrategyName};
use crate::time::now_secs;

/// `POST /v1/master/start` returns once the master is healthy or its start timeout passed.
const START_TIMEOUT: Duration = Duration::from_secs(300);
/// After a successful start, how long `/readyz` may take to say ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Runner<'_> {
    /// Activates the new configuration on `master`, starts it, and gates on its health.
    pub(super) async fn start_new(
        &self,
        j: &mut Journal,
        master: &str,
        store: &mut Store,
    ) -> Result<String, UpgradeError> {
        let client = self.client(master)?;
        let info = client.master().await?;
        let sha = &j.config_sha256;
        let on_new = Target::of(&info).runs(Target {
            sha256: Some(sha),
            buildbot: j.buildbot.as_deref(),
        });
        let request = OperationRequest {
            reason: Some(format!("upgrade {}: {}", j.id, j.reason)),
        };
        if info.process.running {
            if !on_new {
                return Err(UpgradeError::failed(
                    format!("{master} runs another configuration; it should have been drained"),
                    vec![],
                ));
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
            // Routing comes back only once the gate passed (below), not with the start.
            let start = StartRequest {
                reason: request.reason.clone(),
                keep_out_of_rotation: true,
            };
            start_or_join(&client, master, &start).await?;
        }
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            match client.readyz().await {
                Ok((true, _)) => {
                    if j.strategy == StrategyName::Migrate {
                        commit(j, store).await?;
                    }
                    let routing = match client.routing_resume().await {
                        Err(err) if err.is_unreachable() => return Err(err.into()),
                        answer => routing_outcome(&client, answer)?,
                    };
                    return Ok(format!(
                        "{master} is running {} and ready; {routing}",
                        j.config_label
                    ));
                }
                Ok((false, health)) if tokio::time::Instant::now() >= deadline => {
                    return Err(UpgradeError::gate(
                        format!("{master} did not become ready within {READY_TIMEOUT:?}"),
                        health.reasons,
                    ));
                }
                // The agent, not the master, is gone: pause (super::pause), not roll back.
                Err(err) if err.is_unreachable() => return Err(err.into()),
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    return Err(UpgradeError::gate(err.to_string(), err.log_lines()));
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

/// migrate: a new master passed its gate and is about to enter the rotation, where workers reach
/// it and it claims builds. From then on a restore of the backup would re-run what it builds
/// (with build numbers reused), so the journal records this point — saved before the routing
/// changes, so that no rollback after it restores by mistake.
async fn commit(j: &mut Journal, store: &mut Store) -> Result<(), UpgradeError> {
    let Some(m) = j.migration.as_mut() else {
        return Ok(());
    };
    let now = now_secs();
    m.committed_at.get_or_insert(now);
    m.window.first_new_ready_at.get_or_insert(now);
    store.save(j).await?;
    Ok(())
}

/// Puts a started master back in the load balancer's rotation: a drain leaves its slot out on
/// purpose, so a slot that ran the old configuration (rolling) or was started again (rollback)
/// would otherwise receive no worker. An agent without a load-balancer hook is left alone.
pub async fn route_here(client: &AgentClient) -> Result<String, UpgradeError> {
    routing_outcome(client, client.routing_resume().await)
}

/// What `POST /v1/routing/resume` answered, as a step message or a failed gate.
fn routing_outcome(
    client: &AgentClient,
    answer: Result<serde_json::Value, ApiError>,
) -> Result<String, UpgradeError> {
    match answer {
        Ok(v) => Ok(format!(
            "load balancer routes workers here ({})",
            v["routing"].as_str().unwrap_or("?")
        )),
        Err(err) if err.is(ErrorCode::Conflict) => {
            Ok("routing not managed by the agent".to_string())
        }
        Err(err) => Err(UpgradeError::gate(
            format!(
                "{}: could not route workers to it: {}",
                client.name(),
                err.reason()
            ),
            err.log_lines(),
        )),
    }
}

/// Starts `master` — or, when its agent is still busy with a start asked for before a resume (the
/// `bbctl` that asked was killed mid-call), waits for that start to end instead of failing the
/// gate: a conflict while the master comes up is not a failed start.
async fn start_or_join(
    client: &AgentClient,
    master: &str,
    request: &StartRequest,
) -> Result<(), UpgradeError> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let result = client.with_timeout(START_TIMEOUT).start(request).await;
        if !matches!(&result, Err(err) if err.is(ErrorCode::Conflict)) {
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
    result: Result<OperationResult, ApiError>,
) -> Result<(), UpgradeError> {
    match result {
        Ok(r) if r.ok => Ok(()),
        Ok(r) => Err(UpgradeError::gate(
            format!("{master}: {what} failed: {}", r.message),
            r.log_lines,
        )),
        // The agent went away mid-call: pause and look again (the start may have gone on).
        Err(err) if err.is_unreachable() => Err(err.into()),
        Err(err) => Err(UpgradeError::gate(
            format!("{master}: {what} failed: {}", err.reason()),
            err.log_lines(),
        )),
    }
}
