"""Steering a running simulator (simulator/control.py): a restarted fleet goes on with a
flood that is still going on, and forgets the ones that are over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from simulator.control import Control, over
from simulator.hydrograph import Event, response

T0 = datetime(2026, 9, 1, 3, 0, tzinfo=UTC)


def typhoon(start: datetime = T0, minutes: float = 20) -> Event:
    return Event(start=start, time_to_peak=timedelta(minutes=minutes))


def test_a_restarted_fleet_goes_on_with_the_typhoon_it_was_running(tmp_path):
    first = Control(tmp_path)
    first.claim(T0)
    first.add(typhoon())
    first.release()

    again = Control(tmp_path)
    again.claim(T0 + timedelta(minutes=25))  # near the peak: the typhoon goes on
    assert again.events() == (typhoon(),)


def test_events_that_are_over_are_forgotten_at_a_restart(tmp_path):
    control = Control(tmp_path)
    control.claim(T0)
    control.add(typhoon(T0 - timedelta(days=2)))
    control.add(typhoon())
    Control(tmp_path).claim(T0 + timedelta(minutes=5))
    assert Control(tmp_path).events() == (typhoon(),)
    Control(tmp_path).claim(T0 + timedelta(days=1))
    assert Control(tmp_path).events() == ()


def test_a_file_from_another_version_starts_afresh(tmp_path):
    control = Control(tmp_path)
    control.claim(T0)
    control.events_file.write_text('[{"start": "yesterday"}]')
    control.claim(T0)
    assert control.events() == ()


@given(
    minutes=st.floats(min_value=1, max_value=600),
    shape=st.floats(min_value=1, max_value=6),
    after=st.floats(min_value=0, max_value=3 * 24 * 60),
)
def test_an_event_is_over_only_once_it_no_longer_raises_the_rivers(minutes, shape, after):
    event = Event(start=T0, time_to_peak=timedelta(minutes=minutes), shape=shape)
    now = T0 + timedelta(minutes=after)
    if over(event, now):
        # past the peak at every reach, and below a thousandth of it at the last one
        assert after > minutes
        lag = 10 * event.lag_per_reach.total_seconds()
        assert response(after * 60 - lag, minutes * 60, shape) < 1e-3
    if after <= minutes:
        assert not over(event, now)
