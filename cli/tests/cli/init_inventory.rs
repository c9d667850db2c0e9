//! `bbctl init-inventory`: a bbctl.toml from `--agent` URLs, each agent named as it answers;
//! nothing written when an agent does not answer (exit 3), two agents share a name (exit 2) or
//! the file exists without `--force` (exit 5).

use bbctl_api::MasterState;

use crate::fake_agent::FakeAgent;
use crate::support::{Fleet, bbctl, closed_port_url};

fn init(fleet: &Fleet, urls: &[String], extra: &[&str]) -> crate::support::Run {
    let token = fleet.dir.path().join("token");
    let mut args: Vec<String> = Vec::new();
    for u in urls {
        args.push("--agent".into());
        args.push(u.clone());
    }
    args.extend(["--token-file".into(), token.to_str().unwrap().into()]);
    args.push("--no-registry".into());
    args.push("init-inventory".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    bbctl(&refs)
}

#[test]
fn writes_an_inventory_that_bbctl_then_uses() {
    let fleet = Fleet::two();
    let urls: Vec<String> = fleet.agents.iter().map(FakeAgent::url).collect();
    let out = fleet.dir.path().join("generated.toml");
    let run = init(&fleet, &urls, &["--file", out.to_str().unwrap()]).expect(0);
    assert!(run.stderr.contains("(2 agent(s))"), "{}", run.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("name = \"master-1\"") && text.contains("name = \"master-2\""),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let rows: Vec<serde_json::Value> = bbctl(&[
        "--inventory",
        out.to_str().unwrap(),
        "masters",
        "list",
        "-o",
        "json",
    ])
    .expect(0)
    .json();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, vec!["master-1", "master-2"]);

    // Without --file: the same file on stdout.
    let run = init(&fleet, &urls, &[]).expect(0);
    assert_eq!(run.stdout, text);

    // It exists: refused without --force, nothing changed; replaced with it.
    std::fs::write(&out, "# mine\n").unwrap();
    let run = init(&fleet, &urls, &["--file", out.to_str().unwrap()]).expect(5);
    assert!(
        run.stderr.contains("refusing to overwrite"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "# mine\n");
    init(&fleet, &urls, &["--file", out.to_str().unwrap(), "--force"]).expect(0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}

#[test]
fn an_agent_that_does_not_answer_or_a_shared_name_writes_nothing() {
    let fleet = Fleet::two();
    let out = fleet.dir.path().join("generated.toml");
    let urls = vec![fleet.agent(0).url(), closed_port_url()];
    let run = init(&fleet, &urls, &["--file", out.to_str().unwrap()]).expect(3);
    assert!(
        run.stderr
            .contains("nothing written: 1 agent(s) did not answer"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    let twin = FakeAgent::start("master-1", 7, MasterState::Running);
    let urls = vec![fleet.agent(0).url(), twin.url()];
    let run = init(&fleet, &urls, &["--file", out.to_str().unwrap()]).expect(2);
    assert!(
        run.stderr.contains("two agents answer as master-1"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
}
