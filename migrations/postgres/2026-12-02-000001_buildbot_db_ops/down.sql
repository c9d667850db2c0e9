DROP TABLE buildbot_db_ops;
