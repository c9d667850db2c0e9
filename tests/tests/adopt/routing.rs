//! Routing at the operator's own HAProxy (issue 12): a drained master comes back into rotation
//! with `bbctl start` (and stays out with `--keep-out-of-rotation` until `bbctl routing
//! resume`), `masters list` shows the routing state, and a wrong backend or server name in a
//! hand-written agent TOML stops the agent at start, naming the setting.
//!
//! HAProxy's own view is read through its runtime socket (`Handmade::lb_server_state`), never
//! through the agent.

use std::process::Output;
use std::time::Duration;

use bbctl_e2e::handmade::Handmade;
use bbctl_e2e::{output_text, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", output_text(&out));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)))
}

/// `masters list -o json`'s `routing` of each master, by inventory name.
fn routing_of(fleet: &Handmade) -> Vec<(String, Value)> {
    let rows = json_of(&ok(fleet.bbctl(&["masters", "list", "-o", "json"])));
    rows.as_array()
        .expect("a JSON array")
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r["routing"].clone()))
        .collect()
}

/// Waits until HAProxy reports `agent`'s server in `state` (`UP`, `MAINT`, ...).
fn wait_lb(fleet: &Handmade, agent: &str, state: &str) {
    wait_until(
        &format!("HAProxy to show {agent}'s server {state}"),
        WAIT,
        || Ok((fleet.lb_server_state(agent)? == state).then_some(())),
    )
    .unwrap();
}

/// The workers attached to master `agent`, by `workers list -o json`.
fn workers_on(fleet: &Handmade, agent: &str) -> Vec<String> {
    let rows = json_of(&ok(fleet.bbctl(&["workers", "list", "-o", "json"])));
    rows.as_array()
        .expect("a JSON array")
        .iter()
        .filter(|w| w["master"] == agent)
        .filter_map(|w| w["name"].as_str().map(str::to_owned))
        .collect()
}

/// Drains `agent` to its end (the CLI follows it).
fn drain(fleet: &Handmade, agent: &str) {
    ok(fleet.bbctl(&["drain", agent, "--reason", "routing test"]));
    wait_lb(fleet, agent, "MAINT");
}

#[test]
fn a_drained_master_is_back_in_rotation_after_start() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    assert_eq!(
        routing_of(&fleet),
        [("m1".into(), "ready".into()), ("m2".into(), "ready".into())]
    );

    // Drained: HAProxy keeps m2 in MAINT, on purpose, and `masters list` says so.
    drain(&fleet, "m2");
    assert_eq!(
        routing_of(&fleet),
        [("m1".into(), "ready".into()), ("m2".into(), "maint".into())]
    );

    // `bbctl start m2` puts it back, and says so.
    let out = ok(fleet.bbctl(&["start", "m2"]));
    assert!(
        stdout(&out).contains("back in rotation (maint -> ready)"),
        "{}",
        output_text(&out)
    );
    wait_lb(&fleet, "m2", "UP");
    assert_eq!(routing_of(&fleet)[1], ("m2".into(), "ready".into()));

    // A worker can land on it again: draining m1 hands its workers off through HAProxy, and
    // m2 is the only server in rotation.
    let on_m1 = workers_on(&fleet, "m1");
    drain(&fleet, "m1");
    let on_m2 = workers_on(&fleet, "m2");
    assert!(
        on_m1.iter().all(|w| on_m2.contains(w)) && on_m2.len() == 3,
        "m1 had {on_m1:?}; m2 has {on_m2:?}"
    );

    // `--keep-out-of-rotation` leaves m1 in MAINT; `bbctl routing resume m1` puts it back.
    let out = ok(fleet.bbctl(&["start", "m1", "--keep-out-of-rotation"]));
    assert!(
        stdout(&out).contains("kept out of rotation (maint)"),
        "{}",
        output_text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`bbctl routing resume m1`"),
        "{}",
        output_text(&out)
    );
    assert_eq!(fleet.lb_server_state("m1").unwrap(), "MAINT");
    let status = json_of(&ok(fleet.bbctl(&["routing", "status", "m1", "-o", "json"])));
    assert_eq!(
        (&status["hook"], &status["routing"]),
        (&"haproxy".into(), &"maint".into()),
        "{status}"
    );
    let resumed = json_of(&ok(fleet.bbctl(&["routing", "resume", "m1", "-o", "json"])));
    assert_eq!(
        (&resumed["before"], &resumed["routing"]),
        (&"maint".into(), &"ready".into()),
        "{resumed}"
    );
    wait_lb(&fleet, "m1", "UP");
    assert_eq!(
        routing_of(&fleet),
        [("m1".into(), "ready".into()), ("m2".into(), "ready".into())]
    );
}

