"""The workload of a bench arm: `sleep` builds forced on a fixed schedule, and the check that every
accepted request ran exactly once (read from the Buildbot DB, so it works while no master runs)."""
import threading
import time

from .pg import PgError


class Forcer(threading.Thread):
    """From wall time `t0` on, forces one `sleep` build every `every` seconds, its duration cycling
    through `durations`, until halted. The schedule does not wait for the procedure or for a
    master: a force that no master accepts (none runs) is recorded, not retried."""

    def __init__(self, fleet, t0, every, durations, limit=400):
        super().__init__(daemon=True)
        self.fleet, self.t0, self.every, self.durations, self.limit = fleet, t0, every, durations, limit
        self.requests = []
        self.halt = threading.Event()

    def run(self):
        k = 0
        while k < self.limit and not self.halt.wait(max(0.0, self.t0 + k * self.every - time.time())):
            secs = self.durations[k % len(self.durations)]
            t = time.time()
            brid, err = self.fleet.force(secs)
            self.requests.append({"brid": brid, "duration": secs, "forced_at": round(t, 3),
                                  "answered_at": round(time.time(), 3), "error": err})
            k += 1


def follow(db, brids, settle):
    """Waits (at most `settle` s) until every request in `brids` is complete, then counts its builds.
    Returns the failures: never completed, completed without a build, ran more than once, and
    builds that did not end SUCCESS (RETRY counted apart)."""
    brids = sorted(set(brids))
    out = {"never_completed": [], "completed_without_build": [], "ran_twice": [], "retry": 0,
           "not_success": 0, "builds": 0}
    if not brids:
        return out
    ids = ",".join(str(b) for b in brids)
    deadline = time.monotonic() + settle
    complete = {}
    while True:
        try:
            complete = {int(r[0]): r[1] not in ("0", "", "f", "false")
                        for r in db.rows(f"SELECT id, complete FROM buildrequests WHERE id IN ({ids})")}
        except PgError:
            pass
        if all(complete.get(b) for b in brids) or time.monotonic() > deadline:
            break
        time.sleep(1)
    builds = {}
    for brid, results in db.rows(f"SELECT buildrequestid, coalesce(results, -1) FROM builds "
                                 f"WHERE buildrequestid IN ({ids})"):
        builds.setdefault(int(brid), []).append(int(results))
    for b in brids:
        if not complete.get(b):
            out["never_completed"].append(b)
        elif b not in builds:
            out["completed_without_build"].append(b)
    for b, results in builds.items():
        out["builds"] += len(results)
        # A RETRY build is re-queued by Buildbot and followed by another build: not a double run.
        if len([r for r in results if r != 5]) > 1:
            out["ran_twice"].append(b)
        out["retry"] += results.count(5)
        out["not_success"] += len([r for r in results if r not in (0, 5)])
    out["lost"] = len(out["never_completed"]) + len(out["completed_without_build"]) + len(out["ran_twice"])
    return out
