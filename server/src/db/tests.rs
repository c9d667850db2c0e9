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

#[tokio::test]
async fn config_versions_and_activation() {
    let (_dir, db) = temp_db();
    let (v, again, active) = db
        .run(|c| {
            let v = configs::insert_version(c, "abc", "v1", &["master.cfg".into()], None, None)?;
            let again = configs::insert_version(c, "abc", "other", &[], None, None)?;
            configs::record_activation(c, "abc", "v1", None, Some("/b"))?;
            Ok((v, again, configs::active(c)?))
        })
        .await
        .unwrap();
    assert_eq!(v.files(), vec!["master.cfg".to_string()]);
    assert_eq!(again.label, "v1", "restaging keeps the first label");
    let active = active.unwrap();
    assert_eq!(active.sha256, "abc");
    assert_eq!(active.backup_dir.as_deref(), Some("/b"));
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
