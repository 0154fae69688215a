"""Kawamori (川守): the shared core every component builds on.

Settings, the domain model, the database schema and its migrations, the MQTT
topic/payload contract and the ``kawamori`` command line live here. The
components (``ingest``, ``alerts``, ``dashboard``, ``shelters``, ``simulator``)
import this package, never each other: they talk through PostgreSQL and MQTT.
"""

__version__ = "0.1.0"
