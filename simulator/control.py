"""Steering a running simulator from another command: ``kawamori simulate --typhoon``
adds an event to ``<data_dir>/simulator/events.json``; the running fleet re-reads the
file each round. A pid file tells whether a fleet is running for that data folder."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from simulator.hydrograph import Event, response


class Control:
    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir.resolve() / "simulator"
        self.events_file = self.folder / "events.json"
        self.pid_file = self.folder / "fleet.pid"
        self._seen: float | None = None
        self._events: tuple[Event, ...] = ()

    def running_fleet(self) -> int | None:
        """The pid of a live fleet for this folder, if any."""
        try:
            pid = int(self.pid_file.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def claim(self, now: datetime) -> None:
        """Mark this process as the running fleet. A flood still going on at ``now`` goes
        on (a restarted fleet picks up the typhoon it was running, rather than dropping the
        rivers to fair weather at once); events that are over are forgotten."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(str(os.getpid()))
        try:
            going_on = [e for e in self.events() if not over(e, now)]
        except (ValueError, KeyError, TypeError):  # a file from another version: start afresh
            going_on = []
        self.events_file.unlink(missing_ok=True)
        self._seen = None
        for event in going_on:
            self.add(event)

    def release(self) -> None:
        if self.pid_file.exists() and self.pid_file.read_text() == str(os.getpid()):
            self.pid_file.unlink()

    def add(self, event: Event) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        events = [*self.events(), event]
        temporary = self.events_file.with_suffix(".tmp")
        temporary.write_text(json.dumps([encode(e) for e in events], indent=1))
        os.replace(temporary, self.events_file)

    def events(self) -> tuple[Event, ...]:
        """The current events, re-read only when the file changed."""
        try:
            stamp = self.events_file.stat().st_mtime
        except FileNotFoundError:
            return ()
        if stamp != self._seen:
            self._events = tuple(decode(item) for item in json.loads(self.events_file.read_text()))
            self._seen = stamp
        return self._events


# the flood wave has passed every reach once its response is below this share of the peak
_OVER = 1e-3
_REACHES = 10  # more reaches than any network the simulator runs has on one river


def over(event: Event, now: datetime) -> bool:
    """Whether ``event`` no longer raises any river at ``now``: its peak has passed the
    last reach and what is left of it is below a thousandth of the peak."""
    elapsed = (now - event.start - _REACHES * event.lag_per_reach).total_seconds()
    peak = event.time_to_peak.total_seconds()
    return elapsed > peak and response(elapsed, peak, event.shape) < _OVER


def encode(event: Event) -> dict:
    return {
        "start": event.start.isoformat(),
        "time_to_peak_s": event.time_to_peak.total_seconds(),
        "peak_ratio": event.peak_ratio,
        "lag_per_reach_s": event.lag_per_reach.total_seconds(),
        "attenuation_per_reach": event.attenuation_per_reach,
        "shape": event.shape,
    }


def decode(item: dict) -> Event:
    return Event(
        start=datetime.fromisoformat(item["start"]),
        time_to_peak=timedelta(seconds=item["time_to_peak_s"]),
        peak_ratio=item["peak_ratio"],
        lag_per_reach=timedelta(seconds=item["lag_per_reach_s"]),
        attenuation_per_reach=item["attenuation_per_reach"],
        shape=item["shape"],
    )
