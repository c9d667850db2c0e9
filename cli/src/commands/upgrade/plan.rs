//! Step 1, the plan: from what every slot runs now ([`Target`]: configuration and Buildbot),
//! which masters are old, which slots run the new configuration, in which batches, and whether
//! that can keep `--min-serving` masters serving. Pure data in, data out, so it is unit-tested
//! without agents. Which steps each strategy then runs is [`super::steps::of`].

use bbctl_api::MasterInfo;

use crate::cli::Strategy;
use crate::report::upgrade::{Plan, StrategyName};

/// What the plan needs to know about one slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotFacts {
    pub name: String,
    /// Marked standby in the inventory.
    pub standby: bool,
    /// Its master process runs.
    pub running: bool,
    pub config_sha256: Option<String>,
    /// The Buildbot it runs, or would run at its next start (its executable), when the agent says.
    pub buildbot: Option<String>,
    /// The DB schema head of that Buildbot, when the agent says.
    pub db_head: Option<String>,
    /// How long its longest unfinished build has run, seconds (0 when none).
    pub longest_build_secs: f64,
}

impl SlotFacts {
    /// What the slot runs (or would run at its next start).
    pub fn target(&self) -> Target<'_> {
        Target {
            sha256: self.config_sha256.as_deref(),
            buildbot: self.buildbot.as_deref(),
        }
    }
}

/// What a master runs, or is to run: its configuration (the new one's sha256 is unknown before
/// staging: `--dry-run` stages nothing) and its Buildbot (the executable's path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub sha256: Option<&'a str>,
    pub buildbot: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// What `info`'s master runs (or runs at its next start), as its agent says.
    pub fn of(info: &'a MasterInfo) -> Target<'a> {
        Target {
            sha256: info.config.as_ref().map(|c| c.sha256.as_str()),
            buildbot: info.buildbot_executable.as_deref(),
        }
    }

    /// Whether a master on `self` runs `want`: the same configuration and — when `want` names
    /// one — the same Buildbot. A Buildbot-only upgrade keeps the sha256, so the configuration
    /// alone does not tell; `want.buildbot` is `None` when the agents do not say.
    pub fn runs(self, want: Target<'_>) -> bool {
        self.sha256 == want.sha256 && want.buildbot.is_none_or(|b| self.buildbot == Some(b))
    }
}

