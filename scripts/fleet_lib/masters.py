"""Master slots: basedirs, the bbctl agent beside each, and starting masters through the agents.

A slot is a basedir plus a running agent; a standby slot has no master running. Masters are started
through their agent (`POST /v1/master/start`), which writes <basedir>/bbctl-vars.json from its
`[master.vars]` table (+ `agent_name`) and runs `buildbot start` with BBCTL_VARS_FILE set. The
`direct` start mode does the same without the agent (for when the agent is unavailable).

With `up --hosts` a slot has a host (`host`, `address`, `netns`): the agent runs in the host's
network namespace and listens on its address over TLS (`tls`: its certificate from the fleet CA),
and the master it starts listens there too (the `host` var of master.cfg).
"""
import json
import os
import shutil
from pathlib import Path

from . import fleet_store, procs
from .common import HOST, FleetError, http_json, in_netns, run, say, tail, toml_table, wait_until, write_file

CONFIGS = "scripts/fleet-configs"
# The agent's key for several HAProxy runtime APIs (docs/agent-config.md, `[load_balancer]`).
RUNTIME_KEY = "runtime_sockets"


def buildbot_exe(fleet):
    """The `buildbot` of the fleet's venv (`up --buildbot-version`)."""
    return Path(fleet["buildbot_venv"]) / "bin" / "buildbot"


def slot_names(masters, standby):
    return [f"master-{i + 1}" for i in range(masters + standby)]


def master_db_url(slot, fleet):
    """The shared DB's URL for one master: `application_name=buildbot:<slot name>`, so that its
    sessions in pg_stat_activity are attributable to it (psycopg2 takes the query parameter as a
    libpq connection parameter)."""
    sep = "&" if "?" in fleet["db_url"] else "?"
    return f"{fleet['db_url']}{sep}application_name=buildbot:{slot['name']}"


def master_vars(slot, fleet):
    return {
        "host": slot.get("address", HOST),
        "www_port": slot["www_port"],
        "pb_port": slot["worker_port"],
        "db_url": master_db_url(slot, fleet),
        "mq_router_url": fleet["router_url"],
        "mq_realm": fleet["realm"],
        "workers": [{"name": w["name"], "password": w["password"]} for w in fleet["workers"]],
    }


def create_basedirs(fleet, master_cfg, log):
    """`buildbot create-master -r --db` for every slot, one after another (the first creates the
    schema; concurrent runs would race on it), then master.cfg v1 into each."""
    buildbot = buildbot_exe(fleet)
    for slot in fleet["masters"]:
        say(f"{slot['name']}: buildbot create-master {slot['basedir']}")
        os.makedirs(os.path.dirname(slot["basedir"]), exist_ok=True)
        run(in_netns(slot.get("netns"), [buildbot, "create-master", "-r", "--db", fleet["db_url"], slot["basedir"]]), log,
            f"buildbot create-master for {slot['name']}", timeout=180)
        if not os.path.exists(os.path.join(slot["basedir"], "buildbot.tac")):
            # create-master reports some failures only in its output, with exit code 0.
            raise FleetError(f"buildbot create-master for {slot['name']} failed (log: {log}){tail(log)}")
        shutil.copyfile(master_cfg, os.path.join(slot["basedir"], "master.cfg"))


def lb_hook(slot, fleet):
    """The agent's [load_balancer] table for the fleet's hook (`up --lb-hook`)."""
    if fleet.get("lb_hook") == "relay":
        return {"kind": "relay", "listen": f"{HOST}:{slot['relay_port']}", "target": f"{HOST}:{slot['worker_port']}"}
    if fleet.get("load_balancers"):
        return {
            "kind": "haproxy",
            RUNTIME_KEY: [lb["runtime"] for lb in fleet["load_balancers"]],
            "backend": fleet["load_balancer"]["backend"],
            "server": slot["name"],
        }
    return {
        "kind": "haproxy",
        "runtime_socket": fleet["load_balancer"]["runtime_socket"],
        "backend": fleet["load_balancer"]["backend"],
        "server": slot["name"],
    }


def write_agent_config(slot, fleet):
    top = {
        "name": slot["name"],
        "listen": f"{slot.get('address', HOST)}:{slot['agent_port']}",
        "state_dir": slot["agent_state_dir"],
        "token_file": fleet["token_file"],
        "poll_interval_secs": 1.0,
    }
    master = {
        "basedir": slot["basedir"],
        "buildbot": str(buildbot_exe(fleet)),
        "rest_url": slot["rest_url"],
        "db_url": fleet["db_url"],
        "start_timeout_secs": 90,
    }
    text = (
        f"# bbctl-agent configuration for slot {slot['name']}, written by scripts/fleet up\n"
        + toml_table(None, top) + "\n" + toml_table("master", master) + "\n"
        + toml_table("master.vars", master_vars(slot, fleet)) + "\n"
        + toml_table("wamp", {"router_url": fleet["router_url"], "realm": fleet["realm"]}) + "\n"
        + toml_table("load_balancer", lb_hook(slot, fleet))
    )
    store = fleet_store.agent_table(fleet.get("fleet_store"), slot)
    if store:
        text += "\n" + toml_table("fleet", store)
    if slot.get("tls"):
        text += "\n" + toml_table("tls", slot["tls"])
    write_file(slot["agent_config"], text, mode=0o600)


