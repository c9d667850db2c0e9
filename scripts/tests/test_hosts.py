"""`scripts/fleet up --hosts`: the fleet's id and subnet, the host layout, the refusal of taken
namespaces or subnets (fleet_lib.hosts), and what `up --hosts` writes (fleet.json's `hosts`,
`load_balancers` and `load_balancer`, each agent.toml, bbctl.toml, haproxy.cfg, PostgreSQL's
settings, the commands started inside the hosts' namespaces) against what their readers take."""

import contextlib
import io
import ipaddress
import re
import unittest
from pathlib import Path

import fake_up
from fleet_lib import cli, hosts
from rust_source import REPO, agent_config_keys, structs
from support import check_rust_value, load_toml
from test_agent_toml import flatten

HOSTS = ["db", "m1", "m2", "m3", "lb1", "lb2", "workers", "ops"]


class Layout(unittest.TestCase):
    def test_id_and_subnet_are_derived_from_the_directory(self):
        a, b = hosts.fleet_id("/tmp/fleet-a"), hosts.fleet_id("/tmp/fleet-b")
        self.assertRegex(a, r"^bb[0-9a-f]{6}$")
        self.assertNotEqual(a, b)
        self.assertEqual(a, hosts.fleet_id("/tmp/../tmp/fleet-a"), "the same directory, the same id")
        for fid in (a, b):
            net = hosts.subnet(fid)
            self.assertEqual(net.prefixlen, 24)
            self.assertTrue(net.subnet_of(ipaddress.ip_network("10.0.0.0/8")), net)
            self.assertTrue(100 <= net.network_address.packed[1] <= 199, net)
            self.assertEqual(net, hosts.subnet(fid))
        self.assertNotEqual(hosts.subnet(a), hosts.subnet(b))

    def test_every_host_has_its_namespace_and_address(self):
        network, layout = hosts.layout("/tmp/fleet-a", ["master-1", "master-2", "master-3"], ["worker-1"])
        fid = hosts.fleet_id("/tmp/fleet-a")
        self.assertEqual(list(layout), HOSTS)
        self.assertEqual(network["netns"], f"{fid}-net")
        self.assertEqual(network["subnet"], str(hosts.subnet(fid)))
        self.assertEqual(network["created"], [])
        net = ipaddress.ip_network(network["subnet"])
        addresses = [ipaddress.ip_address(h["address"]) for h in layout.values()]
        self.assertEqual(len(set(addresses)), len(addresses), "one address per host")
        for name, h in layout.items():
            self.assertEqual(h["netns"], f"{fid}-{name}")
            self.assertIn(ipaddress.ip_address(h["address"]), list(net.hosts()))
            self.assertLessEqual(len(f"v-{name}"), 15, "the veth's name fits IFNAMSIZ")
        self.assertEqual(layout["db"]["runs"], ["postgres", "crossbar"])
        self.assertEqual(layout["m2"]["runs"], ["agent master-2", "master master-2"])
        self.assertEqual(layout["workers"]["runs"], ["worker-1"])
        self.assertEqual(layout["ops"]["runs"], [])

    def test_the_largest_fleet_fits_and_a_larger_one_is_refused(self):
        names = [f"master-{i + 1}" for i in range(hosts.MAX_MASTER_HOSTS)]
        _, layout = hosts.layout("/tmp/fleet-a", names, [])
        self.assertEqual(len({h["address"] for h in layout.values()}), len(layout))
        with self.assertRaisesRegex(hosts.UsageError, "at most 30"):
            hosts.layout("/tmp/fleet-a", [*names, "master-31"], [])

    def test_workers_alternate_between_the_load_balancers(self):
        self.assertEqual([hosts.load_balancer_of(i) for i in range(5)], ["lb1", "lb2", "lb1", "lb2", "lb1"])

    def test_taken_namespaces_and_subnets_are_refused(self):
        network, _ = hosts.layout("/tmp/fleet-a", ["master-1"], [])
        fid, net = network["id"], ipaddress.ip_network(network["subnet"])
        self.assertEqual(hosts.conflicts(network, ["other-net", "bbffffff-db"], [ipaddress.ip_network("10.0.0.0/24")]),
                         [])
        self.assertEqual(hosts.conflicts(network, [f"{fid}-m1", f"{fid}-db"], []),
                         [f"network namespace {fid}-db already exists", f"network namespace {fid}-m1 already exists"])
        wide = ipaddress.ip_network(f"{net.network_address}/16", strict=False)
        self.assertEqual(hosts.conflicts(network, [], [wide]), [f"subnet {net} overlaps {wide} (already in use)"])

    def test_call_in_without_a_namespace_is_a_plain_call(self):
        self.assertEqual(hosts.call_in(None, lambda a, b=0: a + b, 1, b=2), 3)
        with self.assertRaises(ZeroDivisionError):
            hosts.call_in(None, lambda: 1 / 0)


