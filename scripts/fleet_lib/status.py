"""`scripts/fleet status`: every part, whether it lives (zombies count as dead), masters' active
flag in Buildbot's REST API and which master each worker is attached to.

Exit code: 0 when every part runs, every non-standby master is active and every worker is
connected; 1 otherwise; 2 when DIR holds no fleet.

For a fleet of `up --hosts` the view is collected from the ops host's network namespace, and it
shows both load balancers (`load_balancers`; `load_balancer` is lb1).
"""
import json
import os
from pathlib import Path

from . import fleet_store, haproxy, hosts, hosts_fleet, masters, procs, state
from .common import http_json


def _rest_view(fleet):
    """(masters rows, workers rows) from the first master that answers, or ([], [])."""
    for m in fleet["masters"]:
        try:
            rows = masters.rest_masters(m["rest_url"], timeout=2)
            status, body = http_json("GET", m["rest_url"] + "api/v2/workers", timeout=2)
            return rows, body.get("workers", []) if status == 200 else []
        except Exception:  # noqa: BLE001, S112 - whatever failed, try the next master
            continue
    return [], []


def _store_view(store, postgres_alive):
    """fleet.json's `fleet_store` plus `alive`: its PostgreSQL runs (null with the SQLite backend);
    null for a fleet started before the fleet store existed."""
    if not store:
        return None
    return dict(store, alive=postgres_alive if store["backend"] == "postgres" else None)


def collect(fleet):
    rows, worker_rows = _rest_view(fleet)
    slot_by_masterid = {}
    out = {"dir": fleet["dir"], "state": fleet.get("state"), "ok": True}
    for key in ("postgres", "router", "load_balancer"):
        part = fleet.get(key, {})
        out[key] = {"pid": part.get("pid"), "port": part.get("port"), "alive": procs.is_alive(part.get("pid"))}
        out["ok"] &= out[key]["alive"]
    lb_views = []
    for lb in hosts_fleet.load_balancers(fleet):
        try:
            servers = haproxy.server_states(lb["runtime_socket"])
        except OSError:
            servers = {}
        alive = procs.is_alive(lb.get("pid"))
        lb_views.append({"name": lb.get("name"), "pid": lb.get("pid"), "port": lb.get("port"), "alive": alive,
                         "servers": servers})
        out["ok"] &= alive
    lb_states = lb_views[0]["servers"]
    out["load_balancer"]["servers"] = lb_states
    if fleet.get("load_balancers"):
        out["load_balancers"] = lb_views
    out["fleet_store"] = _store_view(fleet.get("fleet_store"), out["postgres"]["alive"])
    out["masters"] = []
    for m in fleet["masters"]:
        pid = procs.read_pidfile(os.path.join(m["basedir"], "twistd.pid"))
        row = masters.by_basedir(rows, m["basedir"])
        if row:
            slot_by_masterid[row["masterid"]] = m["name"]
        entry = {
            "name": m["name"],
            "standby": m["standby"],
            "agent_url": m["agent_url"],
            "agent_pid": m.get("agent_pid"),
            "agent_alive": procs.is_alive(m.get("agent_pid")),
            "master_pid": pid,
            "master_alive": procs.is_alive(pid),
            "masterid": row["masterid"] if row else None,
            "active": bool(row and row["active"]),
            "rest_url": m["rest_url"],
            "lb_server": lb_states.get(m["name"]),
        }
        if fleet.get("load_balancers"):
            entry["lb_servers"] = {lb["name"]: lb["servers"].get(m["name"]) for lb in lb_views}
        out["ok"] &= entry["agent_alive"]
        if not m["standby"]:
            out["ok"] &= entry["master_alive"] and entry["active"]
        out["masters"].append(entry)
    by_name = {w["name"]: w for w in worker_rows}
    out["workers"] = []
    for w in fleet["workers"]:
        pid = procs.read_pidfile(os.path.join(w["basedir"], "twistd.pid")) or w.get("pid")
        conn = by_name.get(w["name"], {}).get("connected_to", [])
        entry = {
            "name": w["name"],
            "pid": pid,
            "alive": procs.is_alive(pid),
            "connected_to": [slot_by_masterid.get(c["masterid"], f"masterid {c['masterid']}") for c in conn],
        }
        out["ok"] &= entry["alive"] and bool(conn)
        out["workers"].append(entry)
    return out


def _yn(flag):
    return "alive" if flag else "DEAD"


def render(view):
    lines = [f"fleet in {view['dir']} (recorded state: {view['state']}): {'OK' if view['ok'] else 'NOT OK'}"]
    for key, label in (("postgres", "PostgreSQL"), ("router", "crossbar"), ("load_balancer", "HAProxy")):
        p = view[key]
        if key == "load_balancer" and view.get("load_balancers"):
            for lb in view["load_balancers"]:
                lines.append(f"  {'HAProxy ' + lb['name']:<12} pid {lb['pid']}  port {lb['port']}  {_yn(lb['alive'])}")
            continue
        lines.append(f"  {label:<12} pid {p['pid']}  port {p['port']}  {_yn(p['alive'])}")
    lines.append(f"  {'fleet store':<12} {fleet_store.describe(view.get('fleet_store'))}")
    for m in view["masters"]:
        if m["standby"] and not m["master_alive"]:
            master = "standby (no master)"
        else:
            master = f"master pid {m['master_pid']} {_yn(m['master_alive'])}, {'active' if m['active'] else 'NOT active'}"
        if "lb_servers" in m:
            lb = ", ".join(f"{name} {state or '?'}" for name, state in m["lb_servers"].items())
        else:
            lb = m["lb_server"] or "?"
        lines.append(f"  {m['name']:<12} agent pid {m['agent_pid']} {_yn(m['agent_alive'])}; {master}; HAProxy {lb}")
    for w in view["workers"]:
        on = ", ".join(w["connected_to"]) or "not connected"
        lines.append(f"  {w['name']:<12} pid {w['pid']} {_yn(w['alive'])}; on {on}")
    return "\n".join(lines)


def run(args):
    fleet = state.load(Path(args.dir).resolve())
    if fleet is None:
        msg = f"no fleet in {Path(args.dir).resolve()} (no fleet.json)"
        print(json.dumps({"error": msg}) if args.json else msg)
        return 2
    ops = hosts_fleet.ops_netns(fleet)
    if ops and ops not in hosts.existing_namespaces():
        ops = None  # the fleet's namespaces are gone (down): every part shows as dead
    view = hosts.call_in(ops, collect, fleet)
    print(json.dumps(view, indent=2) if args.json else render(view))
    return 0 if view["ok"] else 1
