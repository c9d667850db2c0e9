//! The CLI's small traps on the hand-made fleet (issue 12, part D): a refused token is exit 1
//! naming the agent in every fleet-wide command (it was "no agent answered", exit 3, in
//! `workers list`/`builds list`, a refusal, exit 5, in the upgrade's pre-flight, and "cannot
//! check the fleet lease (is an upgrade running?)" before a drain); an inventory whose names are
//! not the agents' own names is what every output uses, with one warning per name; `uptime_secs`
//! carries no float noise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bbctl_e2e::handmade::Handmade;
use bbctl_e2e::{output_text, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// An inventory in `dir` naming the hand-made fleet's agents `names` (in m1, m2 order), with
/// `token_file`.
fn inventory(fleet: &Handmade, dir: &Path, names: [&str; 2], token_file: &Path) -> PathBuf {
    let mut text = format!("[defaults]\ntoken_file = \"{}\"\n", token_file.display());
    for (name, agent) in names.iter().zip(["m1", "m2"]) {
        text.push_str(&format!(
            "\n[[masters]]\nname = \"{name}\"\nurl = \"{}\"\n",
            fleet.master(agent).agent_url
        ));
    }
    let path = dir.join(format!("{}.toml", names.join("-")));
    std::fs::write(&path, text).unwrap();
    path
}

fn bbctl(fleet: &Handmade, inventory: &Path, args: &[&str]) -> Output {
    Command::new(&fleet.info.bbctl_bin)
        .arg("--inventory")
        .arg(inventory)
        .args(args)
        .env_remove("BBCTL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run bbctl")
}

fn json_of(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{}", output_text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn refused_tokens_inventory_names_and_uptimes_on_the_hand_made_fleet() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    let dir = tempfile::tempdir().unwrap();
    let wrong_token = dir.path().join("wrong.token");
    std::fs::write(&wrong_token, "not-the-token\n").unwrap();

    // A refused token: every fleet-wide command exits 1 and names the agent that refused it.
    let refused = inventory(&fleet, dir.path(), ["m1", "m2"], &wrong_token);
    let master_cfg = fleet.info.master_cfg.to_str().unwrap();
    for args in [
        &["masters", "list"][..],
        &["workers", "list"],
        &["builds", "list"],
        &["events"],
        &["upgrade", "--new-config", master_cfg, "--dry-run"],
        &["drain", "m1", "--detach"],
    ] {
        let out = bbctl(&fleet, &refused, args);
        let text = output_text(&out);
        assert_eq!(out.status.code(), Some(1), "bbctl {args:?}: {text}");
        assert!(
            stderr(&out).contains("token refused by agent m1: missing or wrong bearer token"),
            "bbctl {args:?}: {text}"
        );
        for misleading in [
            "no agent answered",
            "is an upgrade running?",
            "not every agent answers",
        ] {
            assert!(!text.contains(misleading), "bbctl {args:?}: {text}");
        }
        assert!(!text.contains("not-the-token"), "the token leaked: {text}");
    }
    // ... and changed nothing: the refused drain was never started.
    let (status, body) = fleet
        .agent("m1")
        .request(reqwest::Method::GET, "/v1/drain", None)
        .unwrap();
    assert_eq!(status, 404, "no drain: {body}");

    // Inventory names that are not the agents' own (`m1`, `m2`): the output uses them, warned
    // about once per name and command.
    let token_file = &fleet.info.token_file;
    let renamed = inventory(&fleet, dir.path(), ["ops-alpha", "ops-bravo"], token_file);
    let warnings = "warning: inventory name \"ops-alpha\" answers as agent \"m1\"; bbctl output \
                    uses inventory names\n\
                    warning: inventory name \"ops-bravo\" answers as agent \"m2\"; bbctl output \
                    uses inventory names\n";
    let names = BTreeSet::from(["ops-alpha", "ops-bravo"]);

    let masters = bbctl(&fleet, &renamed, &["masters", "list", "-o", "json"]);
    assert_eq!(stderr(&masters), warnings, "{}", output_text(&masters));
    let rows = json_of(&masters);
    let rows = rows.as_array().expect("a JSON array");
    let listed: BTreeSet<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(listed, names, "{rows:?}");
    for row in rows {
        // Whole tenths of a second, no float noise (it read 12.300000000001).
        let up = row["uptime_secs"]
            .as_f64()
            .expect("a running master's uptime");
        assert_eq!((up * 10.0).round() / 10.0, up, "{row}");
    }

    let workers = bbctl(&fleet, &renamed, &["workers", "list", "-o", "json"]);
    assert_eq!(stderr(&workers), warnings, "{}", output_text(&workers));
    let workers = json_of(&workers);
    for worker in workers.as_array().expect("a JSON array") {
        let master = worker["master"].as_str().unwrap_or("-");
        assert!(names.contains(master), "{worker}");
    }
    let table = bbctl(&fleet, &renamed, &["workers", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("ops-alpha") || text.contains("ops-bravo"),
        "{}",
        output_text(&table)
    );

    // A running build is named by its master's inventory name too.
    fleet
        .force("m1", "integration-soak", &[("soak_secs", "60")])
        .expect("a forced build");
    let build = wait_until("the forced build to run", WAIT, || {
        let out = bbctl(&fleet, &renamed, &["builds", "list", "-o", "json"]);
        assert_eq!(stderr(&out), warnings, "{}", output_text(&out));
        Ok(json_of(&out).as_array().and_then(|b| b.first().cloned()))
    })
    .unwrap();
    let master = build["master"].as_str().unwrap_or("-");
    assert!(names.contains(master), "{build}");

    // Events carry the inventory name as their agent.
    let events = bbctl(&fleet, &renamed, &["events", "-o", "json"]);
    assert_eq!(events.status.code(), Some(0), "{}", output_text(&events));
    assert_eq!(stderr(&events), warnings, "{}", output_text(&events));
    let agents: BTreeSet<String> = String::from_utf8_lossy(&events.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["agent"].to_string())
        .collect();
    assert_eq!(
        agents,
        BTreeSet::from(["\"ops-alpha\"".to_string(), "\"ops-bravo\"".to_string()]),
        "{}",
        output_text(&events)
    );

    // The fleet's own inventory names the agents by their names: no warning.
    let own = fleet.bbctl(&["masters", "list"]);
    assert_eq!(own.status.code(), Some(0), "{}", output_text(&own));
    assert_eq!(stderr(&own), "", "{}", output_text(&own));
}
