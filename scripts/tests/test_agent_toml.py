"""Each slot's agent.toml (fleet_lib.masters.write_agent_config) against what bbctl-agent reads:
server/src/config/ (the keys, the required ones, the checks), server/src/lb/config.rs (the
`[load_balancer]` keys of each kind) and docs/agent-config.md; its `[master.vars]` against what the
fleet's master.cfg files read."""

import ipaddress
import json
import os
import re
import stat
import unittest
from pathlib import Path

import fake_up
from rust_source import REPO, agent_config_keys, lb_keys_by_kind
from support import load_toml

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
# Keys whose value is a table read as a whole (its keys are the operator's).
WHOLE_TABLES = {"master.vars"}


def flatten(table, prefix=""):
    """{dotted key: value}, tables in WHOLE_TABLES kept whole."""
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key not in WHOLE_TABLES:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def vars_master_cfg_reads():
    """Every key of the vars file that a master.cfg of scripts/fleet-configs reads (V["x"], V.get("x"))."""
    keys = set()
    for cfg in sorted((REPO / "scripts" / "fleet-configs").glob("*.cfg")):
        keys |= set(re.findall(r"\bV(?:\[|\.get\()\s*[\"'](\w+)[\"']", cfg.read_text()))
    assert keys, "no V[...] in scripts/fleet-configs/*.cfg: update vars_master_cfg_reads"
    return keys


class AgentToml(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keys, cls.required = agent_config_keys()
        cls.lb_keys = lb_keys_by_kind()
        cls.fleets = {}
        for hook in ("haproxy", "relay"):
            with fake_up.FakeFleet() as fleet:
                info = fleet.up("--masters", "2", "--standby", "1", "--workers", "3", "--lb-hook", hook)
                configs = [
                    (m, load_toml(m["agent_config"]), os.stat(m["agent_config"]).st_mode) for m in info["masters"]
                ]
                token = Path(info["token_file"]).read_text()
                cls.fleets[hook] = (info, configs, token)

    def each(self):
        """(label, (fleet.json, slot, agent.toml, its mode, token)) of every slot of every fleet."""
        return [
            (f"{hook} hook, {slot['name']}", (info, slot, config, mode, token))
            for hook, (info, configs, token) in self.fleets.items()
            for slot, config, mode in configs
        ]

    def test_only_keys_the_agent_reads_and_every_required_one(self):
        for label, (_, _, config, _, _) in self.each():
            with self.subTest(label):
                keys = set(flatten(config))
                self.assertEqual(keys - self.keys, set(), "keys the agent refuses (unknown setting)")
                self.assertEqual(self.required - keys, set(), "required keys missing")
                self.assertEqual(len({"token", "token_file"} & keys), 1, "exactly one of token, token_file")

    def test_values_pass_the_agents_checks(self):
        for label, (info, slot, c, _, token) in self.each():
            with self.subTest(label):
                self.assertRegex(c["name"], NAME)
                self.assertEqual(c["name"], slot["name"])
                host, port = c["listen"].rsplit(":", 1)
                ipaddress.ip_address(host)
                self.assertEqual(f"http://{host}:{int(port)}/", slot["agent_url"], "listen is where fleet.json says")
                self.assertGreaterEqual(len(token.strip()), 8, "the token is at least 8 characters")
                self.assertEqual(c["token_file"], info["token_file"])
                self.assertTrue(0.05 <= c["poll_interval_secs"] <= 3600)
                m = c["master"]
                self.assertEqual(m["rest_url"], slot["rest_url"])
                self.assertRegex(m["rest_url"], r"^https?://")
                self.assertEqual(m["basedir"], slot["basedir"])
                self.assertEqual(m["buildbot"], os.path.join(info["buildbot_venv"], "bin", "buildbot"))
                self.assertTrue(0 < m["start_timeout_secs"] <= 3600)
                self.assertTrue(m["db_url"].startswith("postgresql"), m["db_url"])
                self.assertRegex(c["wamp"]["router_url"], r"^wss?://")
                self.assertEqual(c["wamp"]["router_url"], info["router_url"])
                self.assertEqual(c["wamp"]["realm"], info["realm"])
                for key in ("state_dir", "token_file"):
                    self.assertTrue(os.path.isabs(c[key]), key)
                for key in ("basedir", "buildbot"):
                    self.assertTrue(os.path.isabs(m[key]), key)

    def test_load_balancer_has_exactly_the_keys_of_its_kind(self):
        for label, (info, slot, c, _, _) in self.each():
            with self.subTest(label):
                lb = c["load_balancer"]
                self.assertIn(lb["kind"], self.lb_keys)
                self.assertEqual(set(lb) - {"kind"}, self.lb_keys[lb["kind"]])
                if lb["kind"] == "haproxy":
                    self.assertEqual(lb["server"], slot["name"], "the HAProxy server is named after the slot")
                    self.assertEqual(lb["backend"], info["load_balancer"]["backend"])
                    self.assertEqual(lb["runtime_socket"], info["load_balancer"]["runtime_socket"])
                else:
                    self.assertEqual(lb["listen"], f"127.0.0.1:{slot['relay_port']}")
                    self.assertEqual(lb["target"], f"127.0.0.1:{slot['worker_port']}")
        self.assertEqual(
            {h: self.fleets[h][1][0][1]["load_balancer"]["kind"] for h in self.fleets},
            {"haproxy": "haproxy", "relay": "relay"},
        )

    def test_master_vars_hold_what_master_cfg_reads(self):
        wanted = vars_master_cfg_reads() - {"agent_name"}  # the agent adds agent_name itself
        for label, (info, slot, c, _, _) in self.each():
            with self.subTest(label):
                v = c["master"]["vars"]
                self.assertEqual(wanted - set(v), set())
                self.assertEqual(v["www_port"], slot["www_port"])
                self.assertEqual(v["pb_port"], slot["worker_port"])
                self.assertEqual(v["db_url"], f"{info['db_url']}?application_name=buildbot:{slot['name']}")
                self.assertEqual(v["mq_router_url"], info["router_url"])
                self.assertEqual(
                    v["workers"], [{"name": w["name"], "password": w["password"]} for w in info["workers"]]
                )

    def test_direct_start_writes_the_same_vars_as_the_agent_plus_agent_name(self):
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "2", "--workers", "2", "--start-via", "direct")
            for slot in info["masters"]:
                written = json.loads((Path(slot["basedir"]) / "bbctl-vars.json").read_text())
                config = load_toml(slot["agent_config"])
                self.assertEqual(written, dict(config["master"]["vars"], agent_name=slot["name"]))

    def test_agent_toml_is_private(self):
        for label, (_, _, _, mode, _) in self.each():
            with self.subTest(label):
                self.assertEqual(stat.S_IMODE(mode), 0o600, "agent.toml holds the DB password")

    def test_documented_keys_are_the_keys_the_agent_reads(self):
        doc = (REPO / "docs" / "agent-config.md").read_text()
        for key in self.keys:
            self.assertRegex(
                doc, rf"\b{re.escape(key.rsplit('.', 1)[-1])}\b", f"docs/agent-config.md does not name {key}"
            )


if __name__ == "__main__":
    unittest.main()
