"""Quality control of a station's recent readings, after the IOOS QARTOD water-level
tests: gross range, spike, rate of change, flat line, with gaps breaking comparisons.

:func:`check` reads only the ingest bits of each reading's quality, so checking the
same readings again gives the same flags. It never raises: non-finite levels are
simply out of range.

Besides the Quality bits it says which readings still **need confirmation**: a rise
faster than ``unverified_jump_m_h`` (or one beyond ``max_rise_m_h``) and a reading with
nothing to compare it with (``"lone"``) count only once a later sound reading follows
them, or a neighbouring station corroborates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isfinite

from alerts import health
from alerts.health import Cadence
from alerts.model import Sample
from alerts.rules import RuleSettings
from kawamori.model import INGEST_QUALITY, Quality

# ingest flags that make a reading unusable (as alerts.judge)
DISQUALIFYING = int(Quality.OUT_OF_RANGE | Quality.FEW_SAMPLES | Quality.SENSOR_ERROR)
# a reading with any of these never counts towards a stage
HARD = DISQUALIFYING | int(Quality.SPIKE | Quality.FLAT_LINE | Quality.SUSPECT_RANGE)
_BAD = int(INGEST_QUALITY) & DISQUALIFYING
_INF = float("inf")
_LIMIT = 1e6  # no river gauge reads a kilometre: beyond this a level is out of range anyway
_SPIKE, _RATE, _FLAT, _SUSPECT = (
    int(Quality.SPIKE),
    int(Quality.RATE),
    int(Quality.FLAT_LINE),
    int(Quality.SUSPECT_RANGE),
)

# why a reading needs confirmation
RATE, JUMP, LONE = "rate", "jump", "lone"

TEST_NAMES = {
    Quality.OUT_OF_RANGE: "out_of_range",
    Quality.FEW_SAMPLES: "few_samples",
    Quality.SENSOR_ERROR: "sensor_error",
    Quality.SPIKE: "spike",
    Quality.RATE: "rate",
    Quality.FLAT_LINE: "flat_line",
    Quality.SUSPECT_RANGE: "suspect_range",
}


def test_names(bits: int) -> list[str]:
    """The names of the failed tests in a quality bit set, e.g. ``["flat_line"]``."""
    return [name for flag, name in TEST_NAMES.items() if bits & flag]


def check(
    samples: Sequence[Sample],
    times: Sequence[float],
    *,
    top_m: float | None,
    settings: RuleSettings,
    cadence: Cadence | None = None,
    alert_m: float | None = None,
) -> tuple[list[int], list[str | None]]:
    """QC flags (Quality QC bits, plus the ingest bits that disqualify) and the
    confirmation need of each sample. ``times`` are the samples' POSIX timestamps;
    ``cadence`` the station's durations (``alerts.health.cadence``; by default the
    settings as they are); ``alert_m`` the lowest threshold with a 警戒レベル, above which
    the flat-line test uses ``flat_line_high_tolerance_m``."""
    return check_columns(
        [s.level_m for s in samples],
        [s.quality for s in samples],
        times,
        top_m=top_m,
        settings=settings,
        cadence=cadence,
        alert_m=alert_m,
    )


def check_columns(
    xs: Sequence[float],
    qualities: Sequence[int],
    times: Sequence[float],
    *,
    top_m: float | None,
    settings: RuleSettings,
    cadence: Cadence | None = None,
    alert_m: float | None = None,
) -> tuple[list[int], list[str | None]]:
    """:func:`check` with the readings as columns: their levels and quality bits."""
    if cadence is None:
        cadence = health.cadence(settings, None)
    n = len(xs)
    flags = [0] * n
    pending: list[str | None] = [None] * n
    limit = _LIMIT if top_m is None else min(top_m + settings.suspect_above_top_m, _LIMIT)
    gap = cadence.gap
    valid: list[int] = []  # a level to look at: finite, not disqualified by ingest
    refs: list[int] = []  # ...and not out of the usual range: what rates and spikes compare with
    low = -_LIMIT
    # the common case: nothing disqualified, every level finite (no NaN: the sum is finite) and in range
    if (
        n
        and not any(map(_BAD.__and__, qualities))
        and isfinite(sum(xs, 0.0))
        and low < min(xs)
        and max(xs) < limit
    ):
        valid = list(range(n))
        refs = valid
    for i, quality in enumerate(() if refs else qualities):
        x = xs[i]
        bad = quality & _BAD
        if bad:
            flags[i] = bad
        elif not (low < x < limit):  # also catches NaN and ±inf
            flags[i] = _SUSPECT
            if x == x and x != _INF and x != -_INF:
                valid.append(i)
        else:
            valid.append(i)
            refs.append(i)

    if len(valid) >= cadence.flat_line_count:
        high = _INF if alert_m is None else alert_m
        tol = settings.flat_line_tolerance_m + 1e-9
        tolerances = (tol, max(tol, settings.flat_line_high_tolerance_m + 1e-6))
        _flat_line(xs, times, valid, flags, tolerances, high, cadence)

    spike_m = settings.spike_m
    rise, fall, jump = (
        settings.max_rise_m_h / 3600,
        settings.max_fall_m_h / 3600,
        settings.unverified_jump_m_h / 3600,
    )
    good: list[int] = []  # earlier references that are not spikes, newest last
    # the two references before the current one, kept at hand (a hot loop)
    m, tm, xm, ta, xa = 0, 0.0, 0.0, 0.0, 0.0
    for p, k in enumerate(refs):
        tk, xk = times[k], xs[k]
        # the previous reference now has a neighbour on both sides
        if (
            p >= 2
            and tm - ta <= gap
            and tk - tm <= gap
            and abs(xm - (xa + xk) / 2) - abs(xk - xa) / 2 > spike_m
        ):
            flags[m] |= _SPIKE
            if good and good[-1] == m:
                good.pop()
        if good and tk - times[good[-1]] <= gap:
            last = good[-1]
            dt = tk - times[last]
            rate = (xk - xs[last]) / (dt if dt > 1.0 else 1.0)
            if rate > rise or -rate > fall:
                flags[k] |= _RATE
                pending[k] = RATE
            elif rate > jump:
                pending[k] = JUMP
        else:
            pending[k] = LONE
        good.append(k)
        ta, xa = tm, xm
        m, tm, xm = k, tk, xk
    return flags, pending


def _flat_line(
    xs: Sequence[float],
    times: Sequence[float],
    valid: list[int],
    flags: list[int],
    tolerances: tuple[float, float],
    high: float,
    cadence: Cadence,
) -> None:
    """QARTOD flat line: readings that have stayed within the tolerance for at least
    ``flat_line_count`` readings and the minimum duration (the first readings of a
    run are not flagged; they never confirm a stage either, see ``alerts.evaluate``:
    entering an alerting stage takes readings that differ). At high water (from ``high``) a wider tolerance
    catches a stuck sensor that dithers by a centimetre, over twice the duration."""
    count_needed = cadence.flat_line_count
    gap = cadence.gap
    widest = tolerances[1]  # not below tolerances[0]
    for p in range(count_needed - 1, len(valid)):
        k = valid[p]
        x = xs[k]
        i = valid[p - 1]
        if abs(xs[i] - x) > widest:  # the common case: the level moved (beyond either tolerance)
            continue
        t = times[k]
        if x >= high:
            tol, duration = tolerances[1], 2 * cadence.flat_line_min_duration
        else:
            tol, duration = tolerances[0], cadence.flat_line_min_duration
        if abs(xs[i] - x) > tol:  # the level moved
            continue
        if flags[i] & _FLAT and times[k] - times[i] <= gap:  # the run goes on
            flags[k] |= _FLAT
            continue
        count, j, newer = 1, p - 1, t
        while j >= 0:
            i = valid[j]
            if abs(xs[i] - x) > tol or newer - times[i] > gap:
                break
            count += 1
            if count >= count_needed and t - times[i] >= duration:
                flags[k] |= _FLAT
                break
            newer, j = times[i], j - 1
