//! The upgrade journal: what `bbctl upgrade` records on the coordinator agent
//! (`PUT /v1/upgrades/{id}`) before and after every step, so that any operator machine can show
//! it and `upgrade resume` can finish the job after the CLI died. Writes use the agent's
//! optimistic version: a second CLI acting on the same upgrade is refused instead of racing.

use std::collections::BTreeMap;

use bbctl_api::{ConfigFile, DrainStatus, PutUpgradeRequest, UpgradeRecord};
use serde::{Deserialize, Serialize};

use crate::client::{AgentClient, ApiError};
use crate::time::now_secs as now;

/// The journal document (JSON; field names are a contract: `upgrade status -o json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub id: String,
    pub requested_by: String,
    pub reason: String,
    pub strategy: StrategyName,
    pub config_label: String,
    pub config_sha256: String,
    /// The bundle itself, so that a resume on another machine needs no local file.
    pub config_files: Vec<ConfigFile>,
    /// The Buildbot executable the new masters run (as their agents resolved `--buildbot`, or
    /// the old masters' one); `None`: each agent's `master.buildbot` (and journals from before
    /// `--buildbot` existed).
    #[serde(default)]
    pub buildbot: Option<String>,
    pub options: Options,
    /// Masters running the old configuration when the upgrade started.
    pub old: Vec<String>,
    /// Slots that run the new configuration at the end.
    pub new: Vec<String>,
    /// Rolling: the batches of `old`, in order.
    pub batches: Vec<Vec<String>>,
    /// The configuration each slot had before (for rollback).
    pub previous_sha256: BTreeMap<String, String>,
    /// Each slot's Buildbot executable before the upgrade, so a rollback restores the code too
    /// (a code-only upgrade keeps the configuration's sha256).
    #[serde(default)]
    pub previous_buildbot: BTreeMap<String, String>,
    pub steps: Vec<Step>,
    pub phase: Phase,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub message: Option<String>,
    /// The last drain status of every drained master.
    #[serde(default)]
    pub drains: BTreeMap<String, DrainStatus>,
    /// Verification findings (empty when everything checked out).
    #[serde(default)]
    pub findings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    BlueGreen,
    Rolling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub deadline_secs: Option<f64>,
    pub force_after_deadline: bool,
    pub min_serving: usize,
    pub batch: usize,
    /// `--wait-schedulers`: verify waits (bounded) for Buildbot's poll to move the schedulers.
    #[serde(default)]
    pub wait_schedulers: bool,
    /// `--pause-timeout`: how long to wait for an agent that stopped answering mid-upgrade.
    #[serde(default = "default_pause_secs")]
    pub pause_secs: f64,
}

fn default_pause_secs() -> f64 {
    super::pause::DEFAULT_PAUSE_SECS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Running,
    Succeeded,
    Failed,
    RolledBack,
    Aborted,
    DeadlinePassed,
}

impl Phase {
    /// Whether nothing more will happen without a new command.
    pub fn is_final(self) -> bool {
        !matches!(self, Phase::Running | Phase::Failed | Phase::DeadlinePassed)
    }
}

/// One step of the upgrade; every step is idempotent (it looks before it acts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum StepKind {
    /// Stage, checkconfig, capacity and schema checks, lease (done before the journal exists).
    Preflight,
    /// Activate the new configuration on a slot, start its master and gate on its health.
    StartNew { master: String },
    /// Start the drains of these masters (all at once: the load balancer first for all).
    Drain { masters: Vec<String> },
    /// Follow the drains until every master drained.
    WaitDrained { masters: Vec<String> },
    /// Old masters stopped, workers on new masters, no request claimed by a stopped master.
    Verify,
}

