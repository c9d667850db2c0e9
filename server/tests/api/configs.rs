//! Staging, listing, checkconfig and activation of configuration versions, and bad input:
//! unknown fields, oversized uploads, path traversal, a config that fails checkconfig.

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{AgentOptions, TestAgent, assert_error, b64, stage_body, venv_buildbot};

const GOOD_CFG: &str = "c = BuildmasterConfig = {}\n";

#[tokio::test]
async fn stage_list_get_and_restage() {
    let agent = TestAgent::new();
    let body = json!({
        "label": "v1",
        "reason": "first",
        "files": [
            {"path": "master.cfg", "content_base64": b64(b"x")},
            {"path": "lib/steps.py", "content_base64": b64(b"y")},
        ],
    });
    let (status, v) = agent.call("POST", "/v1/configs", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // sha256 over the sorted (path, NUL, content, NUL) list, as documented in bbctl-api.
    let expect = {
        use sha2::Digest;
        let h = sha2::Sha256::digest(b"lib/steps.py\0y\0master.cfg\0x\0");
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(v["sha256"], expect);
    assert_eq!(v["files"], json!(["lib/steps.py", "master.cfg"]));
    assert_eq!(v["active"], false);
    assert_eq!(v["checkconfig"], serde_json::Value::Null);
    let staged = agent.state.config().configs_dir().join(&expect);
    assert_eq!(std::fs::read(staged.join("lib/steps.py")).unwrap(), b"y");

    let (status, got) = agent
        .call("GET", &format!("/v1/configs/{expect}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, v);
    let (_, list) = agent.call("GET", "/v1/configs", None).await;
    assert_eq!(list, json!([v]));
    let (status, again) = agent.call("POST", "/v1/configs", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["sha256"], expect);
    let (_, list) = agent.call("GET", "/v1/configs", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_sha_is_404() {
    let agent = TestAgent::new();
    for (m, p) in [
        ("GET", "/v1/configs/abc"),
        ("POST", "/v1/configs/abc/checkconfig"),
        ("POST", "/v1/configs/abc/activate"),
    ] {
        let (status, json) = agent.call(m, p, None).await;
        assert_error(status, &json, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn bad_bodies_are_400_and_store_nothing() {
    let agent = TestAgent::new();
    let mut unknown = stage_body("v1", GOOD_CFG);
    unknown["surprise"] = json!(1);
    let mut unknown_in_file = stage_body("v1", GOOD_CFG);
    unknown_in_file["files"][0]["mode"] = json!("0644");
    let traversal = json!({"label": "v1", "files": [
        {"path": "master.cfg", "content_base64": b64(b"x")},
        {"path": "../../etc/evil", "content_base64": b64(b"x")},
    ]});
    let cases = [
        unknown,
        unknown_in_file,
        traversal,
        json!({"label": "v1", "files": [{"path": "/etc/passwd", "content_base64": ""}]}),
        json!({"label": "v1", "files": [{"path": "master.cfg\u{0}x", "content_base64": ""}]}),
        json!({"label": "v1", "files": [{"path": "twistd.pid", "content_base64": ""}, {"path": "master.cfg", "content_base64": ""}]}),
        json!({"label": "v1", "files": [{"path": "other.cfg", "content_base64": b64(b"x")}]}),
        json!({"label": "v1", "files": [{"path": "master.cfg", "content_base64": "%%%"}]}),
        json!({"label": "", "files": [{"path": "master.cfg", "content_base64": ""}]}),
        json!({"label": "unmanaged", "files": [{"path": "master.cfg", "content_base64": ""}]}),
        json!({"files": []}),
    ];
    for body in cases {
        let (status, json) = agent.call("POST", "/v1/configs", Some(body.clone())).await;
        assert_error(status, &json, StatusCode::BAD_REQUEST, "bad_request");
    }
    let (status, json) = agent
        .raw(
            "POST",
            "/v1/configs",
            Some(b"{not json".to_vec()),
            Some(crate::helpers::TOKEN),
        )
        .await;
    assert_error(status, &json, StatusCode::BAD_REQUEST, "bad_request");
    let (status, json) = agent
        .call("POST", "/v1/master/stop", Some(json!({"mode": "sideways"})))
        .await;
    assert_error(status, &json, StatusCode::BAD_REQUEST, "bad_request");
    let (status, json) = agent
        .call(
            "POST",
            "/v1/master/start",
            Some(json!({"reason": "x", "force": true})),
        )
        .await;
    assert_error(status, &json, StatusCode::BAD_REQUEST, "bad_request");
    let (_, list) = agent.call("GET", "/v1/configs", None).await;
    assert_eq!(list, json!([]));
    let dir = agent.state.config().configs_dir();
    assert!(!dir.exists() || std::fs::read_dir(&dir).unwrap().next().is_none());
    assert!(!agent.dir.path().join("etc").exists());
}

#[tokio::test]
async fn oversized_uploads_are_413() {
    let agent = TestAgent::new();
    // Over the body limit: rejected before parsing.
    let huge = "A".repeat(bbctl_agent::routes::STAGE_BODY_LIMIT + 16);
    let body = json!({"label": "big", "files": [{"path": "master.cfg", "content_base64": huge}]});
    let (status, json) = agent.call("POST", "/v1/configs", Some(body)).await;
    assert_error(
        status,
        &json,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // Under the body limit but over the decoded bundle limit.
    let content = vec![b'#'; bbctl_agent::configs::bundle::MAX_BUNDLE_BYTES + 1];
    let (status, json) = agent
        .call("POST", "/v1/configs", Some(stage_body_bytes(&content)))
        .await;
    assert_error(
        status,
        &json,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // Other routes have a small limit.
    let (status, json) = agent
        .call(
            "POST",
            "/v1/master/start",
            Some(json!({"reason": "r".repeat(100_000)})),
        )
        .await;
    assert_error(
        status,
        &json,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

fn stage_body_bytes(content: &[u8]) -> serde_json::Value {
    json!({"label": "big", "files": [{"path": "master.cfg", "content_base64": b64(content)}]})
}

#[tokio::test]
async fn activate_writes_into_the_basedir_and_tracks_the_active_version() {
    let agent = TestAgent::new();
    let base = agent.basedir();
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("master.cfg"), "# hand-written\n").unwrap();
    let (_, info) = agent.call("GET", "/v1/master", None).await;
    assert_eq!(info["config"]["label"], "unmanaged");
    let unmanaged_sha = info["config"]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(unmanaged_sha.len(), 64);

    let (_, v1) = agent
        .call("POST", "/v1/configs", Some(stage_body("v1", "# v1\n")))
        .await;
    let sha1 = v1["sha256"].as_str().unwrap();
    let (status, op) = agent
        .call(
            "POST",
            &format!("/v1/configs/{sha1}/activate"),
            Some(json!({"reason": "test"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{op}");
    assert_eq!(op["kind"], "activate");
    assert_eq!(op["ok"], true);
    assert_eq!(
        std::fs::read_to_string(base.join("master.cfg")).unwrap(),
        "# v1\n"
    );
    let (_, info) = agent.call("GET", "/v1/master", None).await;
    assert_eq!(info["config"], json!({"sha256": sha1, "label": "v1"}));
    let (_, got) = agent
        .call("GET", &format!("/v1/configs/{sha1}"), None)
        .await;
    assert_eq!(got["active"], true);

    // The hand-written file was kept for rollback.
    let backups = agent.state.config().state_dir.join("backups");
    let kept: Vec<_> = std::fs::read_dir(&backups).unwrap().collect();
    assert_eq!(kept.len(), 1);
    let kept = kept[0].as_ref().unwrap().path().join("master.cfg");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "# hand-written\n");

    let (_, v2) = agent
        .call("POST", "/v1/configs", Some(stage_body("v2", "# v2\n")))
        .await;
    let sha2 = v2["sha256"].as_str().unwrap();
    agent
        .call("POST", &format!("/v1/configs/{sha2}/activate"), None)
        .await;
    let (_, list) = agent.call("GET", "/v1/configs", None).await;
    let active: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["active"] == true)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["sha256"], sha2);
    // Rollback = activate the previous version again.
    agent
        .call("POST", &format!("/v1/configs/{sha1}/activate"), None)
        .await;
    assert_eq!(
        std::fs::read_to_string(base.join("master.cfg")).unwrap(),
        "# v1\n"
    );
}

#[tokio::test]
async fn activate_without_a_basedir_fails_with_422() {
    let agent = TestAgent::new();
    let (_, v1) = agent
        .call("POST", "/v1/configs", Some(stage_body("v1", GOOD_CFG)))
        .await;
    let sha = v1["sha256"].as_str().unwrap();
    let (status, json) = agent
        .call("POST", &format!("/v1/configs/{sha}/activate"), None)
        .await;
    assert_error(
        status,
        &json,
        StatusCode::UNPROCESSABLE_ENTITY,
        "operation_failed",
    );
    assert_eq!(json["error"]["details"]["ok"], false);
}

#[tokio::test]
async fn checkconfig_passes_vars_and_reports_failures_verbatim() {
    let agent = TestAgent::with(AgentOptions {
        buildbot: venv_buildbot(),
        vars: "marker = \"vars-ok\"".into(),
        ..AgentOptions::default()
    });
    // A config that needs the vars file: it fails unless BBCTL_VARS_FILE is passed.
    let good = "import json, os\n\
                v = json.load(open(os.environ['BBCTL_VARS_FILE']))\n\
                assert v['marker'] == 'vars-ok' and v['agent_name'] == 'test-agent', v\n\
                from buildbot.plugins import schedulers, util, worker\n\
                c = BuildmasterConfig = {'buildbotNetUsageData': None}\n\
                c['workers'] = [worker.Worker('w1', 'p')]\n\
                c['builders'] = [util.BuilderConfig(name='b', workernames=['w1'], factory=util.BuildFactory())]\n\
                c['schedulers'] = [schedulers.ForceScheduler(name='f', builderNames=['b'])]\n\
                c['protocols'] = {'pb': {'port': 'tcp:1:interface=127.0.0.1'}}\n";
    let (_, v) = agent
        .call("POST", "/v1/configs", Some(stage_body("good", good)))
        .await;
    let sha = v["sha256"].as_str().unwrap();
    let (status, res) = agent
        .call("POST", &format!("/v1/configs/{sha}/checkconfig"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["exit_code"], 0);
    assert!(
        res["output"]
            .as_str()
            .unwrap()
            .contains("Config file is good!"),
        "{res}"
    );
    let (_, got) = agent.call("GET", &format!("/v1/configs/{sha}"), None).await;
    assert_eq!(got["checkconfig"], res);

    let bad = "c = BuildmasterConfig = {}\nundefined_name_xyz + 1\n";
    let (_, v) = agent
        .call("POST", "/v1/configs", Some(stage_body("bad", bad)))
        .await;
    let sha = v["sha256"].as_str().unwrap();
    let (status, res) = agent
        .call("POST", &format!("/v1/configs/{sha}/checkconfig"), None)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a failed check is still a 200: {res}"
    );
    assert_eq!(res["ok"], false);
    assert_eq!(res["exit_code"], 1);
    let output = res["output"].as_str().unwrap();
    assert!(
        output.contains("NameError: name 'undefined_name_xyz' is not defined"),
        "{output}"
    );
    // No scratch basedir is left behind.
    let scratch = agent.state.config().state_dir.join("checkconfig");
    assert_eq!(std::fs::read_dir(scratch).unwrap().count(), 0);
}
