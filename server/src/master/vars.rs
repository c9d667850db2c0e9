//! The per-master vars file (`<dir>/bbctl-vars.json`): the `[master.vars]` table plus
//! `agent_name`, read by a shared master.cfg through `$BBCTL_VARS_FILE`. Written before
//! `checkconfig`, `start` and `reconfig`, so the same master.cfg serves every master.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bbctl_api::VARS_FILE_NAME;

use crate::config::AgentConfig;
use crate::fsutil::write_atomic;

/// The content of the vars file, fixed when the agent starts.
#[derive(Clone, Debug)]
pub struct VarsFile {
    json: Arc<serde_json::Value>,
}

impl VarsFile {
    /// `[master.vars]` plus `agent_name` of `config`.
    pub fn new(config: &AgentConfig) -> Self {
        let mut vars = config.master.vars.clone();
        vars.insert(
            "agent_name".into(),
            serde_json::Value::String(config.name.clone()),
        );
        VarsFile {
            json: Arc::new(serde_json::Value::Object(vars)),
        }
    }

    /// The JSON object written to the file.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }

    /// Writes the vars file into `dir` atomically; returns its absolute path.
    pub fn write_into(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = std::path::absolute(dir.join(VARS_FILE_NAME))?;
        let mut text = serde_json::to_string_pretty(self.json()).map_err(std::io::Error::other)?;
        text.push('\n');
        write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }
}