class HostsFleet(unittest.TestCase):
    """One fake `up --hosts --masters 2 --standby 1 --workers 4`, read back."""

    @classmethod
    def setUpClass(cls):
        cls.keys, _ = agent_config_keys()
        with fake_up.FakeFleet() as fleet:
            cls.info = fleet.up("--hosts", "--masters", "2", "--standby", "1", "--workers", "4")
            cls.configs = {m["name"]: load_toml(m["agent_config"]) for m in cls.info["masters"]}
            cls.inventory = load_toml(cls.info["inventory"])
            cls.haproxy_cfg = {lb["name"]: Path(lb["config"]).read_text() for lb in cls.info["load_balancers"]}
            logs = Path(cls.info["dir"]) / "logs"
            cls.logs = {p.name: p.read_text() for p in logs.iterdir()}
            pgdata = Path(cls.info["postgres"]["datadir"])
            cls.pg_conf = (pgdata / "postgresql.conf").read_text()
            cls.pg_hba = (pgdata / "pg_hba.conf").read_text()
            cls.status_code, cls.status = fleet.status_json()

    def host(self, name):
        return self.info["hosts"][name]

    def test_fleet_json_has_hosts_network_and_the_ops_host(self):
        info = self.info
        self.assertEqual(list(info["hosts"]), HOSTS)
        net = ipaddress.ip_network(info["network"]["subnet"])
        for name, h in info["hosts"].items():
            self.assertEqual(set(h), {"netns", "address", "runs"}, name)
            self.assertIn(ipaddress.ip_address(h["address"]), net)
        self.assertEqual(sorted(info["network"]["created"]),
                         sorted([info["network"]["netns"], *(h["netns"] for h in info["hosts"].values())]))
        self.assertEqual(info["hosts"]["ops"]["runs"], [])
        self.assertEqual(info["hosts"]["workers"]["runs"], [w["name"] for w in info["workers"]])

    def test_fleet_json_still_reads_as_fleet_info(self):
        problems = check_rust_value(self.info, "FleetInfo", structs("tests/src/info.rs"), "fleet.json")
        # load_balancer.runtime_socket is lb1's `tcp:ADDR:PORT`, not a path, with --hosts.
        runtime = self.info["load_balancer"]["runtime_socket"]
        self.assertEqual(problems, [f"fleet.json.load_balancer.runtime_socket: the path '{runtime}' is not absolute"])

    def test_load_balancers_and_lb1_as_load_balancer(self):
        lbs = self.info["load_balancers"]
        self.assertEqual([lb["name"] for lb in lbs], ["lb1", "lb2"])
        for lb in lbs:
            h = self.host(lb["name"])
            self.assertEqual(lb["host"], lb["name"])
            self.assertEqual(lb["address"], h["address"])
            self.assertEqual(lb["netns"], h["netns"])
            self.assertEqual(lb["runtime"], f"tcp:{h['address']}:{hosts.RUNTIME_PORT}")
            self.assertEqual(lb["runtime_socket"], lb["runtime"])
            self.assertIsInstance(lb["pid"], int)
        old = self.info["load_balancer"]
        self.assertEqual(old["host"], lbs[0]["address"], "load_balancer.host is lb1's address, as before")
        self.assertEqual((old["port"], old["pid"], old["runtime_socket"], old["config"]),
                         (lbs[0]["port"], lbs[0]["pid"], lbs[0]["runtime"], lbs[0]["config"]))

    def test_masters_and_workers_are_placed_on_their_hosts(self):
        for i, m in enumerate(self.info["masters"]):
            h = self.host(f"m{i + 1}")
            self.assertEqual((m["host"], m["address"], m["netns"]), (f"m{i + 1}", h["address"], h["netns"]))
            self.assertEqual(m["agent_url"], f"https://{h['address']}:{m['agent_port']}/")
            self.assertEqual(m["rest_url"], f"http://{h['address']}:{m['www_port']}/")
        self.assertEqual([w["load_balancer"] for w in self.info["workers"]], ["lb1", "lb2", "lb1", "lb2"])
        for w in self.info["workers"]:
            lb = self.host(w["load_balancer"])
            log = self.logs[f"worker-{w['name']}.log"]
            self.assertIn(f" {lb['address']}:{self.info['load_balancer']['port']} {w['name']} ", log)
            self.assertIn(f"$ ip netns exec {self.host('workers')['netns']} ", log)

    def test_agent_toml_has_tls_runtime_sockets_and_the_db_host(self):
        db = self.host("db")["address"]
        runtimes = [lb["runtime"] for lb in self.info["load_balancers"]]
        lb_source = (REPO / "server" / "src" / "lb" / "config.rs").read_text()
        self.assertIn("runtime_sockets", lb_source, "the agent reads load_balancer.runtime_sockets")
        for m in self.info["masters"]:
            with self.subTest(m["name"]):
                c = self.configs[m["name"]]
                self.assertEqual(c["listen"], f"{m['address']}:{m['agent_port']}")
                self.assertEqual(c["tls"], m["tls"])
                self.assertEqual(set(c["tls"]), {"cert_file", "key_file"})
                self.assertTrue(c["tls"]["cert_file"].startswith(self.info["tls"]["dir"] + "/"))
                self.assertEqual(c["load_balancer"], {"kind": "haproxy", "runtime_sockets": runtimes,
                                                      "backend": "masters", "server": m["name"]})
                self.assertEqual(c["master"]["rest_url"], m["rest_url"])
                self.assertEqual(c["master"]["vars"]["host"], m["address"])
                self.assertIn(f"@{db}:", c["master"]["db_url"])
                self.assertEqual(c["wamp"]["router_url"], f"ws://{db}:{self.info['router']['port']}/ws")
                self.assertEqual(c["fleet"]["db_url"], f"postgres://bbctl@{db}:{self.info['postgres']['port']}/bbctl_fleet")
                self.assertEqual(c["fleet"]["advertise_url"], m["agent_url"])
                self.assertEqual(set(flatten(c)) - self.keys, set(), "keys the agent refuses (unknown setting)")

    def test_agents_and_daemons_start_in_their_hosts_namespaces(self):
        for m in self.info["masters"]:
            self.assertIn(f"$ ip netns exec {m['netns']} {self.info['agent_bin']} --config {m['agent_config']}",
                          self.logs[Path(m["agent_log"]).name])
        self.assertIn(f"$ ip netns exec {self.host('db')['netns']} ", self.logs["crossbar.log"])
        for lb in self.info["load_balancers"]:
            self.assertRegex(self.logs[Path(lb["log"]).name], rf"\$ ip netns exec {lb['netns']} haproxy ")
        self.assertRegex(self.logs["postgres-setup.log"], rf"\$ ip netns exec {self.host('db')['netns']} .*pg_ctl start")
        self.assertRegex(self.logs["create-master.log"], rf"\$ ip netns exec {self.host('m1')['netns']} .* create-master ")

    def test_bbctl_toml_uses_https_and_the_fleet_ca(self):
        self.assertEqual(self.inventory["defaults"]["ca_file"], self.info["tls"]["ca_file"])
        self.assertEqual([e["url"] for e in self.inventory["masters"]], [m["agent_url"] for m in self.info["masters"]])
        self.assertTrue(all(e["url"].startswith("https://") for e in self.inventory["masters"]))

    def test_haproxy_listens_on_its_host_with_a_tcp_runtime_api(self):
        for lb in self.info["load_balancers"]:
            cfg = self.haproxy_cfg[lb["name"]]
            self.assertIn(f"stats socket ipv4@{lb['address']}:{hosts.RUNTIME_PORT} level admin\n", cfg)
            self.assertIn(f"bind {lb['address']}:{lb['port']}\n", cfg)
            for m in self.info["masters"]:
                self.assertIn(f"server {m['name']} {m['address']}:{m['worker_port']} check", cfg)

    def test_postgres_listens_on_db_and_accepts_the_subnet(self):
        self.assertIn(f"listen_addresses = '{self.host('db')['address']}'", self.pg_conf)
        self.assertRegex(self.pg_hba, rf"host all all {re.escape(self.info['network']['subnet'])} scram-sha-256")

    def test_status_lists_both_load_balancers(self):
        self.assertEqual(self.status_code, 0)
        self.assertEqual([lb["name"] for lb in self.status["load_balancers"]], ["lb1", "lb2"])


class Refusals(unittest.TestCase):
    def up(self, fleet, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["up", "--dir", str(fleet.dir), "--no-build", *args])
        return code, err.getvalue()

    def test_relay_hook_is_refused_and_nothing_is_made(self):
        with fake_up.FakeFleet() as fleet:
            code, err = self.up(fleet, "--hosts", "--lb-hook", "relay")
            self.assertEqual(code, 2)
            self.assertEqual(err.strip().splitlines(), [
                "fleet: ERROR: --hosts runs two HAProxy load balancers: --lb-hook relay is not supported with it"
            ])
            self.assertFalse(fleet.dir.exists())

    def test_loopback_fleet_has_no_hosts(self):
        with fake_up.FakeFleet() as fleet:
            info = fleet.up("--masters", "1", "--workers", "1")
            config = load_toml(info["masters"][0]["agent_config"])
        for key in ("hosts", "network", "load_balancers", "tls"):
            self.assertNotIn(key, info)
        self.assertNotIn("tls", config)
        self.assertEqual(config["master"]["vars"]["host"], "127.0.0.1")
        self.assertTrue(info["masters"][0]["agent_url"].startswith("http://127.0.0.1:"))


if __name__ == "__main__":
    unittest.main()
