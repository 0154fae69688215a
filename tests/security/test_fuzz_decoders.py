"""Fuzzing (hypothesis, a fixed seed) of what reads outside data: the MQTT payload
decoders every gauge message passes through, and the CSV / GeoJSON importers of
shelter open data and of the replay's crisis-gauge files. Each may answer only with
its documented result or rejection — never another exception."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.replay_io import ReplayInputError, read_readings, read_stations
from kawamori.contract import DecodedBatch, Rejection, Status, decode_readings, decode_status
from shelters.errors import ImportFailed
from shelters.opendata import HEADER, parse_csv, parse_geojson

NOW = datetime(2026, 9, 1, 5, 0, tzinfo=UTC)
FUZZ = settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
wire_keys = st.sampled_from(
    ["v", "seq", "t", "age", "level", "dist", "bat", "rssi", "q", "r", "online", "fw", "up"]
)
wire_objects = st.dictionaries(wire_keys, scalars | json_values, max_size=9)
readings_documents = st.fixed_dictionaries(
    {"v": st.just(1) | scalars},
    optional={"r": st.lists(wire_objects, max_size=20) | json_values, "seq": scalars, "level": scalars,
              "t": scalars, "age": scalars, "bat": scalars, "rssi": scalars, "q": scalars},
)  # fmt: skip


def to_bytes(document) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


@FUZZ
@given(st.binary(max_size=512) | json_values.map(to_bytes) | readings_documents.map(to_bytes))
def test_the_readings_decoder_only_decodes_or_rejects(payload):
    result = decode_readings(payload, received_at=NOW)
    assert isinstance(result, DecodedBatch | Rejection)
    if isinstance(result, DecodedBatch):
        for reading in result.readings:
            assert reading.seq >= 0 and reading.level_m == reading.level_m  # (never NaN)


@FUZZ
@given(st.binary(max_size=512) | (st.just({"v": 1}) | wire_objects).map(to_bytes) | json_values.map(to_bytes))
def test_the_status_decoder_only_decodes_or_rejects(payload):
    assert isinstance(decode_status(payload), Status | Rejection)


cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["1", "0", "○", "38.7", "139.8", "450人", "１２０", "-", "", "062031", "abc-1", "1e400", "nan"]
)


def shelter_csv(rows: list[list[str]], header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@FUZZ
@given(
    st.binary(max_size=512)
    | st.builds(
        shelter_csv,
        st.lists(st.lists(cells, min_size=len(HEADER) - 3, max_size=len(HEADER) + 1), max_size=6),
        st.just(HEADER) | st.permutations(HEADER).map(list),
    )
)
def test_the_shelter_csv_importer_imports_or_lists_problems(data):
    try:
        parsed = parse_csv(data, now=NOW)
    except ImportFailed as error:
        assert error.problems  # every refusal says why
    else:
        assert all(r.id and r.name_ja for r in parsed.records)


@FUZZ
@given(
    st.binary(max_size=512)
    | st.builds(
        lambda features: to_bytes({"type": "FeatureCollection", "features": features}),
        st.lists(
            json_values
            | st.fixed_dictionaries(
                {"type": st.just("Feature"), "geometry": json_values, "properties": json_values}
            ),
            max_size=5,
        ),
    )
)
def test_the_shelter_geojson_importer_imports_or_lists_problems(data):
    try:
        parse_geojson(data)  # (bad features are problems of the result)
    except ImportFailed as error:
        assert error.problems


@FUZZ
@given(
    stations=st.lists(st.tuples(cells, cells, cells), max_size=5),
    readings=st.lists(st.tuples(cells, cells, cells), max_size=8),
    raw=st.binary(max_size=200),
)
def test_the_replay_csv_readers_read_or_refuse(tmp_path_factory, stations, readings, raw):
    folder = Path(tmp_path_factory.mktemp("fuzz"))
    stations_csv, readings_csv = folder / "stations.csv", folder / "readings.csv"
    stations_csv.write_bytes(
        shelter_csv([list(s) for s in stations], ["code", "start_level_m", "danger_level_m"])
    )
    readings_csv.write_bytes(shelter_csv([list(r) for r in readings], ["code", "observed_at", "level_m"]))
    for path in (stations_csv, readings_csv):
        try:
            network = read_stations(stations_csv) if path is stations_csv else None
            if network is not None:
                read_readings(readings_csv, known={s.id for s in network.stations})
        except ReplayInputError as error:
            assert str(error)
    (folder / "raw.csv").write_bytes(raw)
    with contextlib.suppress(ReplayInputError):
        read_readings(folder / "raw.csv", known=set())
