"""The fleet's private PostgreSQL cluster: initdb, start, the `buildbot` role and DB, the fleet
store's role, DB and schema (fleet_store.py), stop.

As root the cluster runs as user `postgres` (PostgreSQL refuses to run as root). Its data
directory and every parent must then be traversable by `postgres`; when the fleet directory is not
(e.g. under /root, mode 700) the cluster lives in /tmp/bbctl-pg-<hash of DIR> instead and
DIR/postgres is a symlink to it.

With `up --hosts` the server runs in the db host's network namespace, listens on its address and
accepts password logins from the fleet's subnet (pg_hba.conf); the setup itself uses the unix
socket, which every namespace reaches.
"""
import glob
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import fleet_store, procs
from .common import HOST, FleetError, in_netns, run, say, wait_until, write_file

PG_USER = "postgres"


def bindir():
    candidates = sorted(
        (d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(f"{d}/initdb", os.X_OK)),
        key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise FleetError("PostgreSQL server binaries not found (run scripts/install-deps)")


def _as_pg(cmd):
    return ["runuser", "-u", PG_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_can_traverse(path):
    if os.geteuid() != 0:
        return True
    return subprocess.run(_as_pg(["test", "-x", str(path)]), stdin=subprocess.DEVNULL, check=False).returncode == 0


def _chown_pg(*paths):
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(PG_USER)
    for p in paths:
        os.chown(p, pw.pw_uid, pw.pw_gid)


def setup(fleet_dir, port, log, host=HOST, netns=None, clients=None):
    """Creates and starts the cluster and the `buildbot` DB; returns the state for fleet.json.
    `netns`/`host`/`clients` (a subnet): where it runs and listens, who may log in over TCP."""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            raise FleetError("no user `postgres`: install the Debian package postgresql (scripts/install-deps)") from None
    home = fleet_dir / "postgres"
    if not _pg_can_traverse(fleet_dir):
        digest = hashlib.sha256(str(fleet_dir).encode()).hexdigest()[:12]
        real = Path(tempfile.gettempdir()) / f"bbctl-pg-{digest}"
        say(f"user {PG_USER} cannot reach {fleet_dir}: the PostgreSQL cluster lives in {real}")
        shutil.rmtree(real, ignore_errors=True)
        real.mkdir(mode=0o755)
        home.symlink_to(real)
    else:
        home.mkdir(mode=0o755)
    datadir, sockdir = home / "data", home / "run"
    for d in (datadir, sockdir):
        d.mkdir(mode=0o700)
    pglog = home / "postgres.log"
    pglog.touch()
    _chown_pg(home.resolve(), datadir, sockdir, pglog)
    pg = bindir()
    say(f"PostgreSQL: initdb ({pg})")
    run(
        _as_pg([pg / "initdb", "-D", datadir, "-U", PG_USER, "--no-locale", "-E", "UTF8", "--no-sync",
                "--auth-local=trust", "--auth-host=scram-sha-256"]),
        log, "initdb",
    )
    with open(datadir / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# scripts/fleet: a private, disposable cluster on loopback\n"
            f"listen_addresses = '{host}'\nport = {port}\nunix_socket_directories = '{sockdir}'\n"
            "max_connections = 300\nshared_buffers = 32MB\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\n"
        )
    if clients:
        with open(datadir / "pg_hba.conf", "a") as hba:
            hba.write(f"\n# scripts/fleet up --hosts: the fleet's hosts\nhost all all {clients} scram-sha-256\n")
    say(f"PostgreSQL: starting on {host}:{port}")
    pg_ctl_start = _as_pg([pg / "pg_ctl", "start", "-D", datadir, "-l", pglog, "-w", "-t", "60"])
    run(in_netns(netns, pg_ctl_start), log, "pg_ctl start")
    pid = procs.read_pidfile(datadir / "postmaster.pid")
    password = secrets.token_hex(16)
    psql = [pg / "psql", "-X", "-q", "-h", sockdir, "-p", str(port), "-U", PG_USER, "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-c"]
    run(_as_pg([*psql, f"CREATE ROLE buildbot LOGIN PASSWORD '{password}'"]), log, "create the buildbot role")
    run(_as_pg([*psql, "CREATE DATABASE buildbot OWNER buildbot"]), log, "create the buildbot database")
    state = {
        "home": str(home.resolve()),
        "pid": pid,
        "port": port,
        "datadir": str(datadir.resolve()),
        "socket_dir": str(sockdir.resolve()),
        "log": str(pglog),
        "bindir": str(pg),
        "db_url": f"postgresql+psycopg2://buildbot:{password}@{host}:{port}/buildbot",
    }
    if netns:
        state.update(host=host, netns=netns)
    return state


def _psql_file(state, database, sql, log, what):
    """Runs a psql script (`\\gexec` and all) as superuser on `database`, from a file only user
    postgres reads (it may hold a password), removed afterwards."""
    script = Path(state["home"]) / f"{database}.sql"
    write_file(script, sql, mode=0o600)
    _chown_pg(script)
    try:
        run(_as_pg([Path(state["bindir"]) / "psql", "-X", "-q", "-h", state["socket_dir"], "-p", str(state["port"]),
                    "-U", PG_USER, "-d", database, "-v", "ON_ERROR_STOP=1", "-f", script]), log, what)
    finally:
        script.unlink(missing_ok=True)


def create_fleet_store(state, store, log):
    """Role `bbctl`, database `bbctl_fleet` and schema `bbctl` of the fleet store (idempotent);
    writes the role's new password to the store's password file."""
    password = fleet_store.new_password()
    on_postgres, on_store = fleet_store.setup_sql(password)
    say(f"PostgreSQL: fleet store (role {fleet_store.ROLE}, database {fleet_store.DATABASE}, "
        f"schema {fleet_store.SCHEMA})")
    _psql_file(state, "postgres", on_postgres, log, "create the fleet store's role and database")
    _psql_file(state, fleet_store.DATABASE, on_store, log, "create the fleet store's schema")
    fleet_store.write_password(store, password)


def stop(state, log):
    """pg_ctl stop -m fast, then by PID if the server is still there. Returns a message or None.
    The PID is the data directory's (postmaster.pid) when it names a live server of that
    directory: a server restarted since `up` (a test's `pg_ctl stop` / `start`) has a new one."""
    datadir = state["datadir"]
    pid = state.get("pid")
    current = procs.read_pidfile(Path(datadir) / "postmaster.pid")
    if procs.is_alive(current) and procs.belongs(current, [datadir]):
        pid = current
    if not procs.is_alive(pid):
        return None
    if not procs.belongs(pid, [datadir]):
        return f"PostgreSQL: PID {pid} is no longer ours; left alone"
    try:
        run(_as_pg([Path(state["bindir"]) / "pg_ctl", "stop", "-D", datadir, "-m", "fast", "-w", "-t", "30"]),
            log, "pg_ctl stop", timeout=60)
    except FleetError as e:
        say(f"{e}; stopping PostgreSQL by PID")
    msg = procs.stop(pid, [datadir], "PostgreSQL", term_timeout=10, sig=15)
    wait_until("PostgreSQL to exit", lambda: not procs.is_alive(pid), 15)
    return msg or f"PostgreSQL (PID {pid}) stopped"
