//! The parts of the plan and the journal that only the `migrate` strategy has: the schema change
//! (`schema {from, to}`), the expected no-service window, and the journal's `migration` block —
//! the backup, when the migration was applied, when the first new master entered the rotation
//! (the point of no return), the restore, and the window as measured. Field names are a contract
//! (docs/cli.md).

use serde::{Deserialize, Serialize};

/// The DB schema change of an upgrade (alembic heads, `066` → `067`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaChange {
    /// The head of the fleet's database (the running masters' code).
    pub from: String,
    /// The new code's head; `None` in a `--dry-run` plan when no agent reports it yet (known
    /// once the new configuration is staged with the new Buildbot).
    pub to: Option<String>,
}

/// The expected no-service window of a `migrate` upgrade: no master claims builds from the
/// graceful stop of the old masters until the first new master is ready and in rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowEstimate {
    /// The longest-running build's age now: the old masters finish it before they exit, so the
    /// window lasts *at least* its remaining time (unknown: builds do not say how long they take).
    pub longest_build_secs: f64,
    /// `buildbot upgrade-master`: measured 2.1–2.9 s for 066 → 067 (mostly Python start-up).
    pub migration_secs: f64,
    /// A new master's start until ready.
    pub start_secs: f64,
    /// The load balancer's health checks marking the new master up.
    pub lb_settle_secs: f64,
    /// The sum, a lower bound.
    pub at_least_secs: f64,
}

/// Expected durations of the window's parts (see [`WindowEstimate`]).
pub const MIGRATION_ESTIMATE_SECS: f64 = 3.0;
pub const START_ESTIMATE_SECS: f64 = 5.0;
pub const LB_SETTLE_ESTIMATE_SECS: f64 = 5.0;

impl WindowEstimate {
    /// The estimate when the longest build running now has run `longest_build_secs`.
    pub fn new(longest_build_secs: f64) -> WindowEstimate {
        let longest_build_secs = longest_build_secs.max(0.0);
        WindowEstimate {
            longest_build_secs,
            migration_secs: MIGRATION_ESTIMATE_SECS,
            start_secs: START_ESTIMATE_SECS,
            lb_settle_secs: LB_SETTLE_ESTIMATE_SECS,
            at_least_secs: longest_build_secs
                + MIGRATION_ESTIMATE_SECS
                + START_ESTIMATE_SECS
                + LB_SETTLE_ESTIMATE_SECS,
        }
    }
}

/// The journal's `migration` block (`migrate` upgrades only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub from_head: String,
    pub to_head: String,
    /// The database, as the coordinator's agent names it (password hidden).
    #[serde(default)]
    pub db: Option<String>,
    /// The agent that backs up and restores (the coordinator).
    pub backup_agent: String,
    /// The agent that runs `upgrade-master` (the first new master's).
    pub migrate_agent: String,
    /// `--no-backup`: the operator chose to run without one (then no automatic restore).
    #[serde(default)]
    pub no_backup: bool,
    /// `--backup-command`: the agent's `[buildbot_db] backup_command` instead of `pg_dump`.
    #[serde(default)]
    pub backup_command: bool,
    /// `--migration-timeout`, seconds.
    pub timeout_secs: f64,
    #[serde(default)]
    pub backup: Option<BackupRecord>,
    /// When `upgrade-master` finished with the database at `to_head`.
    #[serde(default)]
    pub applied_at: Option<f64>,
    /// The migrate operation's end state (`done`, `already_applied`, `not_applied`, `failed`).
    #[serde(default)]
    pub migrate_state: Option<String>,
    /// `upgrade-master`'s output, verbatim (passwords hidden by the agent).
    #[serde(default)]
    pub migrate_output: Vec<String>,
    /// When the first new master passed its gate and was about to enter the rotation: from
    /// then on new masters may claim builds, and a restore would re-run them (the point of no
    /// return).
    #[serde(default)]
    pub committed_at: Option<f64>,
    /// When the backup was restored by a rollback.
    #[serde(default)]
    pub restored_at: Option<f64>,
    #[serde(default)]
    pub window: Window,
}

/// A backup, as the journal records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub agent: String,
    pub location: String,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    pub head: String,
    pub tool: String,
    #[serde(default)]
    pub took_secs: Option<f64>,
    #[serde(default)]
    pub at: Option<f64>,
}

