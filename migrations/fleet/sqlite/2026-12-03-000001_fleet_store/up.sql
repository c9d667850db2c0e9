-- The fleet store (docs/fleet-store.md): one per fleet, shared by every agent of the fleet.
-- Every *_at is Unix epoch seconds read from the database's clock, never an agent host's.

-- The fleet lease: one row per fleet, never deleted, so that its epoch only grows.
CREATE TABLE lease (
    fleet TEXT PRIMARY KEY NOT NULL,
    operation TEXT NOT NULL,
    holder TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    acquired_at DOUBLE NOT NULL,
    renewed_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL
);

-- One row per upgrade journal; its states are the entries.
CREATE TABLE upgrades (
    id TEXT PRIMARY KEY NOT NULL,
    fleet TEXT NOT NULL,
    created_at DOUBLE NOT NULL
);

-- Append-only: one row per saved state, written under the lease epoch it names.
CREATE TABLE upgrade_entries (
    upgrade_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    holder TEXT NOT NULL,
    at DOUBLE NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (upgrade_id, seq)
);

-- The agent registry: each agent upserts its row at start and on every heartbeat.
CREATE TABLE agents (
    fleet TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    standby BOOLEAN NOT NULL,
    agent_version TEXT NOT NULL,
    api_version TEXT NOT NULL,
    buildbot_name TEXT,
    host TEXT NOT NULL,
    started_at DOUBLE NOT NULL,
    heartbeat_at DOUBLE NOT NULL,
    stopped_at DOUBLE,
    PRIMARY KEY (fleet, name)
);

-- Buildbot masters rows `bbctl masters prune` hides (Buildbot's own tables are never written).
CREATE TABLE hidden_masters (
    fleet TEXT NOT NULL,
    masterid BIGINT NOT NULL,
    name TEXT NOT NULL,
    hidden_at DOUBLE NOT NULL,
    hidden_by TEXT,
    PRIMARY KEY (fleet, masterid)
);
