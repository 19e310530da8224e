"""The OpenFrame floorplan (skyspike_hw.flow.floorplan, `make floorplan`): the chip's macros
placed inside the die with channels and halos, powered, oriented toward the logic; bad
floorplans refused with one clear message; the CLI end to end (OpenLane's checks, picture)."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from flowrun import pdk
from skyspike.spec.config import get_config
from skyspike_hw.flow import floorplan as fpm
from skyspike_hw.flow import fpdraw
from skyspike_hw.flow.floorplan import FloorplanError, Rect, Rules

MACRO = "sky130_sram_1kbyte_1rw1r_32x256_8"


@pytest.fixture(scope="module")
def chip():
    return fpm.generate()


def test_every_chip_macro_is_placed_once(chip):
    fp, config = chip
    cfg = get_config("chip")
    names = [p.name for p in fp.placements]
    assert names == list(fpm.chip_macros())
    assert len(names) == cfg.banks + cfg.input_banks + 1 == 37 and "ram_macro" in names
    placed = {n: (m, i) for m, spec in config["MACROS"].items() for n, i in spec["instances"].items()}
    assert {n: m for n, (m, _) in placed.items()} == fpm.chip_macros()
    for p in fp.placements:
        assert placed[p.name][1] == {"location": [p.box.x0, p.box.y0], "orientation": p.orientation}


def test_inside_the_die_no_overlaps_channels_wide_enough(chip):
    fp, _ = chip
    r = fp.rules
    die = Rect(*fpm.OPENFRAME_DIE)
    for p in fp.placements:
        assert p.box.grown(r.edge_margin - 1e-6).inside(die), p.name
        assert (p.box.w, p.box.h) == pytest.approx(fpm.macro_size(MACRO))
        x, y = round(p.box.x0 / fpm.SITE[0], 6), round(p.box.y0 / fpm.SITE[1], 6)
        assert x == int(x) and y == int(y), f"{p.name} off the site grid"
    for i, a in enumerate(fp.placements):
        for b in fp.placements[i + 1:]:
            assert not a.box.grown(r.halo).overlaps(b.box.grown(r.halo)), (a.name, b.name)
    widths = fpm.channel_widths(fp)
    assert widths["x"] >= r.min_channel and widths["y"] >= r.min_channel and widths["edge"] >= r.edge_margin


def test_every_instance_has_its_power_hook(chip):
    fp, config = chip
    entries = config["PDN_MACRO_CONNECTIONS"]
    assert len(entries) == len(fp.placements)
    for entry, p in zip(entries, fp.placements):
        assert entry.split() == [p.name, "vccd1", "vssd1", "vccd1", "vssd1"]
    assert fpm.pdn_unmatched([p.name for p in fp.placements], entries) == ([], [])


def test_pdn_matching_is_openlanes():
    """OpenLane anchors the regex at both ends: `wbank1_macro` does not power wbank10_macro."""
    names = ["wbank1_macro", "wbank10_macro"]
    assert fpm.pdn_unmatched(names, ["wbank1_macro vccd1 vssd1 vccd1 vssd1"]) == (["wbank10_macro"], [])
    assert fpm.pdn_unmatched(names, ["wbank1.*_macro vccd1 vssd1 vccd1 vssd1"]) == ([], [])
    assert fpm.pdn_unmatched(names, ["wbank1_macro vccd1 vssd1"])[1] == ["wbank1_macro vccd1 vssd1"]
    assert fpm.pdn_unmatched(names, [".*bank.* a b c d", "ram_macro a b c d"]) == ([], ["ram_macro a b c d"])


def test_orientations_put_the_engine_port_toward_the_cell_region(chip):
    """Left columns N/FS, right columns FN/S: port 1's control edge (the LEF's east edge)
    faces the cell region; alternate rows share like-port channels."""
    fp, _ = chip
    mid = (fp.die.x0 + fp.die.x1) / 2
    for p in fp.placements:
        if p.name in fp.rules.center:
            assert p.box.inside(fp.cell_region) and p.orientation == "N"
            continue
        left = p.box.x1 < mid
        assert p.orientation in (("N", "FS") if left else ("FN", "S")), p.name
        assert p.side("E") == ("E" if left else "W")
    inner = [p for p in fp.placements if p.box.x1 == fp.cell_region.x0 or p.box.x0 == fp.cell_region.x1]
    assert len(inner) == 18


def test_cell_region_and_utilization(chip):
    fp, _ = chip
    u = fpm.utilization(fp, cell_mm2=1.5)
    assert u["die_mm2"] == pytest.approx(3166.63 * 4766.63 / 1e6)
    assert u["macro_mm2"] == pytest.approx(37 * 479.78 * 397.5 / 1e6)
    assert 1.5 <= u["cell_region_capacity_mm2"] <= 2.0 + 1e-9  # 1.5-2 mm^2 of cells at the target density
    assert u["cell_fraction_of_region"] == pytest.approx(1.5 / u["cell_region_net_mm2"])
    assert u["total_fraction"] < 0.6


def test_pin_sides_from_the_lef():
    sides = fpdraw.pin_sides(pdk().sram(MACRO).lef)
    assert "dout1[0]" in sides["N"] and "clk1" in sides["N"]
    assert "din0[0]" in sides["S"] and "dout0[31]" in sides["S"] and "addr1[4]" in sides["S"]
    assert "csb1" in sides["E"] and "csb0" in sides["W"] and "web0" in sides["W"]
    assert not any(n.startswith(("vccd1", "vssd1")) for pins in sides.values() for n in pins)


def test_config_text_is_the_same_json(chip):
    _, config = chip
    text = fpm.config_text(config)
    assert json.loads(text) == config
    assert re.search(r'"wbank0_macro": \{"location": \[[\d.]+, [\d.]+\], "orientation": "N"\}', text)


# -- bad floorplans and bad arguments -------------------------------------------------------------

def test_too_many_macros_do_not_fit():
    many = {f"m{i}_macro": MACRO for i in range(60)}
    with pytest.raises(FloorplanError, match=r"60 macros need 15 rows .* less than min_channel 100"):
        fpm.plan(many)


def test_too_narrow_a_cell_region():
    with pytest.raises(FloorplanError, match=r"cell region .* less than center_min"):
        fpm.plan(fpm.chip_macros(), Rules(center_min=900))


def _moved(fp, name, dx=0.0, dy=0.0):
    ps = [dataclasses.replace(p, box=Rect(p.box.x0 + dx, p.box.y0 + dy, p.box.x1 + dx, p.box.y1 + dy))
          if p.name == name else p for p in fp.placements]
    return dataclasses.replace(fp, placements=tuple(ps))


@pytest.mark.parametrize("name, dx, dy, message", [
    ("wbank1_macro", 0, -520, r"wbank0_macro and wbank1_macro overlap"),
    ("wbank1_macro", 0, -110, r"wbank0_macro and wbank1_macro overlap \(halos of 20.0 um"),
    ("wbank1_macro", 0, -40, r"channel between wbank0_macro and wbank1_macro is 8\d.\d+ um \(y\), less than"),
    ("wbank9_macro", -60, 0, r"channel between wbank0_macro and wbank9_macro is 60.\d+ um \(x\)"),
    ("wbank0_macro", -120, 0, r"wbank0_macro at \(-19.72, 100.64\) leaves the die"),
    ("ibank3_macro", 0, 120, r"ibank3_macro .* leaves the die"),
])
def test_broken_floorplans_are_refused(chip, name, dx, dy, message):
    with pytest.raises(FloorplanError, match=message):
        fpm.check(_moved(chip[0], name, dx, dy))


def test_unpowered_and_unmatched_hooks_are_refused(chip):
    fp, config = chip
    with pytest.raises(FloorplanError, match="no PDN_MACRO_CONNECTIONS entry powers ram_macro"):
        fpm.check(fp, config["PDN_MACRO_CONNECTIONS"][:-1])
    with pytest.raises(FloorplanError, match="match no instance"):
        fpm.check(fp, config["PDN_MACRO_CONNECTIONS"] + ["rom_macro vccd1 vssd1 vccd1 vssd1"])


@pytest.mark.parametrize("args, error, message", [
    (([],), TypeError, "instances must be a non-empty dict"),
    (("wbank0",), TypeError, "instances must be a non-empty dict"),
    (({"wbank0_macro": "sky130_sram_4kbyte"},), ValueError, "unknown SRAM macro 'sky130_sram_4kbyte'"),
    (({"0bad name": MACRO},), ValueError, "bad instance name '0bad name'"),
    (({"a_macro": MACRO}, "rules"), TypeError, "rules must be a Rules"),
])
def test_bad_arguments(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        fpm.plan(*args)


@pytest.mark.parametrize("kw, message", [
    ({"min_channel": -1}, "Rules.min_channel must be a finite number >= 0, not -1"),
    ({"halo": float("nan")}, "Rules.halo must be a finite number"),
    ({"columns_per_side": 0}, "Rules.columns_per_side must be an int >= 1, not 0"),
    ({"target_density": 1.5}, "Rules.target_density must be in (0, 1], not 1.5"),
    ({"edge_margin": 50}, "must be >= min_channel"),
    ({"halo": 60}, "two halos (120) exceed min_channel (100.0)"),
])
def test_bad_rules(kw, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Rules(**kw)


def test_base_config_may_not_set_what_the_floorplan_computes(chip):
    with pytest.raises(ValueError, match=r"base.json sets \['DIE_AREA'\]"):
        fpm.openlane_config(chip[0], {**fpm.load_base(), "DIE_AREA": [0, 0, 1, 1]})


# -- the CLI (`make floorplan`) ------------------------------------------------------------------

def test_make_floorplan_end_to_end(tmp_path, monkeypatch, capsys):
    """What `make floorplan` runs: up to date, OpenLane's checks, summary, picture, figures."""
    monkeypatch.setenv("PDK_ROOT", str(pdk().root))
    assert fpm.main(["--check-only", "-o", str(tmp_path)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "openlane/config.json: up to date" in out
    assert re.search(r"valid against \d+ variables of OpenLane", out)
    assert "narrowest channel" in out and "cell region" in out and "SRAM macros" in out
    png = (tmp_path / "floorplan.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    figures = json.loads((tmp_path / "floorplan.json").read_text())
    assert figures["utilization"]["macros"] == 37 and len(figures["placements"]) == 37
    assert (tmp_path / "summary.txt").read_text().count("\x1b[") == 0  # plain text in the file


def test_synth_report_feeds_the_utilization(tmp_path, monkeypatch):
    report = tmp_path / "build" / "synth" / "top_chip" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"config": "chip", "area": {"std_cell_mm2": 1.234}}))
    monkeypatch.setattr(fpm.synth, "REPO", tmp_path)
    assert fpm.synth_cell_area(report) == (1.234, "build/synth/top_chip/report.json (chip)")
    assert fpm.synth_cell_area(report.with_name("none.json"))[0] is None


def test_cli_refuses_a_macro_list_that_does_not_fit(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fpm, "chip_macros", lambda config="chip": {f"m{i}_macro": MACRO for i in range(60)})
    assert fpm.main(["--check-only", "--no-olcheck", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("make floorplan: 60 macros need 15 rows")


def test_cli_refuses_a_stale_config(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fpm, "CONFIG", tmp_path / "config.json")
    assert fpm.main(["--check-only", "--no-olcheck", "-o", str(tmp_path)]) == 1
    assert "is stale; run `make floorplan`" in capsys.readouterr().err
