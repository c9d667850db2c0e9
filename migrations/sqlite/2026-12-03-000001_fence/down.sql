DROP TABLE fence;
