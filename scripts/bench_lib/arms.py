"""The two procedures of the migrate bench, each returning what it did and when (wall times).

(a) manual, the Buildbot manual's procedure: a clean shutdown (`buildbot stop --clean`: SIGUSR1,
sent through each agent's graceful stop) of every old master at once; wait until all have exited;
the new master.cfg into every basedir; ONE `buildbot upgrade-master` with the new venv on the first
basedir (with BBCTL_VARS_FILE, as the agent starts masters); then `buildbot start --start_timeout=120`
with the new venv on every basedir at once.
(b) `bbctl upgrade --new-config … --buildbot VENV --yes` (strategy migrate, chosen by the schema
change); its times come from its journal (`bbctl upgrade status -o json`)."""
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

BBCTL_TIMEOUT = "30s"  # bbctl's per-request timeout: a loaded 2-core machine answers slowly
START_TIMEOUT = 120  # s, `buildbot start --start_timeout` (the fleet's agents allow 90 s)


def manual(fleet, venv, marks, log):
    """Returns a list of errors (empty when every step succeeded); `marks` gets the wall times."""
    buildbot = str(Path(venv) / "bin" / "buildbot")
    marks["stop_sent"] = time.time()
    results = at_once(fleet.old, lambda m: fleet.agent(m, "POST", "/v1/master/stop", {"mode": "graceful"},
                                                      timeout=1800))
    marks["all_stopped"] = time.time()
    errors = [f"graceful stop of {n}: {s} {b}" for n, (s, b) in results.items() if s != 200]
    if errors:
        return errors
    for m in fleet.old:
        shutil.copyfile(fleet.info["master_cfg_v2"], Path(m["basedir"]) / "master.cfg")
    first = fleet.old[0]
    env = {"BBCTL_VARS_FILE": fleet.vars_file(first)}
    marks["migration_started"] = time.time()
    rc = run([buildbot, "upgrade-master", first["basedir"]], env, log)
    marks["migration_ended"] = time.time()
    if rc != 0:
        return [f"buildbot upgrade-master exited {rc} (log: {log})"]

    def start(m):
        # `buildbot start` follows twistd.log until "BuildMaster is running"; its default 10 s
        # gives up (exit 1) on a loaded machine while the master is still starting.
        return (run([buildbot, "start", f"--start_timeout={START_TIMEOUT}", m["basedir"]],
                    {"BBCTL_VARS_FILE": fleet.vars_file(m)}, log), time.time())

    marks["start_sent"] = time.time()
    ended = at_once(fleet.old, start)
    ok = [at for rc, at in ended.values() if rc == 0]
    if ok:
        marks["first_started"] = min(ok)
    return [f"buildbot start of {n} exited {rc} (log: {log})" for n, (rc, _) in ended.items() if rc != 0]


def at_once(masters, fn):
    """fn(m) for every master at once, each in its thread: {name: result}."""
    results = {}
    threads = [threading.Thread(target=lambda m=m: results.__setitem__(m["name"], fn(m)), daemon=True)
               for m in masters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run(cmd, env, log):
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}  ({time.strftime('%H:%M:%S')})\n".encode())
        out.flush()
        return subprocess.run(cmd, env=dict(os.environ, **env), stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, check=False).returncode


def bbctl_cmd(bbctl, fleet, venv):
    return [bbctl, "--inventory", fleet.info["inventory"], "--timeout", BBCTL_TIMEOUT, "upgrade",
            "--new-config", fleet.info["master_cfg_v2"], "--buildbot", str(venv), "--yes"]


def journal(bbctl, fleet, env):
    """The newest upgrade's journal (`bbctl upgrade status -o json`), or None."""
    p = subprocess.run([bbctl, "--inventory", fleet.info["inventory"], "--timeout", BBCTL_TIMEOUT, "-o", "json",
                        "upgrade", "status"], env=env, capture_output=True, text=True, check=False)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        return None
    if isinstance(doc, dict) and "steps" not in doc and isinstance(doc.get("journal"), dict):
        doc = doc["journal"]
    return doc if isinstance(doc, dict) else None


def journal_marks(doc):
    """The wall times of the migrate steps: quiesce start (t_stop), wait_stopped end, backup and
    migrate start/end, the first start_new start/end."""
    marks = {}
    steps = doc.get("steps", []) if doc else []

    def first(name):
        return next((s for s in steps if s.get("step") == name), None)
    for name, key in (("quiesce", "stop_sent"), ("wait_stopped", "all_stopped")):
        s = first(name)
        if s and s.get("started_at") is not None:
            marks[key] = s["started_at"] if name == "quiesce" else s.get("finished_at")
    s = first("backup")
    if s:
        marks["backup_started"], marks["backup_ended"] = s.get("started_at"), s.get("finished_at")
    s = first("migrate")
    if s:
        marks["migration_started"], marks["migration_ended"] = s.get("started_at"), s.get("finished_at")
    s = first("start_new")
    if s:
        marks["start_sent"], marks["first_started"] = s.get("started_at"), s.get("finished_at")
    return {k: v for k, v in marks.items() if v is not None}
