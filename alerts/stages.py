"""The confirmed stage of a station, with hysteresis.

* The **confirmed level** is the (lower) median of the last few usable readings, so
  one wild reading never moves it.
* A stage is **entered** as soon as the confirmed level reaches its threshold — at
  once, whatever the hysteresis: escalation is never delayed.
* A stage is **left** only after the confirmed level has stayed below its threshold
  minus ``exit_margin_m`` for ``dwell_min``; a level hovering at a threshold
  therefore enters the stage at most once per dwell time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kawamori.model import Stage


def lower_median(levels: Sequence[float]) -> float:
    """The lower median: with two readings, the lower one (both must agree)."""
    ordered = sorted(levels)
    return ordered[(len(ordered) - 1) // 2]


def index_of(stages: Sequence[Stage], key: str | None) -> int:
    """The position of a stage by key; -1 for ``None`` or a key no longer defined."""
    if key is not None:
        for i, stage in enumerate(stages):
            if stage.key == key:
                return i
    return -1


def reached(stages: Sequence[Stage], level_m: float) -> int:
    """The index of the highest stage the level has reached, -1 if none."""
    found = -1
    for i, stage in enumerate(stages):
        if level_m >= stage.level_m:
            found = i
        else:
            break
    return found


@dataclass(frozen=True, slots=True)
class Step:
    index: int  # the confirmed stage, -1 below every stage
    since: datetime | None  # when it was entered
    below_since: datetime | None  # when the level went below its exit threshold


def step(
    stages: Sequence[Stage],
    current: Step,
    level_m: float,
    time: datetime,
    *,
    exit_margin_m: float,
    dwell: timedelta,
) -> Step:
    """The confirmed stage after a confirmed level observed at ``time``."""
    target = reached(stages, level_m)
    if target > current.index:  # escalation: immediate
        return Step(target, time, None)
    if current.index < 0:
        return current
    if level_m >= stages[current.index].level_m - exit_margin_m:
        return current if current.below_since is None else Step(current.index, current.since, None)
    below_since = current.below_since or time
    if time - below_since < dwell:
        return current if current.below_since is not None else Step(current.index, current.since, time)
    # left: down to the highest stage whose exit threshold the level is still above
    lower = reached(stages, level_m + exit_margin_m)
    lower = min(lower, current.index - 1)
    return Step(lower, time if lower >= 0 else None, None)
