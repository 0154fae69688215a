from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kawamori import db
from kawamori.model import Hazard, ShelterStatus
from shelters.counts import CountEvent, Kind, StatusEvent
from shelters.occupancy import record_counts, record_status
from shelters.service import NearestShelters, message_block, nearest
from tests.shelters.test_areas import issue

HOME = (38.775, 139.875)  # near Fujishima


def open_all(conn) -> None:
    ids = [r[0] for r in conn.execute("SELECT id FROM shelters").fetchall()]
    for shelter_id in ids:
        event = StatusEvent(uuid.uuid4(), ShelterStatus.open, datetime.now(UTC))
        record_status(conn, shelter_id=shelter_id, events=[event])


def test_nearest_follows_status_crowding_and_alerts(shelter_db):
    finder = NearestShelters()
    with db.connect(shelter_db) as conn:
        nothing = finder(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood)
        assert nothing.chosen == () and all(r.reasons[0].reason == "closed" for r in nothing.excluded)
        open_all(conn)
        first = finder(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood, k=3)
        assert len(first.chosen) == 3
        best = first.chosen[0].shelter
        # the best shelter fills up: the index is rebuilt and it is passed over as full
        full = CountEvent(uuid.uuid4(), Kind.set, best.capacity, datetime.now(UTC))
        record_counts(conn, shelter_id=best.id, events=[full])
        second = finder(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood, k=3)
        assert best.id not in [r.shelter.id for r in second.chosen]
        assert [w.reason for r in second.excluded if r.shelter.id == best.id for w in r.reasons] == ["full"]
        # level 4 is issued for the Fujishima area: shelters in it are passed over
        issue(conn, "area-fujishima", 4)
        third = finder(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood, k=3)
        flooded = [r for r in third.excluded if any(w.reason == "in_alert_area" for w in r.reasons)]
        assert flooded and all(w.area_id == "area-fujishima" for r in flooded for w in r.reasons if w.area_id)
        for r in third.chosen:
            assert not (139.855 <= r.shelter.longitude <= 139.915 and 38.715 <= r.shelter.latitude <= 38.790)
        assert nearest(conn, latitude=HOME[0], longitude=HOME[1], k=50).chosen  # k is capped, still answers
        # counts and status refresh the index; only places and danger areas rebuild it
        assert finder.rebuilds == 2  # the first build, then level 4 issued for the area


def test_message_block_in_both_languages(shelter_db):
    with db.connect(shelter_db) as conn:
        assert "ありません" in message_block(nearest(conn, latitude=HOME[0], longitude=HOME[1]))
        open_all(conn)
        answer = nearest(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood, k=2)
    ja, en = message_block(answer, lang="ja"), message_block(answer, lang="en")
    assert ja.startswith("近くの避難所:") and "km" in ja and "空いています" in ja
    assert en.startswith("Nearest shelters:") and answer.chosen[0].shelter.name_en in en and "Vacant" in en
    assert len(ja.splitlines()) == 3
    easy = message_block(answer, lang="ja-easy")  # やさしい日本語 readers are not sent English
    assert easy.startswith("ちかく の ひなんじょ:") and answer.chosen[0].shelter.name_ja in easy
    assert len(easy.splitlines()) == 3


def test_a_temporary_shelter_is_labelled_in_alert_messages(shelter_db):
    with db.connect(shelter_db) as conn:
        open_all(conn)
        nearest(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood, k=1)  # the index is cached
        conn.execute("UPDATE shelters SET temporary = true WHERE status = 'open'")
        answer = nearest(conn, latitude=HOME[0], longitude=HOME[1], hazard=Hazard.flood, k=1)
    assert answer.chosen and answer.chosen[0].shelter.temporary
    assert "（臨時避難所・約" in message_block(answer, lang="ja")
    assert "(temporary shelter, about" in message_block(answer, lang="en")
