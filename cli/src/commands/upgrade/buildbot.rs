//! Which Buildbot the new masters run, and how its DB schema compares with the running masters'
//! ([`classify`]: same, forward, downgrade, unknown): `--buildbot`, else what the old masters
//! run. A forward change is the `migrate` strategy's (a blue/green switch across a DB migration
//! starts masters on a database they refuse); a downgrade, or a change bbctl cannot classify,
//! is refused with the way out named ([`strategy_for`]). A master's Buildbot is named by its
//! executable's path (`MasterInfo::buildbot_executable` on the wire).

use super::error::UpgradeError;
use crate::cli::Strategy;

/// The Buildbot the new masters run: `--buildbot`, else the one every running (old) master
/// runs — not whatever a standby slot last ran. `None`: the agents do not say (each then uses
/// its `master.buildbot`). Refused when the running masters disagree.
pub fn for_new_masters(
    requested: Option<&str>,
    old: &[(&str, Option<&str>)],
) -> Result<Option<String>, UpgradeError> {
    if let Some(buildbot) = requested {
        return Ok(Some(buildbot.to_string()));
    }
    let mut known: Vec<&str> = old.iter().filter_map(|(_, buildbot)| *buildbot).collect();
    known.sort_unstable();
    known.dedup();
    match known.as_slice() {
        [] => Ok(None),
        [one] if old.iter().all(|(_, buildbot)| buildbot.is_some()) => Ok(Some((*one).to_string())),
        _ => Err(UpgradeError::refused(
            "refusing to upgrade: the running masters do not run the same Buildbot; name the one \
             the new masters should run with --buildbot",
            old.iter()
                .map(|(name, buildbot)| format!("{name}: {}", buildbot.unwrap_or("unknown")))
                .collect(),
        )),
    }
}

/// `major.minor` of a Buildbot version (`4.3.0` → `4.3`).
pub fn major_minor(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    Some(format!("{}.{}", parts.next()?, parts.next()?))
}

/// The Buildbot a master runs, or will run, as far as the schema check needs it.
#[derive(Debug, Clone, Copy)]
pub struct SchemaFacts<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
    /// The DB schema head (alembic revision) of its install, when known.
    pub db_head: Option<&'a str>,
}

/// How the new masters' DB schema compares with the fleet's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// The same head (or, heads unknown, the same Buildbot major.minor).
    Same,
    /// A newer head: the database must be migrated (`--strategy migrate`).
    Forward { from: String, to: String },
    /// An older head: the new code cannot run on this database.
    Downgrade { from: String, to: String },
    /// Cannot be told safely (heads unknown and major.minor differ, masters disagree, …): each
    /// line says why. Refused rather than guessed.
    Unknown(Vec<String>),
}

/// Classifies the change from the running masters' schema (`old`) to the new masters'
/// (`new`). Compares the schema heads when both are known (Buildbot numbers them `066`,
/// `067`, …), else the major.minor versions (4.3 adds a DB migration to 4.0–4.2).
pub fn classify(old: &[SchemaFacts<'_>], new: &[SchemaFacts<'_>]) -> SchemaChange {
    let mut problems = Vec::new();
    let old_heads: Vec<&str> = old.iter().filter_map(|c| c.db_head).collect();
    let head = old_heads.first().copied();
    if old_heads.iter().any(|h| Some(*h) != head) {
        problems.push(format!(
            "the running masters do not all have DB schema {}: {old:?}",
            head.unwrap_or("?")
        ));
    }
    let old_versions: Vec<String> = old
        .iter()
        .filter_map(|c| c.version.and_then(major_minor))
        .collect();
    let running = old_versions.first();
    if let Some(running) = running
        && old_versions.iter().any(|v| v != running)
    {
        problems.push(format!(
            "the running masters do not all run Buildbot {running}.x: {old:?}"
        ));
    }
    let mut changes = Vec::new();
    for facts in new {
        if let (Some(to), Some(from)) = (facts.db_head, head) {
            match order(from, to) {
                Some(std::cmp::Ordering::Equal) => {}
                Some(std::cmp::Ordering::Less) => changes.push(SchemaChange::Forward {
                    from: from.into(),
                    to: to.into(),
                }),
                Some(std::cmp::Ordering::Greater) => changes.push(SchemaChange::Downgrade {
                    from: from.into(),
                    to: to.into(),
                }),
                None => problems.push(format!(
                    "{} would run DB schema {to} and the fleet's is {from}: bbctl cannot tell \
                     which is newer",
                    facts.name
                )),
            }
            continue;
        }
        if let (Some(v), Some(running)) = (facts.version.and_then(major_minor), running)
            && &v != running
        {
            problems.push(format!(
                "{} would run Buildbot {v}.x while the fleet runs {running}.x, and the DB schema \
                 heads are not known on both sides: a change of major.minor may change the DB \
                 schema, so bbctl cannot choose between blue-green and migrate",
                facts.name
            ));
        }
    }
    changes.dedup();
    if !problems.is_empty() {
        return SchemaChange::Unknown(problems);
    }
    match changes.as_slice() {
        [] => SchemaChange::Same,
        [one] => one.clone(),
        _ => SchemaChange::Unknown(vec![format!(
            "the new masters would not all run the same DB schema: {changes:?}"
        )]),
    }
}

