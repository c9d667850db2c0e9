-- Backups, upgrades and restores of Buildbot's own database (migrate strategy), one row per
-- (upgrade_id, kind) (PostgreSQL flavour; keep in step with ../../sqlite).
CREATE TABLE buildbot_db_ops (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    upgrade_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    op TEXT NOT NULL,
    pid BIGINT,
    started_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (upgrade_id, kind)
);
