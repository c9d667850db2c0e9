//! Topology endpoints against a fake Buildbot REST API: this master's workers, builds and
//! claimed requests are filtered by its master id; the fleet shows everything.

use axum::http::StatusCode;
use bbctl_agent::buildbot::{
    Build, BuildRequest, Builder, ClusteredService, MasterRef, OwnerRef, Worker,
};
use serde_json::json;
use std::time::Duration;

use crate::helpers::{TestAgent, assert_error, master};

fn populate(agent: &TestAgent) {
    let me = format!("vm:{}", agent.basedir().display());
    agent.fake.set(|d| {
        d.masters = vec![master(1, "vm:/srv/other", true), master(2, &me, true)];
        d.workers = vec![
            Worker {
                workerid: 10,
                name: "w-here".into(),
                paused: false,
                pause_reason: None,
                connected_to: vec![MasterRef { masterid: 2 }],
            },
            Worker {
                workerid: 11,
                name: "w-there".into(),
                paused: true,
                pause_reason: Some("x".into()),
                connected_to: vec![MasterRef { masterid: 1 }],
            },
        ];
        d.builders = vec![Builder {
            builderid: 5,
            name: "linux".into(),
        }];
        d.builds = vec![
            Build {
                buildid: 100,
                builderid: 5,
                number: Some(3),
                workerid: Some(10),
                masterid: Some(2),
                buildrequestid: Some(7),
                started_at: Some(1_700_000_001),
                complete_at: None,
                complete: false,
                state_string: Some("building".into()),
                results: None,
            },
            Build {
                buildid: 101,
                builderid: 5,
                number: Some(4),
                workerid: Some(11),
                masterid: Some(1),
                buildrequestid: Some(8),
                started_at: Some(1_700_000_002),
                complete_at: None,
                complete: false,
                state_string: None,
                results: None,
            },
        ];
        d.requests = vec![
            BuildRequest {
                buildrequestid: 7,
                builderid: 5,
                claimed: true,
                claimed_by_masterid: Some(2),
                submitted_at: Some(1),
                complete: false,
            },
            BuildRequest {
                buildrequestid: 8,
                builderid: 5,
                claimed: true,
                claimed_by_masterid: Some(1),
                submitted_at: Some(1),
                complete: false,
            },
            BuildRequest {
                buildrequestid: 9,
                builderid: 5,
                claimed: false,
                claimed_by_masterid: None,
                submitted_at: Some(2),
                complete: false,
            },
        ];
        d.schedulers = vec![ClusteredService {
            name: "force".into(),
            master: Some(OwnerRef {
                masterid: 1,
                name: Some("vm:/srv/other".into()),
            }),
        }];
        d.changesources = vec![ClusteredService {
            name: "poller".into(),
            master: None,
        }];
    });
}

#[tokio::test]
async fn master_info_combines_process_rest_and_config() {
    let agent = TestAgent::new();
    populate(&agent);
    let (status, info) = agent.call("GET", "/v1/master", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["agent_name"], "test-agent");
    assert_eq!(info["masterid"], 2);
    assert_eq!(
        info["buildbot_name"],
        format!("vm:{}", agent.basedir().display())
    );
    assert_eq!(info["active"], true);
    assert_eq!(
        info["process"],
        json!({"running": false, "pid": null, "uptime_secs": null})
    );
    // No process: stopped, whatever the (stale) row says.
    assert_eq!(info["state"], "stopped");
    assert_eq!(info["workers"][0]["name"], "w-here");
    assert_eq!(info["workers"][0]["builds"], json!([100]));
    assert_eq!(info["builds"].as_array().unwrap().len(), 1);
    assert_eq!(info["builds"][0]["builder_name"], "linux");
    assert_eq!(info["builds"][0]["worker_name"], "w-here");
    assert_eq!(info["claimed_requests"][0]["buildrequestid"], 7);
    assert_eq!(info["claimed_requests"].as_array().unwrap().len(), 1);
    assert_eq!(info["drain"], serde_json::Value::Null);
    assert_eq!(info["config"], serde_json::Value::Null);
    // The configured executable does not exist.
    assert_eq!(info["buildbot_version"], serde_json::Value::Null);
}

#[tokio::test]
async fn narrow_endpoints_filter_by_this_master() {
    let agent = TestAgent::new();
    populate(&agent);
    let (_, workers) = agent.call("GET", "/v1/master/workers", None).await;
    assert_eq!(workers.as_array().unwrap().len(), 1);
    assert_eq!(workers[0]["workerid"], 10);
    assert_eq!(workers[0]["connected_to"], json!([2]));
    let (_, builds) = agent.call("GET", "/v1/master/builds", None).await;
    assert_eq!(
        builds
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["buildid"].clone())
            .collect::<Vec<_>>(),
        [json!(100)]
    );
    let (_, reqs) = agent.call("GET", "/v1/master/buildrequests", None).await;
    assert_eq!(
        reqs,
        json!([{"buildrequestid": 7, "builderid": 5, "claimed": true,
                             "claimed_by_masterid": 2, "submitted_at": 1}])
    );
}

