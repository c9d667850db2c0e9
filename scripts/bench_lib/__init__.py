"""Shared code of scripts/bench-migrate and scripts/bench-db-backup (Python 3 standard library only)."""
