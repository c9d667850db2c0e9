DROP TABLE drains;
DROP TABLE audit_log;
DROP TABLE operations;
DROP TABLE active_config;
DROP TABLE config_versions;