#[tokio::test]
async fn fleet_shows_every_master_worker_and_build() {
    let agent = TestAgent::new();
    populate(&agent);
    let (status, fleet) = agent.call("GET", "/v1/fleet", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fleet["masters"].as_array().unwrap().len(), 2);
    assert_eq!(fleet["workers"][1]["connected_to"], json!([1]));
    assert_eq!(fleet["workers"][1]["paused"], true);
    assert_eq!(fleet["builds"].as_array().unwrap().len(), 2);
    assert_eq!(fleet["unclaimed_requests"], 1);
    let claims: Vec<_> = fleet["claimed_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["buildrequestid"].clone(),
                r["claimed_by_masterid"].clone(),
            )
        })
        .collect();
    assert_eq!(claims, [(json!(7), json!(2)), (json!(8), json!(1))]);
    assert_eq!(
        fleet["services"],
        json!([
            {"kind": "scheduler", "name": "force", "masterid": 1, "master_name": "vm:/srv/other"},
            {"kind": "change_source", "name": "poller", "masterid": null, "master_name": null},
        ])
    );
}

#[tokio::test]
async fn rest_down_is_502_for_topology_and_a_problem_is_not_invented_when_stopped() {
    let agent = TestAgent::new();
    agent.fake.set(|d| d.down = true);
    for path in [
        "/v1/master/workers",
        "/v1/master/builds",
        "/v1/master/buildrequests",
        "/v1/fleet",
    ] {
        let (status, json) = agent.call("GET", path, None).await;
        assert_error(status, &json, StatusCode::BAD_GATEWAY, "upstream");
    }
    let (status, info) = agent.call("GET", "/v1/master", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["state"], "stopped");
    assert_eq!(info["masterid"], serde_json::Value::Null);
    assert_eq!(info["problems"], json!([]));
}

#[tokio::test]
async fn a_known_master_keeps_its_id_while_its_rest_api_is_down() {
    let agent = TestAgent::new();
    agent.fake.set(|d| {
        d.masters = vec![master(
            5,
            &format!("vm:{}", agent.dir.path().join("master").display()),
            true,
        )]
    });
    let (_, info) = agent.call("GET", "/v1/master", None).await;
    assert_eq!(info["masterid"], 5, "{info:#}");
    agent.fake.set(|d| d.down = true);
    // The snapshot readers share serves for up to its TTL while no event comes.
    tokio::time::sleep(bbctl_agent::topology::cache::TTL + Duration::from_millis(100)).await;
    let (status, info) = agent.call("GET", "/v1/master", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["masterid"], 5, "{info:#}");
    assert!(
        info["buildbot_name"].as_str().unwrap().ends_with("/master"),
        "{info:#}"
    );
    assert_eq!(info["active"], serde_json::Value::Null, "{info:#}");
}

#[tokio::test]
async fn unknown_master_is_409_on_narrow_endpoints() {
    let agent = TestAgent::new();
    agent
        .fake
        .set(|d| d.masters = vec![master(1, "vm:/srv/other", true)]);
    let (status, json) = agent.call("GET", "/v1/master/workers", None).await;
    assert_error(status, &json, StatusCode::CONFLICT, "conflict");
}

/// Issue 12: `uptime_secs` read `12.300000000001` (clock ticks turned into float seconds). It
/// is whole tenths of a second now, read after read.
#[tokio::test]
async fn uptime_has_no_float_noise() {
    let agent = TestAgent::new();
    populate(&agent);
    let basedir = agent.basedir();
    // A stand-in master: a `sleep` living in the basedir, its pid in twistd.pid.
    std::fs::create_dir_all(&basedir).unwrap();
    let mut master = std::process::Command::new("sleep")
        .arg("600")
        .current_dir(&basedir)
        .spawn()
        .unwrap();
    std::fs::write(basedir.join("twistd.pid"), master.id().to_string()).unwrap();
    let mut uptimes = Vec::new();
    for _ in 0..20 {
        let (status, info) = agent.call("GET", "/v1/master", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(info["process"]["running"], true, "{info}");
        uptimes.push(info["process"]["uptime_secs"].as_f64().unwrap());
    }
    master.kill().unwrap();
    master.wait().unwrap();
    for up in uptimes {
        assert_eq!((up * 10.0).round() / 10.0, up, "uptime_secs {up}");
    }
}
