//! `bbctl upgrade --buildbot` (issue 6) on a real fleet (2 masters + 2 standby): a Buildbot that
//! does not exist is refused in pre-flight with nothing touched; a blue-green upgrade to v2 with
//! `--buildbot` naming a second install (a venv whose `bin/buildbot` wraps the fleet's 4.3.0)
//! completes, the new masters run it and builds succeed; then a config-only upgrade back to v1
//! *without* `--buildbot` keeps running that code on the other slots (they take the old
//! masters' executable, not the one they last had).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bbctl_api::MasterInfo;
use bbctl_e2e::agent_client::AgentClient;
use bbctl_e2e::{Fleet, FleetOptions};

use crate::support::*;

/// `<dir>/venv/bin/buildbot`: records each subcommand in `<dir>/calls`, then runs `real`.
fn wrapper_venv(dir: &Path, real: &Path) -> PathBuf {
    let bin = dir.join("venv/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("buildbot");
    let script = format!(
        "#!/bin/sh\necho \"$1\" >> '{}'\nexec '{}' \"$@\"\n",
        dir.join("calls").display(),
        real.display()
    );
    std::fs::write(&exe, script).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.join("venv")
}

/// What each slot's agent says about its master, by name.
fn infos(fleet: &Fleet) -> Vec<MasterInfo> {
    let token = fleet.token().unwrap();
    fleet
        .info
        .masters
        .iter()
        .map(|m| {
            AgentClient::new(&m.agent_url, &token)
                .get("/v1/master")
                .unwrap()
        })
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
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        &v2,
        "--buildbot",
        "/nonexistent/venv",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("buildbot /nonexistent/venv: no such") && stderr.contains("master-3"),
        "{}",
        text(&out)
    );
    for (b, a) in before.iter().zip(&masters(&fleet)) {
        assert_eq!(
            (&b["state"], &b["config_sha256"]),
            (&a["state"], &a["config_sha256"]),
            "touched: {a}"
        );
    }
    for (b, a) in code_before.iter().zip(&infos(&fleet)) {
        assert_eq!(b.buildbot_executable, a.buildbot_executable);
        assert_eq!(b.process.pid, a.process.pid);
    }

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
}