impl StepKind {
    pub fn label(&self) -> String {
        match self {
            StepKind::Preflight => "preflight".into(),
            StepKind::StartNew { master } => format!("start-new {master}"),
            StepKind::Drain { masters } => format!("drain {}", masters.join(",")),
            StepKind::WaitDrained { masters } => format!("wait-drained {}", masters.join(",")),
            StepKind::Verify => "verify".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    #[serde(flatten)]
    pub kind: StepKind,
    pub state: StepState,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub message: Option<String>,
}

impl Step {
    pub fn pending(kind: StepKind) -> Step {
        Step {
            kind,
            state: StepState::Pending,
            started_at: None,
            finished_at: None,
            message: None,
        }
    }
}

impl Journal {
    /// The index of the first step not done, if any.
    pub fn next_step(&self) -> Option<usize> {
        self.steps.iter().position(|s| s.state != StepState::Done)
    }

    pub fn mark(&mut self, i: usize, state: StepState, message: Option<String>) {
        let step = &mut self.steps[i];
        match state {
            StepState::Running => step.started_at = Some(now()),
            StepState::Done | StepState::Failed => step.finished_at = Some(now()),
            StepState::Pending => {}
        }
        step.state = state;
        if message.is_some() {
            step.message = message;
        }
    }

    /// Ends the upgrade in `phase`.
    pub fn finish(&mut self, phase: Phase, message: Option<String>) {
        self.phase = phase;
        self.finished_at = Some(now());
        self.message = message;
    }
}

/// Where the journal lives: the coordinator agent, with the version last read or written.
pub struct Store {
    pub client: AgentClient,
    pub version: i64,
}

impl Store {
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
}

impl Store {
    /// Writes the journal again after a write whose answer was lost (the agent went away
    /// mid-request): if that write had landed — the stored journal is this one, one version on —
    /// it is adopted instead of being refused as someone else's.
    pub async fn save_again(&mut self, journal: &Journal) -> Result<(), ApiError> {
        match self.save(journal).await {
            Err(err @ ApiError::Agent { status: 409, .. }) => {
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

    fn journal(steps: Vec<StepKind>) -> Journal {
        Journal {
            id: "up-1".into(),
            requested_by: "me@host".into(),
            reason: "test".into(),
            strategy: StrategyName::BlueGreen,
            config_label: "v2".into(),
            config_sha256: "abc".into(),
            config_files: vec![],
            buildbot: Some("/venv/bin/buildbot".into()),
            options: Options {
                deadline_secs: None,
                force_after_deadline: false,
                min_serving: 1,
                batch: 1,
                wait_schedulers: false,
                pause_secs: 60.0,
            },
            old: vec!["m1".into()],
            new: vec!["m2".into()],
            batches: vec![],
            previous_sha256: BTreeMap::new(),
            previous_buildbot: BTreeMap::new(),
            steps: steps.into_iter().map(Step::pending).collect(),
            phase: Phase::Running,
            started_at: 1.0,
            finished_at: None,
            message: None,
            drains: BTreeMap::new(),
            findings: vec![],
        }
    }

    #[test]
    fn resume_starts_at_the_first_step_not_done_even_if_it_was_running() {
        let mut j = journal(vec![
            StepKind::Preflight,
            StepKind::StartNew {
                master: "m2".into(),
            },
            StepKind::Verify,
        ]);
        j.mark(0, StepState::Done, None);
        j.mark(1, StepState::Running, None);
        assert_eq!(j.next_step(), Some(1), "a step killed mid-run is run again");
        j.mark(1, StepState::Done, Some("ok".into()));
        j.mark(2, StepState::Done, None);
        assert_eq!(j.next_step(), None);
    }

    #[test]
    fn journal_round_trips_through_json_with_tagged_steps() {
        let j = journal(vec![StepKind::Drain {
            masters: vec!["m1".into()],
        }]);
        let value = serde_json::to_value(&j).unwrap();
        assert_eq!(value["steps"][0]["step"], "drain");
        assert_eq!(value["steps"][0]["state"], "pending");
        assert_eq!(value["strategy"], "blue_green");
        let back: Journal = serde_json::from_value(value).unwrap();
        assert_eq!(back, j);
        assert!(!Phase::Running.is_final() && Phase::RolledBack.is_final());
    }

    #[test]
    fn a_journal_from_before_buildbot_reads_as_the_agents_default() {
        let mut value = serde_json::to_value(journal(vec![])).unwrap();
        value.as_object_mut().unwrap().remove("buildbot");
        let back: Journal = serde_json::from_value(value).unwrap();
        assert_eq!(back.buildbot, None);
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        AgentClient::new(
            reqwest::Client::new(),
            "m1".into(),
            url.parse().unwrap(),
            crate::secret::Secret::new("t"),
            std::time::Duration::from_secs(5),
        )
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
            assert!(matches!(err, ApiError::Agent { status: 409, .. }), "{err}");
            assert_eq!(store.version, 7);
        }
    }
}
