"""Adaptive reporting, as crisis-management gauges do it: pure functions of the
state and the settings.

* slow mode (normal times): measure every ``slow_s`` (10 min), send every ``send_s``;
* fast mode: measure and send every ``fast_s`` (2 min), entered when the level
  reaches ``fast_on_m`` or rises faster than ``rise_m_h``; left only when the level
  is below ``fast_off_m`` (hysteresis) and no longer rising fast;
* a status (health) report at least every ``health_s`` (a day), even when nothing
  else is sent;
* after a failed connection the next attempt waits ``fast_s × 2^(failures-1)``,
  capped at ``backoff_max_s``, of which a random half ("equal jitter"): a dead
  network does not drain the battery, and gauges that lost the same network at the
  same moment do not all come back in the same second.
"""

SLOW = 0
FAST = 1


def rise_mm_h(prev_level_mm, prev_dt, level_mm: int, dt: int, limit_s: int):
    """Rate of rise since the previous measurement, mm per hour, or None."""
    if prev_level_mm is None or prev_dt is None:
        return None
    gap = dt - prev_dt
    if gap <= 0 or gap > limit_s:
        return None
    return (level_mm - prev_level_mm) * 3600 // gap


def next_mode(mode: int, level_mm: int, rise, cfg: dict) -> int:
    rising = rise is not None and rise >= int(cfg["rise_m_h"] * 1000)
    if level_mm >= int(cfg["fast_on_m"] * 1000) or rising:
        return FAST
    if mode == FAST and level_mm >= int(cfg["fast_off_m"] * 1000):
        return FAST
    return SLOW


def interval_s(mode: int, cfg: dict) -> int:
    return cfg["fast_s"] if mode == FAST else cfg["slow_s"]


def connect_due(mode: int, dt: int, state: dict, cfg: dict, waiting: int) -> bool:
    """Whether this cycle should connect and send (readings or just the status)."""
    if dt < state.get("net_next", 0):
        return False
    last_send = state.get("last_send")
    last_status = state.get("last_status")
    if last_send is None or last_status is None or state.get("report"):
        return True  # first contact, or news that cannot wait (the sensor died or came back)
    if dt - last_status >= cfg["health_s"] * 9 // 10:
        return True
    if not waiting:
        return False
    return mode == FAST or dt - last_send >= cfg["send_s"] * 9 // 10


def backoff_s(failures: int, cfg: dict, permille: int = 1000) -> int:
    """Seconds to wait after ``failures`` failed connections; ``permille`` (0–1000, a
    random number on a board) picks a point in the upper half of the window."""
    if failures <= 0:
        return 0
    window = min(cfg["fast_s"] << min(failures - 1, 16), cfg["backoff_max_s"])
    return window - window * (1000 - max(0, min(1000, permille))) // 2000
