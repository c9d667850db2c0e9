//! Against a real Buildbot 4.3.0 master (SQLite DB, simple MQ, ports on 127.0.0.1) driven
//! through the agent over TCP: create, stage → checkconfig → activate → start, 409 on a second
//! start, topology equal to Buildbot's own REST answer, reconfig to a new config sha, a failing
//! reconfig and a failing start with their log lines, graceful stop.
//! Fails (does not skip) when the venv is missing: run scripts/install-deps.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::{AgentOptions, TOKEN, TestAgent, free_port, stage_body, venv_buildbot};

const MASTER_CFG: &str = r#"
import json, os
from buildbot.plugins import util, worker, schedulers, steps
v = json.load(open(os.environ.get("BBCTL_VARS_FILE", os.path.join(basedir, "bbctl-vars.json"))))
c = BuildmasterConfig = {}
c['workers'] = [worker.Worker("w1", "pass")]
c['protocols'] = {'pb': {'port': 'tcp:%d:interface=127.0.0.1' % v['pb_port']}}
c['www'] = {'port': 'tcp:%d:interface=127.0.0.1' % v['www_port']}
c['db'] = {'db_url': 'sqlite:///state.sqlite'}
c['buildbotNetUsageData'] = None
f = util.BuildFactory([steps.ShellCommand(command=["true"])])
c['builders'] = [util.BuilderConfig(name=n, workernames=["w1"], factory=f) for n in BUILDERS]
c['schedulers'] = [schedulers.ForceScheduler(name="force", builderNames=BUILDERS)]
"#;

fn master_cfg(builders: &[&str]) -> String {
    format!("BUILDERS = {builders:?}\n{MASTER_CFG}")
}

