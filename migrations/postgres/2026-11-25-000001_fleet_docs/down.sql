DROP TABLE upgrades;
DROP TABLE fleet_lease;
