//! Unit tests of the state database on SQLite files: migrations, round trips, corruption.

use super::*;

fn temp_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/state/agent.sqlite3", dir.path().display());
    let db = Db::open(&url).unwrap();
    (dir, db)
}

#[tokio::test]
async fn operations_round_trip_newest_first() {
    let (_dir, db) = temp_db();
    let listed = db
        .run(|c| {
            let a = operations::begin(c, "start", Some("alice"), Some("why"))?;
            operations::finish(c, a, false, "boom", &["line 1".into()])?;
            let b = operations::begin(c, "stop", None, None)?;
            operations::finish(c, b, true, "stopped", &[])?;
            operations::list(c, 10)
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].kind, "stop");
    assert!(listed[0].ok);
    assert_eq!(listed[1].kind, "start");
    assert!(!listed[1].ok);
    assert_eq!(listed[1].log_lines, vec!["line 1".to_string()]);
    assert!(listed[1].finished_at.is_some());
}

#[tokio::test]
async fn state_survives_reopen_and_interrupted_operations_are_failed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/agent.sqlite3", dir.path().display());
    let db = Db::open(&url).unwrap();
    db.run(|c| operations::begin(c, "start", None, None))
        .await
        .unwrap();
    drop(db);
    let db = Db::open(&url).unwrap();
    let (n, ops) = db
        .run(|c| Ok((operations::fail_interrupted(c)?, operations::list(c, 10)?)))
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(!ops[0].ok);
    assert!(ops[0].message.contains("interrupted"));
}

fn version<'a>(
    label: &'a str,
    files: &'a [String],
    buildbot: Option<&'a str>,
) -> configs::NewVersion<'a> {
    configs::NewVersion {
        label,
        files,
        staged_by: None,
        reason: None,
        buildbot,
    }
}

#[tokio::test]
async fn config_versions_and_activation() {
    let (_dir, db) = temp_db();
    let (v, again, recoded, active) = db
        .run(move |c| {
            let files = ["master.cfg".to_string()];
            let v = configs::insert_version(c, "abc", &version("v1", &files, None))?;
            let ok = bbctl_api::CheckConfigResult {
                ok: true,
                exit_code: Some(0),
                output: String::new(),
            };
            configs::set_checkconfig(c, "abc", &ok)?;
            let again = configs::insert_version(c, "abc", &version("other", &[], None))?;
            let recoded = configs::insert_version(
                c,
                "abc",
                &version("other", &[], Some("/venv/bin/buildbot")),
            )?;
            configs::record_activation(
                c,
                &configs::Activation {
                    sha256: "abc",
                    label: "v1",
                    previous_sha256: None,
                    backup_dir: Some("/b"),
                    buildbot: recoded.buildbot.as_deref(),
                },
            )?;
            Ok((v, again, recoded, configs::active(c)?))
        })
        .await
        .unwrap();
    assert_eq!(v.files(), vec!["master.cfg".to_string()]);
    assert_eq!(again.label, "v1", "restaging keeps the first label");
    assert!(again.checkconfig().is_some(), "same code: checkconfig kept");
    assert_eq!(recoded.label, "v1");
    assert_eq!(recoded.buildbot.as_deref(), Some("/venv/bin/buildbot"));
    assert!(
        recoded.checkconfig().is_none(),
        "another executable: the old checkconfig result no longer applies"
    );
    let active = active.unwrap();
    assert_eq!(active.sha256, "abc");
    assert_eq!(active.backup_dir.as_deref(), Some("/b"));
    assert_eq!(active.buildbot.as_deref(), Some("/venv/bin/buildbot"));
}

#[test]
fn corrupt_file_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sqlite3");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let err = Db::open(&format!("sqlite://{}", path.display()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("corrupt"), "{err}");
    assert!(err.contains("agent.sqlite3"), "{err}");
}

#[tokio::test]
async fn the_fence_epoch_only_grows_per_fleet() {
    let (_dir, db) = temp_db();
    db.run(|c| {
        assert_eq!(fence::get(c, "prod")?, 0, "none seen yet");
        assert_eq!(fence::raise(c, "prod", 3)?, 3);
        assert_eq!(fence::raise(c, "prod", 2)?, 3, "never lowered");
        assert_eq!(fence::raise(c, "prod", 5)?, 5);
        assert_eq!(fence::get(c, "other")?, 0, "per fleet");
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn buildbot_db_ops_are_one_row_per_upgrade_and_kind() {
    use bbctl_api::{BuildbotDbOp, DbOpKind, DbOpState};
    let (_dir, db) = temp_db();
    let op = |id: &str, kind, state, at| BuildbotDbOp {
        upgrade_id: id.into(),
        kind,
        state,
        from_head: Some("066".into()),
        to_head: Some("067".into()),
        head_after: None,
        backup: None,
        message: "m".into(),
        output: vec!["line".into()],
        started_at: at,
        finished_at: None,
    };
    let (first, retried) = (
        op("u-1", DbOpKind::Upgrade, DbOpState::Running, 2.0),
        op("u-1", DbOpKind::Upgrade, DbOpState::NotApplied, 3.0),
    );
    let backup = op("u-1", DbOpKind::Backup, DbOpState::Done, 1.0);
    let other = op("u-2", DbOpKind::Restore, DbOpState::Running, 4.0);
    let (listed, got, running) = db
        .run(move |c| {
            buildbot_db_ops::put(c, &first, Some(42))?;
            buildbot_db_ops::put(c, &backup, None)?;
            buildbot_db_ops::put(c, &other, Some(7))?;
            buildbot_db_ops::put(c, &retried, None)?;
            Ok((
                buildbot_db_ops::of_upgrade(c, "u-1")?,
                buildbot_db_ops::get(c, "u-1", DbOpKind::Upgrade)?,
                buildbot_db_ops::running(c)?,
            ))
        })
        .await
        .unwrap();
    let kinds: Vec<_> = listed.iter().map(|o| (o.kind, o.state)).collect();
    assert_eq!(
        kinds,
        [
            (DbOpKind::Backup, DbOpState::Done),
            (DbOpKind::Upgrade, DbOpState::NotApplied)
        ],
        "oldest first, the retry replaced the first attempt"
    );
    let got = got.unwrap();
    assert_eq!((got.op.started_at, got.pid), (3.0, None));
    assert_eq!(running.len(), 1);
    assert_eq!(
        (running[0].op.upgrade_id.as_str(), running[0].pid),
        ("u-2", Some(7))
    );
}
