from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kawamori import texts
from kawamori.model import Hazard, ShelterStatus
from shelters.recommend import (
    MAX_EXPLAINED,
    DangerArea,
    Reason,
    ShelterIndex,
    distance_m,
    reasons,
    recommend_linear,
)
from tests.shelters.conftest import make_state

HERE = (38.77, 139.88)


def square(area_id: str, lat: float, lon: float, half: float, level: int = 4) -> DangerArea:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return DangerArea(
        area_id, f"区域{area_id}", f"Area {area_id}", level, {"type": "Polygon", "coordinates": [ring]}
    )


def ids(recommendation) -> list[str]:
    return [r.shelter.id for r in recommendation.chosen]


def test_distance_is_haversine():
    assert distance_m(38.0, 140.0, 38.0, 140.0) == 0
    assert distance_m(38.0, 140.0, 39.0, 140.0) == pytest.approx(111_195, rel=1e-3)


def test_nearer_shelters_are_passed_over_with_their_reasons():
    lat, lon = HERE
    shelters = [
        make_state("closed", latitude=lat + 0.001, longitude=lon, status=ShelterStatus.closed),
        make_state("preparing", latitude=lat + 0.002, longitude=lon, status=ShelterStatus.preparing),
        make_state("full", latitude=lat + 0.003, longitude=lon, occupancy=85),
        make_state("quake-only", latitude=lat + 0.004, longitude=lon, hazards=frozenset({Hazard.earthquake})),
        make_state("flooded", latitude=lat + 0.005, longitude=lon + 0.02),
        make_state("no-capacity", latitude=lat + 0.006, longitude=lon, capacity=0),
        make_state("good-1", latitude=lat + 0.010, longitude=lon, occupancy=79),
        make_state("good-2", latitude=lat - 0.020, longitude=lon),
        make_state("far", latitude=lat + 0.5, longitude=lon),
    ]
    areas = [square("river", lat + 0.005, lon + 0.02, 0.003)]
    answer = ShelterIndex(shelters, areas).recommend(latitude=lat, longitude=lon, hazard=Hazard.flood, k=2)
    assert ids(answer) == ["good-1", "good-2"]
    why = {r.shelter.id: [w.reason for w in r.reasons] for r in answer.excluded}
    assert why == {
        "closed": [Reason.closed],
        "preparing": [Reason.preparing],
        "full": [Reason.full],
        "quake-only": [Reason.unsafe_for_hazard],
        "flooded": [Reason.in_alert_area],
        "no-capacity": [Reason.no_capacity],
    }
    flooded = next(r for r in answer.excluded if r.shelter.id == "flooded")
    assert flooded.reasons[0].area_id == "river"
    assert "警戒レベル4" in flooded.reasons[0].ja and "alert level 4" in flooded.reasons[0].en
    document = answer.as_dict()
    assert document["shelters"][0]["crowding"] == "crowded"
    assert document["excluded"][0]["reasons"][0] == {"code": "closed", "ja": "閉鎖中", "en": "closed"}
    assert answer == recommend_linear(shelters, areas, latitude=lat, longitude=lon, hazard=Hazard.flood, k=2)


@pytest.mark.parametrize("hazard", list(Hazard))
def test_a_shelter_not_designated_for_the_hazard_names_it(hazard):
    elsewhere = make_state("q", hazards=frozenset(set(Hazard) - {hazard}))
    (why,) = reasons(elsewhere, hazard, [])
    name = {language: texts.say(f"shelters.hazards.{hazard}", language) for language in texts.LANGUAGES}
    assert why.reason is Reason.unsafe_for_hazard and all(name.values())
    assert name["ja"] in why.ja and name["en"] in why.en


def test_no_eligible_shelter_explains_every_one_and_empty_index_answers():
    shelters = [make_state(f"c{i}", latitude=38.7 + i / 100, status=ShelterStatus.closed) for i in range(5)]
    answer = ShelterIndex(shelters).recommend(latitude=38.7, longitude=139.88, hazard=Hazard.flood)
    assert answer.chosen == () and len(answer.excluded) == 5
    many = [make_state(f"c{i}", latitude=38.7 + i / 1000, status=ShelterStatus.closed) for i in range(30)]
    answer = ShelterIndex(many).recommend(latitude=38.7, longitude=139.88, hazard=Hazard.flood)
    assert len(answer.excluded) == MAX_EXPLAINED and answer.more_excluded == 10
    empty = ShelterIndex([]).recommend(latitude=38.7, longitude=139.88, hazard=Hazard.flood)
    assert empty.chosen == () and empty.excluded == ()


