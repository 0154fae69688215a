"""The trend of the water level: a robust rate of rise and the projected time to a level.

Theil–Sen (the median of the slopes between every pair of readings) shrugs off a
wild reading that a least-squares line would follow. Windows are small (≤ ~20
readings), where plain Python beats numpy.
"""

from __future__ import annotations

from collections.abc import Sequence


def theil_sen(times_s: Sequence[float], levels_m: Sequence[float]) -> float | None:
    """The Theil–Sen slope in metres per hour, or ``None`` with fewer than two
    distinct times. ``times_s`` are seconds (any origin), ascending."""
    n = len(levels_m)
    slopes = [
        (levels_m[j] - levels_m[i]) / (times_s[j] - times_s[i])
        for i in range(n - 1)
        for j in range(i + 1, n)
        if times_s[j] > times_s[i]
    ]
    if not slopes:
        return None
    slopes.sort()
    mid = len(slopes) // 2
    slope = slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2
    return slope * 3600


def hours_to(level_m: float, rate_m_h: float | None, target_m: float) -> float | None:
    """Hours until a level rising at ``rate_m_h`` reaches ``target_m``: 0 if it already
    has, ``None`` if it is not rising."""
    if level_m >= target_m:
        return 0.0
    if rate_m_h is None or not rate_m_h > 0:
        return None
    return (target_m - level_m) / rate_m_h
