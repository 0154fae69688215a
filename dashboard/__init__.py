"""Dashboard: the live map and JSON/GeoJSON API for disaster staff."""
