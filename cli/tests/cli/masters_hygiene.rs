//! `bbctl masters expire` and `bbctl masters prune` against fake agents that serve Buildbot's
//! masters table, the expiry and the prune (the real agent's refusals are covered by the e2e
//! fault test; here: name resolution, which agent is asked, bad input, rendering, exit codes).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bbctl_api::{
    ErrorCode, ExpireMasterRequest, ExpireMasterResult, MasterRefs, MasterState, MastersTable,
    MastersTableRow, PruneMastersRequest, PruneMastersResult, PrunedMaster,
};

use crate::fake_agent::{FakeAgent, body, error, rejected, router};
use crate::support::Fleet;

/// What one fake agent was asked, and whether it refuses expiries as "not gone".
#[derive(Default)]
struct Seen {
    expires: Vec<ExpireMasterRequest>,
    prunes: Vec<PruneMastersRequest>,
    refuse: Option<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn row(id: i64, name: &str, active: bool, claimed: i64) -> MastersTableRow {
    MastersTableRow {
        id,
        name: name.into(),
        active,
        last_active: Some(1000 - 700),
        refs: MasterRefs {
            claimed_requests: claimed,
            ..MasterRefs::default()
        },
        hidden: false,
    }
}

fn table() -> MastersTable {
    MastersTable {
        db_now: 1000,
        expire_after_secs: 600,
        masters: vec![
            row(1, "h:/srv/master-1", true, 2),
            row(2, "h:/srv/master-2", true, 0),
            row(7, "old:/srv/master-1", false, 0),
        ],
    }
}

async fn masters(headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    Json(table()).into_response()
}

async fn expire(
    State(seen): State<Shared>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: ExpireMasterRequest = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let mut seen = seen.lock().unwrap();
    seen.expires.push(req.clone());
    if let Some(reason) = &seen.refuse {
        return error(ErrorCode::Conflict, reason);
    }
    Json(ExpireMasterResult {
        masterid: req.masterid,
        name: format!("row {}", req.masterid),
        was_active: true,
        builds_retried: vec![11],
        requests_returned: vec![21, 22],
        schedulers_released: 3,
        evidence: vec!["its agent master-1 says the master process is not running".into()],
        notified: true,
        buildbot_version: "4.3.0".into(),
        agent_retired: None,
    })
    .into_response()
}

async fn prune(
    State(seen): State<Shared>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: PruneMastersRequest = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    seen.lock().unwrap().prunes.push(req.clone());
    let m = |id: i64, name: &str, why: Option<&str>| PrunedMaster {
        id,
        name: name.into(),
        kept_because: why.map(str::to_owned),
    };
    Json(PruneMastersResult {
        dry_run: req.dry_run,
        hidden: vec![m(7, "old:/srv/master-1", None)],
        kept: vec![m(
            1,
            "h:/srv/master-1",
            Some("active in Buildbot's masters table"),
        )],
    })
    .into_response()
}

/// Two fake agents (master-1 with masterid 1, master-2 with 2) serving the masters routes.
fn fleet() -> (Fleet, Vec<Shared>) {
    let seen: Vec<Shared> = vec![Shared::default(), Shared::default()];
    let agents: Vec<FakeAgent> = ["master-1", "master-2"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let s = seen[i].clone();
            FakeAgent::start_with(name, i as i64 + 1, MasterState::Running, move |st| {
                router(st).merge(
                    Router::new()
                        .route("/v1/buildbot-db/masters", get(masters))
                        .route("/v1/buildbot-db/masters/expire", post(expire))
                        .route("/v1/buildbot-db/masters/prune", post(prune))
                        .with_state(s),
                )
            })
        })
        .collect();
    let entries: Vec<(String, String, bool)> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("master-{}", i + 1), a.url(), false))
        .collect();
    let fleet = Fleet {
        agents,
        dir: tempfile::tempdir().unwrap(),
    };
    fleet.write_inventory(&entries);
    (fleet, seen)
}

#[test]
fn expire_by_inventory_name_goes_to_the_masters_own_agent_and_prints_what_was_done() {
    let (fleet, seen) = fleet();
    let run = fleet
        .bbctl(&["masters", "expire", "master-2", "--yes"])
        .expect(0);
    assert!(run.stdout.contains("expired master #2"), "{}", run.stdout);
    assert!(
        run.stdout.contains("requests returned:  21, 22"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("not running"), "{}", run.stdout);
    let asked = seen[1].lock().unwrap();
    assert_eq!(asked.expires.len(), 1);
    assert_eq!(asked.expires[0].masterid, 2);
    assert!(!asked.expires[0].host_gone);
    assert!(seen[0].lock().unwrap().expires.is_empty());
}

#[test]
fn expire_by_id_or_buildbot_name_with_host_gone_and_json() {
    let (fleet, seen) = fleet();
    let run = fleet
        .bbctl(&[
            "masters",
            "expire",
            "#7",
            "--yes",
            "--host-gone",
            "-o",
            "json",
        ])
        .expect(0);
    let result: ExpireMasterResult = run.json();
    assert_eq!(result.masterid, 7);
    // No agent owns row 7: the first agent that served the table is asked, and says so.
    assert!(
        run.stderr.contains("no agent that answered runs master #7"),
        "{}",
        run.stderr
    );
    {
        let asked = &seen[0].lock().unwrap().expires;
        assert_eq!(asked.len(), 1);
        assert!(asked[0].host_gone);
    }
    fleet
        .bbctl(&["masters", "expire", "h:/srv/master-1", "--yes"])
        .expect(0);
    assert_eq!(seen[0].lock().unwrap().expires.last().unwrap().masterid, 1);
}

#[test]
fn bad_names_are_usage_errors_and_change_nothing() {
    let (fleet, seen) = fleet();
    for bad in ["nope", "#99", "#x"] {
        let run = fleet.bbctl(&["masters", "expire", bad, "--yes"]).expect(2);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    for s in &seen {
        assert!(s.lock().unwrap().expires.is_empty());
    }
}

#[test]
fn expire_without_yes_and_no_terminal_is_refused_before_asking() {
    let (fleet, seen) = fleet();
    let run = fleet.bbctl(&["masters", "expire", "master-1"]).expect(5);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(seen[0].lock().unwrap().expires.is_empty());
}

#[test]
fn an_agents_refusal_is_exit_5_with_its_reason() {
    let (fleet, seen) = fleet();
    seen[0].lock().unwrap().refuse = Some("master h:/srv/master-1 is running (pid 7)".into());
    let run = fleet
        .bbctl(&["masters", "expire", "master-1", "--yes"])
        .expect(5);
    assert!(run.stderr.contains("is running (pid 7)"), "{}", run.stderr);
}

#[test]
fn prune_dry_run_and_for_real() {
    let (fleet, seen) = fleet();
    let run = fleet.bbctl(&["masters", "prune", "--dry-run"]).expect(0);
    assert!(
        run.stdout.contains("would hide:\n  #7 old:/srv/master-1"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("#1 h:/srv/master-1: active"),
        "{}",
        run.stdout
    );
    let run = fleet.bbctl(&["masters", "prune", "-o", "json"]).expect(0);
    let result: PruneMastersResult = run.json();
    assert!(!result.dry_run);
    assert_eq!(result.hidden[0].id, 7);
    let asked = &seen[0].lock().unwrap().prunes;
    assert_eq!(asked.len(), 2);
    assert!(asked[0].dry_run && !asked[1].dry_run);
}
