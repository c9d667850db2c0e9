//! `buildbot --version` of a master's executable, run once per executable path.

use std::path::Path;
use std::time::Duration;

use super::per_exe::PerExecutable;

/// Only versions found are remembered: an executable that cannot run yet (a venv being
/// installed) is asked again next time.
#[derive(Default)]
pub struct VersionCache(PerExecutable<Option<String>>);

impl VersionCache {
    /// The Buildbot version of `buildbot`, e.g. `4.3.0`; `None` if it cannot be run.
    pub async fn get(&self, buildbot: &Path) -> Option<String> {
        self.0
            .get(buildbot, || Self::find(buildbot), Option::is_some)
            .await
    }

    async fn find(buildbot: &Path) -> Option<String> {
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::process::Command::new(buildbot)
                .arg("--version")
                .kill_on_drop(true)
                .output(),
        )
        .await
        .ok()?
        .ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    }
}

/// From `Buildbot version: 4.3.0\nTwisted version: …` to `4.3.0`.
pub fn parse_version(output: &str) -> Option<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Buildbot version:"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildbot_version_output() {
        let out = "Buildbot version: 4.3.0\nTwisted version: 24.11.0\nPython version: 3.11.2\n";
        assert_eq!(parse_version(out).as_deref(), Some("4.3.0"));
        assert_eq!(parse_version("garbage"), None);
    }
}
