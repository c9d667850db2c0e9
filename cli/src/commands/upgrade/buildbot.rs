//! Which Buildbot the new masters run, and whether its DB schema is the running masters':
//! `--buildbot`, else what the old masters run; refused across a schema change (a blue/green
//! switch across a DB migration is unsafe) with the safe path named. A master's Buildbot is named
//! by its executable's path (`MasterInfo::buildbot_executable` on the wire).

use super::error::UpgradeError;

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

const SAFE_PATH: &str = "a blue/green switch across a schema migration is unsafe. Safe path: \
    stop every master, `buildbot upgrade-master` once, start them all with the new Buildbot";

/// Refuses when the slots that will run the new configuration run a Buildbot whose DB schema
/// differs from the running masters' (a master refuses to start against a DB schema not its own,
/// and `upgrade-master` with live masters is unsafe). Compares the schema heads when both are
/// known, else the major.minor versions (4.3 adds a DB migration to 4.0–4.2).
pub fn schema_check(old: &[SchemaFacts<'_>], new: &[SchemaFacts<'_>]) -> Vec<String> {
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
    for facts in new {
        if let (Some(new_head), Some(head)) = (facts.db_head, head) {
            if new_head != head {
                problems.push(format!(
                    "{} would run Buildbot {} with DB schema {new_head} while the fleet's is \
                     {head}: {SAFE_PATH}",
                    facts.name,
                    facts.version.unwrap_or("?"),
                ));
            }
            continue;
        }
        if let (Some(v), Some(running)) = (facts.version.and_then(major_minor), running)
            && &v != running
        {
            problems.push(format!(
                "{} would run Buildbot {v}.x while the fleet runs {running}.x: a change of \
                 major.minor may change the DB schema, and {SAFE_PATH}",
                facts.name
            ));
        }
    }
    problems
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

    #[test]
    fn schema_check_refuses_a_minor_change_and_names_the_safe_path() {
        let old = [facts("m1", "4.2.1", None), facts("m2", "4.2.0", None)];
        assert!(schema_check(&old, &[facts("m3", "4.2.5", None)]).is_empty());
        let problems = schema_check(&old, &[facts("m3", "4.3.0", None)]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("upgrade-master"), "{problems:?}");
        let unknown = SchemaFacts {
            name: "m3",
            version: None,
            db_head: None,
        };
        assert!(
            schema_check(&old, &[unknown]).is_empty(),
            "unknown is not refused"
        );
    }

    #[test]
    fn schema_heads_decide_when_both_are_known() {
        let old = [facts("m1", "4.2.1", Some("066"))];
        // 4.0–4.2 share schema 066: a minor change with the same head is safe.
        assert!(schema_check(&old, &[facts("m2", "4.1.0", Some("066"))]).is_empty());
        let problems = schema_check(&old, &[facts("m2", "4.3.0", Some("067"))]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("DB schema 067"), "{problems:?}");
        assert!(problems[0].contains("upgrade-master"), "{problems:?}");
        // A head unknown on one side falls back to major.minor.
        assert_eq!(schema_check(&old, &[facts("m2", "4.3.0", None)]).len(), 1);
        assert!(schema_check(&old, &[facts("m2", "4.2.7", None)]).is_empty());
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