/// Plans the upgrade of `slots` (inventory order) to `target`.
pub fn plan(
    slots: &[SlotFacts],
    strategy: Option<Strategy>,
    batch: usize,
    min_serving: usize,
    target: Target<'_>,
) -> Plan {
    let new_sha256 = target.sha256;
    let mut problems = Vec::new();
    let old: Vec<String> = slots
        .iter()
        .filter(|s| s.running)
        .map(|s| s.name.clone())
        .collect();
    let idle: Vec<String> = slots
        .iter()
        .filter(|s| !s.running)
        .map(|s| s.name.clone())
        .collect();
    if old.is_empty() {
        problems.push("no master is running: nothing to upgrade (use `bbctl start`)".into());
    } else if new_sha256.is_some()
        && slots
            .iter()
            .filter(|s| s.running)
            .all(|s| s.target().runs(target))
    {
        problems.push("every running master already runs the new configuration".into());
    }
    let strategy = match strategy {
        Some(Strategy::BlueGreen) => StrategyName::BlueGreen,
        Some(Strategy::Rolling) => StrategyName::Rolling,
        Some(Strategy::Migrate) => StrategyName::Migrate,
        None if idle.is_empty() => StrategyName::Rolling,
        None => StrategyName::BlueGreen,
    };
    let (new, batches, min_serving_during) = match strategy {
        StrategyName::BlueGreen => {
            if idle.is_empty() {
                problems.push(
                    "blue-green needs idle (standby) slots and every slot runs a master; use \
                     --strategy rolling"
                        .into(),
                );
            }
            let new: Vec<String> = idle.into_iter().take(old.len().max(1)).collect();
            let during = new.len().min(old.len());
            (new, Vec::new(), during)
        }
        StrategyName::Rolling => {
            let batch = batch.max(1);
            let batches: Vec<Vec<String>> = old.chunks(batch).map(<[String]>::to_vec).collect();
            let during = old.len().saturating_sub(batch);
            (old.clone(), batches, during)
        }
        // Every old master stops before the migration: nothing serves during the window, and
        // `--min-serving` does not apply. Standby slots (as blue-green) or in place.
        StrategyName::Migrate => {
            let new: Vec<String> = if idle.is_empty() {
                old.clone()
            } else {
                idle.into_iter().take(old.len().max(1)).collect()
            };
            (new, Vec::new(), 0)
        }
    };
    if strategy != StrategyName::Migrate && !old.is_empty() && min_serving_during < min_serving {
        problems.push(format!(
            "only {min_serving_during} master(s) would accept builds at some point, fewer than \
             --min-serving {min_serving}"
        ));
    }
    Plan {
        strategy,
        old,
        new,
        batches,
        min_serving_during,
        buildbot: target.buildbot.map(str::to_owned),
        schema: None,
        window_estimate: None,
        canary: None,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::upgrade::StepKind;

    fn slots(running: usize, idle: usize) -> Vec<SlotFacts> {
        (1..=running + idle)
            .map(|i| SlotFacts {
                name: format!("master-{i}"),
                standby: i > running,
                running: i <= running,
                config_sha256: (i <= running).then(|| "old".to_string()),
                buildbot: Some("/a/bin/buildbot".into()),
                db_head: Some("066".into()),
                longest_build_secs: 0.0,
            })
            .collect()
    }

    fn new() -> Target<'static> {
        at("new")
    }

    fn at(sha256: &str) -> Target<'_> {
        Target {
            sha256: Some(sha256),
            buildbot: Some("/a/bin/buildbot"),
        }
    }

    #[test]
    fn a_master_runs_a_target_only_with_its_buildbot_when_that_is_known() {
        let on = Target {
            sha256: Some("v2"),
            buildbot: Some("/b/bin/buildbot"),
        };
        let want = |sha256, buildbot| Target { sha256, buildbot };
        assert!(on.runs(want(Some("v2"), Some("/b/bin/buildbot"))));
        assert!(
            on.runs(want(Some("v2"), None)),
            "Buildbot unknown: the sha decides"
        );
        assert!(
            !on.runs(want(Some("v2"), Some("/a/bin/buildbot"))),
            "Buildbot-only change"
        );
        assert!(!on.runs(want(Some("v1"), Some("/b/bin/buildbot"))));
        assert!(Target::default().runs(Target::default()));
    }

    #[test]
    fn a_new_buildbot_with_the_same_configuration_is_an_upgrade_too() {
        let buildbot_only = Target {
            sha256: Some("old"),
            buildbot: Some("/b/bin/buildbot"),
        };
        let p = plan(&slots(2, 2), None, 1, 1, buildbot_only);
        assert!(p.feasible(), "{:?}", p.problems);
        assert_eq!(p.buildbot.as_deref(), Some("/b/bin/buildbot"));
    }

    #[test]
    fn blue_green_is_the_default_with_idle_slots_and_pairs_old_with_new() {
        let p = plan(&slots(3, 3), None, 1, 1, new());
        assert_eq!(p.strategy, StrategyName::BlueGreen);
        assert_eq!(p.old, ["master-1", "master-2", "master-3"]);
        assert_eq!(p.new, ["master-4", "master-5", "master-6"]);
        assert!(p.feasible(), "{:?}", p.problems);
        let labels: Vec<String> = super::super::steps::of(&p)
            .iter()
            .map(StepKind::label)
            .collect();
        assert_eq!(
            labels,
            [
                "preflight",
                "start_new master-4",
                "start_new master-5",
                "start_new master-6",
                "drain master-1,master-2,master-3",
                "wait_drained master-1,master-2,master-3",
                "verify"
            ]
        );
    }

    fn labels(p: &Plan) -> Vec<String> {
        super::super::steps::of(p)
            .iter()
            .map(StepKind::label)
            .collect()
    }

    #[test]
    fn migrate_on_standby_slots_stops_every_old_master_before_the_migration() {
        let p = plan(&slots(2, 2), Some(Strategy::Migrate), 1, 2, new());
        assert_eq!(p.strategy, StrategyName::Migrate);
        assert!(
            p.feasible(),
            "--min-serving does not apply: {:?}",
            p.problems
        );
        assert_eq!(p.new, ["master-3", "master-4"]);
        assert_eq!(p.min_serving_during, 0);
        assert_eq!(
            labels(&p),
            [
                "preflight",
                "quiesce master-1,master-2",
                "wait_stopped master-1,master-2",
                "backup",
                "migrate",
                "start_new master-3",
                "start_new master-4",
                "verify"
            ]
        );
    }

    #[test]
    fn migrate_without_standby_slots_runs_in_place() {
        let p = plan(&slots(2, 0), Some(Strategy::Migrate), 1, 1, new());
        assert!(p.feasible(), "{:?}", p.problems);
        assert_eq!(p.new, p.old);
        assert_eq!(
            labels(&p),
            [
                "preflight",
                "quiesce master-1,master-2",
                "wait_stopped master-1,master-2",
                "backup",
                "migrate",
                "start_new master-1",
                "start_new master-2",
                "verify"
            ]
        );
    }

    #[test]
    fn rolling_without_standby_batches_and_keeps_the_floor() {
        let p = plan(&slots(3, 0), None, 1, 2, new());
        assert_eq!(p.strategy, StrategyName::Rolling);
        assert_eq!(p.batches.len(), 3);
        assert_eq!(p.min_serving_during, 2);
        assert!(p.feasible());
        assert_eq!(super::super::steps::of(&p)[1..4].len(), 3);
        let too_big = plan(&slots(3, 0), Some(Strategy::Rolling), 2, 2, new());
        assert!(!too_big.feasible());
        assert!(
            too_big.problems[0].contains("--min-serving 2"),
            "{:?}",
            too_big.problems
        );
    }

    #[test]
    fn refuses_blue_green_without_idle_slots_and_a_done_upgrade() {
        let p = plan(&slots(2, 0), Some(Strategy::BlueGreen), 1, 1, new());
        assert!(p.problems.iter().any(|m| m.contains("--strategy rolling")));
        let done = plan(&slots(2, 1), None, 1, 1, at("old"));
        assert!(done.problems.iter().any(|m| m.contains("already runs")));
        let none = plan(&slots(0, 2), None, 1, 1, new());
        assert!(
            none.problems
                .iter()
                .any(|m| m.contains("no master is running"))
        );
    }
}
