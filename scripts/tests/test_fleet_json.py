"""DIR/fleet.json and `scripts/fleet status --json` against what the Rust tests read (tests/src/info.rs)."""

import contextlib
import io
import os
import re
import unittest

import fake_up
from fleet_lib import cli
from rust_source import structs
from support import check_rust_value

INFO = "tests/src/info.rs"
# (what, extra `scripts/fleet up` arguments): every shape of fleet the Rust tests start.
VARIANTS = [
    ("masters + standby, haproxy hook", ["--masters", "2", "--standby", "2", "--workers", "3"]),
    ("one master, no workers", ["--masters", "1", "--workers", "0"]),
    ("relay hook", ["--masters", "2", "--standby", "1", "--workers", "2", "--lb-hook", "relay"]),
    ("masters started directly", ["--masters", "2", "--workers", "1", "--start-via", "direct"]),
]


class FleetJson(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.structs = structs(INFO)

    def test_fleet_json_deserializes_into_fleet_info(self):
        for what, args in VARIANTS:
            with self.subTest(what), fake_up.FakeFleet() as fleet:
                info = fleet.up(*args)
                self.assertEqual(check_rust_value(info, "FleetInfo", self.structs, "fleet.json"), [])
                self.assertEqual(info["state"], "up")
                self.assertEqual(info["dir"], str(fleet.dir.resolve()))

    def test_slots_are_masters_first_then_standby_with_their_files(self):
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "2", "--standby", "2", "--workers", "2")
        self.assertEqual([m["standby"] for m in info["masters"]], [False, False, True, True])
        self.assertEqual([m["name"] for m in info["masters"]], ["master-1", "master-2", "master-3", "master-4"])
        self.assertEqual([w["name"] for w in info["workers"]], ["worker-1", "worker-2"])
        for m in info["masters"]:
            self.assertEqual(m["master_pid"] is None, m["standby"], m["name"])
            self.assertRegex(m["rest_url"], r"^http://127\.0\.0\.1:\d+/$")
            self.assertEqual(m["rest_url"], f"http://127.0.0.1:{m['www_port']}/")
            self.assertRegex(m["agent_url"], r"^http://127\.0\.0\.1:\d+/$")
            self.assertTrue(m["agent_config"].endswith(f"/agents/{m['name']}/agent.toml"))
        self.assertEqual(info["inventory"], os.path.join(info["dir"], "bbctl.toml"))
        self.assertEqual(info["load_balancer"]["backend"], "masters")

    def test_every_port_is_distinct(self):
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "3", "--standby", "3", "--workers", "1", "--lb-hook", "relay")
        ports = [info["postgres"]["port"], info["router"]["port"], info["load_balancer"]["port"]]
        for m in info["masters"]:
            ports += [m["www_port"], m["worker_port"], m["relay_port"], int(re.search(r":(\d+)/$", m["agent_url"])[1])]
        self.assertEqual(len(ports), len(set(ports)), sorted(ports))

    def test_status_json_deserializes_into_fleet_status(self):
        with fake_up.FakeFleet() as fleet:
            fleet.up("--masters", "2", "--standby", "1", "--workers", "2")
            code, status = fleet.status_json()
        self.assertEqual(code, 0, status)
        self.assertEqual(check_rust_value(status, "FleetStatus", self.structs, "status"), [])
        self.assertTrue(status["ok"])
        self.assertEqual([m["standby"] for m in status["masters"]], [False, False, True])
        self.assertEqual(status["workers"][0]["connected_to"], ["master-1"])

    def test_buildbot_version_picks_the_venv_of_masters_agents_and_workers(self):
        with fake_up.FakeFleet() as fleet:
            default = fleet.up("--masters", "1", "--workers", "1")
        self.assertEqual(default["buildbot_version"], "4.3.0")
        self.assertTrue(default["buildbot_venv"].endswith("/buildbot-4.3.0"), default["buildbot_venv"])
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "1", "--standby", "1", "--workers", "1", "--buildbot-version", "4.2.1")
            calls = (fleet.dir / "logs" / "create-master.log").read_text()
            worker_calls = (fleet.dir / "logs" / "worker-worker-1.log").read_text()
            agent_toml = (fleet.dir / "agents" / "master-2" / "agent.toml").read_text()
        venv = info["buildbot_venv"]
        self.assertEqual(info["buildbot_version"], "4.2.1")
        self.assertTrue(venv.endswith("/buildbot-4.2.1"), venv)
        self.assertIn(f"$ {venv}/bin/buildbot create-master", calls)
        self.assertIn(f"$ {venv}/bin/buildbot-worker create-worker", worker_calls)
        self.assertIn(f'buildbot = "{venv}/bin/buildbot"', agent_toml)

    def test_unknown_buildbot_version_is_refused_with_exit_2_and_nothing_created(self):
        with fake_up.FakeFleet() as fleet:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = cli.main(["up", "--dir", str(fleet.dir), "--no-build", "--buildbot-version", "9.9.9"])
            self.assertFalse(fleet.dir.exists())
        self.assertEqual(code, 2)
        lines = err.getvalue().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("--buildbot-version 9.9.9", lines[0])
        self.assertIn("installed: 4.2.1, 4.3.0", lines[0])


if __name__ == "__main__":
    unittest.main()
