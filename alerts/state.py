""":class:`~alerts.model.StationState` as JSON (``station_status.state``) and back."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from alerts.model import StationState

_FIELDS = {f.name: f.type for f in fields(StationState)}
_TIMES = frozenset(name for name, kind in _FIELDS.items() if "datetime" in str(kind))


def state_to_json(state: StationState) -> dict[str, Any]:
    """A JSON-ready dict: times as ISO 8601 strings, fields at their default left out."""
    out: dict[str, Any] = {}
    default = _DEFAULT
    for name in _FIELDS:
        value = getattr(state, name)
        if value == getattr(default, name):
            continue
        out[name] = (
            value.isoformat() if name in _TIMES else list(value) if isinstance(value, tuple) else value
        )
    return out


def state_from_json(data: dict[str, Any] | None) -> StationState:
    """The state stored by :func:`state_to_json`; ``{}`` is a fresh station. Keys this
    version does not know are ignored, so an older evaluator can read a newer state."""
    if not data:
        return _DEFAULT
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in _FIELDS:
            continue
        if name in _TIMES and value is not None:
            value = datetime.fromisoformat(value)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return StationState(**values)


_DEFAULT = StationState()
