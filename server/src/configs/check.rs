//! `buildbot checkconfig` of a staged bundle, with the Buildbot executable the version runs with,
//! in a scratch basedir under the state dir holding the bundle and the vars file — never in the
//! live basedir.

use std::time::Duration;

use bbctl_api::{CheckConfigResult, VARS_FILE_ENV};

use super::Configs;
use super::error::ConfigsError;
use super::store::short;
use crate::db::{audit, configs};
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
        let scratch = self
            .scratch_basedir(sha256, "checkconfig", "check-")
            .await?;
        let target = scratch.dir.path().display().to_string();
        let row = self.store.row(sha256).await?;
        let out = process::run_buildbot(
            &scratch.buildbot,
            &["checkconfig", &target],
            &[(VARS_FILE_ENV, scratch.vars_file.clone())],
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
