//! Reading the fleet's Buildbot DB (its PostgreSQL) directly with `psql`, behind bbctl's back:
//! what the tests assert about the schema must not come from the code under test.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::Fleet;

/// The parts of `postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB` that `psql` needs.
struct DbUrl {
    user: String,
    password: String,
    host: String,
    port: String,
    db: String,
}

fn parse(url: &str) -> Result<DbUrl> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .with_context(|| format!("not a URL: {url}"))?;
    let (creds, rest) = rest.rsplit_once('@').context("no credentials in db_url")?;
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let (hostport, db) = rest.split_once('/').context("no database in db_url")?;
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    Ok(DbUrl {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.to_owned(),
        db: db.split('?').next().unwrap_or(db).to_owned(),
    })
}

impl Fleet {
    /// Runs `sql` with `psql` (the fleet's PostgreSQL binaries) as the fleet's Buildbot DB user;
    /// returns the rows, one per line, columns separated by `|`.
    pub fn db_query(&self, sql: &str) -> Result<String> {
        let url = parse(&self.info.db_url)?;
        let out = Command::new(self.info.postgres.bindir.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h", &url.host, "-p", &url.port, "-U", &url.user, "-d", &url.db,
            ])
            .args(["-c", sql])
            .env("PGPASSWORD", &url.password)
            .env("PGAPPNAME", "e2e-test")
            .stdin(Stdio::null())
            .output()
            .context("run psql")?;
        if !out.status.success() {
            bail!("psql -c {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The schema head recorded in the Buildbot DB (`alembic_version`).
    pub fn db_head(&self) -> Result<String> {
        self.db_query("SELECT version_num FROM alembic_version")
    }

    /// Whether the Buildbot DB has a table named `table` (schema `public`).
    pub fn db_has_table(&self, table: &str) -> Result<bool> {
        let n = self.db_query(&format!(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '{table}'"
        ))?;
        Ok(n == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fleets_sqlalchemy_url() {
        let u = parse("postgresql+psycopg2://buildbot:s3:cr@t@127.0.0.1:24100/buildbot").unwrap();
        assert_eq!(
            (
                u.user.as_str(),
                u.password.as_str(),
                u.host.as_str(),
                u.port.as_str(),
                u.db.as_str()
            ),
            ("buildbot", "s3:cr@t", "127.0.0.1", "24100", "buildbot")
        );
    }
}
