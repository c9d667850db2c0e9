//! `masters list` / `masters show`: tables, JSON, standby, unreachable and rejected tokens.

use bbctl::report::{MasterRow, RowState};
use bbctl_api::MasterState;

use crate::support::{Fleet, bbctl, closed_port_url};

#[test]
fn list_table_snapshot() {
    let fleet = Fleet::new(&[
        ("master-1", MasterState::Running, false),
        ("master-2", MasterState::Stopped, true),
    ]);
    let run = fleet.bbctl(&["masters", "list"]).expect(0);
    let expected = "\
NAME       STATE     ACTIVE   ROUTING   CONFIG              VERSION   WORKERS   BUILDS   UPTIME   SOURCE
master-1   running   yes      ready     v2 (0123456789ab)   4.3.0     1         0        3m12s    inventory
master-2   standby   no       ready     v2 (0123456789ab)   4.3.0     0         0        -        inventory
";
    assert_eq!(run.stdout, expected);
    assert_eq!(run.stderr, "");
}

#[test]
fn list_wide_adds_url_masterid_pid_name_executable() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["masters", "list", "-o", "wide"]).expect(0);
    let header = run.stdout.lines().next().unwrap();
    for column in ["URL", "MASTERID", "PID", "BUILDBOT NAME", "EXECUTABLE"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(run.stdout.contains(&fleet.agent(1).url()));
    assert!(run.stdout.contains("host:/srv/master-2") && run.stdout.contains("4002"));
    assert!(run.stdout.contains("/opt/buildbot-4.3/bin/buildbot"));
}

#[test]
fn list_json_is_the_documented_rows() {
    let fleet = Fleet::two();
    let rows: Vec<MasterRow> = fleet
        .bbctl(&["masters", "list", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].name, "master-2");
    assert_eq!(rows[1].state, RowState::Running);
    assert_eq!(rows[1].masterid, Some(2));
    assert_eq!(
        rows[1].config_sha256.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(rows[1].master.as_ref().unwrap().agent_name, "master-2");
}

#[test]
fn unreachable_agent_is_a_row_and_exit_3() {
    let fleet = Fleet::two();
    fleet.write_inventory(&[
        ("master-1".into(), fleet.agent(0).url(), false),
        ("master-9".into(), closed_port_url(), false),
    ]);
    let run = fleet.bbctl(&["masters", "list"]).expect(3);
    let row = run.stdout.lines().find(|l| l.contains("master-9")).unwrap();
    assert!(row.contains("unreachable"), "{row}");
    assert!(
        run.stderr.starts_with("warning: master-9: unreachable"),
        "{}",
        run.stderr
    );

    let rows: Vec<MasterRow> = fleet
        .bbctl(&["masters", "list", "-o", "json"])
        .expect(3)
        .json();
    assert_eq!(rows[0].state, RowState::Running);
    assert_eq!(rows[1].state, RowState::Unreachable);
    assert!(rows[1].master.is_none() && rows[1].error.is_some());
}

#[test]
fn rejected_token_says_which_agent_and_exits_1() {
    let fleet = Fleet::two();
    std::fs::write(fleet.dir.path().join("token"), "wrong-token\n").unwrap();
    let run = fleet.bbctl(&["masters", "list"]).expect(1);
    assert!(
        run.stderr
            .contains("error: token refused by agent master-1: missing or wrong bearer token"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-token") && !run.stdout.contains("wrong-token"));
    assert!(run.stdout.contains("error"));
}

#[test]
fn show_prints_everything_about_one_master() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["masters", "show", "master-2"]).expect(0);
    for needle in [
        "Name:       master-2",
        "Source:     inventory",
        "State:      running",
        "Basedir:    /srv/master-2",
        "Executable: /opt/buildbot-4.3/bin/buildbot",
        "Workers (1):",
        "w-master-2",
        "Builds (0):",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle} missing:\n{}",
            run.stdout
        );
    }
    let row: MasterRow = fleet
        .bbctl(&["masters", "show", "master-2", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(row.name, "master-2");
    assert_eq!(row.master.unwrap().workers[0].name, "w-master-2");
}

#[test]
fn unknown_master_lists_the_known_ones() {
    let fleet = Fleet::two();
    let run = fleet.bbctl(&["masters", "show", "master-7"]).expect(2);
    assert_eq!(
        run.stderr,
        "error: unknown master `master-7` (known: master-1, master-2)\n"
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn agent_flag_works_without_inventory() {
    let fleet = Fleet::two();
    let token_file = fleet.dir.path().join("token");
    let url = fleet.agent(1).url();
    let run = bbctl(&[
        "--agent",
        &url,
        "--token-file",
        token_file.to_str().unwrap(),
        "masters",
        "show",
        "master-2",
        "-o",
        "json",
    ]);
    let row: MasterRow = run.expect(0).json();
    assert_eq!(row.name, "master-2");
    let missing_token = bbctl(&["--agent", &url, "masters", "list"]).expect(2);
    assert!(
        missing_token.stderr.contains("BBCTL_TOKEN"),
        "{}",
        missing_token.stderr
    );
}

/// Issue 12: with `--agent`, a name asked of agents that refuse the token is not an unknown
/// name (exit 2) but the refusal (exit 1).
#[test]
fn agent_flag_with_a_refused_token_is_not_an_unknown_name() {
    let fleet = Fleet::two();
    let token_file = fleet.dir.path().join("wrong-token");
    std::fs::write(&token_file, "wrong-token\n").unwrap();
    let (url1, url2) = (fleet.agent(0).url(), fleet.agent(1).url());
    let run = bbctl(&[
        "--agent",
        &url1,
        "--agent",
        &url2,
        "--token-file",
        token_file.to_str().unwrap(),
        "masters",
        "show",
        "master-2",
    ])
    .expect(1);
    assert!(
        run.stderr.contains("cannot find master `master-2`")
            && run.stderr.contains("token refused by agent"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("unknown master"), "{}", run.stderr);
}

/// Issue 12: `masters list` and `masters show` warn about an inventory name that is not the
/// agent's own name, and keep printing the inventory name.
#[test]
fn a_differing_agent_name_is_warned_about() {
    let fleet = Fleet::two();
    fleet.write_inventory(&[
        ("master-1".into(), fleet.agent(0).url(), false),
        ("m2".into(), fleet.agent(1).url(), false),
    ]);
    let warning = "warning: inventory name \"m2\" answers as agent \"master-2\"; bbctl output \
                   uses inventory names\n";
    let rows: Vec<MasterRow> = {
        let run = fleet.bbctl(&["masters", "list", "-o", "json"]).expect(0);
        assert_eq!(run.stderr, warning);
        run.json()
    };
    assert_eq!(rows[1].name, "m2");
    let run = fleet.bbctl(&["masters", "show", "m2"]).expect(0);
    assert_eq!(run.stderr, warning);
    assert!(run.stdout.contains("Name:       m2"), "{}", run.stdout);
}