def test_the_hazard_decides_which_shelters_are_safe():
    lat, lon = HERE
    shelters = [
        make_state("flood", latitude=lat + 0.001, longitude=lon, hazards=frozenset({Hazard.flood})),
        make_state("slide", latitude=lat + 0.002, longitude=lon, hazards=frozenset({Hazard.landslide})),
    ]
    index = ShelterIndex(shelters)
    assert ids(index.recommend(latitude=lat, longitude=lon, hazard=Hazard.landslide, k=1)) == ["slide"]
    assert ids(index.recommend(latitude=lat, longitude=lon, hazard=Hazard.flood, k=1)) == ["flood"]


def test_a_temporary_shelter_is_offered_and_labelled_a_closer_undesignated_one_is_not():
    lat, lon = HERE
    shelters = [
        make_state("quake-only", latitude=lat + 0.001, longitude=lon, hazards=frozenset({Hazard.earthquake})),
        replace(make_state("hall", latitude=lat + 0.002, longitude=lon, hazards=frozenset()), temporary=True),
        make_state("unknown", latitude=lat + 0.0005, longitude=lon, capacity=0),
    ]
    for answer in (
        ShelterIndex(shelters).recommend(latitude=lat, longitude=lon, hazard=Hazard.flood, k=1),
        recommend_linear(shelters, [], latitude=lat, longitude=lon, hazard=Hazard.flood, k=1),
    ):
        assert ids(answer) == ["hall"]
        out = answer.as_dict()
        assert out["shelters"][0]["temporary"] and out["shelters"][0]["kind_ja"].startswith("臨時避難所")
        why = {item["id"]: [r["code"] for r in item["reasons"]] for item in out["excluded"]}
        assert why == {"unknown": ["no_capacity"], "quake-only": ["unsafe_for_hazard"]}


coordinate = st.tuples(st.floats(38.0, 39.5), st.floats(139.0, 140.5))
states = st.builds(
    lambda i, where, capacity, occupancy, status, hazards: make_state(
        f"h{i}",
        latitude=where[0],
        longitude=where[1],
        capacity=capacity,
        occupancy=occupancy,
        status=status,
        hazards=hazards,
    ),
    st.integers(0, 10**6),
    coordinate,
    st.integers(0, 200),
    st.integers(0, 250),
    st.sampled_from(list(ShelterStatus)),
    st.frozensets(st.sampled_from([Hazard.flood, Hazard.landslide, Hazard.earthquake]), min_size=1),
)
areas = st.lists(
    st.builds(
        lambda i, where, half: square(f"a{i}", where[0], where[1], half),
        st.integers(0, 10**6),
        coordinate,
        st.floats(0.01, 0.3),
    ),
    max_size=4,
    unique_by=lambda a: a.id,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(states, max_size=60, unique_by=lambda s: s.id),
    areas,
    coordinate,
    st.sampled_from([Hazard.flood, Hazard.landslide]),
    st.integers(1, 6),
)
def test_the_index_gives_the_reference_answer(shelters, danger, point, hazard, k):
    expected = recommend_linear(shelters, danger, latitude=point[0], longitude=point[1], hazard=hazard, k=k)
    actual = ShelterIndex(shelters, danger).recommend(
        latitude=point[0], longitude=point[1], hazard=hazard, k=k
    )
    assert actual == expected
    chosen = [r.distance_m for r in actual.chosen]
    assert chosen == sorted(chosen) and all(not r.reasons for r in actual.chosen)
    assert all(r.reasons for r in actual.excluded)
    if len(actual.chosen) == k:  # only nearer shelters need explaining
        assert all(r.distance_m <= actual.chosen[-1].distance_m for r in actual.excluded)
    else:  # nothing else qualifies: every shelter is explained
        assert len(actual.chosen) + len(actual.excluded) + actual.more_excluded == len(shelters)
    assert len(actual.excluded) <= MAX_EXPLAINED


@settings(max_examples=60, deadline=None)
@given(
    st.lists(states, min_size=1, max_size=30, unique_by=lambda s: s.id),
    areas,
    coordinate,
    st.data(),
)
def test_live_state_refresh_equals_a_rebuild(shelters, danger, point, data):
    live = {
        s.id: (
            data.draw(st.sampled_from(list(ShelterStatus))),
            data.draw(st.integers(0, 250)),
            data.draw(st.integers(0, 200)),
        )
        for s in shelters
        if data.draw(st.booleans())
    }
    refreshed = ShelterIndex(shelters, danger).with_live_states(live)
    rebuilt_states = [
        replace(s, status=live[s.id][0], occupancy=live[s.id][1], capacity=live[s.id][2])
        if s.id in live
        else s
        for s in shelters
    ]
    rebuilt = ShelterIndex(rebuilt_states, danger)
    for hazard in (Hazard.flood, Hazard.landslide):
        query = {"latitude": point[0], "longitude": point[1], "hazard": hazard, "k": 3}
        assert refreshed.recommend(**query) == rebuilt.recommend(**query)
