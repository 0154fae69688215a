"""Kawamori (川守): the shared core every component builds on.

Settings, the domain model, the database schema and its migrations, the MQTT
topic/payload contract, staff accounts and the embedded services live here. It imports
no component; the components (``ingest``, ``alerts``, ``notify``, ``dashboard``,
``shelters``, ``simulator``) build on it, and the ``kawamori`` command that wires them
together lives above them all, in ``kawamori_app``.
"""

__version__ = "0.1.0"
