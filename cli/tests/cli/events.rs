//! `events`: every agent's backlog merged in time order; JSON Lines with `-o json`.

use bbctl_api::Event;

use crate::fake_agent::event;
use crate::support::{Fleet, closed_port_url};

#[test]
fn merges_agents_in_time_order() {
    let fleet = Fleet::two();
    fleet.agent(0).with(|s| {
        s.events.push(event(
            "master-1",
            2,
            1_700_000_005.0,
            "agent.drain",
            "drain started",
        ))
    });
    let run = fleet.bbctl(&["events", "-o", "json"]).expect(0);
    let events: Vec<Event> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<(&str, u64)> = events.iter().map(|e| (e.agent.as_str(), e.seq)).collect();
    assert_eq!(order, [("master-1", 1), ("master-2", 1), ("master-1", 2)]);

    let human = fleet.bbctl(&["events"]).expect(0);
    assert_eq!(
        human.stdout.lines().last().unwrap(),
        "22:13:25 master-1 agent.drain drain started"
    );
}

#[test]
fn unreachable_agent_makes_events_partial() {
    let fleet = Fleet::two();
    fleet.write_inventory(&[
        ("master-1".into(), fleet.agent(0).url(), false),
        ("gone".into(), closed_port_url(), false),
    ]);
    let run = fleet.bbctl(&["events"]).expect(3);
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(
        run.stderr.contains("warning: gone: unreachable"),
        "{}",
        run.stderr
    );
}

/// Issue 12: events name their master by its inventory name, not the agent's own name.
#[test]
fn events_use_inventory_names() {
    let fleet = Fleet::two();
    fleet.write_inventory(&[
        ("m1".into(), fleet.agent(0).url(), false),
        ("master-2".into(), fleet.agent(1).url(), false),
    ]);
    let run = fleet.bbctl(&["events", "-o", "json"]).expect(0);
    let agents: Vec<String> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Event>(l).unwrap().agent)
        .collect();
    assert_eq!(agents, ["m1", "master-2"]);
    assert_eq!(
        run.stderr,
        "warning: inventory name \"m1\" answers as agent \"master-1\"; bbctl output uses \
         inventory names\n"
    );
}

/// Issue 12: a refused token is an error of the agent that answered (exit 1), not a warning
/// about an unreachable one (exit 3).
#[test]
fn refused_token_exits_1() {
    let fleet = Fleet::two();
    std::fs::write(fleet.dir.path().join("token"), "wrong-token\n").unwrap();
    let run = fleet.bbctl(&["events"]).expect(1);
    assert!(
        run.stderr
            .contains("error: token refused by agent master-1: missing or wrong bearer token"),
        "{}",
        run.stderr
    );
}
