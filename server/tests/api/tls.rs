//! `[tls]`: the agent serves HTTPS with the configured certificate; a client trusting the CA
//! gets answers, one that does not gets a certificate error; plain HTTP is not served on the
//! TLS port; bad or missing PEM files stop the agent with one line naming the setting.

use std::sync::Arc;

use bbctl_agent::AppState;
use bbctl_agent::config::{AgentConfig, ConfigError};
use bbctl_agent::db::Db;

use crate::helpers::{FakeBuildbot, TOKEN, TestAgent};
use crate::pki::Pki;

fn config_text(dir: &std::path::Path, tls: &str) -> String {
    format!(
        r#"
name = "tls-agent"
state_dir = "{state}"
token = "{TOKEN}"
[master]
basedir = "{base}"
buildbot = "/nonexistent/buildbot"
rest_url = "http://127.0.0.1:9/"
{tls}
"#,
        state = dir.join("state").display(),
        base = dir.join("master").display(),
    )
}

fn load(dir: &std::path::Path, tls: &str) -> Result<AgentConfig, ConfigError> {
    let table: toml::Table = config_text(dir, tls).parse().unwrap();
    AgentConfig::from_table(&table, dir)
}

fn tls_section(pki: &Pki) -> String {
    format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.cert_file.display(),
        pki.key_file.display()
    )
}

/// An agent serving HTTPS on 127.0.0.1:0; returns it, its PKI and its port.
async fn tls_agent() -> (TestAgent, Pki, u16) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let config = load(dir.path(), &tls_section(&pki)).unwrap();
    assert!(config.tls.is_some());
    let db = Db::open(&config.state_db_url).unwrap();
    let fake = FakeBuildbot::default();
    let state = AppState::with_rest(config, db, Arc::new(fake.clone()));
    let agent = TestAgent { dir, state, fake };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(bbctl_agent::serve(
        listener,
        agent.state.clone(),
        std::future::pending(),
    ));
    (agent, pki, port)
}

fn client_trusting(ca_file: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(ca_file).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn https_with_the_ca_succeeds_for_ip_and_localhost() {
    let (_agent, pki, port) = tls_agent().await;
    let client = client_trusting(&pki.ca_file);
    for host in ["127.0.0.1", "localhost"] {
        let resp = client
            .get(format!("https://{host}:{port}/v1/version"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host}: {}", chain(&e)));
        assert_eq!(resp.status(), 200, "{host}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["agent_name"], "tls-agent");
    }
}

#[tokio::test]
async fn untrusted_certificates_and_plain_http_are_refused() {
    let (_agent, pki, port) = tls_agent().await;
    let url = format!("https://127.0.0.1:{port}/v1/version");
    // The built-in roots do not know the test CA, nor does another CA.
    for client in [reqwest::Client::new(), client_trusting(&pki.other_ca_file)] {
        let err = client
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_err();
        let text = chain(&err);
        assert!(
            text.contains("certificate") && text.contains("UnknownIssuer"),
            "{text}"
        );
    }
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/version"))
        .bearer_auth(TOKEN)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // The server survived the failed handshakes.
    let ok = client_trusting(&pki.ca_file)
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[test]
fn bad_tls_files_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    // The other CA's certificate with the server key: a mismatched pair.
    let cases: Vec<(String, &str)> = vec![
        (
            format!("[tls]\ncert_file = \"{}\"\n", pki.cert_file.display()),
            "tls.key_file",
        ),
        (
            format!("[tls]\nkey_file = \"{}\"\n", pki.key_file.display()),
            "tls.cert_file",
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                missing.display(),
                pki.key_file.display()
            ),
            "tls.cert_file",
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                garbage.display(),
                pki.key_file.display()
            ),
            "tls.cert_file",
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                pki.cert_file.display(),
                garbage.display()
            ),
            "tls.key_file",
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                pki.other_ca_file.display(),
                pki.key_file.display()
            ),
            "tls.key_file",
        ),
        (
            format!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nciphers = \"x\"\n",
                pki.cert_file.display(),
                pki.key_file.display()
            ),
            "tls.ciphers",
        ),
    ];
    let key_pem = std::fs::read_to_string(&pki.key_file).unwrap();
    for (section, key) in cases {
        let err = load(dir.path(), &section).unwrap_err().to_string();
        assert!(err.contains(key), "{section}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(
            !err.contains(key_pem.lines().nth(1).unwrap()),
            "key material in: {err}"
        );
    }
}

#[test]
fn the_binary_refuses_to_start_with_a_bad_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let text = config_text(
        dir.path(),
        &format!(
            "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            dir.path().join("nope.crt").display(),
            pki.key_file.display()
        ),
    );
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bbctl-agent"))
        .arg("--config")
        .arg(&path)
        .env_remove("BBCTL_AGENT_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("tls.cert_file"), "{stderr}");
}
