-- Fleet coordination documents kept on the coordinator agent (PostgreSQL flavour; keep in step
-- with ../../sqlite): the fleet lease (at most one row, id = 1) and upgrade journals.

CREATE TABLE fleet_lease (
    id BIGINT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    acquired_at DOUBLE PRECISION NOT NULL,
    renewed_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE upgrades (
    id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    doc TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
