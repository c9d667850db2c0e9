DROP TABLE hidden_masters;
DROP TABLE agents;
DROP TABLE upgrade_entries;
DROP TABLE upgrades;
DROP TABLE lease;
