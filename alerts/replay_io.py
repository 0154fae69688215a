"""Reading a replay's input files (:mod:`alerts.replay`): stations and readings in
the shared crisis-gauge format or in Kawamori's own, with errors that name the file,
the line and what is wrong.

Stations:

* ``stations.csv`` of the crisis-gauge data set: ``code``, ``name``, ``latitude``,
  ``longitude``, ``start_level_m``, ``warning_level_m`` (may be empty),
  ``danger_level_m`` — stages by :func:`kawamori.model.crisis_gauge_stages`;
* a network file (``kawamori network`` YAML, :mod:`kawamori.network`): its stations
  with their stages, downstream relations and ``alert_rules``, and its alert areas.

Readings (plain or gzip-compressed CSV, any order, with a header line):

* the crisis-gauge ``observations.csv[.gz]``: ``code``, ``observed_at``, ``level_m``
  (further columns are ignored);
* Kawamori's readings CSV: ``station_id``, ``time``, ``level_m`` and optionally
  ``quality`` (the stored :class:`kawamori.model.Quality` bits; default 0). Times are
  ISO 8601 with an offset (``Z`` or ``+09:00``); a time without one is refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from alerts.rules import RuleSettings
from kawamori.model import AlertArea, Station, crisis_gauge_stages
from kawamori.network import NetworkError, read_network

SHARED_STATIONS = ("code", "start_level_m", "danger_level_m")
SHARED_READINGS = ("code", "observed_at", "level_m")
EXPORT_READINGS = ("station_id", "time", "level_m")


class ReplayInputError(ValueError):
    """An input file cannot be replayed (the message names the file, line and problem)."""


@dataclass(frozen=True, slots=True)
class Network:
    """What a replay needs to know about the stations: their definitions and areas."""

    stations: tuple[Station, ...]
    areas: tuple[AlertArea, ...] = ()


def read_stations(path: Path) -> Network:
    """Stations from a crisis-gauge ``stations.csv`` or a network YAML file."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            network = read_network(path, check_rules=RuleSettings.for_station)
        except NetworkError as error:
            raise ReplayInputError(str(error)) from None
        if not network.stations:
            raise ReplayInputError(f"{path}: the network file has no stations")
        return Network(network.stations, network.areas)
    stations: list[Station] = []
    seen: set[str] = set()
    with _open_csv(path) as (rows, header):
        _require(path, header, SHARED_STATIONS, "a crisis-gauge stations.csv")
        for line, values in rows:
            row = _as_dict(header, values)
            code = (row["code"] or "").strip()
            if code in seen:
                raise ReplayInputError(f"{path}:{line}: station {code} appears twice")
            seen.add(code)
            start = _number(path, line, "start_level_m", row["start_level_m"])
            danger = _number(path, line, "danger_level_m", row["danger_level_m"])
            warning = row.get("warning_level_m")
            warning = _number(path, line, "warning_level_m", warning) if warning else None
            assert start is not None and danger is not None
            if not start < danger:
                raise ReplayInputError(
                    f"{path}:{line}: station {code}: start_level_m {start} is not below "
                    f"danger_level_m {danger}"
                )
            top = danger + 200  # the physical range is unknown: wide, so that only the rules act
            try:
                stations.append(
                    Station(
                        id=code,
                        name_ja=(row.get("name") or code).strip() or code,
                        name_en=code,
                        river_ja=(row.get("name") or code).strip() or code,
                        river_en=code,
                        latitude=float(row.get("latitude") or 0),
                        longitude=float(row.get("longitude") or 0),
                        mount_height_m=top,
                        level_min_m=start - 10,
                        level_max_m=top,
                        stages=crisis_gauge_stages(start, danger, warning),
                    )
                )
            except ValueError as error:  # pydantic's ValidationError is a ValueError
                first = str(error).splitlines()
                raise ReplayInputError(f"{path}:{line}: station {code}: {' '.join(first[:3])}") from None
    if not stations:
        raise ReplayInputError(f"{path}: no stations (the file has a header but no rows)")
    return Network(tuple(stations))


@dataclass(frozen=True, slots=True)
class Row:
    """One reading as read: POSIX seconds, station, level, quality bits."""

    ts: float
    station_id: str
    level_m: float
    quality: int = 0


