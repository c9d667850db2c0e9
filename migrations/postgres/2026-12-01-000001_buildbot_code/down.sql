ALTER TABLE active_config DROP COLUMN buildbot;
ALTER TABLE config_versions DROP COLUMN buildbot;