/// Issue 12: a typo in the backend or server name used to be accepted (`/readyz` ready) and a
/// drain then retried forever. Now the agent refuses to start, with one line naming the key;
/// and a runtime API that does not answer yet keeps `/readyz` not ready, with the reason.
#[test]
fn load_balancer_settings_are_checked_at_start_and_on_readyz() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    let m2 = fleet.master("m2");
    let spare = fleet.info.spare_agent_ports[0];
    let own = fleet
        .agent_config_text("m2")
        .replace(&format!(":{}\"", m2.agent_port), &format!(":{spare}\""))
        .replace(
            &format!("\"{}\"", m2.agent_state_dir.display()),
            &format!("\"{}\"", fleet.dir().join("typo-state").display()),
        );
    assert!(own.contains(&format!(":{spare}\"")), "{own}");
    let cases = [
        (
            "bb_workers",
            "bb_workrs",
            "load_balancer.backend",
            "no backend `bb_workrs`",
        ),
        (
            "\"bb-bravo\"",
            "\"bb-bravvo\"",
            "load_balancer.server",
            "no server `bb-bravvo`",
        ),
    ];
    for (right, wrong, key, says) in cases {
        let toml = own.replace(right, wrong);
        assert_ne!(toml, own, "{right} is in the hand-written TOML");
        let name = format!("m2-{}", key.rsplit('.').next().unwrap());
        let path = fleet.write_agent_config(&name, &toml).unwrap();
        let mut child = fleet.spawn_agent(&path, &[]).unwrap();
        let status = wait_until(
            &format!("the agent with a wrong {key} to exit"),
            WAIT,
            || Ok(child.try_wait()?),
        )
        .unwrap();
        let log = std::fs::read_to_string(path.with_extension("log")).unwrap();
        assert_eq!(status.code(), Some(2), "{log}");
        let line = log
            .lines()
            .find(|l| l.starts_with("bbctl-agent: "))
            .unwrap_or_else(|| panic!("no error line: {log}"));
        assert!(
            line.contains(&format!("bad setting `{key}`")) && line.contains(says),
            "{line}"
        );
        // Nothing was created for it: the check runs before the state DB is opened.
        assert!(
            !fleet
                .dir()
                .join("typo-state")
                .join("agent.sqlite3")
                .exists()
        );
    }
    // The fleet's own agent was never disturbed.
    assert_eq!(fleet.lb_server_state("m2").unwrap(), "UP");

    // A runtime API that does not answer yet does not stop the agent: /readyz says why it is
    // not ready, and is ready once HAProxy answers there (a forwarder to the real socket).
    let socket = fleet.dir().join("late-haproxy.sock");
    let toml = own.replace(
        &format!("\"{}\"", fleet.info.haproxy.runtime_socket.display()),
        &format!("\"{}\"", socket.display()),
    );
    assert_ne!(toml, own, "the runtime socket is in the hand-written TOML");
    let path = fleet.write_agent_config("m2-late-haproxy", &toml).unwrap();
    let mut child = fleet.spawn_agent(&path, &[]).unwrap();
    let agent = bbctl_e2e::agent_client::AgentClient::new(
        &format!("http://127.0.0.1:{spare}/"),
        &fleet.token(),
    );
    let reasons = wait_until("the agent to answer /readyz", WAIT, || {
        assert!(child.try_wait()?.is_none(), "the agent exited");
        let (status, body) = agent.open_get("/readyz")?;
        Ok((status == 503).then_some(body["reasons"].clone()))
    })
    .unwrap();
    assert!(
        reasons.as_array().unwrap().iter().any(|r| {
            let r = r.as_str().unwrap();
            r.starts_with("load balancer unavailable: HAProxy runtime API at")
                && r.contains("late-haproxy.sock")
        }),
        "{reasons}"
    );
    forward_unix_socket(&socket, fleet.info.haproxy.runtime_socket.clone());
    wait_until("/readyz to say ready once HAProxy answers", WAIT, || {
        let (status, body) = agent.open_get("/readyz")?;
        Ok((status == 200 && body["status"] == "ready").then_some(()))
    })
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Serves `at` by relaying every connection to the unix socket `to` (HAProxy's runtime API
/// appearing late), in background threads that end with the test process.
fn forward_unix_socket(at: &std::path::Path, to: std::path::PathBuf) {
    use std::os::unix::net::{UnixListener, UnixStream};
    let listener = UnixListener::bind(at).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = UnixStream::connect(&to) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}
