//! The fleet registry in the CLI: `[[seeds]]`, the inventory joined with
//! `GET /v1/fleet/agents` by name, `masters list`'s SOURCE column, and the rows of Buildbot's
//! masters table no agent claims.

use std::sync::{Arc, Mutex};

use bbctl::report::{MasterRow, RowSource, RowState};
use bbctl_api::{MasterRefs, MasterState, MastersTable, MastersTableRow};

use crate::fake_agent::{FakeAgent, TOKEN};
use crate::fake_registry::{self, Shared, Store, agent, registry};
use crate::support::{Run, bbctl, closed_port_url};

/// Two fake agents, `master-1` and `master-2`, serving one fleet store, and an inventory.
struct Fleet {
    agents: Vec<FakeAgent>,
    store: Shared,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn new() -> Fleet {
        let store: Shared = Arc::new(Mutex::new(Store::default()));
        let agents = (1..=2)
            .map(|i| {
                fake_registry::start(
                    &format!("master-{i}"),
                    i,
                    MasterState::Running,
                    store.clone(),
                )
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        Fleet { agents, store, dir }
    }

    fn url(&self, i: usize) -> String {
        self.agents[i].url()
    }

    /// Both agents registered under their real URLs.
    fn registered(&self) {
        self.store.lock().unwrap().agents = Some(registry(vec![
            agent("master-1", &self.url(0), 2.0, false),
            agent("master-2", &self.url(1), 2.0, false),
        ]));
    }

    /// `bbctl.toml`: `[defaults] token_file`, then `body`.
    fn inventory(&self, body: &str) {
        let text = format!("[defaults]\ntoken_file = \"token\"\ntimeout_secs = 2\n{body}");
        std::fs::write(self.dir.path().join("bbctl.toml"), text).unwrap();
    }

    fn bbctl(&self, args: &[&str]) -> Run {
        let inventory = self.dir.path().join("bbctl.toml");
        let mut all = vec!["--inventory", inventory.to_str().unwrap()];
        all.extend_from_slice(args);
        bbctl(&all)
    }

    fn rows(&self, args: &[&str], code: i32) -> Vec<MasterRow> {
        let mut all = vec!["masters", "list", "-o", "json"];
        all.extend_from_slice(args);
        self.bbctl(&all).expect(code).json()
    }
}

fn seed(url: &str) -> String {
    format!("\n[[seeds]]\nurl = \"{url}\"\n")
}

fn master(name: &str, url: &str) -> String {
    format!("\n[[masters]]\nname = \"{name}\"\nurl = \"{url}\"\n")
}

fn summary(rows: &[MasterRow]) -> Vec<(String, RowState, Option<RowSource>)> {
    rows.iter()
        .map(|r| (r.name.clone(), r.state, r.source))
        .collect()
}

#[test]
fn an_inventory_of_one_seed_lists_every_registered_agent() {
    let fleet = Fleet::new();
    fleet.registered();
    fleet.inventory(&seed(&fleet.url(1)));
    let rows = fleet.rows(&[], 0);
    assert_eq!(
        summary(&rows),
        vec![
            (
                "master-1".into(),
                RowState::Running,
                Some(RowSource::Registry)
            ),
            (
                "master-2".into(),
                RowState::Running,
                Some(RowSource::Registry)
            ),
        ]
    );
    assert_eq!(
        rows[0].masterid,
        Some(1),
        "master-1 was asked at its registered URL"
    );
    let table = fleet.bbctl(&["masters", "list"]).expect(0);
    assert!(
        table.stdout.lines().next().unwrap().ends_with("SOURCE"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.lines().nth(1).unwrap().ends_with("registry"),
        "{}",
        table.stdout
    );
    assert_eq!(table.stderr, "");
    // Names the registry added resolve like inventory names.
    let shown: MasterRow = fleet
        .bbctl(&["masters", "show", "master-1", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(shown.masterid, Some(1));
}

#[test]
fn the_inventory_and_the_registry_join_by_name_and_the_inventory_url_wins() {
    let fleet = Fleet::new();
    let elsewhere = closed_port_url();
    fleet.store.lock().unwrap().agents = Some(registry(vec![
        agent("master-1", &elsewhere, 2.0, false),
        agent("master-2", &fleet.url(1), 2.0, false),
        agent("master-3", &closed_port_url(), 2.0, true),
    ]));
    fleet.inventory(&master("master-1", &fleet.url(0)));
    let run = fleet.bbctl(&["masters", "list", "-o", "json"]).expect(0);
    let rows: Vec<MasterRow> = run.json();
    assert_eq!(
        summary(&rows),
        vec![
            ("master-1".into(), RowState::Running, Some(RowSource::Both)),
            (
                "master-2".into(),
                RowState::Running,
                Some(RowSource::Registry)
            ),
        ],
        "a cleanly stopped agent (master-3) is no target"
    );
    assert_eq!(rows[0].url, format!("{}/", fleet.url(0)));
    assert_eq!(rows[0].registry.as_ref().unwrap().url, elsewhere);
    assert_eq!(
        run.stderr,
        format!(
            "warning: master `master-1`: the inventory says {}, the fleet registry says {elsewhere} \
             (the inventory's URL is used)\n",
            fleet.url(0)
        )
    );
}

#[test]
fn a_late_heartbeat_shows_as_silent_in_the_source_column() {
    let fleet = Fleet::new();
    fleet.store.lock().unwrap().agents = Some(registry(vec![
        agent("master-1", &fleet.url(0), 2.0, false),
        agent("master-2", &fleet.url(1), 45.0, false),
    ]));
    fleet.inventory(&(master("master-1", &fleet.url(0)) + &master("master-2", &fleet.url(1))));
    let table = fleet.bbctl(&["masters", "list"]).expect(0);
    let line = |name: &str| {
        table
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(line("master-1").ends_with("   both"), "{}", table.stdout);
    assert!(
        line("master-2").ends_with("   both, silent 45s"),
        "{}",
        table.stdout
    );
    let rows = fleet.rows(&[], 0);
    let reg = rows[1].registry.as_ref().unwrap();
    assert!(
        reg.silent && !reg.stopped && reg.heartbeat_age_secs == 45.0,
        "{reg:?}"
    );
}

#[test]
fn seeds_are_tried_in_order_and_none_answering_is_exit_3_for_a_seeds_only_inventory() {
    let fleet = Fleet::new();
    fleet.registered();
    let dead = closed_port_url();
    fleet.inventory(&(seed(&dead) + &seed(&fleet.url(0))));
    assert_eq!(fleet.rows(&[], 0).len(), 2);

    fleet.inventory(&seed(&dead));
    let run = fleet.bbctl(&["masters", "list"]).expect(3);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with(
            "error: no seed answered GET /v1/fleet/agents (the inventory has only [[seeds]]): "
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn without_seeds_the_inventory_agents_are_asked_and_without_a_registry_nothing_changes() {
    let fleet = Fleet::new();
    fleet.inventory(&(master("master-1", &fleet.url(0)) + &master("master-2", &fleet.url(1))));
    // No registry (a 404, as from an older agent): the inventory alone, no warning.
    let run = fleet.bbctl(&["masters", "list", "-o", "json"]).expect(0);
    assert_eq!(run.stderr, "");
    let rows: Vec<MasterRow> = run.json();
    assert!(
        rows.iter()
            .all(|r| r.source == Some(RowSource::Inventory) && r.registry.is_none())
    );
    // Asked of the first agent (the second, asked at the same time, may not have been reached).
    assert!(fleet.store.lock().unwrap().registry_reads >= 1);

    // `--agent` never reads the registry.
    let fleet = Fleet::new();
    fleet.registered();
    let token = fleet.dir.path().join("token");
    let url = fleet.url(0);
    let agent_run = bbctl(&[
        "--agent",
        &url,
        "--token-file",
        token.to_str().unwrap(),
        "masters",
        "list",
    ]);
    agent_run.expect(0);
    assert_eq!(
        fleet.store.lock().unwrap().registry_reads,
        0,
        "--agent reads no registry"
    );
}

fn db_row(id: i64, name: &str, active: bool, last_active: i64, hidden: bool) -> MastersTableRow {
    MastersTableRow {
        id,
        name: name.into(),
        active,
        last_active: Some(last_active),
        refs: MasterRefs::default(),
        hidden,
    }
}

#[test]
fn buildbot_rows_no_agent_claims_are_listed_after_the_agents() {
    let fleet = Fleet::new();
    fleet.registered();
    fleet.store.lock().unwrap().masters = Some(MastersTable {
        db_now: 10_000,
        expire_after_secs: 600,
        masters: vec![
            db_row(1, "host:/srv/master-1", true, 9_990, false),
            db_row(2, "host:/srv/master-2", true, 9_990, false),
            db_row(7, "old:/srv/master-1", false, 4_000, false),
            db_row(8, "lost:/srv/m9", true, 9_000, false),
            db_row(9, "old:/srv/pruned", false, 100, true),
        ],
    });
    fleet.inventory(&seed(&fleet.url(0)));
    let rows = fleet.rows(&[], 0);
    assert_eq!(
        summary(&rows),
        vec![
            (
                "master-1".into(),
                RowState::Running,
                Some(RowSource::Registry)
            ),
            (
                "master-2".into(),
                RowState::Running,
                Some(RowSource::Registry)
            ),
            (
                "old:/srv/master-1".into(),
                RowState::StaleName,
                Some(RowSource::Buildbot)
            ),
            (
                "lost:/srv/m9".into(),
                RowState::Silent,
                Some(RowSource::Buildbot)
            ),
        ]
    );
    assert_eq!(rows[3].last_active_age_secs, Some(1_000));
    let all = fleet.rows(&["--all"], 0);
    assert_eq!(all.len(), 5);
    assert_eq!(all[4].state, RowState::Hidden);

    let table = fleet.bbctl(&["masters", "list"]).expect(0);
    let stale = table
        .stdout
        .lines()
        .find(|l| l.starts_with("old:/srv/master-1"))
        .unwrap();
    assert!(
        stale.contains(" stale-name ") && stale.ends_with("buildbot, last active 1h40m ago"),
        "{stale}"
    );
    let json = fleet
        .bbctl(&["masters", "list", "-o", "json"])
        .expect(0)
        .stdout;
    assert!(json.contains("\"state\": \"stale-name\""), "{json}");
}

#[test]
fn no_registry_keeps_to_the_inventory_and_refuses_an_inventory_of_seeds_only() {
    let fleet = Fleet::new();
    fleet.registered();
    fleet.inventory(&master("master-1", &fleet.url(0)));
    let rows = fleet.rows(&["--no-registry"], 0);
    assert_eq!(
        summary(&rows),
        vec![(
            "master-1".into(),
            RowState::Running,
            Some(RowSource::Inventory)
        )]
    );
    assert_eq!(fleet.store.lock().unwrap().registry_reads, 0);

    fleet.inventory(&seed(&fleet.url(0)));
    let run = fleet.bbctl(&["--no-registry", "masters", "list"]).expect(2);
    assert_eq!(
        run.stderr,
        "error: --no-registry: the inventory has only [[seeds]], which name no master without the \
         fleet registry\n"
    );
    assert_eq!(fleet.store.lock().unwrap().registry_reads, 0);
}

#[test]
fn a_registry_in_one_agents_sqlite_store_adds_nothing_to_an_inventory_of_masters() {
    let fleet = Fleet::new();
    {
        let mut store = fleet.store.lock().unwrap();
        store.agents = Some(registry(vec![agent("master-1", &fleet.url(0), 2.0, false)]));
        store.store = Some(bbctl_api::FleetStoreInfo {
            fleet: "default".into(),
            backend: bbctl_api::FleetStoreBackend::Sqlite,
            store_key: "sqlite:master-1".into(),
            reachable: true,
            db_now: Some(1000.0),
            error: None,
            heartbeat_secs: 10.0,
        });
    }
    fleet.inventory(&(master("master-1", &fleet.url(0)) + &master("master-2", &fleet.url(1))));
    let rows = fleet.rows(&[], 0);
    assert!(
        rows.iter()
            .all(|r| r.source == Some(RowSource::Inventory) && r.registry.is_none()),
        "{rows:#?}"
    );
    // An inventory of seeds only takes it as it is: the one agent it names.
    fleet.inventory(&seed(&fleet.url(0)));
    assert_eq!(
        summary(&fleet.rows(&[], 0)),
        vec![(
            "master-1".into(),
            RowState::Running,
            Some(RowSource::Registry)
        )]
    );
}
