"""The fleet store: where the agents keep the fleet's control state (lease, upgrade journals,
registry; docs/fleet-store.md).

`--fleet-store postgres` (the default): in the fleet's PostgreSQL, a role `bbctl` (LOGIN, a random
password written to DIR/secrets/fleet-db.password, mode 600), a database `bbctl_fleet` owned by it
and in it a schema `bbctl` owned by it, so the role's default search_path (`"$user", public`)
puts the store's tables there; nothing is granted on Buildbot's database. Every agent.toml gets a
`[fleet]` table pointing at it. `--fleet-store sqlite`: no `[fleet]` table, each agent keeps its
own SQLite store (a single-host fleet).

Every statement is idempotent (run again, it changes nothing but the password).
"""
import re
import secrets
from pathlib import Path

from .common import HOST, write_file

ROLE = "bbctl"
DATABASE = "bbctl_fleet"
SCHEMA = "bbctl"
BACKENDS = ("postgres", "sqlite")


def fleet_name(fleet_dir):
    """The fleet's name (`[fleet] name`, the lease row's key): DIR's basename in the agent's name
    alphabet (`.fleet` -> `fleet`), or `local` when nothing is left of it."""
    name = re.sub(r"[^a-z0-9._-]+", "-", Path(fleet_dir).name.lower())
    name = re.sub(r"^[^a-z0-9]+", "", name)[:63].rstrip("-.")
    return name or "local"


def password_file(fleet_dir):
    return Path(fleet_dir) / "secrets" / "fleet-db.password"


def db_url(port, host=HOST):
    """The store's URL as agents get it: no password inside (it is in `password_file`)."""
    return f"postgres://{ROLE}@{host}:{port}/{DATABASE}"


# The fleet name of agents without a `[fleet]` table.
DEFAULT_NAME = "default"


def skeleton(fleet_dir, backend, port, host=HOST):
    """fleet.json's `fleet_store` before PostgreSQL is up."""
    if backend != "postgres":
        return {"backend": backend, "name": DEFAULT_NAME}
    return {
        "backend": backend,
        "name": fleet_name(fleet_dir),
        "db_url": db_url(port, host),
        "password_file": str(password_file(fleet_dir)),
        "role": ROLE,
        "database": DATABASE,
        "schema": SCHEMA,
    }


def setup_sql(password):
    """The statements run as superuser on database `postgres`, then on `bbctl_fleet` (psql
    scripts, `\\gexec` for CREATE DATABASE, which cannot run inside a DO block)."""
    on_postgres = (
        "DO $$ BEGIN\n"
        f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN\n"
        f"    CREATE ROLE {ROLE} LOGIN;\n"
        "  END IF;\n"
        "END $$;\n"
        f"ALTER ROLE {ROLE} LOGIN PASSWORD '{password}';\n"
        f"SELECT 'CREATE DATABASE {DATABASE} OWNER {ROLE}'\n"
        f"  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{DATABASE}')\\gexec\n"
    )
    on_store = f"CREATE SCHEMA IF NOT EXISTS {SCHEMA} AUTHORIZATION {ROLE};\n"
    return on_postgres, on_store


def new_password():
    return secrets.token_hex(16)


def write_password(store, password):
    write_file(store["password_file"], password + "\n", mode=0o600)
    Path(store["password_file"]).parent.chmod(0o700)


def agent_table(store, slot):
    """The `[fleet]` table of a slot's agent.toml, or None (`--fleet-store sqlite`)."""
    if not store or store.get("backend") != "postgres":
        return None
    return {
        "name": store["name"],
        "db_url": store["db_url"],
        "password_file": store["password_file"],
        "advertise_url": slot["agent_url"],
        "standby": bool(slot.get("standby", False)),
    }


def describe(store):
    """One line for `up`'s summary and `status`."""
    if not store:
        return "none recorded"
    if store.get("backend") != "postgres":
        return "sqlite (each agent's own store)"
    return (f"postgres {store['db_url']} (schema {store['schema']}, password in {store['password_file']}), "
            f"fleet {store['name']}")
