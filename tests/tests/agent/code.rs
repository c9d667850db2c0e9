//! Issue 6, `--buildbot` on the agent side, through the real binary on the shared fleet: a
//! configuration staged with a `buildbot` that does not exist is refused (422) and not stored;
//! one staged with a venv (a wrapper around the fleet's Buildbot) reports the resolved
//! executable and its version, is checkconfig'ed with that executable, and cannot be activated
//! while the master runs other code (409). The master's topology names its executable and the
//! DB schema head of its install. Only the master's *current* master.cfg is staged, so nothing
//! this test leaves behind changes what the master runs.

use base64::Engine;
use bbctl_api::{CheckConfigResult, ConfigVersion, MasterInfo};
use bbctl_e2e::agent_client::AgentClient;
use bbctl_e2e::shared_fleet;
use bbctl_e2e::venv::wrapper_venv;
use serde_json::{Value, json};

use crate::agents;

fn stage_request(content: &[u8], buildbot: Option<&str>) -> Value {
    let mut body = json!({
        "label": "e2e-code",
        "files": [{"path": "master.cfg",
                   "content_base64": base64::engine::general_purpose::STANDARD.encode(content)}],
    });
    if let Some(b) = buildbot {
        body["buildbot"] = json!(b);
    }
    body
}

/// POSTs `body` to `path`, which must be refused: the status and the error's message.
fn refused(agent: &AgentClient, path: &str, body: &Value) -> (u16, String) {
    let (status, answer) = agent
        .request(reqwest::Method::POST, path, Some(body))
        .unwrap();
    let message = answer["error"]["message"].as_str();
    (
        status,
        message.unwrap_or_else(|| panic!("{answer}")).to_owned(),
    )
}

#[test]
fn staged_code_is_validated_checked_with_and_never_switched_under_a_running_master() {
    let fleet = shared_fleet();
    let agent = &agents(fleet)[0];
    let real = fleet.info.buildbot_venv.join("bin/buildbot");
    let before: MasterInfo = agent.get("/v1/master").unwrap();
    assert_eq!(
        before.buildbot_executable.as_deref(),
        real.to_str(),
        "the agent's master.buildbot until something else is activated"
    );
    assert_eq!(before.buildbot_version.as_deref(), Some("4.3.0"));
    // 4.3.0 adds migration 067_v4.3_add_codebase_data.
    assert_eq!(before.buildbot_db_head.as_deref(), Some("067"));
    let content = std::fs::read(&fleet.info.master_cfg).unwrap();

    // A missing executable: 422 with a one-line message naming it; nothing stored.
    let listed = |agent: &AgentClient| {
        agent
            .get::<Vec<ConfigVersion>>("/v1/configs")
            .unwrap()
            .len()
    };
    let versions = listed(agent);
    let (status, message) = refused(
        agent,
        "/v1/configs",
        &stage_request(&content, Some("/nonexistent/venv")),
    );
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("buildbot /nonexistent/venv: no such") && !message.contains('\n'),
        "{message}"
    );
    assert_eq!(listed(agent), versions, "a refused stage stores nothing");
    let (status, _) = refused(
        agent,
        "/v1/configs",
        &stage_request(&content, Some("relative/venv")),
    );
    assert_eq!(status, 422);

    // A venv: resolved to its bin/buildbot, checkconfig runs it.
    let dir = tempfile::tempdir().unwrap();
    let venv = wrapper_venv(dir.path(), &real);
    let wrapper = venv.join("bin/buildbot").display().to_string();
    let staged: ConfigVersion = agent
        .post(
            "/v1/configs",
            &stage_request(&content, Some(venv.to_str().unwrap())),
        )
        .unwrap();
    assert_eq!(staged.buildbot.as_deref(), Some(wrapper.as_str()));
    assert_eq!(staged.buildbot_version.as_deref(), Some("4.3.0"));
    assert_eq!(
        staged.buildbot_db_head, None,
        "no python next to a wrapper: the schema head is unknown"
    );
    let sha = &staged.sha256;
    let check: CheckConfigResult = agent
        .post(&format!("/v1/configs/{sha}/checkconfig"), &json!({}))
        .unwrap();
    assert!(check.ok, "{check:#?}");
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert!(calls.lines().any(|l| l == "checkconfig"), "{calls}");

    // Activating other code under the running master: 409, nothing changes.
    let activate = format!("/v1/configs/{sha}/activate");
    let (status, message) = refused(agent, &activate, &json!({"reason": "e2e"}));
    assert_eq!(status, 409, "{message}");
    assert!(message.contains("stop the master"), "{message}");
    // Naming code that does not exist: 422, nothing changes.
    let (status, message) = refused(agent, &activate, &json!({"buildbot": "/nonexistent/venv"}));
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("/nonexistent/venv"), "{message}");
    let after: MasterInfo = agent.get("/v1/master").unwrap();
    assert_eq!(after.buildbot_executable, before.buildbot_executable);
    assert_eq!(after.process.pid, before.process.pid);

    // Staged again without `buildbot`: the agent's default again (the last stage wins).
    let restaged: ConfigVersion = agent
        .post("/v1/configs", &stage_request(&content, None))
        .unwrap();
    assert_eq!(restaged.sha256, staged.sha256);
    assert_eq!(restaged.buildbot.as_deref(), real.to_str());
    assert_eq!(restaged.checkconfig, None, "checked with other code");
}
