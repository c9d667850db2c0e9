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
