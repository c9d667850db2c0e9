//! Issue 12, "Buildbot web UIs with authentication": the agent logs in to its master's www as
//! the user of `[master.rest_auth]` (tests/handmade/master.cfg lets `bbctl-agent` control
//! workers and refuses anonymous control calls), so a drain pauses and hands off workers; with a
//! wrong password or without credentials the drain says which call Buildbot refused, with which
//! status and which setting to fix — and cancelling it leaves nothing behind.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use bbctl_e2e::handmade::Handmade;
use bbctl_e2e::{output_text, wait_until};
use serde_json::Value;

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", output_text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)))
}

/// `bbctl workers list -o json`: (worker, master it is attached to, paused).
fn workers(fleet: &Handmade) -> Vec<(String, Option<String>, bool)> {
    let rows = json_of(&fleet.bbctl(&["workers", "list", "-o", "json"]));
    rows.as_array()
        .expect("a JSON array")
        .iter()
        .map(|w| {
            (
                w["name"].as_str().expect("a name").to_owned(),
                w["master"].as_str().map(str::to_owned),
                w["paused"].as_bool().expect("paused"),
            )
        })
        .collect()
}

/// The master with the most workers attached, and those workers.
fn busiest(fleet: &Handmade) -> (&'static str, Vec<String>) {
    let all = workers(fleet);
    let on = |m: &str| -> Vec<String> {
        all.iter()
            .filter(|(_, at, _)| at.as_deref() == Some(m))
            .map(|(n, _, _)| n.clone())
            .collect()
    };
    let (m1, m2) = (on("m1"), on("m2"));
    if m1.len() >= m2.len() {
        ("m1", m1)
    } else {
        ("m2", m2)
    }
}

fn other(agent: &str) -> &'static str {
    if agent == "m1" { "m2" } else { "m1" }
}

#[test]
fn a_drain_pauses_and_hands_off_workers_as_the_agents_www_user() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    let (agent, moving) = busiest(&fleet);
    assert!(!moving.is_empty(), "no worker attached to {agent}");

    let out = fleet.bbctl(&["drain", agent, "-o", "json"]);
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("refused"), "{text}");
    let status = json_of(&fleet.bbctl(&["drain", "status", agent, "-o", "json"]));
    assert_eq!(status["phase"], "drained", "{status}");

    // Each worker was paused (the control call Buildbot only allows `bbctl-agent`), handed off
    // to the other master, and unpaused there.
    let handed_off: Vec<&str> = status["workers_handed_off"]
        .as_array()
        .expect("workers_handed_off")
        .iter()
        .filter_map(|h| h["worker"].as_str())
        .collect();
    for name in &moving {
        assert!(
            handed_off.contains(&name.as_str()),
            "{name} not handed off: {status}"
        );
    }
    let target = other(agent);
    wait_until(
        "the moved workers to be attached to the other master, unpaused",
        Duration::from_secs(60),
        || {
            let now = workers(&fleet);
            Ok(moving
                .iter()
                .all(|name| {
                    now.iter().any(|(n, at, paused)| {
                        n == name && at.as_deref() == Some(target) && !paused
                    })
                })
                .then_some(()))
        },
    )
    .unwrap();
}

/// Replaces `agent`'s running agent — the fleet's own, or `previous`, one this test started —
/// with one whose TOML is `edit`ed; waits until it answers and returns it.
fn restart_agent_with(
    fleet: &Handmade,
    agent: &str,
    previous: Option<Child>,
    label: &str,
    edit: impl Fn(&str) -> String,
) -> Child {
    match previous {
        None => fleet.stop_agent(agent).expect("the agent stops"),
        Some(mut child) => {
            child.kill().expect("the previous agent is killed");
            child.wait().expect("the previous agent exits");
        }
    }
    let text = edit(&fleet.agent_config_text(agent));
    let path = fleet
        .write_agent_config(&format!("{agent}-{label}"), &text)
        .expect("the agent config is written");
    let mut child = fleet.spawn_agent(&path, &[]).expect("the agent starts");
    let client = fleet.agent(agent);
    wait_until(
        &format!("agent {agent} ({label}) to answer"),
        Duration::from_secs(30),
        || {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(path.with_extension("log")).unwrap_or_default();
                anyhow::bail!("the agent exited ({status}): {log}");
            }
            // `/v1/master` also warms the agent (its first answer runs the master's Buildbot).
            Ok(client.get::<Value>("/v1/master").ok().map(|_| ()))
        },
    )
    .unwrap();
    child
}

