//! The per-master vars file (`<dir>/bbctl-vars.json`): the `[master.vars]` table plus
//! `agent_name`, read by a shared master.cfg through `$BBCTL_VARS_FILE`.

use std::path::{Path, PathBuf};

use bbctl_api::VARS_FILE_NAME;

use crate::config::AgentConfig;
use crate::fsutil::write_atomic;

/// The JSON object written to the vars file.
pub fn vars_json(config: &AgentConfig) -> serde_json::Value {
    let mut vars = config.master.vars.clone();
    vars.insert(
        "agent_name".into(),
        serde_json::Value::String(config.name.clone()),
    );
    serde_json::Value::Object(vars)
}

/// Writes the vars file into `dir` atomically; returns its absolute path.
pub fn write_vars_file(config: &AgentConfig, dir: &Path) -> std::io::Result<PathBuf> {
    let path = std::path::absolute(dir.join(VARS_FILE_NAME))?;
    let mut text =
        serde_json::to_string_pretty(&vars_json(config)).map_err(std::io::Error::other)?;
    text.push('\n');
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}
