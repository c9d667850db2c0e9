//! The DB schema head (alembic revision) of a Buildbot install: a master refuses to start against
//! a schema not its own, so an upgrade compares heads rather than guessing from version numbers.
//! Found by asking the python of the venv the executable lives in (`<bin>/python3`) where
//! `buildbot/db/migrations/versions` is, then reading the revisions there. Cached per executable.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::per_exe::PerExecutable;

const LOCATE: &str = "import os, buildbot.db; \
    print(os.path.join(os.path.dirname(buildbot.db.__file__), 'migrations', 'versions'))";

#[derive(Default)]
pub struct SchemaCache(PerExecutable<Option<String>>);

impl SchemaCache {
    /// The schema head of the Buildbot that `buildbot` runs; `None` when there is no python next
    /// to it (e.g. a wrapper script) or the migrations cannot be read. Both answers are cached.
    pub async fn get(&self, buildbot: &Path) -> Option<String> {
        self.0
            .get(buildbot, || Self::find(buildbot), |_| true)
            .await
    }

    async fn find(buildbot: &Path) -> Option<String> {
        let bin = buildbot.parent()?;
        let python = ["python3", "python"]
            .iter()
            .map(|n| bin.join(n))
            .find(|p| p.is_file())?;
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::process::Command::new(python)
                .args(["-c", LOCATE])
                .kill_on_drop(true)
                .output(),
        )
        .await
        .ok()?
        .ok()?;
        if !out.status.success() {
            return None;
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        tokio::task::spawn_blocking(move || head_of_dir(&dir))
            .await
            .ok()?
    }
}

/// The head revision of the alembic migrations in `dir`.
fn head_of_dir(dir: &Path) -> Option<String> {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.extension().is_some_and(|e| e == "py") {
            sources.push(std::fs::read_to_string(&path).ok()?);
        }
    }
    head(sources.iter().map(String::as_str))
}

/// The one revision no other migration names as its `down_revision`; `None` if there is not
/// exactly one (no migrations, or branches).
pub fn head<'a>(sources: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut revisions = Vec::new();
    let mut parents = HashSet::new();
    for src in sources {
        if let Some(r) = assigned(src, "revision") {
            revisions.push(r);
        }
        if let Some(d) = assigned(src, "down_revision") {
            parents.insert(d);
        }
    }
    let mut heads = revisions.into_iter().filter(|r| !parents.contains(r));
    match (heads.next(), heads.next()) {
        (Some(h), None) => Some(h),
        _ => None,
    }
}

/// The string value of a module-level `NAME = "…"` (or `'…'`) assignment.
fn assigned(src: &str, name: &str) -> Option<String> {
    src.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.trim_start();
        let value = rest.strip_prefix('=')?.trim();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let inner = &value[1..];
        Some(inner[..inner.find(quote)?].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_the_revision_nobody_descends_from() {
        let m = |r: &str, d: &str| {
            format!("\"\"\"doc\"\"\"\nrevision = \"{r}\"\ndown_revision = {d}\n")
        };
        let sources = [m("065", "\"064\""), m("067", "'066'"), m("066", "\"065\"")];
        assert_eq!(
            head(sources.iter().map(String::as_str)).as_deref(),
            Some("067")
        );
        let first = m("001", "None");
        assert_eq!(head([first.as_str()]).as_deref(), Some("001"));
        let branched = [m("002", "\"001\""), m("003", "\"001\"")];
        assert_eq!(head(branched.iter().map(String::as_str)), None);
        assert_eq!(head(["x = 1"]), None);
    }

    #[tokio::test]
    async fn no_python_next_to_the_executable_means_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("buildbot");
        assert_eq!(SchemaCache::default().get(&exe).await, None);
    }
}
