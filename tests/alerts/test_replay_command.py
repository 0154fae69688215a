"""``kawamori alerts replay`` (alerts.replay, replay_io, replay_cli) on small cuts of the
real crisis-gauge data (tests/alerts/data/replay) and on synthetic series: both input
formats, every option, bad input, the timeline's documented format, linearity."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from alerts import replay as replay_mod
from alerts.replay_io import read_stations
from alerts.rules import DEFAULT
from kawamori.model import Station, crisis_gauge_stages
from kawamori_app.cli import app

DATA = Path(__file__).parent / "data" / "replay"
STATIONS, OBSERVATIONS, READINGS, NETWORK = (
    DATA / "stations.csv",
    DATA / "observations.csv",
    DATA / "readings.csv",
    DATA / "network.yaml",
)
KUWANO, STUCK = "8800000052", "4321300007"  # a real flood; a sensor stuck at 40.71 m
runner = CliRunner()


class TimelineLine(BaseModel):
    """The timeline format documented in docs/alerts.md ("Replay")."""

    model_config = ConfigDict(extra="allow", strict=True)

    time: str = Field(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
    area: str = Field(min_length=1)
    stations: list[str]
    event: Literal["proposed", "issued", "changed", "lift_proposed", "lifted", "withdrawn", "staff_notice"]
    level: int | None = Field(ge=1, le=5)
    public: bool
    reason: str | None
    proposal: Literal["raise", "lower", "lift", "verify"] | None = None
    revision: int | None = None
    level_m: float | None = None
    eta: str | None = None
    decided_by: Literal["staff", "policy"] | None = None
    notice: Literal["unverified", "sensor", "offline"] | None = None
    state: Literal["open", "closed"] | None = None


def run(*args: str | Path, tmp_path: Path | None = None) -> tuple[int, str, list[dict]]:
    timeline = (tmp_path or Path("/nonexistent")) / "timeline.jsonl"
    argv = ["alerts", "replay", "--no-progress", *map(str, args)]
    if tmp_path is not None:
        argv += ["--timeline", str(timeline)]
    result = runner.invoke(app, argv)
    lines = []
    if tmp_path is not None and timeline.exists():
        lines = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines()]
    return result.exit_code, result.output, lines


def check_timeline(lines: list[dict]) -> None:
    for line in lines:
        TimelineLine.model_validate(line)
    times = [datetime.fromisoformat(line["time"]) for line in lines]
    assert times == sorted(times), "the timeline is in time order"


# -- both formats, the documented timeline ---------------------------------------------------------


def test_both_input_formats_give_the_same_valid_timeline(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code, out, shared = run("--stations", STATIONS, "--readings", OBSERVATIONS, tmp_path=tmp_path / "a")
    assert code == 0, out
    code, out, export = run("--stations", STATIONS, "--readings", READINGS, tmp_path=tmp_path / "b")
    assert code == 0, out
    assert shared and shared == export
    check_timeline(shared)
    assert "Events by type and reason" in out and "evaluations per CPU second" in out


def test_gzip_readings_are_read(tmp_path):
    gz = tmp_path / "observations.csv.gz"
    gz.write_bytes(gzip.compress(OBSERVATIONS.read_bytes()))
    code, out, lines = run("--stations", STATIONS, "--readings", gz, tmp_path=tmp_path)
    assert code == 0, out
    assert lines


def test_a_real_flood_is_proposed_and_issued_and_a_stuck_sensor_is_not(tmp_path):
    code, out, lines = run("--stations", STATIONS, "--readings", OBSERVATIONS, tmp_path=tmp_path)
    assert code == 0, out
    kuwano = [e for e in lines if e["area"] == KUWANO and e["event"] != "staff_notice"]
    first = kuwano[0]
    # the first reading above danger (4.01 m after 2.9 m) is a plausible rise: proposed at once
    assert (first["event"], first["level"], first["public"]) == ("proposed", 4, False)
    assert first["time"] == "2026-06-02T15:10:00Z" and first["reason"] == "unverified"
    assert (kuwano[1]["event"], kuwano[1]["level"], kuwano[1]["public"]) == ("issued", 4, True)
    # the next reading (17:20) confirms it: the issued level stands until then
    assert not any(e["event"] == "lifted" and e["time"] <= "2026-06-02T17:20:00Z" for e in kuwano)
    stuck = [e for e in lines if e["area"] == STUCK]
    assert not any(e["public"] and (e["level"] or 0) >= 3 for e in stuck)
    assert {"sensor_fault"} <= {e["reason"] for e in stuck if e["event"] == "staff_notice"}


def test_approve_never_issues_nothing_of_level_3_or_more(tmp_path):
    code, out, lines = run(
        "--stations", STATIONS, "--readings", OBSERVATIONS, "--approve", "never", tmp_path=tmp_path
    )
    assert code == 0, out
    check_timeline(lines)
    assert any(e["event"] == "proposed" and e["level"] == 4 for e in lines)
    assert not any(e["event"] in ("issued", "changed") and (e["level"] or 0) >= 3 for e in lines)
    assert not any(e["public"] for e in lines if (e["level"] or 0) >= 3)


# -- options -----------------------------------------------------------------------------------------


def test_station_and_time_window_select_readings(tmp_path):
    code, out, lines = run(
        "--stations", STATIONS, "--readings", OBSERVATIONS, "--station", KUWANO,
        "--from", "2026-06-02T00:00", "--to", "2026-06-02T22:00Z", tmp_path=tmp_path,
    )  # fmt: skip
    assert code == 0, out
    assert lines and {e["area"] for e in lines} == {KUWANO}
    assert all("2026-06-02T00:00" <= e["time"] <= "2026-06-02T22:00:00Z" for e in lines)
    assert re.search(r"Replayed \d+ readings of 1 stations", out)


def test_a_network_file_groups_stations_into_areas(tmp_path):
    code, out, lines = run(
        "--stations", STATIONS, "--readings", OBSERVATIONS, "--network", NETWORK, tmp_path=tmp_path
    )
    assert code == 0, out
    areas = {e["area"] for e in lines if e["stations"][0] in (KUWANO, STUCK)}
    assert areas == {"area-test"}
    # the network alone gives stations too (its other stations' readings are then unknown)
    code, out, _ = run("--stations", NETWORK, "--readings", OBSERVATIONS)
    assert code == 2 and "unknown station" in out


def test_rules_file_changes_the_rules(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("slow_interval_min: 60\noffline_min_wait_min: 240\n", encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, _, default = run("--stations", STATIONS, "--readings", OBSERVATIONS, tmp_path=tmp_path / "a")
    code, out, hourly = run(
        "--stations", STATIONS, "--readings", OBSERVATIONS, "--rules", rules, tmp_path=tmp_path / "b"
    )
    assert code == 0, out

    def offline(lines):
        return sum(e.get("notice") == "offline" for e in lines)

    assert offline(hourly) < offline(default)
    rules.write_text("confirm_count: 0\n", encoding="utf-8")
    code, out, _ = run("--stations", STATIONS, "--readings", OBSERVATIONS, "--rules", rules)
    assert code == 2 and "confirm_count" in out


# -- bad input ---------------------------------------------------------------------------------------


H = "code,observed_at,level_m\n"


@pytest.mark.parametrize(
    ("stations", "readings", "expected"),
    [
        pytest.param(None, "code,observed_at\n1,2026-01-01Z\n", "missing columns", id="columns"),
        pytest.param(None, H + "8800000052,yesterday,1.0\n", ":2: time 'yesterday'", id="bad-date"),
        pytest.param(None, H + "8800000052,2026-01-01T00:00,1.0\n", "no UTC offset", id="naive-date"),
        pytest.param(None, H + "8800000052,2026-01-01T00:00Z,high\n", ":2: level_m 'high'", id="bad-level"),
        pytest.param(None, H + "9999,2026-01-01T00:00Z,1.0\n", ":2: unknown station '9999'", id="unknown"),
        pytest.param(None, "", "is empty", id="empty-readings"),
        pytest.param("", None, "is empty", id="empty-stations"),
        pytest.param("code,danger_level_m\n1,3\n", None, ":1: missing column start_", id="st-columns"),
        pytest.param("code,start_level_m,danger_level_m\n1,3,2\n", None, ":2: station 1:", id="levels"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, stations, readings, expected):
    s, r = tmp_path / "stations.csv", tmp_path / "readings.csv"
    s.write_text(STATIONS.read_text(encoding="utf-8") if stations is None else stations, encoding="utf-8")
    r.write_text(OBSERVATIONS.read_text(encoding="utf-8") if readings is None else readings, encoding="utf-8")
    result = runner.invoke(
        app, ["alerts", "replay", "--no-progress", "--stations", str(s), "--readings", str(r)]
    )
    assert result.exit_code == 2, result.output
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--from", "June"], "--from 'June' is not an ISO 8601 time"),
        (["--from", "2026-06-02", "--to", "2026-06-01"], "is before --from"),
        (["--station", "nope"], "--station: unknown station nope"),
        (["--approve", "sometimes"], "sometimes"),
    ],
)
def test_bad_options_are_clear_errors(option, expected):
    result = runner.invoke(
        app,
        [
            "alerts",
            "replay",
            "--no-progress",
            "--stations",
            str(STATIONS),
            "--readings",
            str(OBSERVATIONS),
            *option,
        ],
    )
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())


def test_the_bare_command_still_runs_the_service_and_shows_replay_in_its_help():
    result = runner.invoke(app, ["alerts", "--help"])
    assert result.exit_code == 0
    assert "replay" in result.output and "--tick" in result.output


# -- linear in the data ------------------------------------------------------------------------------


def synthetic(n: int, *, every_min: float = 10) -> list[tuple[float, str, float, int]]:
    t0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    return [(t0 + i * every_min * 60, "s1", 2.0 + (i % 50) * 0.05, 0) for i in range(n)]


def station() -> dict:
    s = Station(
        id="s1", name_ja="試験", name_en="Test", river_ja="試験川", river_en="Test River",
        latitude=35, longitude=135, mount_height_m=20, level_min_m=0, level_max_m=20,
        stages=crisis_gauge_stages(2.5, 4.0),
    )  # fmt: skip
    return replay_mod.gauges([s])


@pytest.mark.parametrize("n", [500, 2000])
def test_one_evaluation_per_reading_and_a_bounded_window(n):
    summary = replay_mod.replay(station(), synthetic(n))
    assert summary.readings == n
    assert summary.evaluations == n + summary.wakeups
    assert summary.wakeups <= 2  # only after the last reading: offline, then no data
    bound = DEFAULT.window / timedelta(minutes=10) + 1
    assert summary.max_window <= bound  # however long the history


def test_silent_stations_are_woken_once_per_silence_not_every_tick():
    readings = [r for i, r in enumerate(synthetic(300)) if (i // 30) % 2 == 0]  # 5 h on, 5 h off
    summary = replay_mod.replay(station(), readings)
    assert 5 <= summary.wakeups <= 10  # at most two per silence (offline; no data), not every 30 s
    assert summary.evaluations == len(readings) + summary.wakeups


def test_the_shared_stations_file_reads_every_gauge():
    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "jp-crisis-gauges" / "stations.csv"
    # CI and every developer machine have shared/ beside the clone: a missing data set is a failure
    assert shared.exists(), f"the shared data set is not beside the repository ({shared})"
    assert len(read_stations(shared).stations) == 4053


def test_events_serialise_as_documented():
    event = replay_mod.Event(
        datetime(2026, 6, 2, 15, 10, tzinfo=UTC) + timedelta(seconds=30),
        "a",
        ("s1",),
        "issued",
        4,
        True,
        "observed",
    )
    TimelineLine.model_validate(event.to_json())
    assert event.to_json()["time"] == "2026-06-02T15:10:30Z"


def test_the_timeline_format_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = doc.split("## Replay: test your rules on your own history / 過去データで判定ルールを試す", 1)[1]
    for event in replay_mod.EVENTS:
        assert f"| `{event}` |" in section, f"timeline event {event} is not documented"
    for name in TimelineLine.model_fields:
        assert f"`{name}`" in section, f"timeline field {name} is not documented"


def test_a_municipality_tests_its_own_approval_policy(tmp_path):
    """--policy: a city whose written criteria issue level 4 by themselves sees it issued
    with nobody acting; lifting it stays a staff decision (never configurable away)."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("approval_from_level: 5\n", encoding="utf-8")
    code, out, lines = run(
        "--stations",
        STATIONS,
        "--readings",
        OBSERVATIONS,
        "--approve",
        "never",
        "--policy",
        policy,
        "--station",
        KUWANO,
        tmp_path=tmp_path,
    )
    assert code == 0, out
    issued = [e for e in lines if e["event"] in ("issued", "changed") and e["level"] == 4]
    assert issued and all(e["public"] and e["decided_by"] == "policy" for e in issued)
    assert not any(e["event"] == "lifted" for e in lines)
    policy.write_text("staff_lowers_from: 4\n", encoding="utf-8")
    code, out, _ = run("--stations", STATIONS, "--readings", OBSERVATIONS, "--policy", policy)
    assert code == 2 and "staff_lowers_from" in out and str(policy) in out
