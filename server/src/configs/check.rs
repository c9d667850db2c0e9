//! `buildbot checkconfig` of a staged bundle, with the Buildbot executable the version runs with,
//! in a scratch basedir under the state dir holding the bundle and the vars file — never in the
//! live basedir.

use std::time::Duration;

use bbctl_api::{CheckConfigResult, VARS_FILE_ENV};

use super::store;
use crate::db::{audit, configs};
use crate::error::{AppError, AppResult};
use crate::fsutil::write_atomic;
use crate::master::{code, process, vars};
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn checkconfig(
    state: &AppState,
    sha256: &str,
    actor: Option<String>,
) -> AppResult<CheckConfigResult> {
    let row = store::get_row(state, sha256).await?;
    let bundle = store::load_bundle(state, &row)?;
    let cfg = state.config();
    let scratch_root = cfg.state_dir.join("checkconfig");
    std::fs::create_dir_all(&scratch_root).map_err(AppError::internal)?;
    let dir = tempfile::Builder::new()
        .prefix("check-")
        .tempdir_in(&scratch_root)
        .map_err(AppError::internal)?;
    for (path, content) in &bundle.files {
        write_atomic(&dir.path().join(path), content).map_err(AppError::internal)?;
    }
    let vars_file = vars::write_vars_file(cfg, dir.path()).map_err(AppError::internal)?;
    let target = dir.path().display().to_string();
    let buildbot = code::of_version(state, &row);
    let out = process::run_buildbot(
        &buildbot,
        &["checkconfig", &target],
        &[(VARS_FILE_ENV, vars_file)],
        &cfg.state_dir.join("tmp"),
        CHECK_TIMEOUT,
    )
    .await
    .map_err(|e| AppError::upstream(e.to_string()))?;
    let result = CheckConfigResult {
        ok: out.success(),
        exit_code: out.exit_code,
        output: if out.timed_out {
            format!(
                "{}\n[bbctl-agent: checkconfig timed out after {CHECK_TIMEOUT:?}]",
                out.output
            )
        } else {
            out.output
        },
    };
    let (sha, stored) = (row.sha256.clone(), result.clone());
    state
        .db()
        .run(move |c| {
            configs::set_checkconfig(c, &sha, &stored)?;
            let verdict = if stored.ok { "ok" } else { "failed" };
            audit::append(
                c,
                actor.as_deref(),
                "config.checkconfig",
                &format!("{sha}: {verdict}"),
            )
        })
        .await?;
    tracing::info!(sha256 = %row.sha256, ok = result.ok, exit_code = ?result.exit_code, "checkconfig");
    state.hub().publish_agent(
        "agent.config",
        format!(
            "checkconfig of {} ({}): {}",
            store::short(&row.sha256),
            row.label,
            if result.ok { "ok" } else { "failed" }
        ),
        serde_json::json!({"action": "checkconfig", "sha256": row.sha256, "ok": result.ok}),
    );
    Ok(result)
}
