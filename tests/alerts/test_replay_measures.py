"""The replay's measures (alerts.replay_measures) on small hand-made timelines."""

from __future__ import annotations

from alerts.replay_measures import GAP_S, _forecast_kind, _reversals, measure

H = 3600.0


def ev(ts: float, event: str, level: int | None, reason: str | None = "observed", **extra):
    return {"ts": ts, "area": "g", "event": event, "level": level, "reason": reason, **extra}


def run(times, levels, events, danger=1.0, end=None):
    return measure({"g": (times, levels)}, {"g": danger}, {"g": ("g",)}, events, end=end)


def test_a_flood_up_and_down_is_one_reversal_flapping_is_more():
    up_down = [(0, "issued", 2, None), (H, "changed", 4, None), (3 * H, "lifted", 0, None)]
    assert _reversals(up_down) == 1
    flapping = [*up_down, (4 * H, "issued", 4, None), (5 * H, "lifted", 0, None)]
    assert _reversals(flapping) == 3
    slow = [(0, "issued", 4, None), (7 * H, "lifted", 0, None), (14 * H, "issued", 4, None)]
    assert _reversals(slow) == 0
    # a window is shorter than 6 h: a level held exactly 6 h, lifted, back 5 h later
    held = [(0, "issued", 2, None), (6 * H, "lifted", 0, None), (11 * H, "issued", 2, None)]
    assert _reversals(held) == 1
    assert _reversals([*held, (16 * H, "lifted", 0, None)]) == 2


def test_a_silent_hold_counts_when_nobody_is_asked_by_the_first_tick_after_6_h():
    times, levels = [0.0, 10 * H], [1.2, 0.5]
    issued = [ev(0, "proposed", 4, proposal="raise"), ev(0, "issued", 4, decided_by="staff")]
    asked = [*issued, ev(GAP_S + 30, "proposed", None, "no_data", proposal="verify")]
    m = run(times, levels, asked)
    assert (m["silent_holds"], m["silent_holds_strict"]) == (0, 1)
    m = run(times, levels, issued)
    assert m["silent_holds"] == 1


def test_a_single_reading_taken_back_counts_when_withdrawn_or_replaced():
    times, levels = [0.0, H, 2 * H], [0.5, 1.2, 0.6]
    proposed = [ev(H, "proposed", 4, "unverified", proposal="raise")]
    m = run(times, levels, [*proposed, ev(2 * H, "withdrawn", 4, "unverified")])
    assert (m["takebacks"], m["takebacks_withdrawn"]) == (1, 1)
    m = run(times, levels, [*proposed, ev(2 * H, "proposed", 4, "forecast", proposal="raise")])
    assert m["takebacks_withdrawn"] == 1  # a new question on other evidence
    m = run(times, levels, proposed)
    assert (m["takebacks"], m["takebacks_withdrawn"]) == (1, 0)
    confirmed = [ev(H, "proposed", 4, "observed", proposal="raise")]
    m = run(times, levels, confirmed)
    assert (m["takebacks"], m["takebacks_confirmed"]) == (0, 1)


def test_forecasts_below_danger_are_classified():
    times = [0.0, H, 2 * H, 3 * H]
    assert _forecast_kind(times, [0.2, 0.5, 0.4, 0.3], 1.0, 2, 3) == "falling"
    assert _forecast_kind(times, [0.2, 0.5, 0.8, 0.3], 1.0, 1, 3) == "near"
    assert _forecast_kind(times, [0.2, 0.3, 0.5, 0.3], 1.0, 1, 3) == "stalled"
    assert _forecast_kind(times, [0.2, 0.5, 0.4, 0.3], 1.0, 1, 3) == "peak"


def test_a_fault_counts_as_evident_from_the_reading_that_shows_it():
    # danger 1.0: a plausible rise issued (before the fault shows), then 4.5 m (≥ 3 m above)
    times, levels = [0.0, H, 2 * H, 3 * H, 4 * H], [0.6, 1.2, 1.3, 4.5, 4.4]
    issued = [ev(2 * H, "proposed", 4, proposal="raise"), ev(2 * H, "issued", 4, decided_by="staff")]
    m = run(times, levels, issued)
    assert (m["fault_public"], m["fault_public_evident"]) == (1, 1)  # held, nobody asked
    asked = [*issued, ev(3 * H, "proposed", None, "sensor_fault", proposal="verify")]
    m = run(times, levels, asked)
    assert (m["fault_public"], m["fault_public_evident"]) == (1, 0)
    late = [ev(4 * H, "proposed", 4, proposal="raise"), ev(4 * H, "issued", 4, decided_by="staff")]
    assert run(times, levels, late)["fault_public_evident"] == 1  # issued on the fault


def test_a_jump_is_proposed_only_by_a_proposal_made_at_it():
    # a steady history (rises of 0.1 m/h), then 0.5 → 1.5 in an hour: a jump
    times = [float(i * H) for i in range(8)]
    levels = [0.1, 0.2, 0.3, 0.4, 0.5, 1.5, 0.5, 0.5]
    at_it = [ev(5 * H, "proposed", 4, "unverified", proposal="raise")]
    m = run(times, levels, at_it)
    assert (m["singles_jump"], m["singles_jump_proposed"]) == (1, 1)
    before = [ev(4 * H, "proposed", 4, "forecast", proposal="raise")]  # open before the jump
    assert run(times, levels, before)["singles_jump_proposed"] == 0


def test_a_gauge_back_from_a_dropout_is_no_rise():
    # above danger, one reading 0.8 m down, back up: the water did not rise through danger
    times = [float(i * H) for i in range(6)]
    levels = [1.3, 1.3, 0.5, 1.3, 1.31, 0.7]
    m = run(times, levels, [])
    assert (m["dropouts"], m["rises"], m["singles_plausible"], m["singles_short"]) == (1, 0, 0, 0)
    held = [ev(0, "proposed", 4, "observed", proposal="raise")]  # still open over the dropout
    assert run(times, levels, held)["dropouts_proposed"] == 1
    # the same shape from below danger all along is a rise
    rising = [0.3, 0.4, 0.5, 1.3, 1.31, 0.7]
    m = run(times, rising, [])
    assert (m["dropouts"], m["rises"]) == (0, 1)