/// Orders two schema heads: numerically when both are numbers (`066` < `067`), else only
/// equality is known.
fn order(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    if a == b {
        return Some(std::cmp::Ordering::Equal);
    }
    Some(a.parse::<u32>().ok()?.cmp(&b.parse::<u32>().ok()?))
}

/// The strategy the upgrade runs across `change`: `requested` unless the schema decides, or a
/// refusal (exit 5) naming the way out. `restore_hint` names a journal whose backup holds the
/// older schema, for a downgrade.
pub fn strategy_for(
    change: &SchemaChange,
    requested: Option<Strategy>,
    restore_hint: Option<&str>,
) -> Result<Option<Strategy>, UpgradeError> {
    match (change, requested) {
        (SchemaChange::Same, Some(Strategy::Migrate)) => Err(UpgradeError::refused(
            "refusing to upgrade: --strategy migrate, but the DB schema does not change; use \
             blue-green or rolling",
            vec![],
        )),
        (SchemaChange::Same, requested) => Ok(requested),
        (SchemaChange::Forward { .. }, None | Some(Strategy::Migrate)) => {
            Ok(Some(Strategy::Migrate))
        }
        (SchemaChange::Forward { from, to }, Some(_)) => Err(UpgradeError::refused(
            format!(
                "refusing to upgrade: the new Buildbot migrates the DB schema {from} -> {to}, and \
                 a blue-green or rolling switch would start new masters on a database they \
                 refuse; use --strategy migrate"
            ),
            vec![],
        )),
        (SchemaChange::Downgrade { from, to }, _) => Err(UpgradeError::refused(
            format!(
                "refusing to upgrade: the new Buildbot has DB schema {to}, older than the \
                 fleet's {from} (a downgrade); bbctl does not migrate a database backwards"
            ),
            vec![format!(
                "to go back, restore the backup taken before the upgrade to {from}: {}",
                restore_hint.map_or_else(
                    || "with `bbctl upgrade abort ID --restore-db` while that upgrade is \
                        unfinished, or by hand with pg_restore from its journal's \
                        migration.backup.location (docs/upgrade.md)"
                        .to_string(),
                    |id| format!(
                        "upgrade {id} took it (`bbctl upgrade status {id}`: \
                         migration.backup.location); restore it by hand with pg_restore as \
                         docs/upgrade.md shows"
                    )
                )
            )],
        )),
        (SchemaChange::Unknown(problems), _) => Err(UpgradeError::refused(
            "refusing to upgrade: cannot tell whether the DB schema changes",
            problems.clone(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(name: &'a str, version: &'a str, db_head: Option<&'a str>) -> SchemaFacts<'a> {
        SchemaFacts {
            name,
            version: Some(version),
            db_head,
        }
    }

    fn forward() -> SchemaChange {
        SchemaChange::Forward {
            from: "066".into(),
            to: "067".into(),
        }
    }

    #[test]
    fn heads_decide_when_both_are_known() {
        let old = [facts("m1", "4.2.1", Some("066"))];
        // 4.0–4.2 share schema 066: a minor change with the same head is no change.
        assert_eq!(
            classify(&old, &[facts("m2", "4.1.0", Some("066"))]),
            SchemaChange::Same
        );
        assert_eq!(
            classify(&old, &[facts("m2", "4.3.0", Some("067"))]),
            forward()
        );
        let newer = [facts("m1", "4.3.0", Some("067"))];
        assert_eq!(
            classify(&newer, &[facts("m2", "4.2.1", Some("066"))]),
            SchemaChange::Downgrade {
                from: "067".into(),
                to: "066".into()
            }
        );
        let odd = classify(&old, &[facts("m2", "9.0.0", Some("abc1"))]);
        assert!(matches!(odd, SchemaChange::Unknown(_)), "{odd:?}");
    }

    #[test]
    fn unknown_heads_fall_back_to_major_minor_and_refuse_rather_than_guess() {
        let old = [facts("m1", "4.2.1", None), facts("m2", "4.2.0", None)];
        assert_eq!(
            classify(&old, &[facts("m3", "4.2.5", None)]),
            SchemaChange::Same
        );
        let SchemaChange::Unknown(problems) = classify(&old, &[facts("m3", "4.3.0", None)]) else {
            panic!("a minor change with unknown heads must not be classified");
        };
        assert!(problems[0].contains("4.3.x"), "{problems:?}");
        let unknown = SchemaFacts {
            name: "m3",
            version: None,
            db_head: None,
        };
        assert_eq!(classify(&old, &[unknown]), SchemaChange::Same);
        let one_side = [facts("m1", "4.2.1", Some("066"))];
        assert!(matches!(
            classify(&one_side, &[facts("m2", "4.3.0", None)]),
            SchemaChange::Unknown(_)
        ));
    }

    #[test]
    fn the_schema_chooses_migrate_and_refuses_the_rest() {
        assert_eq!(
            strategy_for(&forward(), None, None).unwrap(),
            Some(Strategy::Migrate)
        );
        let forced = strategy_for(&forward(), Some(Strategy::BlueGreen), None).unwrap_err();
        assert_eq!(forced.exit(), crate::exit::Exit::Refused);
        assert!(
            forced.to_string().contains("use --strategy migrate"),
            "{forced}"
        );
        let down = SchemaChange::Downgrade {
            from: "067".into(),
            to: "066".into(),
        };
        let refused = strategy_for(&down, None, Some("up-1")).unwrap_err();
        assert_eq!(refused.exit(), crate::exit::Exit::Refused);
        assert!(
            refused.lines()[0].contains("restore"),
            "{:?}",
            refused.lines()
        );
        assert!(refused.lines()[0].contains("up-1"), "{:?}", refused.lines());
        assert!(strategy_for(&SchemaChange::Same, Some(Strategy::Migrate), None).is_err());
        assert_eq!(
            strategy_for(&SchemaChange::Same, Some(Strategy::Rolling), None).unwrap(),
            Some(Strategy::Rolling)
        );
    }

    #[test]
    fn the_new_masters_run_what_the_old_ones_run_unless_told_otherwise() {
        let a = "/venv-a/bin/buildbot";
        let same = [("m1", Some(a)), ("m2", Some(a))];
        assert_eq!(for_new_masters(None, &same).unwrap().as_deref(), Some(a));
        assert_eq!(
            for_new_masters(Some("/venv-b"), &same).unwrap().as_deref(),
            Some("/venv-b")
        );
        assert_eq!(for_new_masters(None, &[("m1", None)]).unwrap(), None);
        let differ = [("m1", Some(a)), ("m2", Some("/venv-b/bin/buildbot"))];
        let fail = for_new_masters(None, &differ).unwrap_err();
        assert_eq!(fail.exit(), crate::exit::Exit::Refused);
        assert!(fail.to_string().contains("--buildbot"), "{fail}");
        assert!(
            fail.lines().iter().any(|l| l.contains("m2: /venv-b")),
            "{:?}",
            fail.lines()
        );
        assert!(for_new_masters(Some("/venv-b"), &differ).is_ok());
    }
}
