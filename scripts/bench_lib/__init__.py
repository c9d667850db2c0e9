"""Shared code of scripts/bench-migrate, scripts/bench-db-backup and (on_hosts.py) scripts/bench-handoff (Python 3 standard library only)."""
