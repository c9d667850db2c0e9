-- The agent's own state (SQLite flavour; keep in step with ../../postgres).
-- Times are Unix epoch seconds with fractions (DOUBLE: REAL affinity, read as f64).

CREATE TABLE config_versions (
    sha256 TEXT PRIMARY KEY NOT NULL,
    label TEXT NOT NULL,
    -- JSON array of the bundle's relative paths.
    files TEXT NOT NULL,
    staged_at DOUBLE NOT NULL,
    staged_by TEXT,
    reason TEXT,
    -- The last checkconfig result, JSON (bbctl_api::CheckConfigResult), if one ran.
    checkconfig TEXT,
    activated_at DOUBLE
);

-- One row per basedir state: which version is active now, and the one before it.
CREATE TABLE active_config (
    id INTEGER PRIMARY KEY NOT NULL,
    sha256 TEXT NOT NULL,
    label TEXT NOT NULL,
    previous_sha256 TEXT,
    -- Where the files that were in the basedir before the activation are kept.
    backup_dir TEXT,
    activated_at DOUBLE NOT NULL
);

CREATE TABLE operations (
    id INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    requested_by TEXT,
    reason TEXT,
    started_at DOUBLE NOT NULL,
    finished_at DOUBLE,
    -- NULL while running, then 'ok' or 'failed'.
    outcome TEXT,
    message TEXT NOT NULL DEFAULT '',
    -- JSON array of log lines.
    log_lines TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY NOT NULL,
    at DOUBLE NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- Placeholder for the drain issue.
CREATE TABLE drains (
    id INTEGER PRIMARY KEY NOT NULL,
    phase TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    finished_at DOUBLE
);
