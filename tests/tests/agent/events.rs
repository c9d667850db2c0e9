//! Events with the router up: a build's `buildbot.builds.new` and `.finished` reach an SSE
//! subscriber over WAMP, in order, after the moments Buildbot records for them. How soon is a
//! benchmark (BENCHMARKS.md), not asserted here: the lags are printed.

use std::time::Duration;

use bbctl_e2e::{Buildbot, shared_fleet, wait_until};

use crate::{BUILD_TIMEOUT, agents};

/// The event arrived after the moment Buildbot recorded (an integer timestamp, rounded down).
fn assert_after(what: &str, arrived_at: f64, buildbot_ts: i64) {
    let lag = arrived_at - buildbot_ts as f64;
    eprintln!("{what}: arrived {lag:.3} s after Buildbot's (integer) timestamp (not a bound)");
    assert!(
        lag >= 0.0,
        "{what}: arrived at {arrived_at}, before {buildbot_ts}"
    );
}

#[test]
fn events_arrive_over_wamp_in_order() {
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
    assert_after(
        "builds.new",
        new.arrived_at,
        build["started_at"].as_i64().unwrap(),
    );
    assert_after(
        "builds.finished",
        finished.arrived_at,
        build["complete_at"].as_i64().unwrap(),
    );
    assert!(new.event.seq < finished.event.seq, "{new:#?} {finished:#?}");
    // The agent stamps an event when it publishes it; the stream delivers it after that.
    for a in [&new, &finished] {
        eprintln!(
            "{}: delivered {:.3} s after the agent stamped it (not a bound)",
            a.event.kind,
            a.arrived_at - a.event.at
        );
        assert!(a.arrived_at >= a.event.at, "{a:#?}");
    }
}
