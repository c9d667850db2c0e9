"""`scripts/fleet up` for real — fleet_lib's own code from the command line to the last file it
writes — with every process, socket and HTTP call replaced by a fake, so that the files `up`
writes (DIR/fleet.json, DIR/bbctl.toml, each slot's agent.toml, bbctl-vars.json) can be checked in
milliseconds without a fleet.

The fakes answer the way the real parts do when all goes well: `buildbot create-master` and
`create-worker` leave a buildbot.tac, `buildbot start` and `POST /v1/master/start` a twistd.pid,
`pg_ctl start` a postmaster.pid; every spawned daemon gets a PID of its own (never signalled:
stopping is faked too); every agent is healthy, every master active, every worker connected.
With `--hosts` no namespace is made (hosts.create records the names it would make), every check
runs in our own namespace and the fleet CA's files are not made (tls.make_ca, tls.agent_cert).
"""

import contextlib
import io
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

SCRIPTS = Path(__file__).resolve().parents[1]
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from fleet_lib import cli, common, haproxy, hosts, ports, postgres, procs, router, tls, up

PORT_BASE = 24100


class FakeFleet:
    """Patches fleet_lib for one `up` in a temporary directory (a context manager)."""

    def __init__(self):
        self._pids = itertools.count(4_000_001)
        self._stack = contextlib.ExitStack()
        self.tmp = None

    # --- the fakes ---

    def _pid(self):
        return next(self._pids)

    def _write_pid(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(f"{self._pid()}\n")

    def run(self, cmd, log, what, env=None, cwd=None, timeout=300):
        """fleet_lib.common.run: what each command would leave behind."""
        args = [str(c) for c in cmd]
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out:
            out.write(f"$ {' '.join(args)}\n")
        if args[:3] == ["ip", "netns", "exec"]:
            args = args[4:]  # `up --hosts`: the command, run inside a host's namespace
        if len(args) > 2 and args[1] == "create-master":
            basedir = Path(args[-1])
        elif len(args) > 2 and args[1] == "create-worker":
            basedir = Path(next(a for a in args[2:] if not a.startswith("-")))
        elif len(args) == 3 and args[1] == "start":
            self._write_pid(Path(args[2]) / "twistd.pid")
            return
        elif any(a.endswith("/pg_ctl") for a in args) and "start" in args:
            self._write_pid(Path(args[args.index("-D") + 1]) / "postmaster.pid")
            return
        else:
            return
        basedir.mkdir(parents=True, exist_ok=True)
        (basedir / "buildbot.tac").write_text("# fake\n")

    def spawn(self, cmd, log, env=None, cwd=None):
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as out:
            out.write(f"$ {' '.join(str(c) for c in cmd)}\n")
        return self._pid()

    @staticmethod
    def _create_hosts(network, host_map, save):
        """hosts.create: records the namespaces it would make."""
        network["created"] += [network["netns"], *(h["netns"] for h in host_map.values())]
        save()

    @staticmethod
    def _agent_cert(tls_paths, name, address, dns_name, log):
        d = Path(tls_paths["dir"])
        return {"cert_file": str(d / f"{name}.crt"), "key_file": str(d / f"{name}.key")}

    def _fleet(self):
        return json.loads((self.dir / "fleet.json").read_text())

    def http_json(self, method, url, body=None, token=None, timeout=10, cafile=None):
        """fleet_lib.common.http_json against healthy agents and masters."""
        fleet = self._fleet()
        if url.endswith("/healthz"):
            return 200, {"status": "ok"}
        if url.endswith("/v1/master/start"):
            slot = next(m for m in fleet["masters"] if url.startswith(m["agent_url"]))
            assert token == (self.dir / "token").read_text().strip(), "POST /v1/master/start without the fleet's token"
            self._write_pid(Path(slot["basedir"]) / "twistd.pid")
            return 200, {"ok": True}
        if url.endswith("/api/v2/masters"):
            rows = [
                {"masterid": i + 1, "name": f"fakehost:{m['basedir']}", "active": True}
                for i, m in enumerate(fleet["masters"])
                if (Path(m["basedir"]) / "twistd.pid").exists()
            ]
            return 200, {"masters": rows}
        if url.endswith("/api/v2/workers"):
            return 200, {"workers": [{"name": w["name"], "connected_to": [{"masterid": 1}]} for w in fleet["workers"]]}
        raise AssertionError(f"unexpected HTTP call: {method} {url}")

    # --- running ---

    def __enter__(self):
        self.tmp = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="bbctl-fake-fleet-")))
        self.dir = self.tmp / "fleet"
        bins = self.tmp / "bin"
        bins.mkdir()
        for name in ("bbctl-agent", "bbctl"):
            (bins / name).write_text("#!/bin/sh\nexit 1\n")
            (bins / name).chmod(0o755)
        # The Buildbot venvs scripts/install-deps would have made (`up --buildbot-version` checks them).
        for version in ("4.3.0", "4.2.1"):
            venv = self.tmp / "cache" / f"buildbot-{version}"
            (venv / "bin").mkdir(parents=True)
            (venv / ".bbctl-installed").write_text(f"buildbot=={version}\n")
            (venv / "bin" / "buildbot").write_text("#!/bin/sh\nexit 1\n")
            (venv / "bin" / "buildbot").chmod(0o755)
        env = {
            "BBCTL_AGENT_BIN": str(bins / "bbctl-agent"),
            "BBCTL_BIN": str(bins / "bbctl"),
            "BBCTL_CACHE": str(self.tmp / "cache"),
        }
        up_all_servers = type("AllUp", (dict,), {"get": lambda self, key, default=None: "UP"})
        patches = [
            mock.patch.dict(os.environ, env),
            mock.patch.object(up, "install_deps", lambda: None),
            mock.patch.object(ports, "pick", lambda fleet_dir, slots, requested=None: requested or PORT_BASE),
            mock.patch.object(procs, "spawn", self.spawn),
            mock.patch.object(procs, "is_alive", lambda pid: bool(pid)),
            mock.patch.object(procs, "stop", lambda *a, **k: None),
            mock.patch.object(postgres, "stop", lambda *a, **k: None),
            mock.patch.object(postgres, "bindir", lambda: Path("/usr/lib/postgresql/15/bin")),
            mock.patch.object(postgres, "_pg_can_traverse", lambda path: True),
            mock.patch.object(postgres, "_chown_pg", lambda *paths: None),
            mock.patch.object(postgres, "pwd", mock.Mock()),
            mock.patch.object(router, "serves_ws", lambda port, host=None: True),
            mock.patch.object(haproxy, "command", lambda sock, cmd, timeout=3: "Name: HAProxy\n"),
            mock.patch.object(haproxy, "server_states", lambda sock: up_all_servers()),
            mock.patch.object(hosts, "check_free", lambda network, fleet_dir: None),
            mock.patch.object(hosts, "create", self._create_hosts),
            mock.patch.object(hosts, "existing_namespaces", list),
            mock.patch.object(hosts, "call_in", lambda netns, fn, *a, **k: fn(*a, **k)),
            mock.patch.object(tls, "make_ca", lambda tls_paths, fid, log: None),
            mock.patch.object(tls, "agent_cert", self._agent_cert),
        ]
        # Every module that imported common.run / common.http_json by name gets the fakes too.
        for mod in [m for n, m in sys.modules.items() if n.startswith("fleet_lib.")]:
            for name, fake in (("run", self.run), ("http_json", self.http_json)):
                if getattr(mod, name, None) is getattr(common, name):
                    patches.append(mock.patch.object(mod, name, fake))
        for p in patches:
            self._stack.enter_context(p)
        return self

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def up(self, *args):
        """`scripts/fleet up --dir DIR ARGS...`; returns DIR's fleet.json. Fails with fleet_lib's own
        messages when up fails."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["up", "--dir", str(self.dir), "--no-build", *args])
        if code != 0:
            raise AssertionError(f"scripts/fleet up {' '.join(args)} exited {code}:\n{err.getvalue()}{out.getvalue()}")
        return self._fleet()

    def status_json(self):
        """`scripts/fleet status --json --dir DIR`: (exit code, parsed output)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["status", "--json", "--dir", str(self.dir)])
        return code, json.loads(out.getvalue())
