//! Rollback (after a failed gate, or `bbctl upgrade abort`): the old masters first return to
//! full service — drains cancelled, stopped ones started again on their previous configuration —
//! then the new masters of a blue-green upgrade leave without losing work: the one that failed
//! its gate is stopped, the others are drained (their workers go back to the old masters).
//! The previous configuration is activated with the previous code named explicitly
//! (`previous_buildbot`): after a *code-only* upgrade (same files, same sha256) the staged version
//! carries the new code, so what it carries cannot decide what the rollback starts.

use bbctl_api::{
    ActivateRequest, DrainPhase, DrainRequest, OperationRequest, StopMode, StopRequest,
};

use super::journal::Journal;
use super::{Fail, Runner};
use crate::report::DrainRow;

impl Runner<'_> {
    /// Rolls the upgrade back; returns what it did, one line per action, and the problems.
    pub(super) async fn rollback(
        &self,
        j: &Journal,
        failed: Option<&str>,
    ) -> (Vec<String>, Vec<String>) {
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
                Err(fail) => problems.push(format!("{m}: {}", fail.message)),
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
                    phase => problems.push(format!("{}: drain ended {phase:?}", row.master)),
                }
            }
        }
        (done, problems)
    }

    /// Returns one old master to full service.
    async fn restore_old(
        &self,
        j: &Journal,
        m: &str,
        failed: bool,
        request: &OperationRequest,
    ) -> Result<Option<String>, Fail> {
        let client = self.client(m).map_err(|f| f.into_fail())?;
        let info = client.master().await.map_err(Fail::from_api)?;
        let previous = j.previous_sha256.get(m);
        let previous_code = j.previous_buildbot.get(m);
        let on_previous = super::code::runs(
            super::code::on(&info),
            (
                previous.map(String::as_str),
                previous_code.map(String::as_str),
            ),
        );
        // A draining old master still runs its previous configuration and code.
        if let Some(d) = &info.drain
            && matches!(d.phase, DrainPhase::Draining | DrainPhase::DeadlinePassed)
        {
            client.drain_cancel().await.map_err(Fail::from_api)?;
            return Ok(Some(format!("{m}: drain cancelled, back in service")));
        }
        if info.process.running && (on_previous || !failed) {
            return Ok(None);
        }
        if info.process.running {
            let stop = StopRequest {
                mode: StopMode::Immediate,
                reason: request.reason.clone(),
            };
            client.stop(&stop).await.map_err(Fail::from_api)?;
        }
        if let Some(sha) = previous
            && !on_previous
        {
            let activate = ActivateRequest {
                reason: request.reason.clone(),
                buildbot: previous_code.cloned(),
            };
            client
                .activate(sha, &activate)
                .await
                .map_err(Fail::from_api)?;
        }
        let slow = client.with_timeout(std::time::Duration::from_secs(300));
        slow.start(request).await.map_err(Fail::from_api)?;
        let routing = super::bluegreen::route_here(&client).await?;
        Ok(Some(format!(
            "{m}: started again on its previous configuration and Buildbot; {routing}"
        )))
    }
}
