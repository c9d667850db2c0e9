//! The hand-made fleet itself: it comes up as its operator made it, bbctl adopts it, and its www
//! really requires credentials for control calls (what the agent's `[master.rest_auth]` is for).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bbctl_e2e::handmade::Handmade;
use bbctl_e2e::{output_text, wait_until};
use serde_json::{Value, json};

/// The digest bbctl gives a configuration of one file, master.cfg (server/src/configs/bundle.rs
/// `sha256_of`: sha256 over
/// `path NUL content NUL` per file).
fn config_sha256(master_cfg: &std::path::Path) -> String {
    let mut input = b"master.cfg\0".to_vec();
    input.extend(std::fs::read(master_cfg).expect("master.cfg is readable"));
    input.push(0);
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().expect("sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

const WAIT: Duration = Duration::from_secs(30);

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", output_text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)))
}

#[test]
fn bbctl_adopts_the_hand_made_fleet_and_its_www_refuses_anonymous_control() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");

    // Both masters, as the inventory names them, run the operator's own master.cfg: bbctl did
    // not stage it, so it is `unmanaged` with that file's digest.
    let rows = json_of(&fleet.bbctl(&["masters", "list", "-o", "json"]));
    let rows = rows.as_array().expect("a JSON array");
    let sha = config_sha256(&fleet.info.master_cfg);
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["m1", "m2"], "{rows:?}");
    for row in rows {
        assert_eq!(row["state"], "running", "{row}");
        assert_eq!(row["active"], true, "{row}");
        assert_eq!(row["config_label"], "unmanaged", "{row}");
        assert_eq!(row["config_sha256"], sha.as_str(), "{row}");
    }
    let m1 = fleet.master("m1");
    assert!(
        rows[0]["buildbot_name"]
            .as_str()
            .is_some_and(|n| n.ends_with(&format!(":{}", m1.basedir.display()))),
        "{}",
        rows[0]
    );
    let table = fleet.bbctl(&["masters", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(&format!("unmanaged ({})", &sha[..12])),
        "{}",
        output_text(&table)
    );

    // Every worker is attached (through HAProxy) to one of the two masters.
    let workers = json_of(&fleet.bbctl(&["workers", "list", "-o", "json"]));
    let attached: BTreeSet<&str> = workers
        .as_array()
        .expect("a JSON array")
        .iter()
        .filter(|w| w["master"].as_str().is_some_and(|m| m == "m1" || m == "m2"))
        .filter_map(|w| w["name"].as_str())
        .collect();
    assert_eq!(
        attached,
        BTreeSet::from(["lnx-01", "lnx-02", "lnx-03"]),
        "{workers}"
    );

    // HAProxy is the operator's: backend bb_workers with servers bb-alpha and bb-bravo, both UP.
    let states = fleet
        .lb_server_states()
        .expect("HAProxy's runtime API answers");
    assert_eq!(
        states.keys().map(String::as_str).collect::<Vec<_>>(),
        ["bb-alpha", "bb-bravo"],
        "{states:?}"
    );
    assert!(states.values().all(|s| s == "UP"), "{states:?}");

    // The www's authz is real: an anonymous pause is refused and changes nothing, while the
    // `bbctl-agent` user of the agents' [master.rest_auth] may pause and unpause.
    let anonymous = fleet.buildbot("m1");
    let id = anonymous.list("workers?name=lnx-01", "workers").unwrap()[0]["workerid"]
        .as_i64()
        .expect("a workerid");
    let path = format!("workers/{id}");
    let refused = anonymous
        .control(&path, "pause", json!({"reason": "anonymous"}))
        .expect_err("an anonymous control call is refused");
    assert!(refused.to_string().contains("403"), "{refused:#}");
    // A refused call never reaches the worker's master (authz answers before the control
    // message is sent), so "not paused" right now is the whole story.
    let paused =
        || -> anyhow::Result<bool> { Ok(anonymous.list(&path, "workers")?[0]["paused"] == true) };
    assert!(!paused().unwrap());
    let agent_user = fleet
        .login("m1", "bbctl-agent")
        .expect("bbctl-agent logs in");
    // A control call is carried out asynchronously by the master the worker is attached to.
    for (method, want) in [("pause", true), ("unpause", false)] {
        agent_user
            .control(&path, method, json!({"reason": "smoke test"}))
            .unwrap_or_else(|e| panic!("bbctl-agent may {method} a worker: {e:#}"));
        wait_until(&format!("lnx-01 paused={want}"), WAIT, || {
            Ok((paused()? == want).then_some(()))
        })
        .unwrap();
    }
}
