"""A measurement: a burst of samples, outliers rejected, one level.

Japan's crisis-management gauges average at least 20 samples over 20 s; so do we
by default. Outliers are rejected with the median absolute deviation (MAD): a sample
further than 3 × 1.4826 × MAD from the median (MAD at least ``MAD_FLOOR_MM``) is
dropped, the rest are averaged. All values are integers (mm), so the result is the
same on every platform, single-precision-float ESP32 included.
"""

import hw

OUT_OF_RANGE = 1  # kawamori.model.Quality
FEW_SAMPLES = 2
SENSOR_ERROR = 4

MAD_FLOOR_MM = 5


class Result:
    """``dist_mm`` is None for depth sensors; ``level_mm`` is always set."""

    def __init__(self, level_mm: int, dist_mm, spread_mm: int, valid: int, q: int) -> None:
        self.level_mm = level_mm
        self.dist_mm = dist_mm
        self.spread_mm = spread_mm
        self.valid = valid
        self.q = q


def median(values: list) -> int:
    ordered = sorted(values)
    n = len(ordered)
    middle = n // 2
    if n % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def robust(values: list):
    """(mean of the inliers, spread = 1.4826 × MAD, inlier count)."""
    centre = median(values)
    mad = median([abs(v - centre) for v in values])
    limit = 3 * 14826 * max(mad, MAD_FLOOR_MM) // 10000
    kept = [v for v in values if abs(v - centre) <= limit]
    total = 0
    for v in kept:
        total += v
    mean = (2 * total + len(kept)) // (2 * len(kept))  # rounded
    return mean, 14826 * mad // 10000, len(kept)


def burst(sensor, clock, samples: int, span_ms: int, mount_mm: int, min_valid: int, give_up: int = 0):
    """Take ``samples`` readings spread over ``span_ms``; a :class:`Result`, or None
    when the sensor gave nothing at all (every sample an error). With ``give_up``, a
    burst whose first ``give_up`` samples all failed stops there: a dead or unplugged
    sensor does not keep the board awake for the whole burst."""
    values = []
    outside = []
    errors = 0
    gap = span_ms // samples if samples > 1 else 0
    for i in range(samples):
        start = clock.ticks_ms()
        warm = sensor.power(True)
        if warm:
            clock.sleep_ms(warm)  # light sleep on a board while the sensor starts
        try:
            mm = sensor.read()
        except Exception:  # a driver fault counts as a bad sample, never as a crash
            mm = None
        finally:
            sensor.power(False)
        if mm is None:
            errors += 1
            if errors == give_up and errors == i + 1:
                return None
        elif sensor.MIN_MM <= mm <= sensor.MAX_MM:
            values.append(mm)
        else:
            outside.append(mm)
        if i < samples - 1:
            spent = hw.ticks_diff(clock.ticks_ms(), start)
            if gap > spent:
                clock.sleep_ms(gap - spent)
    q = SENSOR_ERROR if errors * 4 > samples else 0
    if values:
        mm, spread, valid = robust(values)
        if valid < min_valid:
            q |= FEW_SAMPLES
    elif outside:
        mm = max(sensor.MIN_MM, min(sensor.MAX_MM, median(outside)))
        spread, valid = 0, 0
        q |= OUT_OF_RANGE | FEW_SAMPLES
    else:
        return None
    if sensor.DEPTH:
        return Result(mount_mm + mm, None, spread, valid, q)
    return Result(mount_mm - mm, mm, spread, valid, q)
