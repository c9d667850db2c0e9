//! `[buildbot_db]`: the PostgreSQL client tools, where backups go, the operator's own backup
//! command and how many backups to keep (docs/agent-config.md). Every key is optional.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::read::{Reader, bad};
use super::{ConfigError, absolute};

/// The validated `[buildbot_db]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildbotDbConfig {
    /// `None`: found at use (PATH, else the newest `/usr/lib/postgresql/*/bin`).
    pub pg_dump: Option<PathBuf>,
    pub pg_restore: Option<PathBuf>,
    pub psql: Option<PathBuf>,
    /// Default `<state_dir>/db-backups`.
    pub backup_dir: PathBuf,
    /// Run with `sh -c` when a backup asks for it; its last stdout line is the location.
    pub backup_command: Option<String>,
    /// Dump files kept in `backup_dir` (the newest ones); at least 1.
    pub keep_backups: usize,
}

pub const DEFAULT_KEEP_BACKUPS: usize = 3;

pub(super) fn read(
    r: &mut Reader<'_>,
    base: &Path,
    state_dir: &Path,
) -> Result<BuildbotDbConfig, ConfigError> {
    let pg_dump = tool(r, base, "buildbot_db.pg_dump")?;
    let pg_restore = tool(r, base, "buildbot_db.pg_restore")?;
    let psql = tool(r, base, "buildbot_db.psql")?;
    let backup_dir = match r.opt_str("buildbot_db.backup_dir")? {
        Some(d) if d.trim().is_empty() => {
            return Err(bad("buildbot_db.backup_dir", "must not be empty"));
        }
        Some(d) => absolute(base, &d),
        None => state_dir.join("db-backups"),
    };
    let backup_command = match r.opt_str("buildbot_db.backup_command")? {
        Some(c) if c.trim().is_empty() => {
            return Err(bad("buildbot_db.backup_command", "must not be empty"));
        }
        other => other,
    };
    let keep_backups = match r.opt_f64("buildbot_db.keep_backups")? {
        None => DEFAULT_KEEP_BACKUPS,
        Some(n) if n.fract() == 0.0 && (1.0..=1000.0).contains(&n) => n as usize,
        Some(_) => {
            return Err(bad(
                "buildbot_db.keep_backups",
                "must be a whole number between 1 and 1000",
            ));
        }
    };
    Ok(BuildbotDbConfig {
        pg_dump,
        pg_restore,
        psql,
        backup_dir,
        backup_command,
        keep_backups,
    })
}

/// A configured tool must be an executable file.
fn tool(r: &mut Reader<'_>, base: &Path, key: &str) -> Result<Option<PathBuf>, ConfigError> {
    let Some(value) = r.opt_str(key)? else {
        return Ok(None);
    };
    let path = absolute(base, &value);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(Some(path)),
        Ok(_) => Err(bad(
            key,
            &format!("{} is not an executable file", path.display()),
        )),
        Err(e) => Err(bad(key, &format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::AgentConfig;

    const BASE: &str = r#"
name = "master-1"
state_dir = "/tmp/bbctl-test-state"
token = "0123456789abcdef"
[master]
basedir = "/tmp/bbctl-test-master"
buildbot = "/opt/bb/bin/buildbot"
rest_url = "http://127.0.0.1:8011"
"#;

    fn parse(extra: &str) -> Result<AgentConfig, String> {
        let table: toml::Table = format!("{BASE}{extra}").parse().unwrap();
        AgentConfig::from_table(&table, std::path::Path::new("/etc")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_without_the_table() {
        let c = parse("").unwrap().buildbot_db;
        assert_eq!(
            c.backup_dir,
            std::path::Path::new("/tmp/bbctl-test-state/db-backups")
        );
        assert_eq!(c.keep_backups, 3);
        assert_eq!((c.pg_dump, c.backup_command), (None, None));
    }

    #[test]
    fn settings_are_read_and_bad_ones_named() {
        let c = parse(
            "[buildbot_db]\npg_dump = \"/bin/sh\"\nbackup_dir = \"b\"\nkeep_backups = 5\n\
             backup_command = \"echo s3://x\"\n",
        )
        .unwrap()
        .buildbot_db;
        assert_eq!(c.pg_dump.as_deref(), Some(std::path::Path::new("/bin/sh")));
        assert_eq!(c.backup_dir, std::path::Path::new("/etc/b"));
        assert_eq!(c.keep_backups, 5);
        assert_eq!(c.backup_command.as_deref(), Some("echo s3://x"));
        for (extra, want) in [
            (
                "[buildbot_db]\npsql = \"/nonexistent/psql\"\n",
                "bad setting `buildbot_db.psql`: /nonexistent/psql:",
            ),
            (
                "[buildbot_db]\npg_restore = \"/etc\"\n",
                "bad setting `buildbot_db.pg_restore`: /etc is not an executable file",
            ),
            (
                "[buildbot_db]\nkeep_backups = 0\n",
                "bad setting `buildbot_db.keep_backups`: must be a whole number",
            ),
            (
                "[buildbot_db]\nkeep_backups = 2.5\n",
                "bad setting `buildbot_db.keep_backups`",
            ),
            (
                "[buildbot_db]\nbackup_command = \" \"\n",
                "bad setting `buildbot_db.backup_command`: must not be empty",
            ),
            (
                "[buildbot_db]\npg_dumpp = \"/bin/sh\"\n",
                "bad setting `buildbot_db.pg_dumpp`: unknown setting",
            ),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.starts_with(want), "{extra}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
