use bbctl_api::{MasterRefs, MastersTable, MastersTableRow};

use super::classify;
use crate::report::{MasterRow, RowSource, RowState};

fn db_row(
    id: i64,
    name: &str,
    active: bool,
    last_active: Option<i64>,
    hidden: bool,
) -> MastersTableRow {
    MastersTableRow {
        id,
        name: name.into(),
        active,
        last_active,
        refs: MasterRefs::default(),
        hidden,
    }
}

fn table(masters: Vec<MastersTableRow>) -> MastersTable {
    MastersTable {
        db_now: 10_000,
        expire_after_secs: 600,
        masters,
    }
}

/// An agent's row that claims `masterid` or `buildbot_name`.
fn agent_row(masterid: Option<i64>, buildbot_name: Option<&str>) -> MasterRow {
    let mut row = classify(
        &table(vec![db_row(99, "placeholder", false, None, false)]),
        &[],
        false,
    )
    .remove(0);
    row.masterid = masterid;
    row.buildbot_name = buildbot_name.map(str::to_string);
    row.source = Some(RowSource::Both);
    row
}

#[test]
fn classes_unclaimed_rows_by_the_databases_clock_and_skips_claimed_ones() {
    let t = table(vec![
        db_row(5, "old-host:/srv/m1", false, Some(1_000), false),
        db_row(1, "h:/srv/m1", true, Some(9_990), false),
        db_row(2, "h:/srv/m2", true, Some(9_990), false),
        db_row(3, "h:/srv/gone", true, Some(9_399), false),
        db_row(4, "h:/srv/fresh", true, Some(9_401), false),
        db_row(6, "h:/srv/never", true, None, false),
        db_row(7, "h:/srv/pruned", false, Some(10), true),
    ]);
    let agents = [agent_row(Some(1), None), agent_row(None, Some("h:/srv/m2"))];
    let rows = classify(&t, &agents, false);
    let got: Vec<(i64, RowState, Option<i64>)> = rows
        .iter()
        .map(|r| (r.masterid.unwrap(), r.state, r.last_active_age_secs))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, RowState::Silent, Some(601)),
            (4, RowState::Running, Some(599)),
            (5, RowState::StaleName, Some(9_000)),
            (6, RowState::Silent, None),
        ]
    );
    for row in &rows {
        assert_eq!(row.source, Some(RowSource::Buildbot));
        assert_eq!(row.url, "");
        assert_eq!(row.buildbot_name.as_deref(), Some(row.name.as_str()));
        assert_eq!(row.masters_row.as_ref().unwrap().id, row.masterid.unwrap());
    }
}

#[test]
fn hidden_rows_only_with_all() {
    let t = table(vec![db_row(7, "h:/srv/pruned", false, Some(10), true)]);
    assert!(classify(&t, &[], false).is_empty());
    let rows = classify(&t, &[], true);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, RowState::Hidden);
    assert_eq!(rows[0].active, Some(false));
}
