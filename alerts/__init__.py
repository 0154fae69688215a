"""Alerts: judge each station's level against its stages, woken by ingest's
notifications and by a periodic tick."""
