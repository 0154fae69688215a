"""``kawamori shelters …`` against a real database (settings come from the
environment the command is given, as in production; no broker URL is given: commands
that do not use the broker must not ask for it)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kawamori import db
from kawamori_app.cli import app
from shelters.sessions import open_session
from tests.shelters.conftest import OPENED_SJIS, OPENED_UTF8, SAMPLE_CSV, SAMPLE_GEOJSON

runner = CliRunner()


@pytest.fixture
def env(demo_db, tmp_path) -> dict[str, str]:
    return {"KAWAMORI_DATABASE_URL": demo_db, "KAWAMORI_DATA_DIR": str(tmp_path), "LANG": "C.UTF-8"}


def run(env: dict[str, str], *args: str):
    return runner.invoke(app, ["shelters", *args], env=env)


def rows(database_url: str, sql: str, *params) -> list[tuple]:
    with db.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


def test_migrate_and_import_need_no_broker_url(env, demo_db):
    migrated = runner.invoke(app, ["migrate"], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert "MQTT" not in migrated.output
    imported = run(env, "import", str(SAMPLE_CSV))
    assert imported.exit_code == 0, imported.output


def test_import_check_code_counter_and_nearest(env, demo_db):
    checked = run(env, "import", "--check", str(SAMPLE_CSV))
    assert checked.exit_code == 0, checked.output
    assert "20 shelters read" in checked.output and "20 added" in checked.output
    assert "nothing is written" not in checked.output and "Would change" in checked.output
    assert rows(demo_db, "SELECT count(*) FROM shelters WHERE id LIKE '062031-%%'") == [(0,)]
    first = run(env, "import", str(SAMPLE_CSV))
    assert first.exit_code == 0 and "20 added" in first.output
    again = run(env, "import", str(SAMPLE_GEOJSON))
    assert again.exit_code == 0 and "20 unchanged" in again.output, again.output

    issued = run(env, "code", "062031-0001")
    assert issued.exit_code == 0
    code = issued.stdout.strip().splitlines()[0]
    with db.connect(demo_db) as conn:
        token, _ = open_session(conn, shelter_id="062031-0001", code=code, now=datetime.now(UTC))
        assert token

    assert run(env, "counter", "kw-door-01", "062031-0001").exit_code == 0
    nearest = run(env, "nearest", "38.77", "139.87", "--hazard", "flood", "-k", "2")
    assert nearest.exit_code == 0 and "closed" in nearest.output  # everything is still closed


def test_the_opened_shelters_file_imports_with_a_summary_in_japanese(env, demo_db):
    """Done means: a municipality's own file imports with a readable summary in Japanese,
    and the shelters that were opened are open with their counts and times."""
    preview = run(env, "import", "--check", "--lang", "ja", str(OPENED_SJIS))
    assert preview.exit_code == 1  # rows with errors: a preview says so in its exit code
    out = preview.output
    assert "29行（Shift_JIS）" in out and "避難所 23件を読み込みました" in out
    assert "6行はエラーのため取り込みません" in out
    assert "緯度と経度が逆: 1件（17行目）" in out
    assert "閉じていない引用符: 1件（22行目）" in out  # on the line the quote opens
    assert "名称の文字化け: 1件（15行目）" in out
    assert "収容人数が空: 2件（8, 13行目）" in out
    assert "使わない列: 地方公共団体名, 名称_カナ, 標高, 電話番号, 対象となる町会・自治会, URL" in out
    assert "追加 23件" in out and "まだ書き込んでいません" in out
    assert "避難者数: 19件（列 人数_2024年1月1日21時00分時点）" in out
    assert rows(demo_db, "SELECT count(*) FROM shelters WHERE id LIKE '062031-%%'") == [(0,)]

    done = run(env, "import", "--open", "--lang", "ja", str(OPENED_SJIS))
    assert done.exit_code == 1, done.output  # imported, with the bad rows reported
    assert "取り込みました" in done.output and "開設: 23か所" in done.output
    assert "避難者数: 19件を記録" in done.output
    opened = rows(
        demo_db,
        """SELECT id, status, occupancy, status_changed_at FROM shelters WHERE id LIKE '062031-%%'
           ORDER BY id""",
    )
    assert len(opened) == 23 and {r[1] for r in opened} == {"open"}
    by_id = {r[0]: r for r in opened}
    at = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # 21:00 JST
    assert by_id["062031-0001"][2] == 576 and by_id["062031-0001"][3] == at
    assert by_id["062031-0004"][2] == 15  # １５ in full-width digits
    assert by_id["062031-0124"][2] == 12  # ID ０１２４ and count 12人
    audit = rows(
        demo_db,
        "SELECT source, entered_by, origin FROM shelter_count_events WHERE shelter_id = '062031-0001'",
    )
    assert audit[0][0] == "official" and audit[0][1].startswith("cli")
    assert audit[0][2] == "tsuruoka-opened-2024-01-01-sjis.csv: 人数_2024年1月1日21時00分時点, line 2"

    # the UTF-8 copy is the same file: nothing changes, nothing is counted twice
    utf8 = run(env, "import", "--open", "--lang", "en", str(OPENED_UTF8))
    assert "0 added, 0 changed, 23 unchanged" in utf8.output, utf8.output
    assert "head counts: 0 stored, 19 already there" in utf8.output

    listed = run(env, "list", "--csv", "--lang", "ja")
    assert listed.exit_code == 0
    table = list(csv.reader(io.StringIO(listed.stdout.lstrip("\ufeff"))))
    assert table[0] == ["ID", "名称", "種別", "状況", "避難者数", "収容人数", "混雑度", "集計時点"]
    kyoden = next(r for r in table if r[0] == "062031-0001")
    assert kyoden[3:] == ["開設", "576", "480", "× 満員", "2024-01-01 21:00"]  # 120 % of indoor 480
    temporary = next(r for r in table if r[0] == "062031-0011")
    assert temporary[2] == "臨時"
    unknown = next(r for r in table if r[0] == "062031-0007")
    assert unknown[5:7] == ["不明", "? 不明"]


def test_strict_imports_nothing_when_a_row_is_bad(env, demo_db):
    result = run(env, "import", "--strict", "--lang", "en", str(OPENED_UTF8))
    assert result.exit_code == 1 and "--strict: 6 rows have errors; nothing was imported" in result.output
    assert rows(demo_db, "SELECT count(*) FROM shelters WHERE id LIKE '062031-%%'") == [(0,)]


def test_bulk_open_close_counts_and_list(env, demo_db, tmp_path):
    assert run(env, "import", str(SAMPLE_CSV)).exit_code == 0
    opened = run(env, "open", "--hazard", "earthquake", "--at", "2024-01-01 16:30", "--lang", "en")
    assert opened.exit_code == 0, opened.output
    quake = rows(demo_db, "SELECT count(*) FROM shelters WHERE 'earthquake' = ANY(hazards)")[0][0]
    assert f"{quake} shelters now open (0 already were)" in opened.output
    assert run(env, "open", "062031-0001", "062031-0002").exit_code == 0
    unknown = run(env, "open", "062031-0001", "nowhere", "--lang", "en")
    assert unknown.exit_code == 2 and "unknown shelter(s): nowhere" in unknown.output
    assert run(env, "open", "--lang", "en").exit_code == 2

    counts = tmp_path / "counts.csv"
    counts.write_text(
        "ID,人数,時点\n062031-0001,35,2024-01-01 18:00\n062031-0002,１２人,1月1日18時\n", encoding="cp932"
    )
    loaded = run(env, "counts", str(counts), "--lang", "en")
    assert loaded.exit_code == 0, loaded.output
    assert "2 stored, 0 already there, 2 shelters updated" in loaded.output
    assert run(env, "counts", str(counts)).output.count("0 stored, 2 already there") == 1

    listed = run(env, "list", "--lang", "en")
    assert listed.exit_code == 0 and "062031-0001" in listed.output and "open" in listed.output
    closed = run(env, "close", "--all", "--lang", "ja")
    assert closed.exit_code == 0 and "「閉鎖」にしました" in closed.output
    assert rows(demo_db, "SELECT DISTINCT status FROM shelters") == [("closed",)]


def test_errors_are_clean_messages(env, tmp_path):
    missing = run(env, "import", str(tmp_path / "missing.csv"))
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    header = tmp_path / "header.csv"
    header.write_text("名前,緯度\nx,38\n", encoding="utf-8")
    no_columns = run(env, "import", str(header), "--lang", "en")
    assert no_columns.exit_code == 2 and "missing column(s): ID, 名称, 経度" in no_columns.output
    unknown = run(env, "code", "nowhere")
    assert unknown.exit_code == 2 and "unknown shelter" in unknown.output
    assert run(env, "counter", "kw-door-01", "nowhere").exit_code == 2


def test_the_report_shown_in_the_docs_is_what_the_command_prints(env):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "shelters.md").read_text(encoding="utf-8")
    example = docs.split("```text\n", 1)[1].split("```", 1)[0]
    printed = run(env, "import", "--check", "--lang", "ja", str(OPENED_SJIS)).output.splitlines()
    for line in example.splitlines():
        assert line in printed, f"docs/shelters.md shows a line the command does not print: {line}"
