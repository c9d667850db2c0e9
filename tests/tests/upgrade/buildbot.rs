//! `bbctl upgrade --buildbot` (issue 6) on a real fleet (2 masters + 2 standby): a Buildbot that
//! does not exist is refused in pre-flight with nothing touched; so is a real Buildbot 4.2.1
//! (DB schema head 066, the fleet's 4.3.0 has 067: a downgrade), naming the restore path; a blue-green upgrade to
//! v2 with `--buildbot` naming a second install (a venv whose `bin/buildbot` wraps the fleet's
//! 4.3.0) completes, the new masters run it and builds succeed; then a config-only upgrade back
//! to v1 *without* `--buildbot` keeps running that code on the other slots (they take the old
//! masters' executable, not the one they last had); last, a rolling code-only upgrade onto a
//! Buildbot that passes `--version` and `checkconfig` but cannot `start` (a module missing at
//! runtime) is rolled back: the old masters run their previous executable and configuration
//! again, no build lost, nothing left paused or out of the load balancer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bbctl_api::{ConfigVersion, MasterInfo};
use bbctl_e2e::venv::{unstartable_venv, wrapper_venv};
use bbctl_e2e::{Fleet, FleetOptions, wait_until};
use serde_json::Value;

use crate::support::*;

/// The Buildbot 4.2.1 venv `scripts/install-deps` prepares next to the fleet's 4.3.0 one.
fn buildbot_421(fleet: &Fleet) -> PathBuf {
    let venv = fleet.info.buildbot_venv.with_file_name("buildbot-4.2.1");
    assert!(
        venv.join("bin/buildbot").is_file(),
        "{} is missing: run scripts/install-deps (it installs Buildbot 4.2.1 there)",
        venv.display()
    );
    venv
}

/// What each slot's agent says about its master, by name.
fn infos(fleet: &Fleet) -> Vec<MasterInfo> {
    (0..fleet.info.masters.len())
        .map(|i| fleet.agent(i).get("/v1/master").unwrap())
        .collect()
}

/// Nothing changed since `before` (`masters list` rows) and `code_before` (agent answers): state,
/// configuration, executable, process.
fn assert_untouched(fleet: &Fleet, before: &[Value], code_before: &[MasterInfo]) {
    for (b, a) in before.iter().zip(&masters(fleet)) {
        assert_eq!(
            (&b["state"], &b["config_sha256"]),
            (&a["state"], &a["config_sha256"]),
            "touched: {a}"
        );
    }
    for (b, a) in code_before.iter().zip(&infos(fleet)) {
        assert_eq!(b.buildbot_executable, a.buildbot_executable);
        assert_eq!(b.process.pid, a.process.pid);
    }
}

fn paused_workers(fleet: &Fleet) -> Vec<String> {
    any_live(fleet)
        .list("workers", "workers")
        .unwrap()
        .iter()
        .filter(|w| w["paused"].as_bool() == Some(true))
        .map(|w| w["name"].to_string())
        .collect()
}

fn executables(fleet: &Fleet, running: bool) -> Vec<(String, Option<String>)> {
    infos(fleet)
        .into_iter()
        .filter(|i| i.process.running == running)
        .map(|i| (i.agent_name, i.buildbot_executable))
        .collect()
}

