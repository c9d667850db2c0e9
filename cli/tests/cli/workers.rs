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

/// Issue 12: a refused token made `workers list` say "no agent answered" and exit 3, although
/// every agent answered.
#[test]
fn refused_token_exits_1_and_names_the_agent() {
    let fleet = Fleet::two();
    std::fs::write(fleet.dir.path().join("token"), "wrong-token\n").unwrap();
    for command in [["workers", "list"], ["builds", "list"]] {
        let run = fleet.bbctl(&command).expect(1);
        assert!(
            run.stderr
                .contains("token refused by agent master-1: missing or wrong bearer token"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("token refused by agent master-2"));
        assert!(!run.stderr.contains("no agent answered"), "{}", run.stderr);
        assert!(!run.stderr.contains("master-1: token"), "{}", run.stderr);
    }
}

/// Issue 12: inventory names that are not the agents' own names are what the output uses,
/// with one warning per name and command.
#[test]
fn inventory_names_that_differ_from_agent_names_are_used_and_warned_about() {
    let fleet = Fleet::two();
    fleet.write_inventory(&[
        ("m1".into(), fleet.agent(0).url(), false),
        ("m2".into(), fleet.agent(1).url(), false),
    ]);
    let run = fleet.bbctl(&["workers", "list"]).expect(0);
    let expected = "\
WORKER   MASTER         STATE   PAUSED
w1       m1             busy    no
w2       m2             idle    no
w3       other:/srv/x   idle    yes
";
    assert_eq!(run.stdout, expected);
    assert_eq!(
        run.stderr,
        "warning: inventory name \"m1\" answers as agent \"master-1\"; bbctl output uses \
         inventory names\n\
         warning: inventory name \"m2\" answers as agent \"master-2\"; bbctl output uses \
         inventory names\n"
    );
    // `--master` filters by inventory name too, and the warning still comes once per name.
    let run = fleet
        .bbctl(&["workers", "list", "--master", "m2", "-o", "json"])
        .expect(0);
    let rows: Vec<WorkerRow> = run.json();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].master.as_deref(), Some("m2"));
    assert_eq!(
        run.stderr.matches("answers as agent \"master-2\"").count(),
        1
    );
    // Names that agree: no warning.
    let agreeing = Fleet::two().bbctl(&["workers", "list"]).expect(0);
    assert_eq!(agreeing.stderr, "");
}
