//! Persistence of the current drain: loaded from the `drains` table once, and saved after every
//! operation and every tick that changed it — together with one audit entry per step, the
//! status snapshot readiness reads, and one `agent.drain` event per step.

use super::model::{self, Drain};
use super::{DrainError, Drains};
use crate::db::{audit, drains};

fn decode(row: drains::DrainRow) -> Result<Drain, DrainError> {
    let bad = |what: &'static str, message: String| DrainError::Corrupt {
        id: row.id,
        what,
        message,
    };
    Ok(Drain {
        id: row.id,
        phase: model::parse_phase(&row.phase).ok_or_else(|| bad("phase", row.phase.clone()))?,
        request: serde_json::from_str(&row.request).map_err(|e| bad("request", e.to_string()))?,
        state: serde_json::from_str(&row.state).map_err(|e| bad("state", e.to_string()))?,
        started_at: row.started_at,
        finished_at: row.finished_at,
    })
}

impl Drains {
    /// Loads the newest drain into `slot` if it is not there yet.
    pub(super) async fn load(&self, slot: &mut Option<Drain>) -> Result<(), DrainError> {
        if slot.is_none()
            && let Some(row) = self.inner.db.run(drains::latest).await?
        {
            let d = decode(row)?;
            self.set_snapshot(d.status());
            *slot = Some(d);
        }
        Ok(())
    }

    /// Saves `d`, then announces and audits each step in `notes` (as done for whoever asked for
    /// the drain).
    pub(super) async fn save(&self, d: &Drain, notes: Vec<String>) -> Result<(), DrainError> {
        self.save_by(d, notes, d.state.requested_by.clone()).await
    }

    /// [`Self::save`] with the steps audited as done for `actor`.
    pub(super) async fn save_by(
        &self,
        d: &Drain,
        notes: Vec<String>,
        actor: Option<String>,
    ) -> Result<(), DrainError> {
        let (id, phase, finished) = (d.id, d.phase.as_str(), d.finished_at);
        let json = serde_json::to_string(&d.state)?;
        let audit_notes = notes.clone();
        self.inner
            .db
            .run(move |c| {
                drains::update(c, id, phase, &json, finished)?;
                for n in &audit_notes {
                    audit::append(
                        c,
                        actor.as_deref(),
                        "drain",
                        &format!("drain {id} ({phase}): {n}"),
                    )?;
                }
                Ok(())
            })
            .await?;
        let status = d.status();
        self.set_snapshot(status.clone());
        for n in notes {
            tracing::info!(drain = d.id, phase = ?d.phase, "{n}");
            self.inner.hub.publish_agent(
                "agent.drain",
                n.clone(),
                serde_json::json!({"id": d.id, "phase": d.phase, "step": n, "status": status}),
            );
        }
        Ok(())
    }
}
