//! Step 1, the plan: from what every slot runs now, which masters are old, which slots run the
//! new configuration, in which batches, and whether that can keep `--min-serving` masters
//! serving. Pure data in, data out, so it is unit-tested without agents.

use serde::Serialize;

use super::journal::{StepKind, StrategyName};
use crate::cli::Strategy;

/// What the plan needs to know about one slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotFacts {
    pub name: String,
    /// Marked standby in the inventory.
    pub standby: bool,
    /// Its master process runs.
    pub running: bool,
    pub config_sha256: Option<String>,
    /// The Buildbot executable it runs (or would run at its next start), when the agent says.
    pub buildbot: Option<String>,
}

/// The plan (`upgrade --dry-run -o json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub strategy: StrategyName,
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub batches: Vec<Vec<String>>,
    /// The fewest masters accepting builds at any moment of the upgrade.
    pub min_serving_during: usize,
    /// The Buildbot the new masters run (`--buildbot`, else the old masters'); `None` when the
    /// agents do not say (each uses its `master.buildbot`).
    pub buildbot: Option<String>,
    /// Why the plan cannot run (empty when feasible).
    pub problems: Vec<String>,
}

impl Plan {
    pub fn feasible(&self) -> bool {
        self.problems.is_empty()
    }

    /// The steps after the pre-flight.
    pub fn steps(&self) -> Vec<StepKind> {
        let mut steps = vec![StepKind::Preflight];
        match self.strategy {
            StrategyName::BlueGreen => {
                steps.extend(
                    self.new
                        .iter()
                        .map(|m| StepKind::StartNew { master: m.clone() }),
                );
                steps.push(StepKind::Drain {
                    masters: self.old.clone(),
                });
                steps.push(StepKind::WaitDrained {
                    masters: self.old.clone(),
                });
            }
            StrategyName::Rolling => {
                for batch in &self.batches {
                    steps.push(StepKind::Drain {
                        masters: batch.clone(),
                    });
                    steps.push(StepKind::WaitDrained {
                        masters: batch.clone(),
                    });
                    steps.extend(
                        batch
                            .iter()
                            .map(|m| StepKind::StartNew { master: m.clone() }),
                    );
                }
            }
        }
        steps.push(StepKind::Verify);
        steps
    }
}

/// What the new masters run: the configuration (its sha256 is unknown before staging:
/// `--dry-run` stages nothing) and the Buildbot executable.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    pub sha256: Option<&'a str>,
    pub buildbot: Option<&'a str>,
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
        && slots.iter().filter(|s| s.running).all(|s| {
            super::code::runs(
                (s.config_sha256.as_deref(), s.buildbot.as_deref()),
                (new_sha256, target.buildbot),
            )
        })
    {
        problems.push("every running master already runs the new configuration".into());
    }
    let strategy = match strategy {
        Some(Strategy::BlueGreen) => StrategyName::BlueGreen,
        Some(Strategy::Rolling) => StrategyName::Rolling,
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
    };
    if !old.is_empty() && min_serving_during < min_serving {
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
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(running: usize, idle: usize) -> Vec<SlotFacts> {
        (1..=running + idle)
            .map(|i| SlotFacts {
                name: format!("master-{i}"),
                standby: i > running,
                running: i <= running,
                config_sha256: (i <= running).then(|| "old".to_string()),
                buildbot: Some("/a/bin/buildbot".into()),
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
    fn new_code_with_the_same_configuration_is_an_upgrade_too() {
        let code_only = Target {
            sha256: Some("old"),
            buildbot: Some("/b/bin/buildbot"),
        };
        let p = plan(&slots(2, 2), None, 1, 1, code_only);
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
        let labels: Vec<String> = p.steps().iter().map(StepKind::label).collect();
        assert_eq!(
            labels,
            [
                "preflight",
                "start-new master-4",
                "start-new master-5",
                "start-new master-6",
                "drain master-1,master-2,master-3",
                "wait-drained master-1,master-2,master-3",
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
        assert_eq!(p.steps()[1..4].len(), 3);
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
