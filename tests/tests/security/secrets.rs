//! The token stays out of `bbctl -o json` output, `bbctl` errors (a rejected token, an
//! unreachable agent) and the agent's `RUST_LOG=debug` log.

use crate::{Agent, TOKEN, bbctl};

#[test]
fn the_token_never_shows_in_bbctl_output_errors_or_the_agent_log() {
    let agent = Agent::start(tempfile::tempdir().unwrap(), "");
    let url = format!("http://127.0.0.1:{}", agent.port);
    let token = agent.token_file();
    let token = token.to_str().unwrap();
    // `bbctl()` itself asserts that the token is in neither stream.
    for command in [
        &["masters", "list"][..],
        &["masters", "show", "sec-agent"],
        &["events"],
    ] {
        let mut args = vec!["--agent", &url, "--token-file", token, "-o", "json"];
        args.extend(command);
        let out = bbctl(&args, &[]);
        assert_eq!(out.code, 0, "{command:?}: {}", out.stderr);
    }

    // A wrong token: rejected, and neither token is printed.
    let wrong = agent.dir.path().join("wrong");
    std::fs::write(&wrong, format!("{TOKEN}-wrong\n")).unwrap();
    let rejected = bbctl(
        &[
            "--agent",
            &url,
            "--token-file",
            wrong.to_str().unwrap(),
            "masters",
            "show",
            "sec-agent",
        ],
        &[],
    );
    assert_eq!(rejected.code, 1, "{}", rejected.stderr);
    assert!(
        rejected.stderr.contains("token refused by agent"),
        "{}",
        rejected.stderr
    );

    // An unreachable agent with an inventory holding the token inline.
    let inventory = agent.dir.path().join("bbctl.toml");
    std::fs::write(
        &inventory,
        format!("[defaults]\ntoken = \"{TOKEN}\"\n[[masters]]\nname = \"gone\"\nurl = \"http://127.0.0.1:9\"\n"),
    )
    .unwrap();
    let gone = bbctl(
        &[
            "--inventory",
            inventory.to_str().unwrap(),
            "-o",
            "json",
            "masters",
            "list",
        ],
        &[],
    );
    assert_eq!(gone.code, 3, "{}", gone.stderr);

    let log = agent.log();
    assert!(log.contains("DEBUG"), "{log}");
    assert!(log.contains("rejected request"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the agent log leaks the token:\n{log}"
    );
}
