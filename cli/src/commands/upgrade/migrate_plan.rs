//! What the plan says about a DB schema change: the heads (`schema {from, to}`) as far as the
//! agents know them, and — for `migrate` — the expected no-service window. Before staging
//! (`--dry-run`, the plan shown for confirmation) the new Buildbot's head is known only when some
//! agent already reports it (a slot that runs that Buildbot); otherwise the plan says so and the
//! choice is made after staging. Pure data, unit-tested.

use super::buildbot::{self, SchemaChange};
use super::plan::SlotFacts;
use crate::report::upgrade::{self, Plan, StrategyName, WindowEstimate};

/// The schema heads before staging: the running masters' head, and the new Buildbot's when a
/// slot reports it. `None` when the running masters' head is unknown.
pub fn guess(slots: &[SlotFacts], new_buildbot: Option<&str>) -> Option<upgrade::SchemaChange> {
    let from = slots
        .iter()
        .filter(|s| s.running)
        .find_map(|s| s.db_head.clone())?;
    let to = match new_buildbot {
        None => Some(from.clone()),
        Some(exe) => slots
            .iter()
            .filter(|s| s.buildbot.as_deref() == Some(exe))
            .find_map(|s| s.db_head.clone()),
    };
    Some(upgrade::SchemaChange { from, to })
}

/// The classification of a guess; `None` while the new head is unknown (staging tells).
pub fn classify_guess(guess: Option<&upgrade::SchemaChange>) -> Option<SchemaChange> {
    Some(match guess {
        Some(upgrade::SchemaChange { from, to: Some(to) }) => {
            let old = [buildbot::SchemaFacts {
                name: "the running masters",
                version: None,
                db_head: Some(from),
            }];
            let new = [buildbot::SchemaFacts {
                name: "the new masters",
                version: None,
                db_head: Some(to),
            }];
            buildbot::classify(&old, &new)
        }
        Some(upgrade::SchemaChange { to: None, .. }) => return None,
        None => SchemaChange::Same,
    })
}

/// Adds the schema and, for `migrate`, the window estimate to `plan`.
pub fn annotate(plan: &mut Plan, slots: &[SlotFacts], schema: Option<upgrade::SchemaChange>) {
    let changes = schema
        .as_ref()
        .is_some_and(|s| s.to.as_deref() != Some(s.from.as_str()));
    if plan.strategy == StrategyName::Migrate || changes {
        plan.schema = schema;
    }
    if plan.strategy == StrategyName::Migrate {
        let longest = slots
            .iter()
            .filter(|s| plan.old.contains(&s.name))
            .map(|s| s.longest_build_secs)
            .fold(0.0, f64::max);
        plan.window_estimate = Some(WindowEstimate::new(longest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str, running: bool, exe: &str, head: &str, build: f64) -> SlotFacts {
        SlotFacts {
            name: name.into(),
            standby: !running,
            running,
            config_sha256: None,
            buildbot: Some(exe.into()),
            db_head: Some(head.into()),
            longest_build_secs: build,
        }
    }

    #[test]
    fn the_new_head_is_known_before_staging_only_when_an_agent_reports_it() {
        let slots = [
            slot("m1", true, "/old/bin/buildbot", "066", 40.0),
            slot("m2", false, "/new/bin/buildbot", "067", 0.0),
        ];
        let known = guess(&slots, Some("/new/bin/buildbot")).unwrap();
        assert_eq!(known.to.as_deref(), Some("067"));
        assert!(matches!(
            classify_guess(Some(&known)),
            Some(SchemaChange::Forward { .. })
        ));
        let unknown = guess(&slots, Some("/elsewhere/bin/buildbot")).unwrap();
        assert_eq!(unknown.to, None);
        assert_eq!(classify_guess(Some(&unknown)), None);
        let mut plan = crate::commands::upgrade::plan::plan(
            &slots,
            None,
            1,
            1,
            crate::commands::upgrade::plan::Target::default(),
        );
        annotate(&mut plan, &slots, Some(unknown));
        assert!(
            crate::output::upgrade::schema_line(&plan)
                .unwrap()
                .contains("unknown"),
            "{plan:?}"
        );
    }

    #[test]
    fn a_migrate_plan_estimates_the_window_from_the_longest_build() {
        let slots = [
            slot("m1", true, "/old/bin/buildbot", "066", 40.0),
            slot("m2", true, "/old/bin/buildbot", "066", 100.0),
        ];
        let mut plan = crate::commands::upgrade::plan::plan(
            &slots,
            Some(crate::cli::Strategy::Migrate),
            1,
            1,
            crate::commands::upgrade::plan::Target::default(),
        );
        let schema = upgrade::SchemaChange {
            from: "066".into(),
            to: Some("067".into()),
        };
        annotate(&mut plan, &slots, Some(schema));
        let window = plan.window_estimate.clone().unwrap();
        assert_eq!(window.longest_build_secs, 100.0);
        assert_eq!(window.at_least_secs, 113.0);
        assert_eq!(
            crate::output::upgrade::schema_line(&plan).unwrap(),
            "migrate (chosen: DB schema 066 -> 067)"
        );
    }
}