/// Kills the master if the test ends early, so no master outlives the test.
struct KillOnDrop(PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = bbctl_agent::master::process::running_pid(&self.0) {
            let _ = std::process::Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .status();
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn stage(&self, label: &str, cfg: &str) -> String {
        let (status, v) = self
            .call("POST", "/v1/configs", Some(stage_body(label, cfg)))
            .await;
        assert_eq!(status, 201, "{v}");
        v["sha256"].as_str().unwrap().to_owned()
    }
}

async fn rest(www: u16, path: &str) -> Value {
    reqwest::get(format!("http://127.0.0.1:{www}/api/v2/{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_against_a_real_master() {
    let buildbot = venv_buildbot();
    let (www, pb) = (free_port(), free_port());
    let agent = TestAgent::with(AgentOptions {
        buildbot,
        rest_url: format!("http://127.0.0.1:{www}/"),
        vars: format!("www_port = {www}\npb_port = {pb}"),
        fake_rest: false,
        start_timeout_secs: 60.0,
        ..AgentOptions::default()
    });
    let _guard = KillOnDrop(agent.basedir());
    let c = Client {
        http: reqwest::Client::new(),
        base: agent.serve_tcp().await,
    };

    let (status, op) = c.call("POST", "/v1/master/create", None).await;
    assert_eq!(status, 200, "{op}");
    assert!(agent.basedir().join("buildbot.tac").is_file());

    let v1 = c.stage("v1", &master_cfg(&["b1"])).await;
    let (_, check) = c
        .call("POST", &format!("/v1/configs/{v1}/checkconfig"), None)
        .await;
    assert_eq!(check["ok"], true, "{check}");
    let (status, _) = c
        .call("POST", &format!("/v1/configs/{v1}/activate"), None)
        .await;
    assert_eq!(status, 200);

    let (status, op) = c
        .call("POST", "/v1/master/start", Some(json!({"reason": "test"})))
        .await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["ok"], true);
    let (status, err) = c.call("POST", "/v1/master/start", None).await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "conflict");

    // Topology equals what Buildbot says.
    let (_, info) = c.call("GET", "/v1/master", None).await;
    let masters = rest(www, "masters").await;
    let row = &masters["masters"][0];
    assert_eq!(masters["masters"].as_array().unwrap().len(), 1);
    assert_eq!(info["masterid"], row["masterid"]);
    assert_eq!(info["buildbot_name"], row["name"]);
    assert!(
        row["name"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", agent.basedir().display()))
    );
    assert_eq!(info["active"], true);
    assert_eq!(info["state"], "running");
    assert_eq!(info["buildbot_version"], "4.3.0");
    assert_eq!(info["config"], json!({"sha256": v1, "label": "v1"}));
    let pid: u64 = std::fs::read_to_string(agent.basedir().join("twistd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(info["process"]["pid"], pid);
    assert_eq!(info["problems"], json!([]));
    let (_, fleet) = c.call("GET", "/v1/fleet", None).await;
    assert_eq!(fleet["masters"][0]["masterid"], row["masterid"]);
    // Buildbot's own scheduler rows decode, and the one master claims its force scheduler
    // (at its start; waited for, not timed).
    let mut services = fleet["services"].clone();
    for _ in 0..60 {
        if services[0]["masterid"] == row["masterid"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        services = c.call("GET", "/v1/fleet", None).await.1["services"].clone();
    }
    assert_eq!(
        services,
        json!([{"kind": "scheduler", "name": "force", "masterid": row["masterid"], "master_name": row["name"]}])
    );
    let (_, workers) = c.call("GET", "/v1/master/workers", None).await;
    assert_eq!(workers, json!([]), "no worker runs in this test");
    let ready = reqwest::get(format!("{}/readyz", c.base)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let vars: Value = serde_json::from_str(
        &std::fs::read_to_string(agent.basedir().join("bbctl-vars.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        vars,
        json!({"www_port": www, "pb_port": pb, "agent_name": "test-agent"})
    );

    // stage → checkconfig → activate → reconfig switches the active sha and the builders.
    let v2 = c.stage("v2", &master_cfg(&["b1", "b2"])).await;
    let (_, check) = c
        .call("POST", &format!("/v1/configs/{v2}/checkconfig"), None)
        .await;
    assert_eq!(check["ok"], true, "{check}");
    c.call("POST", &format!("/v1/configs/{v2}/activate"), None)
        .await;
    let (status, op) = c.call("POST", "/v1/master/reconfig", None).await;
    assert_eq!(status, 200, "{op}");
    let (_, info) = c.call("GET", "/v1/master", None).await;
    assert_eq!(info["config"], json!({"sha256": v2, "label": "v2"}));
    let builders = rest(www, "builders").await;
    let names: Vec<&str> = builders["builders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert!(names.contains(&"b2"), "{builders}");

    // A broken config: checkconfig fails verbatim; reconfig with it fails with log lines.
    let bad = c
        .stage(
            "bad",
            &format!("{}\nundefined_name_xyz\n", master_cfg(&["b1"])),
        )
        .await;
    let (_, check) = c
        .call("POST", &format!("/v1/configs/{bad}/checkconfig"), None)
        .await;
    assert_eq!(check["ok"], false);
    assert!(
        check["output"]
            .as_str()
            .unwrap()
            .contains("undefined_name_xyz"),
        "{check}"
    );
    c.call("POST", &format!("/v1/configs/{bad}/activate"), None)
        .await;
    let (status, err) = c.call("POST", "/v1/master/reconfig", None).await;
    assert_eq!(status, 422, "{err}");
    let lines = err["error"]["details"]["log_lines"].to_string();
    assert!(lines.contains("undefined_name_xyz"), "{lines}");

    // Graceful stop.
    let (status, op) = c
        .call("POST", "/v1/master/stop", Some(json!({"mode": "graceful"})))
        .await;
    assert_eq!(status, 200, "{op}");
    assert!(bbctl_agent::master::process::running_pid(&agent.basedir()).is_none());
    let ready = reqwest::get(format!("{}/readyz", c.base)).await.unwrap();
    assert_eq!(ready.status(), 503);

    // Starting with the broken config fails with the log lines that say why.
    let (status, err) = c.call("POST", "/v1/master/start", None).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "operation_failed");
    let lines = err["error"]["details"]["log_lines"].to_string();
    assert!(lines.contains("undefined_name_xyz"), "{lines}");
    assert!(bbctl_agent::master::process::running_pid(&agent.basedir()).is_none());

    // Rollback to v1 and restart: the master runs v1 again.
    c.call("POST", &format!("/v1/configs/{v1}/activate"), None)
        .await;
    let (status, op) = c.call("POST", "/v1/master/start", None).await;
    assert_eq!(status, 200, "{op}");
    let (_, info) = c.call("GET", "/v1/master", None).await;
    assert_eq!(info["config"]["sha256"], v1);
    assert_eq!(info["state"], "running");
    let (status, op) = c
        .call(
            "POST",
            "/v1/master/stop",
            Some(json!({"mode": "immediate"})),
        )
        .await;
    assert_eq!(status, 200, "{op}");
    assert!(bbctl_agent::master::process::running_pid(&agent.basedir()).is_none());

    // The history tells the story.
    let (_, ops) = c.call("GET", "/v1/operations", None).await;
    let kinds: Vec<(&str, bool)> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["kind"].as_str().unwrap(), o["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("stop", true),
            ("start", true),
            ("activate", true),
            ("start", false),
            ("stop", true),
            ("reconfig", false),
            ("activate", true),
            ("reconfig", true),
            ("activate", true),
            ("start", true),
            ("activate", true),
            ("create", true),
        ]
    );
    let states: Vec<String> = agent
        .state
        .hub()
        .backlog_since(0)
        .iter()
        .filter(|e| e.kind == "agent.master_state")
        .map(|e| e.data["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        states.windows(2).any(|w| w == ["starting", "running"]),
        "{states:?}"
    );
}
