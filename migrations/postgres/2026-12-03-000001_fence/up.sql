-- The highest fleet-lease epoch this agent has seen per fleet (server/src/fence.rs): a call
-- presenting a lower one is refused. Kept here, not in the fleet store, so that it survives
-- agent restarts and store outages.
CREATE TABLE fence (
    fleet TEXT PRIMARY KEY NOT NULL,
    epoch BIGINT NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL
);
