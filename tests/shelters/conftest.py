"""Fixtures and small factories for the shelter tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kawamori import db
from kawamori.model import Hazard, ShelterStatus
from shelters.opendata import parse_file
from shelters.recommend import ShelterState
from shelters.registry import import_records

SAMPLES = Path(__file__).resolve().parents[2] / "shelters" / "samples"
SAMPLE_CSV = SAMPLES / "tsuruoka-shelters.csv"
SAMPLE_GEOJSON = SAMPLES / "tsuruoka-shelters.geojson"
DATA = Path(__file__).resolve().parent / "data"
# a municipality's list of opened shelters after the 2024-01-01 earthquake (tsunami
# warning), in the national layout: 29 rows with every problem real files have
OPENED_UTF8 = DATA / "tsuruoka-opened-2024-01-01-utf8.csv"
OPENED_SJIS = DATA / "tsuruoka-opened-2024-01-01-sjis.csv"
NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


def sample_records():
    return parse_file(SAMPLE_CSV.name, SAMPLE_CSV.read_bytes(), now=NOW).records


def make_state(
    id: str = "s1",
    *,
    latitude: float = 38.77,
    longitude: float = 139.88,
    capacity: int = 100,
    occupancy: int = 0,
    status: ShelterStatus = ShelterStatus.open,
    hazards: frozenset[Hazard] = frozenset({Hazard.flood, Hazard.earthquake}),
) -> ShelterState:
    return ShelterState(
        id=id,
        name_ja=f"避難所{id}",
        name_en=f"Shelter {id}",
        latitude=latitude,
        longitude=longitude,
        capacity=capacity,
        occupancy=occupancy,
        status=status,
        hazards=hazards,
    )


@pytest.fixture
def shelter_db(demo_db: str) -> str:
    """The demo network plus the sample shelter file (20 shelters in Tsuruoka)."""
    with db.connect(demo_db) as conn:
        import_records(conn, sample_records())
    return demo_db
