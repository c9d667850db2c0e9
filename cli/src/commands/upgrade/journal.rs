//! Where the upgrade journal is kept: on the coordinator agent (`PUT /v1/upgrades/{id}`),
//! written before and after every step, so that any operator machine can show it and
//! `upgrade resume` can finish the job after the CLI died. Writes use the agent's optimistic
//! version: a second CLI acting on the same upgrade is refused instead of racing. The document
//! itself ([`Journal`]) is in `report/upgrade.rs`: `upgrade status -o json` prints it.

use bbctl_api::{ErrorCode, PutUpgradeRequest, UpgradeRecord};

use super::error::UpgradeError;
use super::lease;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::report::upgrade::Journal;

/// Where the journal lives: the coordinator agent, with the version last read or written.
pub struct Store {
    pub client: AgentClient,
    pub version: i64,
}

impl Store {
    /// The journal `id` on the coordinator, or the newest one (unfinished, when `unfinished`).
    pub async fn find(
        ctx: &Ctx,
        id: Option<String>,
        unfinished: bool,
    ) -> Result<(Store, Journal), UpgradeError> {
        let client = lease::coordinator(ctx)?;
        let id = match id {
            Some(id) => id,
            None => client
                .upgrade_list()
                .await?
                .iter()
                .filter_map(|r| decode(&client, r).ok())
                .find(|j| !unfinished || !j.phase.is_final())
                .map(|j| j.id)
                .ok_or_else(|| {
                    UpgradeError::Usage(
                        if unfinished {
                            "no unfinished upgrade"
                        } else {
                            "no upgrade yet"
                        }
                        .into(),
                    )
                })?,
        };
        Ok(Store::load(client, &id).await?)
    }

    pub async fn create(client: AgentClient, journal: &Journal) -> Result<Store, ApiError> {
        let mut store = Store { client, version: 0 };
        store.save(journal).await?;
        Ok(store)
    }

    pub async fn load(client: AgentClient, id: &str) -> Result<(Store, Journal), ApiError> {
        let record = client.upgrade_get(id).await?;
        let journal = decode(&client, &record)?;
        let version = record.version;
        Ok((Store { client, version }, journal))
    }

    /// Writes the journal; refused (409) when someone else wrote it since we read it.
    pub async fn save(&mut self, journal: &Journal) -> Result<(), ApiError> {
        let request = PutUpgradeRequest {
            expected_version: Some(self.version),
            doc: serde_json::to_value(journal).expect("the journal serializes"),
        };
        let record = self.client.upgrade_put(&journal.id, &request).await?;
        self.version = record.version;
        Ok(())
    }

    /// Writes the journal again after a write whose answer was lost (the agent went away
    /// mid-request): if that write had landed — the stored journal is this one, one version on —
    /// it is adopted instead of being refused as someone else's.
    pub async fn save_again(&mut self, journal: &Journal) -> Result<(), ApiError> {
        match self.save(journal).await {
            Err(err) if err.is(ErrorCode::Conflict) => {
                let record = self.client.upgrade_get(&journal.id).await?;
                if record.version == self.version + 1
                    && decode(&self.client, &record).is_ok_and(|stored| &stored == journal)
                {
                    self.version = record.version;
                    Ok(())
                } else {
                    Err(err)
                }
            }
            other => other,
        }
    }
}

/// The journal inside a stored record.
pub fn decode(client: &AgentClient, record: &UpgradeRecord) -> Result<Journal, ApiError> {
    serde_json::from_value(record.doc.clone()).map_err(|err| ApiError::Protocol {
        agent: client.name().to_string(),
        detail: format!("upgrade {} is not a bbctl journal: {err}", record.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::upgrade::{Phase, Step, StepKind};

    fn journal(steps: Vec<StepKind>) -> Journal {
        let mut value = serde_json::json!({
            "id": "up-1", "requested_by": "me@host", "reason": "test", "strategy": "blue_green",
            "config_label": "v2", "config_sha256": "abc", "config_files": [],
            "options": {"deadline_secs": null, "force_after_deadline": false, "min_serving": 1,
                "batch": 1},
            "old": ["m1"], "new": ["m2"], "batches": [], "previous_sha256": {}, "steps": [],
            "phase": "running", "started_at": 1.0, "finished_at": null, "message": null,
        });
        value["steps"] =
            serde_json::to_value(steps.into_iter().map(Step::pending).collect::<Vec<_>>()).unwrap();
        serde_json::from_value(value).unwrap()
    }

    /// An agent whose journal write landed but whose answer was lost: every PUT is refused
    /// (409, the version moved on) and GET returns `stored`.
    async fn agent_holding(stored: UpgradeRecord) -> AgentClient {
        use axum::routing::get;
        let record = std::sync::Arc::new(stored);
        let app = axum::Router::new().route(
            "/v1/upgrades/{id}",
            get({
                let record = record.clone();
                move || async move { axum::Json((*record).clone()) }
            })
            .put(|| async {
                let body = bbctl_api::ErrorEnvelope {
                    error: bbctl_api::ErrorBody {
                        code: bbctl_api::ErrorCode::Conflict,
                        message: "journal version mismatch".into(),
                        details: None,
                    },
                };
                (axum::http::StatusCode::CONFLICT, axum::Json(body))
            }),
        );
        crate::client::test_agent(app).await
    }

    fn record(version: i64, j: &Journal) -> UpgradeRecord {
        UpgradeRecord {
            id: j.id.clone(),
            version,
            created_at: 1.0,
            updated_at: 2.0,
            doc: serde_json::to_value(j).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_write_that_landed_before_its_answer_was_lost_is_adopted() {
        let j = journal(vec![StepKind::Verify]);
        let client = agent_holding(record(8, &j)).await;
        let mut store = Store { client, version: 7 };
        store.save_again(&j).await.unwrap();
        assert_eq!(store.version, 8);
    }

    #[tokio::test]
    async fn someone_elses_write_is_still_refused() {
        let j = journal(vec![StepKind::Verify]);
        let mut theirs = j.clone();
        theirs.phase = Phase::RolledBack;
        for (version, stored) in [(8, &theirs), (9, &j)] {
            let client = agent_holding(record(version, stored)).await;
            let mut store = Store { client, version: 7 };
            let err = store.save_again(&j).await.unwrap_err();
            assert!(err.is(ErrorCode::Conflict), "{err}");
            assert_eq!(store.version, 7);
        }
    }
}
