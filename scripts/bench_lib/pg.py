"""The fleet's Buildbot DB through the PostgreSQL client tools: libpq parameters from the
SQLAlchemy URL of fleet.json, the password in PGPASSWORD (never in argv), and queries as rows.

Every session the benches open names itself with an application_name starting `bbctl-bench`, so
the agent's guard (which refuses while a session other than bbctl's own is connected) counts it
as bbctl's; the benches' sessions are short and only read, except for the row generator.
"""
import glob
import os
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

SEP = "\x1f"


class PgError(Exception):
    pass


def bindir():
    """The newest /usr/lib/postgresql/*/bin (the fleet's server comes from there too)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0)
    if not dirs:
        raise PgError("no PostgreSQL client tools under /usr/lib/postgresql/*/bin")
    return Path(dirs[-1])


class Db:
    def __init__(self, db_url, appname="bbctl-bench"):
        u = urlsplit(db_url)
        if not u.scheme.startswith("postgresql"):
            raise PgError(f"not a PostgreSQL URL: {u.scheme}")
        self.host, self.port = u.hostname or "127.0.0.1", str(u.port or 5432)
        self.user, self.password = unquote(u.username or ""), unquote(u.password or "")
        self.dbname = u.path.lstrip("/")
        self.appname = appname
        self.bin = bindir()

    def env(self, appname=None):
        return dict(os.environ, PGPASSWORD=self.password, PGAPPNAME=appname or self.appname)

    def conn_args(self):
        return ["-h", self.host, "-p", self.port, "-U", self.user, "-d", self.dbname]

    def tool(self, name):
        return str(self.bin / name)

    def rows(self, sql, timeout=30):
        """The rows of one statement, each a list of strings (NULL is the empty string)."""
        out = self.psql(["-A", "-t", "-F", SEP, "-c", sql], timeout=timeout)
        return [line.split(SEP) for line in out.splitlines() if line]

    def value(self, sql, timeout=30):
        rows = self.rows(sql, timeout)
        return rows[0][0] if rows else None

    def script(self, sql, timeout=1800):
        """Runs an SQL script (stdin) in one psql, stopping at the first error."""
        return self.psql(["-q", "-f", "-"], stdin=sql, timeout=timeout)

    def psql(self, args, stdin=None, timeout=30):
        cmd = [self.tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", *self.conn_args(), *args]
        try:
            p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=self.env(),
                               timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise PgError(f"psql: no answer within {timeout} s") from e
        if p.returncode != 0:
            raise PgError(f"psql exited {p.returncode}: {p.stderr.strip()[-500:]}")
        return p.stdout
