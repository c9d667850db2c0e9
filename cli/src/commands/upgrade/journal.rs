//! Where the upgrade journal is kept: in the fleet store, reached through any agent
//! ([`Coordinator`]; `PUT /v1/upgrades/{id}`), appended before and after every step, so that any
//! operator machine can show it and `upgrade resume` can finish the job after the CLI — or the
//! coordinator's host — died. Every append names the lease holder and epoch; the store writes it
//! only while they are the lease's (else 409 `stale_epoch`: another run took over). Appends also
//! carry the optimistic version: a second writer is refused instead of racing. The document
//! itself ([`Journal`]) is in `report/upgrade.rs`: `upgrade status -o json` prints it.

use bbctl_api::{ErrorCode, PutUpgradeRequest, UpgradeRecord};

use super::coordinator::Coordinator;
use super::error::UpgradeError;
use super::lease::Held;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::report::upgrade::Journal;

/// Where the journal lives, the version last read or written, and the lease its appends are
/// made under (none until this run takes it).
pub struct Store {
    pub coord: Coordinator,
    pub version: i64,
    pub held: Option<Held>,
}

impl Store {
    /// The journal `id`, or the newest one (unfinished, when `unfinished`).
    pub async fn find(
        ctx: &Ctx,
        id: Option<String>,
        unfinished: bool,
    ) -> Result<(Store, Journal), UpgradeError> {
        let coord = Coordinator::locate(ctx).await?;
        let id = match id {
            Some(id) => id,
            None => list(&coord)
                .await?
                .into_iter()
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
        Ok(Store::load(coord, &id).await?)
    }

    /// Writes the first entry of `journal` under the lease `held`.
    pub async fn create(
        coord: Coordinator,
        held: Held,
        journal: &Journal,
    ) -> Result<Store, ApiError> {
        let mut store = Store {
            coord,
            version: 0,
            held: Some(held),
        };
        store.save(journal).await?;
        Ok(store)
    }

    pub async fn load(coord: Coordinator, id: &str) -> Result<(Store, Journal), ApiError> {
        let record = coord
            .call(|a| async move { a.upgrade_get(id).await })
            .await?;
        let journal = decode(coord.current(), &record)?;
        let version = record.version;
        let store = Store {
            coord,
            version,
            held: None,
        };
        Ok((store, journal))
    }

    /// Appends the journal; refused (409) when someone else wrote it since we read it
    /// (`conflict`) or took the lease over (`stale_epoch`). Through the next agent when one
    /// does not answer or cannot reach the store.
    pub async fn save(&mut self, journal: &Journal) -> Result<(), ApiError> {
        let request = PutUpgradeRequest {
            expected_version: Some(self.version),
            holder: self
                .held
                .as_ref()
                .map_or(String::new(), |h| h.holder.clone()),
            epoch: self.held.as_ref().map_or(0, |h| h.epoch),
            doc: serde_json::to_value(journal).expect("the journal serializes"),
        };
        let record = self
            .coord
            .call(|a| {
                let request = &request;
                async move { a.upgrade_put(&journal.id, request).await }
            })
            .await?;
        self.version = record.version;
        Ok(())
    }

    /// Writes the journal again after a write whose answer was lost (the agent went away
    /// mid-request): if that write had landed — the stored journal is this one, one version on —
    /// it is adopted instead of being refused as someone else's.
    pub async fn save_again(&mut self, journal: &Journal) -> Result<(), ApiError> {
        match self.save(journal).await {
            Err(err) if err.is(ErrorCode::Conflict) => {
                let id = journal.id.as_str();
                let record = self
                    .coord
                    .call(|a| async move { a.upgrade_get(id).await })
                    .await?;
                if record.version == self.version + 1
                    && decode(self.coord.current(), &record).is_ok_and(|stored| &stored == journal)
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

/// Every journal the store keeps, newest first (records that are not bbctl journals skipped).
pub async fn list(coord: &Coordinator) -> Result<Vec<Journal>, ApiError> {
    let records = coord
        .call(|a| async move { a.upgrade_list().await })
        .await?;
    let client = coord.current();
    Ok(records
        .iter()
        .filter_map(|r| decode(client, r).ok())
        .collect())
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
            holder: String::new(),
            epoch: 1,
            doc: serde_json::to_value(j).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_write_that_landed_before_its_answer_was_lost_is_adopted() {
        let j = journal(vec![StepKind::Verify]);
        let client = agent_holding(record(8, &j)).await;
        let mut store = Store {
            coord: Coordinator::single(client),
            version: 7,
            held: None,
        };
        store.save_again(&j).await.unwrap();
        assert_eq!(store.version, 8);
    }

    /// The first agent does not answer, the second cannot reach the store (503): the append is
    /// made through the third, under this run's holder and epoch, and that agent stays current.
    #[tokio::test]
    async fn an_append_goes_through_the_next_agent() {
        use axum::routing::put;
        let j = journal(vec![StepKind::Verify]);
        let gone = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", l.local_addr().unwrap());
            drop(l);
            AgentClient::new(
                reqwest::Client::new(),
                "m0".into(),
                url.parse().unwrap(),
                crate::secret::Secret::new("t"),
                std::time::Duration::from_secs(2),
            )
        };
        let down = axum::Router::new().route(
            "/v1/upgrades/{id}",
            put(|| async {
                let body = serde_json::json!({"error": {"code": "store_unavailable",
                    "message": "the fleet store is unavailable"}});
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(body),
                )
            }),
        );
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let up = axum::Router::new().route(
            "/v1/upgrades/{id}",
            put({
                let seen = seen.clone();
                move |axum::Json(req): axum::Json<PutUpgradeRequest>| async move {
                    let answer = UpgradeRecord {
                        id: "up-1".into(),
                        version: req.expected_version.unwrap_or(0) + 1,
                        created_at: 1.0,
                        updated_at: 2.0,
                        holder: req.holder.clone(),
                        epoch: req.epoch,
                        doc: req.doc.clone(),
                    };
                    *seen.lock().unwrap() = Some((req.holder, req.epoch));
                    axum::Json(answer)
                }
            }),
        );
        let up = crate::client::test_agent(up).await;
        let third = AgentClient::new(
            reqwest::Client::new(),
            "m2".into(),
            up.url().clone(),
            crate::secret::Secret::new("t"),
            std::time::Duration::from_secs(2),
        );
        let coord = Coordinator::of(vec![gone, crate::client::test_agent(down).await, third]);
        let held = Held {
            fleet: "prod".into(),
            operation: "up-1".into(),
            holder: "up-1/a@h/42-0001".into(),
            epoch: 4,
            reason: "r".into(),
            kind: bbctl_api::LeaseKind::Upgrade,
        };
        let mut store = Store::create(coord, held, &j).await.unwrap();
        assert_eq!(store.version, 1);
        assert_eq!(store.coord.current().name(), "m2");
        assert_eq!(
            *seen.lock().unwrap(),
            Some(("up-1/a@h/42-0001".to_string(), 4))
        );
        store.save(&j).await.unwrap();
        assert_eq!(store.version, 2);
    }

    #[tokio::test]
    async fn someone_elses_write_is_still_refused() {
        let j = journal(vec![StepKind::Verify]);
        let mut theirs = j.clone();
        theirs.phase = Phase::RolledBack;
        for (version, stored) in [(8, &theirs), (9, &j)] {
            let client = agent_holding(record(version, stored)).await;
            let mut store = Store {
                coord: Coordinator::single(client),
                version: 7,
                held: None,
            };
            let err = store.save_again(&j).await.unwrap_err();
            assert!(err.is(ErrorCode::Conflict), "{err}");
            assert_eq!(store.version, 7);
        }
    }
}