#[test]
fn upgrade_with_buildbot_runs_the_new_code_and_keeps_it_without_the_flag() {
    let _serial = bbctl_e2e::serial();
    let fleet = Fleet::up(FleetOptions {
        masters: 2,
        standby: 2,
        workers: 2,
    })
    .unwrap();
    let real = fleet.info.buildbot_venv.join("bin/buildbot");
    let v1 = fleet.info.master_cfg.to_str().unwrap().to_string();
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();

    // A Buildbot that does not exist: refused (5) in pre-flight, nothing touched.
    let before = masters(&fleet);
    let code_before = infos(&fleet);
    let refused = |buildbot: &str, extra: &[&str], wants: &[&str]| {
        let mut args = vec![
            "upgrade",
            "--new-config",
            &v2,
            "--buildbot",
            buildbot,
            "--yes",
        ];
        args.extend_from_slice(extra);
        let out = fleet.bbctl(&args);
        assert_eq!(out.status.code(), Some(5), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for want in wants {
            assert!(stderr.contains(want), "no {want:?}: {}", text(&out));
        }
        assert_untouched(&fleet, &before, &code_before);
    };
    refused(
        "/nonexistent/venv",
        &[],
        &["buildbot /nonexistent/venv: no such", "master-3"],
    );

    // A real Buildbot with an older DB schema (a downgrade): refused (5) in pre-flight, naming
    // the way back (restoring a backup), whatever the strategy.
    let old_schema = buildbot_421(&fleet);
    assert_eq!(code_before[0].buildbot_db_head.as_deref(), Some("067"));
    for strategy in [&[][..], &["--strategy", "migrate"]] {
        refused(
            old_schema.to_str().unwrap(),
            strategy,
            &[
                "DB schema 066, older than the fleet's 067 (a downgrade)",
                "restore the backup taken before the upgrade to 067",
            ],
        );
    }
    // The agent found 4.2.1's head: the v2 it staged for it says so.
    let exe_421 = old_schema.join("bin/buildbot").display().to_string();
    let staged: Vec<ConfigVersion> = fleet.agent(2).get("/v1/configs").unwrap();
    let v2_on_421 = staged
        .iter()
        .find(|v| v.buildbot.as_deref() == Some(exe_421.as_str()))
        .unwrap_or_else(|| panic!("no version staged with {exe_421}: {staged:#?}"));
    assert!(!v2_on_421.active);
    assert_eq!(v2_on_421.buildbot_version.as_deref(), Some("4.2.1"));
    assert_eq!(v2_on_421.buildbot_db_head.as_deref(), Some("066"));

    // Blue-green to v2 on a second install: the new masters run it, builds succeed.
    let dir = tempfile::tempdir().unwrap();
    let venv = wrapper_venv(dir.path(), &real);
    let wrapper = venv.join("bin/buildbot").display().to_string();
    let mut requests = vec![force_anywhere(&fleet, "sleep", 6)];
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        &v2,
        "--buildbot",
        venv.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("New masters run buildbot: {}", venv.display())),
        "{}",
        text(&out)
    );
    let j = journal(&fleet, None).unwrap();
    assert_eq!(j["buildbot"], wrapper.as_str(), "{j:#}");
    let running = executables(&fleet, true);
    assert_eq!(
        running,
        [
            ("master-3".to_string(), Some(wrapper.clone())),
            ("master-4".to_string(), Some(wrapper.clone()))
        ],
        "the new masters run the wrapper"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert!(
        calls.lines().filter(|l| *l == "start").count() == 2,
        "{calls}"
    );
    // sleep-v2 exists only on v2 masters: it must finish before they leave.
    requests.push(force_anywhere(&fleet, "sleep-v2", 4));
    assert_success_once(&fleet, &requests);

    // Config-only, back to v1, without --buildbot: the old slots come back with the code the
    // running masters run (the wrapper), not the one they last ran.
    let out = fleet.bbctl(&["upgrade", "--new-config", &v1, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("New masters run buildbot: {wrapper}")),
        "{}",
        text(&out)
    );
    let running = executables(&fleet, true);
    assert_eq!(
        running,
        [
            ("master-1".to_string(), Some(wrapper.clone())),
            ("master-2".to_string(), Some(wrapper.clone()))
        ],
        "the config-only upgrade keeps the running code"
    );
    assert_success_once(&fleet, &[force_anywhere(&fleet, "sleep", 4)]);

    // Rolling, code only (the same v1, new code) onto a Buildbot that cannot start: the first
    // batch's master fails its gate, the rollback stages v1 again with its previous executable.
    rolling_code_only_start_failure_rolls_back(&fleet, &real, &wrapper, &v1);
}

