//! Configuration versions: staging, checkconfig, activation.

use serde::{Deserialize, Serialize};

/// One file of a configuration bundle. A plain master.cfg upload is a bundle of one file named
/// `master.cfg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Relative path inside the basedir; no absolute paths, no `..`.
    pub path: String,
    /// The file's content, base64 (standard alphabet, padded).
    pub content_base64: String,
}

/// `POST /v1/configs`: stage a configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfigRequest {
    /// The operator's label (`v2`, a git describe, …).
    pub label: String,
    /// Must contain `master.cfg`.
    pub files: Vec<ConfigFile>,
    #[serde(default)]
    pub reason: Option<String>,
    /// The Buildbot this version runs with: a venv directory (its `bin/buildbot` is used) or the
    /// `buildbot` executable itself; an absolute path on the agent's host. Absent: the agent's
    /// `master.buildbot`. Staging the same files again replaces it (the last stage wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildbot: Option<String>,
}

/// `POST /v1/configs/{sha256}/activate` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    #[serde(default)]
    pub reason: Option<String>,
    /// The Buildbot the master runs from this activation on (a venv directory or an executable,
    /// absolute, validated like [`StageConfigRequest::buildbot`]). Absent: the one the version
    /// was last staged with. The upgrade always names it, so what a later stage of the same
    /// files carried does not decide which code a rollback starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildbot: Option<String>,
}

/// A staged configuration version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigVersion {
    /// sha256 (hex) over the sorted list of (path, NUL, content, NUL).
    pub sha256: String,
    pub label: String,
    /// Relative paths of the files in the bundle.
    pub files: Vec<String>,
    pub staged_at: i64,
    /// Whether this version is the one in the master's basedir now.
    pub active: bool,
    /// The last checkconfig result, if one ran (with this version's `buildbot`).
    pub checkconfig: Option<CheckConfigResult>,
    /// The `buildbot` executable this version runs with (resolved from the staged venv or
    /// executable, else the agent's `master.buildbot`).
    #[serde(default)]
    pub buildbot: Option<String>,
    /// `buildbot --version` of that executable (`4.3.0`), when it runs.
    #[serde(default)]
    pub buildbot_version: Option<String>,
    /// The DB schema head of that Buildbot install (see `MasterInfo::buildbot_db_head`).
    #[serde(default)]
    pub buildbot_db_head: Option<String>,
}

/// `POST /v1/configs/{sha256}/checkconfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckConfigResult {
    pub ok: bool,
    pub exit_code: Option<i32>,
    /// stdout + stderr of `buildbot checkconfig`, verbatim.
    pub output: String,
}
