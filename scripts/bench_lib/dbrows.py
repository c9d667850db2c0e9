"""Rows of N finished builds, generated in SQL into a Buildbot DB (schema 066 or 067): per build a
buildset, a build request, the build, one step, one log and 2 logchunks of ~1 KiB, with ids from
1,000,000 up so that they never meet the fleet's own rows. `add(db, lo, hi)` adds builds lo..hi-1 (so a DB can grow in steps)."""

BASE = 1_000_000

SQL = """
BEGIN;
INSERT INTO workers (id, name, info, paused, pause_reason, graceful)
  SELECT {base}, 'bench-worker', '{{}}', 0, NULL, 0 WHERE NOT EXISTS (SELECT 1 FROM workers WHERE id = {base});
INSERT INTO buildsets (id, external_idstring, reason, submitted_at, complete, complete_at, results)
  SELECT g, NULL, 'bench', 1700000000 + g, 1, 1700000001 + g, 0 FROM generate_series({lo}, {hi}) g;
INSERT INTO buildrequests (id, buildsetid, builderid, priority, complete, results, submitted_at, complete_at,
                           waited_for)
  SELECT g, g, (SELECT min(id) FROM builders), 0, 1, 0, 1700000000 + g, 1700000001 + g, 0
  FROM generate_series({lo}, {hi}) g;
INSERT INTO builds (id, number, builderid, buildrequestid, workerid, masterid, started_at, complete_at,
                    locks_duration_s, state_string, results)
  SELECT g, g, (SELECT min(id) FROM builders), g, {base}, (SELECT min(id) FROM masters), 1700000000 + g,
         1700000001 + g, 0, 'finished', 0
  FROM generate_series({lo}, {hi}) g;
INSERT INTO steps (id, number, name, buildid, started_at, locks_acquired_at, complete_at, state_string, results,
                   urls_json, hidden)
  SELECT g, 0, 'sleep', g, 1700000000 + g, 1700000000 + g, 1700000001 + g, 'done', 0, '[]', 0
  FROM generate_series({lo}, {hi}) g;
INSERT INTO logs (id, name, slug, stepid, complete, num_lines, type)
  SELECT g, 'stdio', 'stdio', g, 1, 20, 's' FROM generate_series({lo}, {hi}) g;
INSERT INTO logchunks (logid, first_line, last_line, content, compressed)
  SELECT g, k * 10, k * 10 + 9, convert_to(repeat(md5(g::text || k::text), 16), 'UTF8'), 0
  FROM generate_series({lo}, {hi}) g, generate_series(0, 1) k;
COMMIT;
"""


def add(db, lo, hi):
    """Adds the generated builds lo..hi-1 (0-based counts)."""
    if hi > lo:
        db.script(SQL.format(base=BASE, lo=BASE + lo, hi=BASE + hi - 1))


def count(db):
    return int(db.value(f"SELECT count(*) FROM builds WHERE id >= {BASE}") or 0)


def size(db):
    return int(db.value("SELECT pg_database_size(current_database())") or 0)


def head(db):
    return db.value("SELECT version_num FROM alembic_version")