fn rolling_code_only_start_failure_rolls_back(fleet: &Fleet, real: &Path, wrapper: &str, v1: &str) {
    let dir = tempfile::tempdir().unwrap();
    let broken = unstartable_venv(dir.path(), real);
    let before: Vec<MasterInfo> = infos(fleet)
        .into_iter()
        .filter(|i| i.process.running)
        .collect();
    let names: Vec<&str> = before.iter().map(|i| i.agent_name.as_str()).collect();
    assert_eq!(names, ["master-1", "master-2"]);
    let mut requests = vec![
        force_anywhere(fleet, "sleep", 10),
        force_anywhere(fleet, "sleep", 14),
    ];
    wait_started(fleet, &requests);
    let started = Instant::now();
    let child = fleet
        .bbctl_cmd(&[
            "upgrade",
            "--new-config",
            v1,
            "--buildbot",
            broken.to_str().unwrap(),
            "--strategy",
            "rolling",
            "--batch",
            "1",
            "--yes",
            "--reason",
            "e2e code-only rollback",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A build forced while the upgrade runs (it drains master-1, fails, rolls back).
    let id = wait_until("the upgrade to run", Duration::from_secs(60), || {
        Ok(journal(fleet, None)
            .filter(|j| j["reason"] == "e2e code-only rollback" && j["phase"] == "running"))
    })
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    requests.push(force_anywhere(fleet, "sleep", 6));
    let out = child.wait_with_output().unwrap();
    eprintln!("rolled back in {:?}:\n{}", started.elapsed(), text(&out));
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let said = text(&out);
    for want in [
        "rolled back",
        "master-1: start failed",
        "No module named 'missing_plugin'",
        "master-1: started again on its previous configuration and Buildbot",
    ] {
        assert!(said.contains(want), "no {want:?}: {said}");
    }
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(
        calls.lines().filter(|l| *l == "start").count(),
        1,
        "only master-1 tried the new code: {calls}"
    );
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "rolled_back", "{j:#}");
    assert_eq!(j["previous_buildbot"]["master-1"], wrapper, "{j:#}");

    // Every master that ran before runs again, with its previous executable and configuration.
    let after: Vec<MasterInfo> = infos(fleet)
        .into_iter()
        .filter(|i| i.process.running)
        .collect();
    assert_eq!(after.len(), before.len(), "{after:#?}");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a.agent_name, b.agent_name);
        assert_eq!(a.buildbot_executable.as_deref(), Some(wrapper), "{a:#?}");
        assert_eq!(
            a.config.as_ref().map(|c| &c.sha256),
            b.config.as_ref().map(|c| &c.sha256),
            "{a:#?}"
        );
    }
    assert_eq!(
        after[1].process.pid, before[1].process.pid,
        "master-2 untouched"
    );
    // The staged v1 carries the code that failed (the pre-flight staged it so); the rollback
    // named the previous code when it activated v1 again, which is what the masters run above.
    let sha = before[0].config.as_ref().unwrap().sha256.clone();
    let v: ConfigVersion = fleet.agent(0).get(&format!("/v1/configs/{sha}")).unwrap();
    assert_ne!(v.buildbot.as_deref(), Some(wrapper), "{v:#?}");

    // Nothing left paused or out of the load balancer; no build lost.
    wait_until(
        "the old masters back in the load balancer",
        Duration::from_secs(30),
        || {
            let status = fleet.status()?;
            let servers: Vec<_> = status.masters[..2]
                .iter()
                .map(|m| m.lb_server.clone().unwrap_or_default())
                .collect();
            Ok(servers.iter().all(|s| s == "UP").then_some(()))
        },
    )
    .unwrap();
    assert!(
        paused_workers(fleet).is_empty(),
        "{:?}",
        paused_workers(fleet)
    );
    requests.push(force_anywhere(fleet, "sleep", 4));
    assert_success_once(fleet, &requests);
    let rest = any_live(fleet);
    wait_until("every worker attached", Duration::from_secs(30), || {
        Ok(worker_masters(&rest))
    })
    .unwrap();
}
