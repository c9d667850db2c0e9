"""`scripts/bench-migrate --report`: the Markdown table of BENCHMARKS.md from --json files."""
import json
from pathlib import Path


def fmt(x, unit=" s"):
    return "—" if x is None else f"{x:.1f}{unit}"


def over(arm):
    """The window less the longest remaining build at t_stop: what the procedure itself adds."""
    if not arm.get("finished") or arm.get("longest_remaining_s") is None:
        return None
    return round(arm["window_s"] - arm["longest_remaining_s"], 2)


def report(files):
    print("| run | procedure | load avg at t0 | window (lower–upper) | window − remaining build | old masters gone | longest remaining build at stop "
          "| backup | migration | first new master start | goal bound | goal met | ≤ manual | forced / accepted "
          "| lost | RETRY | not SUCCESS |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    n = 0
    windows = {"manual": [], "bbctl": []}
    for f in files:
        for run in json.loads(Path(f).read_text())["runs"]:
            n += 1
            manual = run["arms"].get("manual", {})
            for kind in run["order"]:
                arm = run["arms"].get(kind, {})
                name = "manual" if kind == "manual" else "`bbctl upgrade`"
                if "error" in arm:
                    print(f"| {n} | {name} | | did not run: {arm['error'][:80]} |" + " |" * 13)
                    continue
                if not arm.get("finished"):
                    window = "did not finish"
                else:
                    window = f"{fmt(arm['window_lo_s'], '')}–{fmt(arm['window_s'])}"
                    windows[kind].append(arm["window_s"])
                cmp = ""
                if kind == "bbctl" and arm.get("finished") and manual.get("finished"):
                    cmp = "yes" if arm["window_s"] <= manual["window_s"] else "no"
                    if None not in (over(arm), over(manual)):
                        cmp += f" ({'yes' if over(arm) <= over(manual) else 'no'})"
                met = {True: "yes", False: "no", None: "—"}[arm.get("goal_met")]
                print(f"| {n} | {name} | {arm['load_avg_t0'][0]:.1f} | {window} | {fmt(over(arm))} | "
                      f"{fmt(arm.get('window', {}).get('old_gone_s'))} | {fmt(arm.get('longest_remaining_s'))} | "
                      f"{fmt(arm.get('backup_s'))} | {fmt(arm.get('migration_s'))} | "
                      f"{fmt(arm.get('start_s'))} | {fmt(arm.get('goal_bound_s'))} | {met} | {cmp} | "
                      f"{arm['forced']} / {arm['accepted']} | {arm['lost']} | {arm['retry']} | "
                      f"{arm['not_success']} |")
    for kind, ws in windows.items():
        if ws:
            ws = sorted(ws)
            med = ws[len(ws) // 2] if len(ws) % 2 else (ws[len(ws) // 2 - 1] + ws[len(ws) // 2]) / 2
            print(f"| median of {len(ws)} | {kind} | | {med:.1f} s |" + " |" * 13)


def phases(files):
    """Where each window went, in seconds after t_stop: the procedure's own marks (every old master
    stopped, migration start and end) and the poller's (the first new master's `masters` row active,
    its first claim)."""
    print("| run | procedure | every old master stopped | migration starts | migration ends "
          "| first new master active (DB) | first claim (window) |\n|---|---|---|---|---|---|---|")
    n = 0
    for f in files:
        for run in json.loads(Path(f).read_text())["runs"]:
            n += 1
            for kind in run["order"]:
                arm = run["arms"].get(kind, {})
                marks, w = arm.get("marks", {}), arm.get("window", {})
                if "stop_sent" not in marks:
                    continue

                def at(key, marks=marks):
                    return fmt(marks[key] - marks["stop_sent"]) if key in marks else "—"
                name = "manual" if kind == "manual" else "`bbctl upgrade`"
                print(f"| {n} | {name} | {at('all_stopped')} | {at('migration_started')} | {at('migration_ended')} "
                      f"| {fmt(w.get('first_master_active_s'))} | {fmt(w.get('window_s'))} |")