/// The no-service window as measured, and the build requests it must not lose.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// When the old masters were told to stop claiming (the graceful stop).
    #[serde(default)]
    pub stopped_claiming_at: Option<f64>,
    /// When every old master process was gone.
    #[serde(default)]
    pub all_stopped_at: Option<f64>,
    /// When the first new master was ready (and put in rotation).
    #[serde(default)]
    pub first_new_ready_at: Option<f64>,
    /// Requests claimed (by the old masters) when they were told to stop: their builds end
    /// before the masters exit, or Buildbot re-queues them.
    #[serde(default)]
    pub claimed_at_quiesce: Vec<i64>,
    /// How many requests waited unclaimed then (the agents' fleet view reports a count).
    #[serde(default)]
    pub unclaimed_at_quiesce: Option<i64>,
    /// The requests waiting unclaimed in the DB when the backup step began (every old master
    /// stopped): submitted before or during the window. Verify checks each was taken. `None`:
    /// not recorded (a journal from before, or the coordinator could not read them).
    #[serde(default)]
    pub pending_at_backup: Option<Vec<i64>>,
    /// How many requests were still unclaimed (any, not only the window's) when verify ended.
    #[serde(default)]
    pub unclaimed_at_verify: Option<i64>,
}

impl Window {
    /// The measured window: from the stop of claiming to the first new master ready.
    pub fn measured_secs(&self) -> Option<f64> {
        Some(self.first_new_ready_at? - self.stopped_claiming_at?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::upgrade::{Journal, StepKind, StrategyName};

    fn migrate_journal() -> Journal {
        let mut j = super::super::tests::journal(vec![
            StepKind::Preflight,
            StepKind::Quiesce {
                masters: vec!["m1".into()],
            },
            StepKind::WaitStopped {
                masters: vec!["m1".into()],
            },
            StepKind::Backup,
            StepKind::Migrate,
            StepKind::StartNew {
                master: "m2".into(),
            },
            StepKind::Verify,
        ]);
        j.strategy = StrategyName::Migrate;
        j.migration = Some(Migration {
            from_head: "066".into(),
            to_head: "067".into(),
            db: Some("postgresql://buildbot:xxxx@127.0.0.1:5432/buildbot".into()),
            backup_agent: "m1".into(),
            migrate_agent: "m2".into(),
            timeout_secs: 1800.0,
            backup: Some(BackupRecord {
                agent: "m1".into(),
                location: "/state/db-backups/up-1-066.dump".into(),
                size_bytes: Some(106_000),
                sha256: Some("ab".repeat(32)),
                head: "066".into(),
                tool: "pg_dump 15.8".into(),
                took_secs: Some(0.2),
                at: Some(2.0),
            }),
            window: Window {
                stopped_claiming_at: Some(10.0),
                first_new_ready_at: Some(22.5),
                claimed_at_quiesce: vec![4, 5],
                ..Window::default()
            },
            ..Migration::default()
        });
        j
    }

    #[test]
    fn a_migrate_journal_round_trips_with_its_migration_block() {
        let j = migrate_journal();
        let value = serde_json::to_value(&j).unwrap();
        assert_eq!(value["strategy"], "migrate");
        assert_eq!(value["steps"][1]["step"], "quiesce");
        assert_eq!(value["steps"][1]["masters"][0], "m1");
        assert_eq!(value["steps"][3]["step"], "backup");
        assert_eq!(value["migration"]["backup"]["head"], "066");
        assert_eq!(value["migration"]["window"]["claimed_at_quiesce"][1], 5);
        let back: Journal = serde_json::from_value(value).unwrap();
        assert_eq!(back, j);
        let window = back.migration.unwrap().window;
        assert_eq!(window.measured_secs(), Some(12.5));
    }

    #[test]
    fn a_journal_from_before_migrate_loads_without_a_migration_block() {
        let mut value = serde_json::to_value(super::super::tests::journal(vec![])).unwrap();
        assert!(value.get("migration").is_none(), "not written when absent");
        value.as_object_mut().unwrap().remove("migration");
        let back: Journal = serde_json::from_value(value).unwrap();
        assert_eq!(back.migration, None);
    }

    #[test]
    fn the_window_estimate_is_the_sum_of_its_parts() {
        let w = WindowEstimate::new(40.0);
        assert_eq!(w.at_least_secs, 40.0 + 3.0 + 5.0 + 5.0);
        assert_eq!(WindowEstimate::new(-1.0).longest_build_secs, 0.0);
    }
}
