//! `GET /v1/master/analysis` against a fake Buildbot REST API and a `twistd.log` written here:
//! this master's builds since the moment, oldest first, and its log's signals; the refusals.

use axum::http::StatusCode;
use bbctl_agent::buildbot::{Build, Builder};
use serde_json::json;

use crate::helpers::{TestAgent, assert_error, master};

/// 2023-11-14 22:13:20 UTC.
const SINCE: i64 = 1_700_000_000;

fn build(buildid: i64, masterid: i64, started_at: i64, complete_at: Option<f64>) -> Build {
    Build {
        buildid,
        builderid: 5,
        number: Some(buildid),
        workerid: Some(10),
        masterid: Some(masterid),
        buildrequestid: None,
        started_at: Some(started_at),
        complete_at,
        complete: complete_at.is_some(),
        state_string: None,
        results: complete_at.map(|_| 0),
    }
}

const LOG: &str = "\
2023-11-14 22:13:10+0000 [-] Guru meditation! We have been disconnected from wamp server
2023-11-14 22:13:25+0000 [-] during reconfig:
\tTraceback (most recent call last):
\t  File \"/venv/lib/python3.11/site-packages/buildbot/master.py\", line 433, in doReconfig
\t    yield self.reconfigServiceWithBuildbotConfig(new_config)
\tbuiltins.RuntimeError: boom
\t
2023-11-14 22:13:25+0000 [-] WARNING: configuration update partially applied; master may malfunction (took 0.4 seconds)
";

#[tokio::test]
async fn lists_this_masters_builds_since_oldest_first_and_the_log_signals() {
    let agent = TestAgent::new();
    let me = format!("vm:{}", agent.basedir().display());
    agent.fake.set(|d| {
        d.masters = vec![master(1, "vm:/srv/other", true), master(2, &me, true)];
        d.builders = vec![Builder {
            builderid: 5,
            name: "linux".into(),
        }];
        d.builds = vec![
            build(13, 2, SINCE + 9, None),
            build(11, 2, SINCE - 1, Some((SINCE + 3) as f64)),
            build(12, 2, SINCE, Some((SINCE + 4) as f64)),
            build(14, 1, SINCE + 5, None),
        ];
    });
    std::fs::create_dir_all(agent.basedir()).unwrap();
    std::fs::write(agent.basedir().join("twistd.log"), LOG).unwrap();
    let (status, body) = agent
        .call("GET", &format!("/v1/master/analysis?since={SINCE}.5"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["since"], json!(SINCE as f64 + 0.5));
    assert!(body["at"].as_f64().unwrap() > SINCE as f64);
    assert_eq!(body["masterid"], 2);
    assert_eq!(
        body["builds"],
        json!([
            {"buildid": 12, "builderid": 5, "builder": "linux", "number": 12, "results": 0,
             "complete": true, "started_at": SINCE, "complete_at": SINCE + 4},
            {"buildid": 13, "builderid": 5, "builder": "linux", "number": 13, "results": null,
             "complete": false, "started_at": SINCE + 9, "complete_at": null},
        ])
    );
    assert_eq!(
        body["log"],
        json!({
            "readable": true, "tracebacks": 1, "reconfig_partial": 1, "wamp_lost": 0,
            "evidence": [
                "2023-11-14 22:13:25+0000 builtins.RuntimeError: boom",
                "2023-11-14 22:13:25+0000 [-] WARNING: configuration update partially applied; master may malfunction (took 0.4 seconds)",
            ],
        })
    );
}

#[tokio::test]
async fn a_master_buildbot_does_not_know_has_no_builds_and_no_log_yet() {
    let agent = TestAgent::new();
    agent
        .fake
        .set(|d| d.builds = vec![build(1, 1, SINCE + 1, None)]);
    let (status, body) = agent.call("GET", "/v1/master/analysis?since=0", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["masterid"], json!(null));
    assert_eq!(body["builds"], json!([]));
    assert_eq!(body["log"]["readable"], false);
    assert_eq!(body["log"]["evidence"], json!([]));
}

#[tokio::test]
async fn a_since_that_is_no_moment_is_refused() {
    let agent = TestAgent::new();
    let ahead = bbctl_agent::db::now() + 2.0 * 86_400.0;
    for query in [
        String::new(),
        "?since=".into(),
        "?since=soon".into(),
        "?since=-1".into(),
        "?since=NaN".into(),
        "?since=inf".into(),
        format!("?since={ahead}"),
        format!("?since={SINCE}&limit=3"),
    ] {
        let (status, body) = agent
            .call("GET", &format!("/v1/master/analysis{query}"), None)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[tokio::test]
async fn buildbot_down_is_a_502() {
    let agent = TestAgent::new();
    agent.fake.set(|d| d.down = true);
    let (status, body) = agent
        .call("GET", &format!("/v1/master/analysis?since={SINCE}"), None)
        .await;
    assert_error(status, &body, StatusCode::BAD_GATEWAY, "upstream");
}