def read_readings(
    path: Path,
    *,
    known: Collection[str],
    start: datetime | None = None,
    end: datetime | None = None,
    only: Collection[str] = (),
) -> list[Row]:
    """Every reading of ``path`` between ``start`` and ``end`` (inclusive) of the
    stations ``only`` (default: all), sorted by time then station. A reading of a
    station not in ``known`` is an error; so is a repeated (station, time)."""
    lo = start.timestamp() if start else -math.inf
    hi = end.timestamp() if end else math.inf
    wanted = set(only)
    out: list[Row] = []
    with _open_csv(path) as (rows, header):
        if all(c in header for c in SHARED_READINGS):
            sid_col, time_col, quality_col = "code", "observed_at", None
        elif all(c in header for c in EXPORT_READINGS):
            sid_col, time_col = "station_id", "time"
            quality_col = "quality" if "quality" in header else None
        else:
            raise ReplayInputError(
                f"{path}:1: missing columns: expected {', '.join(EXPORT_READINGS)}[, quality] "
                f"(Kawamori's readings CSV) or {', '.join(SHARED_READINGS)} (crisis-gauge observations); "
                f"found {', '.join(header) or 'nothing'}"
            )
        parse = _time_parser(path)
        at = {column: i for i, column in enumerate(header)}
        i_sid, i_time, i_level = at[sid_col], at[time_col], at["level_m"]
        i_quality = at[quality_col] if quality_col else None
        needed = max(i_sid, i_time, i_level) + 1
        for line, row in rows:
            if len(row) < needed:
                raise ReplayInputError(f"{path}:{line}: too few values ({len([v for v in row if v])})")
            sid = row[i_sid]
            if sid not in known:
                raise ReplayInputError(f"{path}:{line}: unknown station {sid!r} (not in the stations file)")
            if wanted and sid not in wanted:
                continue
            ts = parse(line, row[i_time])
            if not lo <= ts <= hi:
                continue
            level = _number(path, line, "level_m", row[i_level])
            quality = 0
            if i_quality is not None and i_quality < len(row) and row[i_quality]:
                try:
                    quality = int(row[i_quality])
                except ValueError:
                    raise ReplayInputError(
                        f"{path}:{line}: quality {row[i_quality]!r} is not an integer"
                    ) from None
            assert level is not None
            out.append(Row(ts, sid, level, quality))
    out.sort(key=lambda r: (r.ts, r.station_id))
    for a, b in pairwise(out):
        if a.ts == b.ts and a.station_id == b.station_id:
            when = datetime.fromtimestamp(a.ts, UTC).isoformat()
            raise ReplayInputError(f"{path}: station {a.station_id} has two readings at {when}")
    return out


class _open_csv:
    """``with _open_csv(path) as (rows, header)``: (line number, row values) pairs, blank
    lines left out (a plain reader: a dict per row costs a fifth of reading 859,268)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> tuple[Iterator[tuple[int, list[str]]], list[str]]:
        try:
            raw = self.path.open("rb")
        except OSError as error:
            raise ReplayInputError(f"{self.path}: {error.strerror or error}") from None
        binary = gzip.GzipFile(fileobj=raw) if self.path.name.endswith(".gz") else raw
        self.file = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            reader = csv.reader(self.file)
            header = [h.strip() for h in next(reader, ())]
        except (OSError, UnicodeDecodeError, EOFError, csv.Error) as error:
            self.file.close()
            raise ReplayInputError(f"{self.path}: not a readable CSV file ({error})") from None
        if not header:
            self.file.close()
            raise ReplayInputError(f"{self.path}: the file is empty (a CSV header line is expected)")
        return self._rows(reader), header

    def _rows(self, reader: Any) -> Iterator[tuple[int, list[str]]]:
        try:
            for row in reader:
                if row:
                    yield reader.line_num, row
        except (OSError, UnicodeDecodeError, EOFError, csv.Error) as error:
            raise ReplayInputError(f"{self.path}:{reader.line_num}: unreadable ({error})") from None

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _as_dict(header: list[str], values: list[str]) -> dict[str, str | None]:
    """A row by column name; a missing value is ``None`` (as csv.DictReader gives it)."""
    return {column: values[i] if i < len(values) else None for i, column in enumerate(header)}


def _require(path: Path, header: list[str], columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ReplayInputError(
            f"{path}:1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(expected {what}; found {', '.join(header)})"
        )


def _number(path: Path, line: int, column: str, text: str | None) -> float | None:
    text = (text or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise ReplayInputError(f"{path}:{line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ReplayInputError(f"{path}:{line}: {column} {text!r} is not a finite number")
    return value


def _time_parser(path: Path):
    cache: dict[str, float] = {}

    def parse(line: int, text: str) -> float:
        ts = cache.get(text)
        if ts is not None:
            return ts
        try:
            value = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ReplayInputError(
                f"{path}:{line}: time {text!r} is not ISO 8601 (e.g. 2026-06-02T15:10:00Z)"
            ) from None
        if value.tzinfo is None:
            raise ReplayInputError(f"{path}:{line}: time {text!r} has no UTC offset (add Z or +09:00)")
        ts = cache[text] = value.timestamp()
        return ts

    return parse
