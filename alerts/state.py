""":class:`~alerts.model.StationState` as JSON (``station_status.state``) and back."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from alerts.model import StationState

_FIELDS = {f.name: f.type for f in fields(StationState)}
_TIMES = frozenset(name for name, kind in _FIELDS.items() if "datetime" in str(kind))


def state_to_json(state: StationState) -> dict[str, Any]:
    """A JSON-ready dict: times as ISO 8601 strings, fields at their default left out."""
    out: dict[str, Any] = {}
    for name, value, default, is_time in zip(_NAMES, _values(state), _DEFAULTS, _IS_TIME, strict=True):
        if value == default:
            continue
        out[name] = value.isoformat() if is_time else list(value) if isinstance(value, tuple) else value
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
_NAMES = tuple(_FIELDS)
_values = attrgetter(*_NAMES)  # every field at once, in order
_DEFAULTS = _values(_DEFAULT)
_IS_TIME = tuple(name in _TIMES for name in _NAMES)
