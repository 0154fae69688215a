"""Finding 12 (the API part): ``/api/stations/{id}/readings`` returned up to a year of
raw readings in one answer, to anyone. Now every answer has at most ``limit`` points
(5,000 at most) and the ``Link`` header pages through the rest, oldest last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.routers.stations import MAX_POINTS
from kawamori import db

STATION = "kyoden-jumonji"
COUNT = 12_000


def test_a_year_of_readings_comes_in_capped_pages(stack):
    now = datetime.now(UTC).replace(microsecond=0)
    with db.connect(stack.database_url) as conn:
        conn.execute(
            """INSERT INTO readings (station_id, time, level_m)
               SELECT %s, %s - make_interval(mins => g * 40), 1.0 + g / 100000.0
                 FROM generate_series(1, %s) g""",
            (STATION, now, COUNT),
        )  # 12,000 readings, one every 40 minutes: 333 days
    with stack.client("203.0.113.9") as http:
        first = http.get(f"/api/stations/{STATION}/readings", params={"hours": 24 * 366})
        assert first.status_code == 200
        assert len(first.json()) == MAX_POINTS  # no longer everything at once
        assert "too many" not in first.text
        times, url = [], f"/api/stations/{STATION}/readings?hours={24 * 366}&limit=5000"
        while url:
            page = http.get(url)
            assert page.status_code == 200 and len(page.json()) <= MAX_POINTS
            times = [p["time"] for p in page.json()] + times
            url = page.links.get("next", {}).get("url")
        too_many = http.get(f"/api/stations/{STATION}/readings", params={"limit": MAX_POINTS + 1})
        assert too_many.status_code == 422
    assert len(times) == COUNT == len(set(times))
    assert times == sorted(times)
    newest = datetime.fromisoformat(times[-1])
    assert newest == now - timedelta(minutes=40)
