//! `workers list`: the fleet's workers with their master mapped to inventory names.

use bbctl::report::WorkerRow;

use crate::support::Fleet;

#[test]
fn table_maps_masterids_to_inventory_names() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["workers", "list"]).expect(0);
    let expected = "\
WORKER   MASTER         STATE   PAUSED
w1       master-1       busy    no
w2       master-2       idle    no
w3       other:/srv/x   idle    yes
";
    assert_eq!(run.stdout, expected);
}

#[test]
fn json_and_master_filter() {
    let fleet = Fleet::two();
    let rows: Vec<WorkerRow> = fleet
        .bbctl(&["workers", "list", "--master", "master-2", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].name.as_str(),
            rows[0].master.as_deref(),
            rows[0].state.as_str()
        ),
        ("w2", Some("master-2"), "idle")
    );
    let unknown = fleet
        .bbctl(&["workers", "list", "--master", "nope"])
        .expect(2);
    assert!(unknown.stderr.contains("unknown master `nope`"));
}
