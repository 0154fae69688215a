"""The engine on cuts of the real crisis-gauge data (tests/alerts/data/tune) where the
replay of the whole shared data set found it wrong (bench/README.md, "Replay"): each
test replays one gauge through the evaluator and area decisions with the default rules
and staff who approve everything at once (``auto``) or nobody (``never``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerts import replay_cli

DATA = Path(__file__).parent / "data" / "tune"


def replay(station: str, approve: str, tmp_path: Path) -> list[dict]:
    timeline = tmp_path / f"{station}-{approve}.jsonl"
    replay_cli.run(
        stations=DATA / "stations.csv",
        readings=DATA / "observations.csv",
        only=[station],
        approve=approve,  # type: ignore[arg-type]
        timeline=timeline,
    )
    lines = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines()]
    return [e for e in lines if e["event"] != "staff_notice"]


def public_levels(events: list[dict]) -> list[tuple[str, int | None]]:
    return [(e["time"], e["level"]) for e in events if e["public"] and e["event"] in ("issued", "changed")]


@pytest.mark.parametrize(
    "station",
    [
        "0300000205",  # 197.54 m (danger 195.95 m) after a silence, the same again, stuck for days
        "0100000141",  # 12.44 m (danger 10.19 m) after a silence, the same for hours
    ],
)
def test_a_repeated_value_above_danger_is_no_rise_and_is_not_proposed(station, tmp_path):
    # it was proposed as "plausible" (the repeat passed as a rise of 0 m/h) and staff
    # approving it made a stuck sensor public level 4
    for approve in ("auto", "never"):
        events = replay(station, approve, tmp_path)
        assert not [
            e
            for e in events
            if e["event"] == "proposed" and (e["level"] or 0) >= 4 and e["reason"] == "unverified"
        ], approve
    assert not [lvl for _, lvl in public_levels(replay(station, "auto", tmp_path)) if (lvl or 0) >= 3]


def test_a_gauge_falling_from_snow_readings_does_not_confirm_danger(tmp_path):
    # 8400000093: 30.57, 18.47, 17.6 m (out of range: danger 14.59 m + 3 m), then 16.66,
    # 15.48 m "falling" through danger: two differing readings above it confirmed level 4
    events = replay("8400000093", "auto", tmp_path)
    assert not [lvl for _, lvl in public_levels(events) if (lvl or 0) >= 3]


@pytest.mark.parametrize("station", ["0400000068", "2100000399"])
def test_a_level_staff_lifted_on_verify_is_not_reissued_on_no_data(station, tmp_path):
    # the gauge went silent at level 4: "verify" (no data), approved, lifted — and the
    # silence itself proposed level 4 again (reason no_data), which staff approved
    events = replay(station, "auto", tmp_path)
    assert not [
        e
        for e in events
        if e["event"] in ("issued", "changed") and e["reason"] in ("no_data", "sensor_fault")
    ]
    assert not [
        e
        for e in events
        if e["event"] == "proposed"
        and e.get("proposal") == "raise"
        and e["reason"] in ("no_data", "sensor_fault")
    ]


def test_a_rise_through_danger_stays_proposed_while_a_repeat_awaits_confirmation(tmp_path):
    # 3800000150, 1 July 2026: 9.22 → 9.73 → 9.74 m (danger 9.69 m): the two readings above
    # differ by 1 cm, so they do not confirm the stage, but the crossing was a rise water
    # makes: the level-4 proposal stays open for staff until the stage is confirmed
    events = replay("3800000150", "never", tmp_path)
    raised = [e for e in events if e["event"] == "proposed" and e["level"] == 4]
    assert raised and raised[0]["time"] <= "2026-07-01T23:21:00Z"
    withdrawn = [e for e in events if e["event"] == "withdrawn" and e["time"] <= "2026-07-02T01:31:00Z"]
    assert not withdrawn


def test_a_forecast_after_a_spike_follows_the_water_not_the_spike(tmp_path):
    """3400000054, 2025-11-23: 380.99 → 382.86 (a spike: QC flags it) → 382.33 → 382.80 m.
    The newest reading is below the spike, but the water (380.99 → 382.33) still rises,
    and it rose further at the next reading: the level-4 forecast at 05:50 is right. The
    backtest's "forecast while falling" case, explained."""
    events = replay("3400000054", "never", tmp_path)
    at = [e for e in events if e["time"] == "2025-11-23T05:50:00Z" and e["event"] == "proposed"]
    assert [(e["reason"], e["level"]) for e in at] == [("forecast", 4)]
    assert not any(e["public"] for e in events)  # nobody acted: nothing reached residents


def test_a_forecast_that_comes_and_goes_does_not_issue_lift_and_issue_again(tmp_path):
    # 165.27 m (a forecast of 警戒レベル2 at 165.32 m), 165.48, 165.17, 165.52, 165.34,
    # 165.17, 165.05, 165.52 m…, hourly, then up to 166.11 m: the level was lifted at
    # 165.17 m and issued again an hour later, twice (four reversals in 6 h)
    events = replay("1000000107", "never", tmp_path)
    assert [(e["time"], e["event"], e["level"]) for e in events if e["public"]] == [
        ("2025-09-22T20:50:00Z", "issued", 2)
    ]


def test_a_lone_reading_after_a_plausible_rise_is_proposed_and_taken_back_untold(tmp_path):
    # 53.08 m, 4 h 50 min of silence, 56.52 m (danger 56.08 m): a rise water can make in
    # that time; the next reading, 53.09 m, takes it back
    events = replay("0300000223", "never", tmp_path)
    proposed = [e for e in events if e["event"] == "proposed"]
    assert [(e["time"], e["level"], e["reason"]) for e in proposed] == [
        ("2025-11-03T17:50:00Z", 4, "unverified")
    ]
    withdrawn = [e for e in events if e["event"] == "withdrawn"]
    assert [e["time"] for e in withdrawn] == ["2025-11-03T18:50:00Z"]
    assert not [e for e in events if e["public"]]


@pytest.mark.parametrize(
    "station",
    [
        "1900000278",  # back at the value it was stuck at (flagged flat line) for a day
        "2000000129",  # two hours after reading 6 m above danger (out of range) twice
    ],
)
def test_a_gauge_caught_faulting_up_there_is_not_trusted_by_one_reading(station, tmp_path):
    # staff approving everything made each a public level 4 on one reading
    for approve in ("auto", "never"):
        events = replay(station, approve, tmp_path)
        assert not [e for e in events if e["event"] == "proposed" and (e["level"] or 0) >= 4], approve
        assert not [lvl for _, lvl in public_levels(events) if (lvl or 0) >= 3], approve
