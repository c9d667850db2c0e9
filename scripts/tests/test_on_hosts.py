"""scripts/bench_lib/on_hosts.py: what bench-handoff uses to drive every load balancer of a
loopback or `--hosts` fleet, against stand-in HAProxy runtime APIs (TCP servers on loopback that
answer `show stat` and record the commands they get)."""

import socket
import threading
import unittest

import fake_up  # noqa: F401 - puts scripts/ on sys.path
from bench_lib import on_hosts

HEADER = "# pxname,svname," + ",".join(f"f{i}" for i in range(2, 17)) + ",status\n"


def stat_row(server, status):
    return "masters," + server + "," + ",".join("0" for _ in range(2, 17)) + f",{status}\n"


class RuntimeApi(threading.Thread):
    """Answers each connection's one command: `show stat` with the given statuses, else empty."""

    def __init__(self, statuses):
        super().__init__(daemon=True)
        self.statuses, self.commands = statuses, []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.endpoint = f"tcp:127.0.0.1:{self.sock.getsockname()[1]}"

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                cmd = conn.recv(4096).decode().strip()
                self.commands.append(cmd)
                if cmd == "show stat":
                    conn.sendall((HEADER + "".join(stat_row(s, st) for s, st in self.statuses.items())).encode())


def hosts_fleet(*apis):
    lbs = [{"name": f"lb{i + 1}", "address": "10.1.2.3", "port": 20002, "runtime_socket": a.endpoint}
           for i, a in enumerate(apis)]
    return {"load_balancers": lbs, "load_balancer": {"runtime_socket": apis[0].endpoint},
            "hosts": {"ops": {"netns": None, "address": "10.1.2.3"}}, "network": {"subnet": "10.1.2.0/24"},
            "tls": {"ca_file": None}}


class OnHosts(unittest.TestCase):
    def setUp(self):
        self.apis = []

    def tearDown(self):
        for a in self.apis:
            a.sock.close()

    def api(self, statuses):
        a = RuntimeApi(statuses)
        a.start()
        self.apis.append(a)
        return a

    def test_loopback_fleet_has_its_one_load_balancer_and_no_ca(self):
        fleet = {"load_balancer": {"runtime_socket": "/tmp/x/haproxy.sock"}}
        self.assertEqual(on_hosts.runtimes(fleet), ["/tmp/x/haproxy.sock"])
        self.assertIsNone(on_hosts.tls_context(fleet))
        self.assertIsNone(on_hosts.describe(fleet))
        self.assertEqual(on_hosts.in_ops(fleet, lambda a: a + 1, 1), 2)

    def test_set_ready_goes_to_every_load_balancer(self):
        lb1, lb2 = self.api({}), self.api({})
        on_hosts.set_ready(hosts_fleet(lb1, lb2), "masters", "master-2")
        self.assertEqual(lb1.commands, ["set server masters/master-2 state ready"])
        self.assertEqual(lb2.commands, ["set server masters/master-2 state ready"])

    def test_server_up_only_when_every_load_balancer_sees_it_up(self):
        lb1 = self.api({"master-1": "UP", "master-2": "UP"})
        lb2 = self.api({"master-1": "UP", "master-2": "DOWN"})
        fleet = hosts_fleet(lb1, lb2)
        self.assertTrue(on_hosts.server_up(fleet, "masters", "master-1"))
        self.assertFalse(on_hosts.server_up(fleet, "masters", "master-2"))
        self.assertFalse(on_hosts.server_up(fleet, "masters", "master-9"))

    def test_describe_records_the_layout(self):
        lb1, lb2 = self.api({}), self.api({})
        d = on_hosts.describe(hosts_fleet(lb1, lb2))
        self.assertEqual(d["subnet"], "10.1.2.0/24")
        self.assertEqual([lb["name"] for lb in d["load_balancers"]], ["lb1", "lb2"])
        self.assertFalse(d["agents_tls"])


if __name__ == "__main__":
    unittest.main()
