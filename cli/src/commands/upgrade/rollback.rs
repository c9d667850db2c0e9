//! Rollback (after a failed gate, or `bbctl upgrade abort`): the old masters first return to
//! full service — drains cancelled, stopped ones started again on their previous configuration —
//! then the new masters of a blue-green upgrade leave without losing work: the one that failed
//! its gate is stopped, the others are drained (their workers go back to the old masters).
//! The previous configuration is activated with the previous Buildbot named explicitly
//! (`previous_buildbot`): after a *Buildbot-only* upgrade (same files, same sha256) the staged
//! version carries the new Buildbot, so what it carries cannot decide what the rollback starts.

use bbctl_api::{
    ActivateRequest, DrainPhase, DrainRequest, OperationRequest, StartRequest, StopMode,
    StopRequest,
};

use super::error::UpgradeError;
use super::plan::Target;
use super::run::Runner;
use super::steps;
use crate::report::DrainRow;
use crate::report::upgrade::Journal;

impl Runner<'_> {
    /// Rolls the upgrade back; returns what it did, one line per action, and the problems.
    pub async fn rollback(&self, j: &Journal, failed: Option<&str>) -> (Vec<String>, Vec<String>) {
        let mut done = Vec::new();
        let mut problems = Vec::new();
        let request = OperationRequest {
            reason: Some(format!("rollback of upgrade {}", j.id)),
        };
        for m in &j.old {
            match self
                .restore_old(j, m, failed == Some(m.as_str()), &request)
                .await
            {
                Ok(Some(line)) => done.push(line),
                Ok(None) => {}
                Err(err) => problems.push(format!("{m}: {err}")),
            }
        }
        let mut draining = Vec::new();
        for m in j.new.iter().filter(|m| !j.old.contains(m)) {
            let Ok(client) = self.client(m) else { continue };
            let Ok(info) = client.master().await else {
                problems.push(format!("{m}: agent unreachable"));
                continue;
            };
            if !info.process.running {
                continue;
            }
            if failed == Some(m.as_str()) {
                let stop = StopRequest {
                    mode: StopMode::Immediate,
                    reason: request.reason.clone(),
                };
                match client.stop(&stop).await {
                    Ok(_) => done.push(format!("{m}: stopped (failed its gate)")),
                    Err(err) => problems.push(err.to_string()),
                }
                continue;
            }
            let drain = DrainRequest {
                deadline_secs: None,
                force_after_deadline: false,
                reason: request.reason.clone(),
                requested_by: Some(j.requested_by.clone()),
                cordon: false,
            };
            match client.drain_start(&drain).await {
                Ok(status) => {
                    draining.push((
                        client,
                        DrainRow {
                            master: m.clone(),
                            status,
                        },
                    ));
                }
                Err(err) => problems.push(err.to_string()),
            }
        }
        if !draining.is_empty() {
            let (clients, rows): (Vec<_>, Vec<_>) = draining.into_iter().unzip();
            for row in crate::commands::drain_follow::follow(self.ctx, clients, rows).await {
                match row.status.phase {
                    DrainPhase::Drained => done.push(format!("{}: drained", row.master)),
                    phase => problems.push(format!("{}: drain ended {phase}", row.master)),
                }
            }
        }
        (done, problems)
    }

    /// Returns one old master to full service.
    pub(super) async fn restore_old(
        &self,
        j: &Journal,
        m: &str,
        failed: bool,
        request: &OperationRequest,
    ) -> Result<Option<String>, UpgradeError> {
        let client = self.client(m)?;
        let info = client.master().await?;
        let previous = j.previous_sha256.get(m);
        let previous_buildbot = j.previous_buildbot.get(m);
        let on_previous = Target::of(&info).runs(Target {
            sha256: previous.map(String::as_str),
            buildbot: previous_buildbot.map(String::as_str),
        });
        // A drain that holds an old master (and can be cancelled): it still runs its previous
        // configuration and Buildbot.
        // A cordon is the operator's, not the upgrade's: left alone. A drain that continued one
        // goes back to it.
        if let Some(d) = &info.drain
            && d.phase.holds_master()
            && d.phase.is_cancellable()
            && d.phase != DrainPhase::Cordoned
        {
            let after = client.drain_cancel().await?;
            return Ok(Some(if after.phase == DrainPhase::Cordoned {
                format!("{m}: drain cancelled, cordoned again as before the upgrade")
            } else {
                format!("{m}: drain cancelled, back in service")
            }));
        }
        if info.process.running && (on_previous || !failed) {
            return Ok(None);
        }
        if info.process.running {
            let stop = StopRequest {
                mode: StopMode::Immediate,
                reason: request.reason.clone(),
            };
            client.stop(&stop).await?;
        }
        if let Some(sha) = previous
            && !on_previous
        {
            let activate = ActivateRequest {
                reason: request.reason.clone(),
                buildbot: previous_buildbot.cloned(),
            };
            client.activate(sha, &activate).await?;
        }
        let slow = client.with_timeout(std::time::Duration::from_secs(300));
        let start = StartRequest {
            reason: request.reason.clone(),
            keep_out_of_rotation: false,
        };
        slow.start(&start).await?;
        let routing = steps::route_here(&client).await?;
        Ok(Some(format!(
            "{m}: started again on its previous configuration and Buildbot; {routing}"
        )))
    }
}
