"""`scripts/bench-db-backup --report`: the Markdown table of BENCHMARKS.md from --json files (medians
and min–max over each size's cycles of one mode; failed cycles are counted, not timed)."""
import json
from pathlib import Path


def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def cell(xs):
    if not xs:
        return "—"
    return f"{med(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f})"


def report(files):
    print("| file | builds | DB size | mode | cycles ok / failed | dump size | backup | migration | restore "
          "| waited for idle (max) | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for f in files:
        doc = json.loads(Path(f).read_text())
        for size in doc["sizes"]:
            for mode in ("agent", "commands"):
                cs = [c for c in size["cycles"] if c["mode"] == mode]
                if not cs:
                    continue
                ok = [c for c in cs if "error" not in c]
                loads = [c["load_avg"][0] for c in cs]
                dump = [c["backup"]["dump_bytes"] for c in ok if c["backup"].get("dump_bytes")]
                dump_cell = f"{med(dump) / 1e6:.1f} MB" if dump else "—"
                waits = [c["waited_idle_s"] for c in cs if "waited_idle_s" in c]
                waited = f"{max(waits):.1f} s" if waits else "—"
                print(f"| {Path(f).name} | {size['builds']} | {size['db_bytes'] / 1e6:.0f} MB | {mode} | {len(ok)} / {len(cs) - len(ok)} "
                      f"| {dump_cell} | {cell([c['backup']['wall_s'] for c in ok])} "
                      f"| {cell([c['migrate']['wall_s'] for c in ok])} | {cell([c['restore']['wall_s'] for c in ok])} "
                      f"| {waited} | {min(loads):.1f}–{max(loads):.1f} |")
