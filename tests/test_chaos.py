"""The bounded chaos test of the whole dev stack (issue 20, findings 14–17 kept fixed):
``kawamori up`` with 50 gauges running the real firmware while every kind of process —
ingest, the evaluator, the dashboard, the door-counter listener, the simulator, the
embedded PostgreSQL and Mosquitto, and the supervisor itself — is SIGKILLed in turn.
``bench/chaos.py`` is the long version (its table is in bench/README.md)."""

from __future__ import annotations

import pytest

from bench.chaos import KINDS, run, table


@pytest.mark.timeout(600)
def test_whole_stack_survives_sigkill_of_every_process_kind():
    report = run(gauges=50, seconds=150, quiet_s=35, every_s=(6.0, 9.0), seed=20, say=lambda _: None)
    print(table(report))
    assert {kill.kind for kill in report.kills} == set(KINDS)  # every kind killed at least once
    # the core promise: every reading a gauge took is stored once
    assert report.taken > 0 and report.acknowledged == report.taken
    assert (report.stored, report.lost, report.duplicated) == (report.taken, 0, 0)
    # every component came back by itself (the supervisor: started again, as systemd would)
    assert all(kill.back_s is not None for kill in report.kills), table(report)
    assert report.all_back and report.final_health == 200
    # /api/health told the truth throughout and always answered quickly
    assert report.health_lies == [], report.health_lies
    assert report.truthful_503s > 0  # it did see the outages
    assert report.slowest_health_s < 2.5
