"""Fixtures and small factories for the shelter tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kawamori import db
from kawamori.model import Hazard, ShelterStatus
from shelters.opendata import parse_file
from shelters.recommend import ShelterState
from shelters.registry import import_shelters

SAMPLES = Path(__file__).resolve().parents[2] / "shelters" / "samples"
SAMPLE_CSV = SAMPLES / "tsuruoka-shelters.csv"
SAMPLE_GEOJSON = SAMPLES / "tsuruoka-shelters.geojson"


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
        import_shelters(conn, parse_file(SAMPLE_CSV.name, SAMPLE_CSV.read_bytes()))
    return demo_db
