-- Backups, upgrades and restores of Buildbot's own database (migrate strategy), one row per
-- (upgrade_id, kind) (SQLite flavour; keep in step with ../../postgres).
CREATE TABLE buildbot_db_ops (
    id INTEGER PRIMARY KEY NOT NULL,
    upgrade_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- running, done, already_applied, not_applied, failed.
    state TEXT NOT NULL,
    -- The operation as the API answers it (BuildbotDbOp), JSON.
    op TEXT NOT NULL,
    -- The tool's process id while it runs, for the agent that restarts mid-operation.
    pid BIGINT,
    started_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    UNIQUE (upgrade_id, kind)
);
