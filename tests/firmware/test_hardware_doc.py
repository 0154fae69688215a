"""firmware/HARDWARE.md stays true: its bill of materials adds up, the settings it
tells people to set exist in the firmware, every section speaks Japanese and English,
and the wiring diagram is a well-formed SVG it shows."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from simulator.firmware import firmware
from tests.firmware.helpers import FIRMWARE

TEXT = (FIRMWARE / "HARDWARE.md").read_text(encoding="utf-8")


def test_the_bill_of_materials_adds_up():
    rows = re.findall(r"^\| (\d+) \|.*\| ([\d,]+) \|$", TEXT, flags=re.MULTILINE)
    total = int(
        re.search(r"\*\*total, Wi-Fi gauge[^|]*\*\* \| \| \| \*\*([\d,]+)\*\*", TEXT)[1].replace(",", "")
    )
    wifi = [int(price.replace(",", "")) for number, price in rows if int(number) <= 15]
    assert len(wifi) == 15 and sum(wifi) == total


def test_every_setting_it_names_exists():
    _, _, settings = firmware()
    named = set(re.findall(r"`(\w+): [\w.]+`", TEXT)) | set(re.findall(r'"(\w+)": ', TEXT))
    assert {"sensor_power_pin", "sensor_power_on", "temp_pin", "battery_pin", "tx_pin", "rx_pin"} <= named
    assert named - {"v", "cfg"} <= set(settings.DEFAULTS), named - set(settings.DEFAULTS)
    for command in re.findall(r"`kawamori device (\w+)", TEXT):
        assert command in {"add", "flash", "lorawan", "config", "update", "update-key", "rotate"}


def test_every_section_in_both_languages():
    sections = re.split(r"^## ", TEXT, flags=re.MULTILINE)[1:]
    assert len(sections) >= 8
    for section in sections:
        title = section.splitlines()[0]
        assert re.search(r"[ぁ-んァ-ヶ一-龯]", section), f"{title}: no Japanese"
        assert re.search(r"\b(the|a|of)\b", section), f"{title}: no English"


def test_the_wiring_diagram_is_an_svg_it_shows():
    root = ET.parse(FIRMWARE / "wiring.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert root.find("svg:title", ns) is not None and root.find("svg:desc", ns) is not None
    assert "](wiring.svg)" in TEXT
    labels = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for setting in ("sensor_power_pin", "temp_pin", "battery_pin", "tx_pin", "rx_pin"):
        assert setting in labels