/// Starts a drain of `agent` that Buildbot refuses to let pause a worker; returns the refusal as
/// `bbctl drain status` shows it, after checking that cancelling the drain leaves the master
/// running, in rotation, and no worker paused.
fn refused_drain(fleet: &Handmade, agent: &str) -> String {
    let out = fleet.bbctl(&["drain", agent, "--detach"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let shown = wait_until(
        "drain status to show the refused pause",
        Duration::from_secs(60),
        || {
            let out = fleet.bbctl(&["drain", "status", agent]);
            let text = output_text(&out);
            Ok(text
                .contains("Buildbot refused to pause worker")
                .then_some(text))
        },
    )
    .unwrap();
    // The agent's own answer carries the same message.
    let status: Value = fleet.agent(agent).get("/v1/drain").expect("GET /v1/drain");
    assert!(
        status
            .to_string()
            .contains("Buildbot refused to pause worker"),
        "{status}"
    );

    let out = fleet.bbctl(&["drain", "cancel", agent]);
    assert!(out.status.success(), "{}", output_text(&out));
    let status = json_of(&fleet.bbctl(&["drain", "status", agent, "-o", "json"]));
    assert_eq!(status["phase"], "cancelled", "{status}");
    let rows = json_of(&fleet.bbctl(&["masters", "list", "-o", "json"]));
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == agent)
        .expect("the master's row")
        .clone();
    assert_eq!(row["state"], "running", "{row}");
    // Back in rotation (HAProxy shows `UP 1/2` while its health check confirms it).
    wait_until(
        &format!("{agent}'s HAProxy server to be UP"),
        Duration::from_secs(60),
        || Ok((fleet.lb_server_state(agent)? == "UP").then_some(())),
    )
    .unwrap();
    for (name, _, paused) in workers(fleet) {
        assert!(!paused, "worker {name} was left paused");
    }
    shown
}

#[test]
fn a_refused_pause_is_named_in_drain_status_and_nothing_is_lost() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    let (agent, moving) = busiest(&fleet);
    assert!(!moving.is_empty(), "no worker attached to {agent}");
    let password_file = fleet.info.www_password_files["bbctl-agent"].clone();

    // A wrong password: the login is refused, the pause runs as anonymous and is refused.
    let wrong: &Path = &fleet.dir().join("wrong-www-password");
    std::fs::write(wrong, "not-the-password\n").unwrap();
    let wrong_password = restart_agent_with(&fleet, agent, None, "wrong-password", |toml| {
        toml.replace(password_file.to_str().unwrap(), wrong.to_str().unwrap())
    });
    // `masters show` already says so, before any drain.
    let info: Value = fleet
        .agent(agent)
        .get("/v1/master")
        .expect("GET /v1/master");
    let problems = info["problems"].to_string();
    assert!(
        problems.contains(
            "the master refused the login of user \\\"bbctl-agent\\\" (401 Unauthorized)"
        ),
        "{info}"
    );
    let shown = refused_drain(&fleet, agent);
    assert!(shown.contains("403 Forbidden"), "{shown}");
    assert!(
        shown.contains(
            "wrong user or password in master.rest_auth.user / master.rest_auth.password_file"
        ),
        "{shown}"
    );
    assert!(!shown.contains("not-the-password"), "{shown}");

    // No [master.rest_auth] at all: the pause runs as anonymous.
    let mut anonymous = restart_agent_with(
        &fleet,
        agent,
        Some(wrong_password),
        "no-rest-auth",
        |toml| {
            let start = toml
                .find("[master.rest_auth]")
                .expect("a [master.rest_auth] section");
            let end = toml[start..]
                .find("\n[")
                .map_or(toml.len(), |i| start + i + 1);
            format!("{}{}", &toml[..start], &toml[end..])
        },
    );
    let shown = refused_drain(&fleet, agent);
    assert!(
        shown.contains("403 Forbidden") && shown.contains("no [master.rest_auth] is configured"),
        "{shown}"
    );
    anonymous.kill().expect("the test's agent is killed");
    anonymous.wait().expect("the test's agent exits");
}
