"""Backup, migration and restore of the Buildbot DB, two ways, each returning its timings:

- AgentOps: what bbctl does, through the agent's endpoints `POST /v1/buildbot-db/backup`,
  `/upgrade`, `/restore` (synchronous: they answer when the operation ended). Measured: the HTTP
  call's wall time (what bbctl waits) and the operation's own `finished_at - started_at`.
- CommandOps: the exact commands of the design (issue 13), run here: `pg_dump -Fc` into a .tmp
  file, fsync, rename, sha256; `buildbot upgrade-master` with the new venv and BBCTL_VARS_FILE;
  the sha256 checked again, then the atomic restore as the agent runs it (server/src/buildbot_db/
  restore.rs): `{ BEGIN; <the agent's PRELUDE>; pg_restore --no-owner --no-privileges -f - DUMP
  && COMMIT; } | psql -X -q -v ON_ERROR_STOP=1` (COMMIT only once pg_restore succeeded). The
  prelude is read from that source file (or --prelude FILE). Each with PGAPPNAME=bbctl-<op>:<id>,
  as the agent sets it."""
import base64
import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

from .fleet import BenchError
from .pg import PgError

RESTORE = """set -o pipefail
{ printf 'BEGIN;\\n'; cat "$1"; "$2" --no-owner --no-privileges -f - "$3" && printf 'COMMIT;\\n'; } \\
  | "$4" -X -q -v ON_ERROR_STOP=1 "${@:5}" >/dev/null
"""
AGENT_RESTORE = Path(__file__).resolve().parents[2] / "server" / "src" / "buildbot_db" / "restore.rs"


def agent_prelude():
    """The agent's own prelude: the `const PRELUDE: &str = "...";` of restore.rs, or None."""
    try:
        m = re.search(r'const PRELUDE: &str = "(.*?)";\n', AGENT_RESTORE.read_text(), re.DOTALL)
    except OSError:
        return None
    return m.group(1).replace('\\"', '"') if m else None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class AgentOps:
    mode = "agent"

    def __init__(self, fleet, master, venv, vouched):
        self.fleet, self.master, self.vouched = fleet, master, vouched
        cfg = Path(fleet.info["master_cfg_v2"]).read_bytes()
        status, staged = fleet.agent(master, "POST", "/v1/configs", {
            "label": "bench-db", "buildbot": str(venv),
            "files": [{"path": "master.cfg", "content_base64": base64.b64encode(cfg).decode()}]})
        if status not in (200, 201) or not isinstance(staged, dict) or "sha256" not in staged:
            raise BenchError(f"staging the new config on {master['name']}: {status} {staged}")
        self.config_sha256, self.to_head = staged["sha256"], staged.get("buildbot_db_head")
        self.buildbot = str(venv)

    def call(self, op, body):
        t = time.time()
        status, doc = self.fleet.agent(self.master, "POST", f"/v1/buildbot-db/{op}",
                                       dict(body, vouched_stopped=self.vouched), timeout=3600)
        wall = time.time() - t
        out = {"wall_s": round(wall, 3), "http_status": status}
        if status != 200 or not isinstance(doc, dict):
            out["error"] = f"{status} {str(doc)[:300]}"
            out["refused_sessions"] = self.refused(doc)
            return out
        out["state"], out["message"] = doc.get("state"), doc.get("message")
        if doc.get("finished_at") is not None:
            out["op_s"] = round(doc["finished_at"] - doc["started_at"], 3)
        if doc.get("backup"):
            out["dump_bytes"], out["sha256"] = doc["backup"].get("size_bytes"), doc["backup"].get("sha256")
        if doc.get("state") not in ("done", "already_applied"):
            out["error"] = f"state {doc.get('state')}: {doc.get('message')}"
        return out

    def refused(self, doc):
        """What the sessions a refusal names are (pg_stat_activity.backend_type, query), if still there."""
        try:
            pids = [int(x["pid"]) for x in doc["error"]["details"]["refusal"]["sessions"]]
        except (KeyError, TypeError, ValueError):
            return None
        if not pids:
            return []
        try:
            return self.fleet.db.rows("SELECT pid, backend_type, coalesce(application_name, ''), left(query, 200) "
                                      f"FROM pg_stat_activity WHERE pid IN ({','.join(map(str, pids))})")
        except PgError as e:
            return [str(e)]

    def backup(self, uid):
        return self.call("backup", {"upgrade_id": uid})

    def migrate(self, uid, from_head):
        return self.call("upgrade", {"upgrade_id": uid, "config_sha256": self.config_sha256,
                                     "buildbot": self.buildbot, "from_head": from_head, "to_head": self.to_head})

    def restore(self, uid):
        return self.call("restore", {"upgrade_id": uid})


class CommandOps:
    mode = "commands"

    def __init__(self, db, workdir, prelude, basedir, vars_file, venv, log):
        self.db, self.dir, self.prelude = db, Path(workdir), str(prelude)
        self.basedir, self.vars_file, self.venv, self.log = basedir, vars_file, Path(venv), log
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dumps = {}

    def run(self, cmd, appname, what, stdin=None):
        with open(self.log, "ab") as out:
            out.write(f"\n$ {' '.join(str(c) for c in cmd)[:300]}\n".encode())
            out.flush()
            p = subprocess.run([str(c) for c in cmd], env=self.db.env(appname), stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, check=False)
        if p.returncode != 0:
            raise BenchError(f"{what} exited {p.returncode} (log: {self.log})")

    def backup(self, uid):
        final, tmp = self.dir / f"{uid}.dump", self.dir / f"{uid}.dump.tmp"
        t = time.time()
        self.run([self.db.tool("pg_dump"), "-Fc", *self.db.conn_args(), "-f", tmp], f"bbctl-backup:{uid}", "pg_dump")
        t_dump = time.time()
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, final)
        digest = sha256(final)
        t_end = time.time()
        self.dumps[uid] = (final, digest)
        return {"wall_s": round(t_end - t, 3), "pg_dump_s": round(t_dump - t, 3),
                "fsync_sha256_s": round(t_end - t_dump, 3), "dump_bytes": final.stat().st_size, "sha256": digest}

    def migrate(self, uid, _from_head):
        t = time.time()
        with open(self.log, "ab") as out:
            p = subprocess.run([str(self.venv / "bin" / "buildbot"), "upgrade-master", self.basedir],
                               env=dict(self.db.env(f"bbctl-upgrade-master:{uid}"), BBCTL_VARS_FILE=self.vars_file),
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False)
        out = {"wall_s": round(time.time() - t, 3)}
        if p.returncode != 0:
            out["error"] = f"upgrade-master exited {p.returncode} (log: {self.log})"
        return out

    def restore(self, uid):
        path, digest = self.dumps.pop(uid)
        t = time.time()
        if sha256(path) != digest:
            return {"error": "checksum mismatch"}
        t_sha = time.time()
        self.run(["bash", "-c", RESTORE, "restore", self.prelude, self.db.tool("pg_restore"), path,
                  self.db.tool("psql"), *self.db.conn_args()], f"bbctl-restore:{uid}", "the atomic restore")
        t_end = time.time()
        path.unlink()
        return {"wall_s": round(t_end - t, 3), "sha256_check_s": round(t_sha - t, 3),
                "restore_s": round(t_end - t_sha, 3)}
