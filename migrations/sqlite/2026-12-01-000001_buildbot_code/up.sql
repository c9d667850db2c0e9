-- The Buildbot code that travels with a configuration version (sqlite flavour; keep in step with the
-- other backend): the executable a staged version runs with (NULL: the agent's master.buildbot),
-- and the executable each activation made the master's.
ALTER TABLE config_versions ADD COLUMN buildbot TEXT;
ALTER TABLE active_config ADD COLUMN buildbot TEXT;
