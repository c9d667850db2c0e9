//! `[tls]` on the agent and `--ca-file` / `$BBCTL_CA_FILE` / inventory `ca_file` in `bbctl`:
//! with the CA the real binary gets its answers; without it (built-in roots) or with another
//! CA it fails with a certificate error and exit 3 (unreachable, docs/cli.md); a bad CA file is
//! a usage error (exit 2).

use std::path::Path;

use serde_json::Value;

use crate::pki::Pki;
use crate::{Agent, bbctl};

fn tls_agent() -> (Agent, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::generate(dir.path());
    let tls = format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pki.cert_file.display(),
        pki.key_file.display()
    );
    (Agent::start(dir, &tls), pki)
}

fn rows(stdout: &str) -> Vec<Value> {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn bbctl_verifies_the_agent_certificate_against_the_ca_file() {
    let (agent, pki) = tls_agent();
    let url = format!("https://127.0.0.1:{}", agent.port);
    let token = agent.token_file();
    let token = token.to_str().unwrap();
    let ca = pki.ca_file.to_str().unwrap();
    let base = ["--agent", &url, "--token-file", token];

    // --ca-file: the agent answers.
    let ok = bbctl(
        &[
            &base[..],
            &["--ca-file", ca, "-o", "json", "masters", "list"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    let r = rows(&ok.stdout);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["name"], "sec-agent", "{}", ok.stdout);
    assert_ne!(r[0]["state"], "unreachable", "{}", ok.stdout);

    // $BBCTL_CA_FILE, and `localhost` (the certificate's DNS name).
    let by_name = format!("https://localhost:{}", agent.port);
    let env = bbctl(
        &[
            "--agent",
            &by_name,
            "--token-file",
            token,
            "-o",
            "json",
            "masters",
            "show",
            "sec-agent",
        ],
        &[("BBCTL_CA_FILE", Path::new(ca))],
    );
    assert_eq!(env.code, 0, "{}\n{}", env.stdout, env.stderr);

    // No CA file: the built-in roots do not know this CA. Another CA: not trusted either.
    for extra in [
        &[][..],
        &["--ca-file", pki.other_ca_file.to_str().unwrap()][..],
    ] {
        let fail = bbctl(
            &[&base[..], extra, &["-o", "json", "masters", "list"]].concat(),
            &[],
        );
        assert_eq!(fail.code, 3, "{}\n{}", fail.stdout, fail.stderr);
        let r = rows(&fail.stdout);
        assert_eq!(r[0]["state"], "unreachable");
        let error = r[0]["error"].as_str().unwrap();
        assert!(error.contains("TLS certificate not trusted"), "{error}");
        assert!(error.contains("UnknownIssuer"), "{error}");
        assert!(error.contains("--ca-file"), "{error}");
        let show = bbctl(
            &[&base[..], extra, &["masters", "show", "sec-agent"]].concat(),
            &[],
        );
        assert_eq!(show.code, 3, "{}", show.stderr);
        assert!(show.stderr.starts_with("error: "), "{}", show.stderr);
        assert!(
            show.stderr.contains("TLS certificate not trusted"),
            "{}",
            show.stderr
        );
    }
}

#[test]
fn the_inventory_ca_file_is_used_and_a_bad_one_is_a_usage_error() {
    let (agent, pki) = tls_agent();
    let dir = agent.dir.path();
    let inventory = dir.join("bbctl.toml");
    let write = |ca_line: &str| {
        std::fs::write(
            &inventory,
            format!(
                "[defaults]\ntoken_file = \"token\"\n{ca_line}\n[[masters]]\nname = \"m1\"\n\
                 url = \"https://127.0.0.1:{}\"\n",
                agent.port
            ),
        )
        .unwrap();
    };
    let inv = inventory.to_str().unwrap();
    std::fs::copy(&pki.ca_file, dir.join("relative-ca.pem")).unwrap();
    write("ca_file = \"relative-ca.pem\"");
    let ok = bbctl(&["--inventory", inv, "-o", "json", "masters", "list"], &[]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(rows(&ok.stdout)[0]["name"], "m1");

    // --ca-file overrides the inventory.
    let other = pki.other_ca_file.to_str().unwrap();
    let over = bbctl(
        &[
            "--inventory",
            inv,
            "--ca-file",
            other,
            "-o",
            "json",
            "masters",
            "list",
        ],
        &[],
    );
    assert_eq!(over.code, 3, "{}\n{}", over.stdout, over.stderr);

    // A missing or non-PEM CA file: exit 2 with one line naming it.
    std::fs::write(dir.join("garbage.pem"), "hello\n").unwrap();
    for bad in ["missing.pem", "garbage.pem"] {
        write(&format!("ca_file = \"{bad}\""));
        let run = bbctl(&["--inventory", inv, "masters", "list"], &[]);
        assert_eq!(run.code, 2, "{bad}: {}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(bad) && run.stderr.contains("CA file"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    }
}
