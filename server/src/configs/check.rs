//! `buildbot checkconfig` of a staged bundle, with the Buildbot executable the version runs with,
//! in a scratch basedir under the state dir holding the bundle and the vars file — never in the
//! live basedir.

use std::time::Duration;

use bbctl_api::{CheckConfigResult, VARS_FILE_ENV};

use super::Configs;
use super::error::ConfigsError;
use super::store::short;
use crate::db::{audit, configs};
use crate::fsutil::write_atomic;
use crate::master::process;

const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

impl Configs {
    /// Runs checkconfig, records its verdict with the version (and in the audit log) and
    /// returns it; a failed check is a result, not an error.
    pub async fn checkconfig(
        &self,
        sha256: &str,
        actor: Option<String>,
    ) -> Result<CheckConfigResult, ConfigsError> {
        let row = self.store.row(sha256).await?;
        let bundle = self.store.load(&row)?;
        let scratch_root = self.state_dir.join("checkconfig");
        let scratch = |e: std::io::Error| ConfigsError::storage("checkconfig scratch basedir", e);
        std::fs::create_dir_all(&scratch_root).map_err(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix("check-")
            .tempdir_in(&scratch_root)
            .map_err(scratch)?;
        for (path, content) in &bundle.files {
            write_atomic(&dir.path().join(path), content).map_err(scratch)?;
        }
        let vars_file = self.vars.write_into(dir.path()).map_err(scratch)?;
        let target = dir.path().display().to_string();
        let buildbot = self.code.of_version(&row);
        let out = process::run_buildbot(
            &buildbot,
            &["checkconfig", &target],
            &[(VARS_FILE_ENV, vars_file)],
            &self.state_dir.join("tmp"),
            CHECK_TIMEOUT,
        )
        .await
        .map_err(ConfigsError::CheckconfigRun)?;
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
        self.db
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
        self.hub.publish_agent(
            "agent.config",
            format!(
                "checkconfig of {} ({}): {}",
                short(&row.sha256),
                row.label,
                if result.ok { "ok" } else { "failed" }
            ),
            serde_json::json!({"action": "checkconfig", "sha256": row.sha256, "ok": result.ok}),
        );
        Ok(result)
    }
}
