//! The pre-flight of a `migrate` upgrade, after the common one (staging and checkconfig with the
//! new Buildbot): every agent's `GET /v1/buildbot-db` must show one PostgreSQL database at the
//! running code's head, the coordinator must be able to back it up (free space, `pg_dump`,
//! unless `--no-backup`), and every old master must be a row of its `masters` table. Refused
//! (exit 5) before anything is touched; returns the journal's `migration` block.

use bbctl_api::BuildbotDbInfo;

use super::error::UpgradeError;
use crate::client::AgentClient;
use crate::report::upgrade::Migration;

/// What the pre-flight checks against.
pub struct Expect<'a> {
    pub from_head: &'a str,
    pub to_head: &'a str,
    /// The coordinator's agent (backup, restore).
    pub coordinator: &'a str,
    /// The first new master's agent (upgrade-master).
    pub migrate_agent: &'a str,
    /// Buildbot names (`masters.name`) of the old masters, by inventory name.
    pub old_names: Vec<(String, Option<String>)>,
    pub no_backup: bool,
    pub backup_command: bool,
    pub timeout_secs: f64,
}

/// Reads every agent's view of the Buildbot DB and checks it.
pub async fn check(
    clients: &[AgentClient],
    expect: &Expect<'_>,
) -> Result<Migration, UpgradeError> {
    let answers = futures_util::future::join_all(clients.iter().map(|c| c.buildbot_db())).await;
    let mut infos = Vec::new();
    let mut problems = Vec::new();
    for (client, answer) in clients.iter().zip(answers) {
        match answer {
            Ok(info) => infos.push((client.name().to_string(), info)),
            Err(err) => problems.push(err.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(UpgradeError::refused(
            "refusing to migrate: not every agent can read the Buildbot DB",
            problems,
        ));
    }
    judge(&infos, expect)
}

/// The checks, on what the agents answered (inventory name, answer). Pure.
pub fn judge(
    infos: &[(String, BuildbotDbInfo)],
    expect: &Expect<'_>,
) -> Result<Migration, UpgradeError> {
    let mut problems = Vec::new();
    let Some((_, coord)) = infos.iter().find(|(n, _)| n == expect.coordinator) else {
        return Err(UpgradeError::refused(
            format!(
                "refusing to migrate: the coordinator {} did not describe the Buildbot DB",
                expect.coordinator
            ),
            vec![],
        ));
    };
    if let Some((_, other)) = infos.iter().find(|(_, i)| i.backend != "postgresql") {
        return Err(UpgradeError::refused(
            format!(
                "migrate supports PostgreSQL Buildbot DBs only (this fleet: {})",
                other.backend
            ),
            vec![],
        ));
    }
    for (name, info) in infos {
        if info.db_key != coord.db_key {
            problems.push(format!(
                "{name}'s agent names database {} but {}'s names {}: every agent's [master] \
                 db_url must point at the fleet's one DB",
                info.db_key, expect.coordinator, coord.db_key
            ));
        }
        for p in &info.problems {
            problems.push(format!("{name}: {p}"));
        }
    }
    match coord.db_head.as_deref() {
        Some(head) if head == expect.from_head => {}
        Some(head) if head == expect.to_head => problems.push(format!(
            "the database is already at schema {head} while the running masters run {} \
             (a migration ran outside this upgrade?)",
            expect.from_head
        )),
        head => problems.push(format!(
            "the database is at schema {} but the running masters' code is at {}",
            head.unwrap_or("unknown"),
            expect.from_head
        )),
    }
    if expect.backup_command {
        if !coord.backup_command {
            problems.push(format!(
                "--backup-command: {}'s agent has no [buildbot_db] backup_command",
                expect.coordinator
            ));
        }
    } else if !expect.no_backup {
        match (coord.free_bytes, coord.size_bytes) {
            (Some(free), Some(size)) if free < size => problems.push(format!(
                "{}'s backup directory {} has {free} bytes free, the database needs {size} \
                 (free space, or --no-backup)",
                expect.coordinator, coord.backup_dir
            )),
            (Some(_), Some(_)) => {}
            _ => problems.push(format!(
                "{}'s agent does not say the database's size or its free space; cannot check \
                 that a backup fits",
                expect.coordinator
            )),
        }
        if coord.pg_dump_version.is_none() {
            problems.push(format!(
                "{}'s agent finds no pg_dump ([buildbot_db] pg_dump in its config)",
                expect.coordinator
            ));
        }
    }
    let rows: Vec<&str> = coord.masters.iter().map(|m| m.name.as_str()).collect();
    for (name, buildbot_name) in &expect.old_names {
        match buildbot_name {
            Some(b) if rows.contains(&b.as_str()) => {}
            Some(b) => problems.push(format!(
                "{name} ({b}) is not in the database's masters table: does its agent point at \
                 the fleet's DB?"
            )),
            None => problems.push(format!("{name}'s agent does not know its Buildbot name")),
        }
    }
    if !problems.is_empty() {
        return Err(UpgradeError::refused(
            "refusing to migrate: the Buildbot DB is not ready",
            problems,
        ));
    }
    Ok(Migration {
        from_head: expect.from_head.to_string(),
        to_head: expect.to_head.to_string(),
        db: Some(coord.db.clone()),
        backup_agent: expect.coordinator.to_string(),
        migrate_agent: expect.migrate_agent.to_string(),
        no_backup: expect.no_backup,
        backup_command: expect.backup_command,
        timeout_secs: expect.timeout_secs,
        ..Migration::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbctl_api::BuildbotMasterRow;

    fn info(backend: &str, head: &str) -> BuildbotDbInfo {
        BuildbotDbInfo {
            backend: backend.into(),
            db: "postgresql://buildbot:xxxx@127.0.0.1:5432/buildbot".into(),
            db_key: "127.0.0.1:5432/buildbot".into(),
            server_version: Some("15.8".into()),
            db_head: Some(head.into()),
            code_head: Some(head.into()),
            size_bytes: Some(1000),
            masters: vec![BuildbotMasterRow {
                id: 1,
                name: "host:/srv/m1".into(),
                active: false,
                last_active: None,
            }],
            sessions: vec![],
            unclaimed_requests: Some(vec![]),
            backup_dir: "/state/db-backups".into(),
            free_bytes: Some(10_000),
            backup_command: false,
            pg_dump_version: Some("15.8".into()),
            problems: vec![],
        }
    }

    fn expect() -> Expect<'static> {
        Expect {
            from_head: "066",
            to_head: "067",
            coordinator: "m1",
            migrate_agent: "m2",
            old_names: vec![("m1".into(), Some("host:/srv/m1".into()))],
            no_backup: false,
            backup_command: false,
            timeout_secs: 1800.0,
        }
    }

    #[test]
    fn a_postgresql_db_at_the_old_head_passes() {
        let m = judge(&[("m1".into(), info("postgresql", "066"))], &expect()).unwrap();
        assert_eq!((m.from_head.as_str(), m.to_head.as_str()), ("066", "067"));
        assert_eq!(m.backup_agent, "m1");
        assert_eq!(m.migrate_agent, "m2");
    }

    #[test]
    fn sqlite_a_full_disk_and_an_unknown_master_are_refused() {
        let sqlite = judge(&[("m1".into(), info("sqlite", "066"))], &expect()).unwrap_err();
        assert_eq!(
            sqlite.to_string(),
            "migrate supports PostgreSQL Buildbot DBs only (this fleet: sqlite)"
        );
        let mut full = info("postgresql", "066");
        full.free_bytes = Some(10);
        let err = judge(&[("m1".into(), full.clone())], &expect()).unwrap_err();
        assert!(err.lines()[0].contains("free"), "{:?}", err.lines());
        let mut no_backup = expect();
        no_backup.no_backup = true;
        assert!(judge(&[("m1".into(), full)], &no_backup).is_ok());
        let mut stranger = expect();
        stranger.old_names = vec![("m1".into(), Some("other:/srv/x".into()))];
        let err = judge(&[("m1".into(), info("postgresql", "066"))], &stranger).unwrap_err();
        assert!(
            err.lines()[0].contains("masters table"),
            "{:?}",
            err.lines()
        );
        let err = judge(&[("m1".into(), info("postgresql", "067"))], &expect()).unwrap_err();
        assert!(
            err.lines()[0].contains("already at schema 067"),
            "{:?}",
            err.lines()
        );
    }
}
