"""`scripts/fleet up --fleet-store postgres|sqlite`: the fleet store's role, database, schema and
password file, the `[fleet]` table of every agent.toml (against what bbctl-agent reads), fleet.json's
and `status --json`'s `fleet_store`, and each master's `application_name`."""

import contextlib
import io
import os
import re
import stat
import unittest
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import fake_up
from fleet_lib import cli, fleet_store
from rust_source import agent_config_keys
from support import load_toml


def psql_scripts(fleet):
    """The psql scripts `up` ran (`-f FILE`), in order, as (database, text): read from the fake's
    command log, the files themselves being removed after the run."""
    calls = (fleet.dir / "logs" / "postgres-setup.log").read_text().splitlines()
    return [(re.search(r" -d (\S+) ", c)[1], re.search(r" -f (\S+)$", c)[1]) for c in calls if " -f " in c]


class FleetStore(unittest.TestCase):
    def test_default_is_postgres_with_a_fleet_table_in_every_agent_toml(self):
        keys, _ = agent_config_keys()
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "2", "--standby", "1", "--workers", "1")
            store = info["fleet_store"]
            password_file = Path(store["password_file"])
            password = password_file.read_text().strip()
            mode = stat.S_IMODE(os.stat(password_file).st_mode)
            dir_mode = stat.S_IMODE(os.stat(password_file.parent).st_mode)
            tables = [
                (slot, load_toml(slot["agent_config"]).get("fleet"), Path(slot["agent_config"]).read_text())
                for slot in info["masters"]
            ]
            scripts = psql_scripts(fleet)
        self.assertEqual(store["backend"], "postgres")
        self.assertEqual(store["name"], "fleet")
        self.assertEqual(store["db_url"], f"postgres://bbctl@127.0.0.1:{info['postgres']['port']}/bbctl_fleet")
        self.assertEqual(password_file, Path(info["dir"]) / "secrets" / "fleet-db.password")
        self.assertRegex(password, r"^[0-9a-f]{32}$")
        self.assertEqual((mode, dir_mode), (0o600, 0o700))
        self.assertEqual([db for db, _ in scripts], ["postgres", "bbctl_fleet"])
        for slot, table, text in tables:
            with self.subTest(slot["name"]):
                self.assertEqual(
                    table,
                    {"name": "fleet", "db_url": store["db_url"], "password_file": str(password_file),
                     "advertise_url": slot["agent_url"], "standby": slot["standby"]},
                )
                self.assertEqual({f"fleet.{k}" for k in table} - keys, set(), "keys the agent does not read")
                self.assertNotIn(password, text)

    def test_sqlite_leaves_the_fleet_table_out_and_creates_nothing_in_postgres(self):
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "2", "--workers", "1", "--fleet-store", "sqlite")
            configs = [load_toml(slot["agent_config"]) for slot in info["masters"]]
            scripts = psql_scripts(fleet)
            secrets_dir = (fleet.dir / "secrets").exists()
        self.assertEqual(info["fleet_store"], {"backend": "sqlite", "name": "default"})
        self.assertEqual([c.get("fleet") for c in configs], [None, None])
        self.assertEqual(scripts, [])
        self.assertFalse(secrets_dir)

    def test_status_json_shows_the_store(self):
        for backend in fleet_store.BACKENDS:
            with self.subTest(backend), fake_up.FakeFleet() as fleet:
                info = fleet.up("--masters", "1", "--workers", "0", "--fleet-store", backend)
                code, status = fleet.status_json()
            self.assertEqual(code, 0, status)
            expected = dict(info["fleet_store"], alive=True if backend == "postgres" else None)
            self.assertEqual(status["fleet_store"], expected)

    def test_a_bad_backend_is_refused_with_exit_2(self):
        with fake_up.FakeFleet() as fleet, self.assertRaises(SystemExit) as exit_:
            fleet.up("--fleet-store", "mysql")
        self.assertEqual(exit_.exception.code, 2)

    def test_the_environment_picks_the_default_and_a_bad_value_is_refused_with_exit_2(self):
        with fake_up.FakeFleet() as fleet, mock.patch.dict(os.environ, {"BBCTL_FLEET_STORE": "sqlite"}):
            info = fleet.up("--masters", "1", "--workers", "0")
        self.assertEqual(info["fleet_store"]["backend"], "sqlite")
        with fake_up.FakeFleet() as fleet, mock.patch.dict(os.environ, {"BBCTL_FLEET_STORE": "mysql"}):
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = cli.main(["up", "--dir", str(fleet.dir), "--no-build"])
            created = fleet.dir.exists()
        self.assertEqual(code, 2)
        self.assertEqual(err.getvalue().strip().splitlines(),
                         ["fleet: ERROR: --fleet-store (or BBCTL_FLEET_STORE) mysql: not one of postgres, sqlite"])
        self.assertFalse(created)

    def test_each_master_names_its_sessions_after_its_slot(self):
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "2", "--standby", "1", "--workers", "0")
            urls = [load_toml(slot["agent_config"])["master"]["vars"]["db_url"] for slot in info["masters"]]
        for slot, url in zip(info["masters"], urls):
            self.assertEqual(parse_qs(urlsplit(url).query), {"application_name": [f"buildbot:{slot['name']}"]})
            self.assertEqual(url.split("?")[0], info["db_url"])


class SetupSql(unittest.TestCase):
    def test_creates_the_role_database_and_schema_only_when_absent(self):
        on_postgres, on_store = fleet_store.setup_sql("s3cret")
        self.assertIn("IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bbctl')", on_postgres)
        self.assertIn("ALTER ROLE bbctl LOGIN PASSWORD 's3cret'", on_postgres)
        self.assertIn("CREATE DATABASE bbctl_fleet OWNER bbctl'\n  WHERE NOT EXISTS", on_postgres)
        self.assertTrue(on_postgres.rstrip().endswith("\\gexec"))
        self.assertEqual(on_store, "CREATE SCHEMA IF NOT EXISTS bbctl AUTHORIZATION bbctl;\n")
        self.assertNotIn("buildbot", on_postgres + on_store, "nothing is granted on Buildbot's database")


class FleetName(unittest.TestCase):
    def test_the_directorys_basename_in_the_agents_alphabet(self):
        cases = {
            "/tmp/.fleet": "fleet",
            "/tmp/My Fleet_2": "my-fleet_2",
            "/tmp/prod.eu": "prod.eu",
            "/tmp/...": "local",
            "/": "local",
            "/tmp/" + "x" * 80: "x" * 63,
        }
        for path, name in cases.items():
            with self.subTest(path):
                self.assertEqual(fleet_store.fleet_name(path), name)
                self.assertRegex(name, r"^[a-z0-9][a-z0-9._-]{0,62}$")


if __name__ == "__main__":
    unittest.main()
