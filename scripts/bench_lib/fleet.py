"""A bench's fleet: `scripts/fleet up` / `down`, its fleet.json, its agents and masters."""
import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from .pg import Db

REPO = Path(__file__).resolve().parents[2]
FLEET = REPO / "scripts" / "fleet"


class BenchError(Exception):
    pass


def http(method, url, body=None, token=None, timeout=300):
    """(status, parsed JSON or text or None); status 0 when there was no answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        try:
            status, text = e.code, e.read().decode()
        except (OSError, HTTPException):
            return e.code, None
    except (OSError, ValueError, HTTPException):
        return 0, None
    try:
        return status, json.loads(text) if text.strip() else None
    except ValueError:
        return status, text


def pid_alive(pid):
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Fleet:
    def __init__(self, fleet_dir):
        self.dir = Path(fleet_dir)
        self.info = json.loads((self.dir / "fleet.json").read_text())
        self.token = Path(self.info["token_file"]).read_text().strip()
        self.old = [m for m in self.info["masters"] if not m["standby"]]
        self.standby = [m for m in self.info["masters"] if m["standby"]]
        self.db = Db(self.info["db_url"])

    @staticmethod
    def up(fleet_dir, masters, standby, workers, version, env, log):
        with open(log, "ab") as out:
            p = subprocess.run([str(FLEET), "up", "--dir", str(fleet_dir), "--masters", str(masters),
                                "--standby", str(standby), "--workers", str(workers),
                                "--buildbot-version", version, "--no-build"],
                               env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               check=False)
        if p.returncode != 0:
            raise BenchError(f"scripts/fleet up failed in {fleet_dir} (log: {log})")
        return Fleet(fleet_dir)

    @staticmethod
    def down(fleet_dir, log):
        with open(log, "ab") as out:
            subprocess.run([str(FLEET), "down", "--dir", str(fleet_dir)], stdin=subprocess.DEVNULL,
                           stdout=out, stderr=subprocess.STDOUT, check=False)

    def agent(self, m, method, path, body=None, timeout=300):
        return http(method, m["agent_url"].rstrip("/") + path, body, self.token, timeout)

    def pid(self, m):
        try:
            return int(Path(m["basedir"], "twistd.pid").read_text())
        except (OSError, ValueError):
            return None

    def running(self, m):
        return pid_alive(self.pid(m))

    def force(self, secs):
        """Forces a `sleep` build through the REST API of any running master:
        (buildrequestid, None) or (None, why)."""
        for m in self.info["masters"]:
            if not self.running(m):
                continue
            status, body = http("POST", m["rest_url"] + "api/v2/forceschedulers/force-sleep",
                                {"jsonrpc": "2.0", "method": "force", "id": 1,
                                 "params": {"builderNames": ["sleep"], "duration": str(secs)}},
                                timeout=10)
            if status == 200 and isinstance(body, dict) and "result" in body:
                return next(iter(body["result"][1].values())), None
        return None, "no master accepted the force"

    def vars_file(self, m):
        return os.path.join(m["basedir"], "bbctl-vars.json")


def binaries(env):
    """Which bbctl-agent and bbctl a bench ran: path, modification time (UTC) and sha256."""
    out = {}
    for key in ("BBCTL_AGENT_BIN", "BBCTL_BIN"):
        path = Path(env[key])
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime))
        except OSError:
            digest = mtime = None
        out[key] = {"path": str(path), "mtime": mtime, "sha256": digest}
    return out
