//! Issue 14 on a real fleet: `scripts/fleet up` gives every agent the fleet store in the fleet's
//! PostgreSQL, so an inventory of one `[[seeds]]` entry finds every agent through the registry;
//! the fleet's own inventory lists the same agents with SOURCE `both`; and every master's sessions
//! in Buildbot's DB carry `application_name = buildbot:<slot>`. With `BBCTL_FLEET_STORE=sqlite`
//! each agent's registry names itself only: the seed finds itself, the inventory stays `inventory`.

use bbctl_e2e::shared_fleet;

use crate::rows::{MasterRow, RowState};
use crate::{bbctl, bbctl_with, json_of};

#[test]
fn one_seed_finds_every_agent_through_the_fleet_registry() {
    let fleet = shared_fleet();
    let store = fleet
        .info
        .fleet_store
        .as_ref()
        .expect("fleet.json has fleet_store");
    // `BBCTL_FLEET_STORE=sqlite`: each agent's registry names itself only.
    let shared = store.backend == "postgres";

    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("bbctl.toml");
    std::fs::write(
        &inventory,
        format!(
            "[defaults]\ntoken_file = \"{}\"\n\n[[seeds]]\nurl = \"{}\"\n",
            fleet.info.token_file.display(),
            fleet.info.masters[0].agent_url
        ),
    )
    .unwrap();
    let seeded: Vec<MasterRow> = json_of(&bbctl_with(
        fleet,
        &inventory,
        &["masters", "list", "-o", "json"],
    ));
    let listed: Vec<MasterRow> = json_of(&bbctl(fleet, &["masters", "list", "-o", "json"]));

    let every: Vec<&str> = fleet.info.masters.iter().map(|m| m.name.as_str()).collect();
    let (seed_sees, listed_as) = if shared {
        (every.clone(), "both")
    } else {
        (vec![every[0]], "inventory")
    };
    for (rows, source, slots) in [
        (&seeded, "registry", &seed_sees),
        (&listed, listed_as, &every),
    ] {
        let agents: Vec<&MasterRow> = rows
            .iter()
            .filter(|r| r.source.as_deref() != Some("buildbot"))
            .collect();
        let mut names: Vec<&str> = agents.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        let mut want = slots.clone();
        want.sort();
        assert_eq!(names, want, "{rows:#?}");
        for row in agents {
            assert_eq!(row.source.as_deref(), Some(source), "{row:#?}");
            let slot = fleet
                .info
                .masters
                .iter()
                .find(|m| m.name == row.name)
                .unwrap();
            assert_eq!(
                row.url, slot.agent_url,
                "the registered URL is the agent's own"
            );
            if !slot.standby {
                assert_eq!(row.state, RowState::Running, "{row:#?}");
            }
        }
    }
}

#[test]
fn every_masters_sessions_are_named_after_its_slot() {
    let fleet = shared_fleet();
    let names = fleet
        .db_query(
            "SELECT DISTINCT application_name FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name LIKE 'buildbot:%' \
             ORDER BY 1",
        )
        .unwrap();
    let want: Vec<String> = fleet
        .info
        .masters
        .iter()
        .filter(|m| !m.standby)
        .map(|m| format!("buildbot:{}", m.name))
        .collect();
    for app in &want {
        assert!(names.lines().any(|l| l == app), "{app} not in:\n{names}");
    }
}
