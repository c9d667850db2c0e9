//! Events with the router up: a build's `buildbot.builds.new` and `.finished` reach an SSE
//! subscriber over WAMP within 1 s of Buildbot's own timestamps.

use std::time::Duration;

use bbctl_e2e::{Buildbot, shared_fleet, wait_until};

use crate::{BUILD_TIMEOUT, agents};

/// Seconds between Buildbot's integer timestamp and the arrival, which must be within 1 s of the
/// real moment: the real moment lies in [ts, ts + 1), so the arrival lies in [ts, ts + 2).
fn assert_within_1s(what: &str, arrived_at: f64, buildbot_ts: i64) {
    let lag = arrived_at - buildbot_ts as f64;
    eprintln!("{what}: arrived {lag:.3} s after Buildbot's (integer) timestamp");
    assert!(
        (0.0..2.0).contains(&lag),
        "{what}: arrived {lag:.3} s after {buildbot_ts}"
    );
}

#[test]
fn events_arrive_within_1s_over_wamp() {
    let fleet = shared_fleet();
    let agent = &agents(fleet)[1];
    wait_until(
        "the agent's WAMP source to connect",
        Duration::from_secs(30),
        || {
            let (_, health) = agent.open_get("/healthz")?;
            Ok((health["event_source"] == "wamp").then_some(()))
        },
    )
    .unwrap();
    let mut events = agent.events().unwrap();
    let bb: Buildbot = fleet.buildbot(1);
    let forced = bb.force("sleep", &[("duration", "1")]).unwrap();

    let new = events
        .wait_for(
            "buildbot.builds.new of our build",
            Duration::from_secs(30),
            |e| {
                e.kind == "buildbot.builds.new" && e.data["buildrequestid"] == forced.buildrequestid
            },
        )
        .unwrap();
    assert_eq!(new.event.source, "wamp", "{:#?}", new.event);
    let buildid = new.event.data["buildid"].as_i64().unwrap();
    let finished = events
        .wait_for(
            "buildbot.builds.finished of our build",
            BUILD_TIMEOUT,
            |e| e.kind == "buildbot.builds.finished" && e.data["buildid"] == buildid,
        )
        .unwrap();
    assert_eq!(finished.event.source, "wamp", "{:#?}", finished.event);

    let build = &bb.list(&format!("builds/{buildid}"), "builds").unwrap()[0];
    assert_within_1s(
        "builds.new",
        new.arrived_at,
        build["started_at"].as_i64().unwrap(),
    );
    assert_within_1s(
        "builds.finished",
        finished.arrived_at,
        build["complete_at"].as_i64().unwrap(),
    );
    // The agent stamps an event when it publishes it; the stream delivers it at once.
    for a in [&new, &finished] {
        assert!(a.arrived_at - a.event.at < 0.5, "{a:#?}");
    }
}
