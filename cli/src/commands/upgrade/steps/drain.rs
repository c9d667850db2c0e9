//! drain and wait-drained (both strategies): start the drains of some masters at once (a master
//! already stopped, or draining for this upgrade, is left alone), then follow them to their end
//! and record each one's final status in the journal.

use bbctl_api::{DrainPhase, DrainRequest, ErrorCode};

use crate::client::ApiError;
use crate::commands::drain_follow;
use crate::commands::upgrade::error::UpgradeError;
use crate::commands::upgrade::run::Runner;
use crate::report::DrainRow;
use crate::report::upgrade::Journal;

impl Runner<'_> {
    /// Starts the drains of `masters` at once.
    pub(super) async fn drain(
        &self,
        j: &Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        let request = DrainRequest {
            deadline_secs: j.options.deadline_secs,
            force_after_deadline: j.options.force_after_deadline,
            reason: Some(format!("upgrade {}: {}", j.id, j.reason)),
            requested_by: Some(j.requested_by.clone()),
            cordon: false,
        };
        let mut clients = Vec::new();
        let mut done = Vec::new();
        for m in masters {
            if self.gone(j, m) {
                done.push(format!("{m} not in the inventory (left alone)"));
                continue;
            }
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
                    && (d.phase.is_running() || d.phase == DrainPhase::Drained)
                {
                    return Ok(format!("{} already draining", client.name()));
                }
                client.drain_start(request).await?;
                Ok::<_, ApiError>(format!("{} draining", client.name()))
            }
        }))
        .await;
        for answer in answers {
            done.push(answer?);
        }
        Ok(done.join(", "))
    }

    /// Follows the drains of `masters` until they end; records their final status.
    pub(super) async fn wait_drained(
        &self,
        j: &mut Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        let mut clients = Vec::new();
        let mut rows = Vec::new();
        let mut left = Vec::new();
        for m in masters {
            if self.gone(j, m) {
                left.push(format!("{m} not in the inventory (left alone)"));
                continue;
            }
            let client = self.client(m)?;
            match client.drain_status().await {
                Ok(status) => {
                    rows.push(DrainRow {
                        master: m.clone(),
                        status,
                    });
                    clients.push(client);
                }
                Err(err) if err.is(ErrorCode::NotFound) => {
                    let info = client.master().await?;
                    if info.process.running {
                        return Err(UpgradeError::failed(
                            format!("{m} runs and has no drain"),
                            vec![],
                        ));
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        let rows = drain_follow::follow(self.ctx, clients.clone(), rows).await;
        // A drain that was left unfinished because its agent stopped answering: pause.
        for (row, client) in rows.iter().zip(&clients) {
            if !row.status.phase.is_settled()
                && let Err(err) = client.drain_status().await
                && err.is_unreachable()
            {
                return Err(err.into());
            }
        }
        let mut failures = Vec::new();
        let mut deadline = Vec::new();
        for row in rows {
            match row.status.phase {
                DrainPhase::Drained => {}
                DrainPhase::DeadlinePassed => deadline.push(row.master.clone()),
                phase => failures.push(format!(
                    "{}: drain {phase}: {}",
                    row.master,
                    row.status.message.clone().unwrap_or_default()
                )),
            }
            j.drains.insert(row.master.clone(), row.status);
        }
        if !deadline.is_empty() {
            return Err(UpgradeError::DeadlinePassed(format!(
                "the drain deadline passed on {}",
                deadline.join(", ")
            )));
        }
        if !failures.is_empty() {
            return Err(UpgradeError::failed("a drain did not complete", failures));
        }
        let drained: Vec<&str> = masters
            .iter()
            .filter(|m| !self.gone(j, m))
            .map(String::as_str)
            .collect();
        let mut said = vec![format!("{} drained", drained.join(", "))];
        said.extend(left);
        Ok(said.join("; "))
    }
}
