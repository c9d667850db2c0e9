//! `builds list`: running builds with builder, worker, master and age.

use bbctl::report::BuildRow;

use crate::support::Fleet;

#[test]
fn lists_running_builds() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["builds", "list"]).expect(0);
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["BUILD", "BUILDER", "NUMBER", "WORKER", "MASTER", "AGE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..5], ["11", "runtests", "5", "w1", "master-1"]);
    assert!(
        row[5].ends_with('h'),
        "age of a build started in 2023: {}",
        row[5]
    );

    let rows: Vec<BuildRow> = fleet
        .bbctl(&["builds", "list", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(rows[0].master.as_deref(), Some("master-1"));
    assert!(rows[0].age_secs.unwrap() > 0);
}
