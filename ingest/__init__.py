"""Ingest: MQTT readings and statuses in, PostgreSQL rows out — each reading stored
exactly once or dead-lettered with a reason, messages acknowledged only after commit."""
