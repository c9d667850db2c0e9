//! Staging a configuration version, and the staged versions as the API shows them (with the
//! Buildbot each runs with, and whether it is the one in the basedir).

use bbctl_api::{ConfigVersion, StageConfigRequest};

use super::Configs;
use super::bundle::{Bundle, validate_label};
use super::error::ConfigsError;
use super::store::{Staging, short};
use crate::db::configs::VersionRow;

impl Configs {
    /// Validates, stores and records a bundle. A `buildbot` that does not resolve to a working
    /// executable is refused ([`ConfigsError::Code`]) before anything is stored.
    pub async fn stage(
        &self,
        req: StageConfigRequest,
        actor: Option<String>,
    ) -> Result<ConfigVersion, ConfigsError> {
        validate_label(&req.label)?;
        let bundle = Bundle::from_upload(&req.files)?;
        let buildbot = match &req.buildbot {
            Some(spec) => Some(self.code.resolve(spec).await?.display().to_string()),
            None => None,
        };
        let staging = Staging {
            label: req.label,
            reason: req.reason,
            buildbot,
            actor,
        };
        let row = self.store.stage(&bundle, staging).await?;
        tracing::info!(sha256 = %row.sha256, label = %row.label, "configuration staged");
        self.hub.publish_agent(
            "agent.config",
            format!(
                "configuration {} ({}) staged",
                short(&row.sha256),
                row.label
            ),
            serde_json::json!({"action": "staged", "sha256": row.sha256, "label": row.label}),
        );
        self.to_wire(row).await
    }

    pub async fn get(&self, sha256: &str) -> Result<ConfigVersion, ConfigsError> {
        let row = self.store.row(sha256).await?;
        self.to_wire(row).await
    }

    /// Every staged version, newest first.
    pub async fn list(&self) -> Result<Vec<ConfigVersion>, ConfigsError> {
        let rows = self.store.rows().await?;
        let active = self.current().await?.map(|a| a.sha256);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.wire(row, active.as_deref()).await);
        }
        Ok(out)
    }

    async fn to_wire(&self, row: VersionRow) -> Result<ConfigVersion, ConfigsError> {
        let active = self.current().await?.map(|a| a.sha256);
        Ok(self.wire(row, active.as_deref()).await)
    }

    async fn wire(&self, row: VersionRow, active_sha: Option<&str>) -> ConfigVersion {
        let exe = self.code.of_version(&row);
        ConfigVersion {
            buildbot_version: self.runtime.versions.get(&exe).await,
            buildbot_db_head: self.runtime.schemas.get(&exe).await,
            buildbot: Some(exe.display().to_string()),
            active: active_sha == Some(row.sha256.as_str()),
            files: row.files(),
            checkconfig: row.checkconfig(),
            staged_at: row.staged_at as i64,
            label: row.label,
            sha256: row.sha256,
        }
    }
}