def start_agent(slot, agent_bin):
    os.makedirs(slot["agent_state_dir"], exist_ok=True)
    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
    cmd = in_netns(slot.get("netns"), [agent_bin, "--config", slot["agent_config"]])
    slot["agent_pid"] = procs.spawn(cmd, slot["agent_log"], env=env)


def wait_agent(slot, timeout=30, cafile=None):
    def healthy():
        status, _ = http_json("GET", slot["agent_url"] + "healthz", timeout=2, cafile=cafile)
        return status == 200

    wait_until(
        f"agent {slot['name']} to answer {slot['agent_url']}healthz",
        healthy,
        timeout,
        log=slot["agent_log"],
        alive=lambda: None if procs.is_alive(slot["agent_pid"]) else "the agent exited",
    )


def start_master_via_agent(slot, token, timeout=150, cafile=None):
    url = slot["agent_url"] + "v1/master/start"
    try:
        status, body = http_json("POST", url, {"reason": "scripts/fleet up"}, token=token, timeout=timeout,
                                 cafile=cafile)
    except OSError as e:
        raise FleetError(f"{slot['name']}: POST {url} failed: {e} (agent log: {slot['agent_log']})") from e
    if status == 404 or status == 405:
        raise FleetError(
            f"{slot['name']}: the agent has no POST /v1/master/start ({status}); "
            "use `scripts/fleet up --start-via direct` until it has"
        )
    ok = isinstance(body, dict) and body.get("ok", False)
    if status >= 300 or not ok:
        lines = "".join(f"\n    {line}" for line in (body.get("log_lines", []) if isinstance(body, dict) else []))
        raise FleetError(
            f"{slot['name']}: the agent could not start the master ({status}): "
            f"{body.get('error', body) if isinstance(body, dict) else body}{lines}\n"
            f"  agent log: {slot['agent_log']}; master log: {slot['basedir']}/twistd.log"
        )


def start_master_direct(slot, fleet, log):
    """What the agent does, done here: write the vars file and `buildbot start` with it."""
    vars_file = os.path.join(slot["basedir"], "bbctl-vars.json")
    write_file(vars_file, json.dumps(dict(master_vars(slot, fleet), agent_name=slot["name"]), indent=2) + "\n")
    env = dict(os.environ, BBCTL_VARS_FILE=vars_file)
    run(in_netns(slot.get("netns"), [buildbot_exe(fleet), "start", slot["basedir"]]), log,
        f"buildbot start for {slot['name']} (master log: {slot['basedir']}/twistd.log)", env=env, timeout=120)


def rest_masters(rest_url, timeout=3):
    status, body = http_json("GET", rest_url + "api/v2/masters", timeout=timeout)
    if status != 200:
        raise FleetError(f"GET {rest_url}api/v2/masters: {status}")
    return body["masters"]


def by_basedir(masters_rows, basedir):
    """The REST row of the master whose name is `host:basedir`, or None."""
    for row in masters_rows:
        if row["name"].rsplit(":", 1)[-1] == basedir or row["name"].endswith(":" + basedir):
            return row
    return None


def wait_active(slot, timeout=90):
    twistd_log = os.path.join(slot["basedir"], "twistd.log")

    def active():
        row = by_basedir(rest_masters(slot["rest_url"]), slot["basedir"])
        return row is not None and row["active"]

    def alive():
        pid = procs.read_pidfile(os.path.join(slot["basedir"], "twistd.pid"))
        if pid and not procs.is_alive(pid):
            return "the master process exited"
        try:
            with open(twistd_log, errors="replace") as f:
                if "Guru meditation" in f.read():
                    return "the master lost its WAMP router (Guru meditation)"
        except OSError:
            pass
        return None

    wait_until(f"master {slot['name']} to be active in {slot['rest_url']}api/v2/masters", active, timeout,
               log=twistd_log, alive=alive)
    slot["master_pid"] = procs.read_pidfile(os.path.join(slot["basedir"], "twistd.pid"))


def stop_master(slot, fleet_dir):
    """Stops the master of a slot by the PID in its twistd.pid (masters whose MQ is gone ignore
    SIGTERM: SIGKILL follows)."""
    pid = procs.read_pidfile(os.path.join(slot["basedir"], "twistd.pid")) or slot.get("master_pid")
    return procs.stop(pid, [slot["basedir"]], f"master {slot['name']}", term_timeout=15)
