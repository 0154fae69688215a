"""Residents during a disaster: safety check-ins ("I'm safe", "at a shelter") and rescue
requests ("help us") with the staff triage queue. Pure rules in :mod:`rescue.rules`,
PostgreSQL in :mod:`rescue.store`, the HTTP side in :mod:`dashboard.routers.rescue` (the
dashboard's router: components never import the web app)."""
