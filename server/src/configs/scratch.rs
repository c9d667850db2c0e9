//! A scratch basedir under the state dir holding one staged version's files and the vars file:
//! where `checkconfig` and the migrate strategy's `upgrade-master` run, never in the live basedir.

use std::path::PathBuf;

use super::Configs;
use super::error::ConfigsError;
use crate::fsutil::write_atomic;

/// A staged version written out for one run; removed on drop.
pub struct ScratchBasedir {
    pub dir: tempfile::TempDir,
    /// Its `bbctl-vars.json`, for `BBCTL_VARS_FILE`.
    pub vars_file: PathBuf,
    /// The Buildbot executable the version runs with.
    pub buildbot: PathBuf,
}

impl Configs {
    /// Writes staged version `sha256` and the vars file into a new directory under
    /// `<state_dir>/<area>`, named `<prefix>…`.
    pub async fn scratch_basedir(
        &self,
        sha256: &str,
        area: &str,
        prefix: &str,
    ) -> Result<ScratchBasedir, ConfigsError> {
        let row = self.store.row(sha256).await?;
        let bundle = self.store.load(&row)?;
        let root = self.state_dir.join(area);
        let scratch =
            |e: std::io::Error| ConfigsError::storage(format!("{area} scratch basedir"), e);
        std::fs::create_dir_all(&root).map_err(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&root)
            .map_err(scratch)?;
        for (path, content) in &bundle.files {
            write_atomic(&dir.path().join(path), content).map_err(scratch)?;
        }
        let vars_file = self.vars.write_into(dir.path()).map_err(scratch)?;
        Ok(ScratchBasedir {
            dir,
            vars_file,
            buildbot: self.code.of_version(&row),
        })
    }

    /// `<state_dir>/tmp`: where the agent's tools write their output files.
    pub fn tmp_dir(&self) -> PathBuf {
        self.state_dir.join("tmp")
    }
}
