-- Fleet coordination documents kept on the coordinator agent (SQLite flavour; keep in step with
-- ../../postgres): the fleet lease (at most one row, id = 1) and upgrade journals.

CREATE TABLE fleet_lease (
    id INTEGER PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    acquired_at DOUBLE NOT NULL,
    renewed_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL
);

CREATE TABLE upgrades (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    -- The journal, JSON, opaque to the agent.
    doc TEXT NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL
);
