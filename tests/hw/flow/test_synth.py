"""The sky130 synthesis / timing / area flow (skyspike_hw.flow.synth) on the small
configuration: the report is complete and sane. `make synth` runs the chip configuration."""
from __future__ import annotations

import json
import math
import re

import pytest

from flowrun import BUILD, pdk, synthesized
from skyspike.spec.config import get_config
from skyspike_hw.flow import synth
from skyspike_hw.flow.pdk import EXCLUDED_CELLS, PDKNotFound, Sky130, filter_liberty, read_liberty_cells


def test_report_small():
    r = synthesized("small")
    cfg = get_config("small")
    a, c, t, p = r["area"], r["cells"], r["timing"], r["power"]
    assert a["std_cell_um2"] > 10_000 and a["sram_um2"] > 0
    assert a["total_mm2"] == pytest.approx((a["std_cell_um2"] + a["sram_um2"]) / 1e6, abs=1e-3)
    assert r["sram_macros"] == {cfg.bank_macro: r["sram_macros"][cfg.bank_macro]}  # small: one kind
    assert r["sram_macros"][cfg.bank_macro]["count"] == cfg.banks + cfg.input_banks
    assert r["sram_macros"][cfg.bank_macro]["area_each_um2"] == pytest.approx(479.78 * 397.5, rel=1e-3)
    assert c["flops"] > 1000 and c["std_cells"] == sum(c["by_type"].values())
    assert all(name.startswith("sky130_fd_sc_hd__") for name in c["by_type"])
    for key in ("worst_slack_ns", "wns_ns", "tns_ns", "hold_worst_slack_ns"):
        assert isinstance(t[key], float) and math.isfinite(t[key])
    assert t["wns_ns"] <= 0 and t["tns_ns"] <= 0 and t["prelayout"]
    assert 5 < t["fmax_mhz"] < 1000
    # fmax is the edge of the bisection: slack at the target period agrees in sign.
    assert (t["worst_slack_ns"] >= 0) == (t["min_period_ns"] <= t["clock_period_ns"] + 0.05)
    assert t["critical_path"]["startpoint"] and t["critical_path"]["endpoint"]
    assert p["activity"] == 0.1 and p["total_w"] > 0 and 0 < p["sram_macros_w"] < p["total_w"]
    assert set(r["targets"]) >= {"fmax_met", "area_met"}
    text = (BUILD / "small" / "report.txt").read_text()
    assert "OpenSpike" in text and "pre-layout" in text


def test_netlist_is_mapped_and_clean():
    synthesized("small")
    text = (BUILD / "small" / "netlist.v").read_text()
    assert not re.search(r"\\\$_|\$_[A-Z]+_", text), "unmapped Yosys internal cells in the netlist"
    cells = set(re.findall(r"\b(sky130_fd_sc_hd__\w+)\s", text))
    assert not [c for c in cells if "lpflow" in c or "probe" in c]
    assert re.search(r"sky130_sram_1kbyte_1rw1r_32x256_8 wbank0_macro", text)


def test_filtered_liberty(tmp_path):
    lib = pdk().liberty
    removed = filter_liberty(lib, tmp_path / "f.lib")
    kept = read_liberty_cells(tmp_path / "f.lib")
    assert any("lpflow" in n for n in removed) and not any("lpflow" in n for n in kept)
    assert "sky130_fd_sc_hd__dfxtp_1" in kept and kept["sky130_fd_sc_hd__dfxtp_1"].sequential
    assert len(kept) + len(removed) == len(read_liberty_cells(lib))
    assert len(EXCLUDED_CELLS) > 3


def test_missing_pdk_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(PDKNotFound, match="ciel enable"):
        Sky130(tmp_path)
    assert synth.main(["--config", "small", "--pdk-root", str(tmp_path), "-o", str(tmp_path)]) == 2
    assert "PDK_ROOT" in capsys.readouterr().err


def test_report_json_round_trip():
    r = synthesized("small")
    assert json.loads((BUILD / "small" / "report.json").read_text()) == r


def test_report_chip():
    """The sky130 configuration itself (what `make synth` reports): its macros, and figures in
    the range the flow has measured (std-cell area ~1.3 mm^2, fmax ~94 MHz pre-layout)."""
    r = synthesized("chip")
    cfg = get_config("chip")
    srams = r["sram_macros"]
    assert cfg.bank_macro == cfg.input_macro   # the memory plan: one macro, 1 KB
    assert srams == {cfg.bank_macro: srams[cfg.bank_macro]} and srams[cfg.bank_macro]["count"] == cfg.banks + cfg.input_banks
    assert r["area"]["sram_mm2"] == pytest.approx(36 * 0.1907, abs=0.01)
    assert 0.5 < r["area"]["std_cell_mm2"] < 3
    assert r["cells"]["flops"] > 10_000
    assert 20 < r["timing"]["fmax_mhz"] < 200
    print((BUILD / "chip" / "report.txt").read_text())


def test_chip_macro_instances():
    """The names the OpenLane floorplan places: the core's banks and the CPU's RAM."""
    names = synth.chip_macro_instances("chip")
    cfg = get_config("chip")
    assert set(names) == {f"wbank{j}_macro" for j in range(cfg.banks)} | \
        {f"ibank{j}_macro" for j in range(cfg.input_banks)} | {"ram_macro"}
    assert names["ram_macro"] == "sky130_sram_1kbyte_1rw1r_32x256_8"
    assert synth.macro_names("chip", top="chip") == sorted(set(names.values()))
    with pytest.raises(ValueError, match="'nonesuch'"):
        synth.run("small", top="nonesuch", pdk_root=pdk().root)


def test_chip_top_netlist_names_its_macros():
    """In the flat netlist of the chip top every SRAM has the name chip_macro_instances says."""
    import shutil

    from flowrun import chip_netlist

    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: the boot ROM needs the firmware (make setup)")
    pdk()
    firmware = synth.build_firmware(BUILD / "chip_gls" / "firmware")
    text = chip_netlist("small", firmware, uart_divisor=32).read_text()
    found = dict((inst, macro) for macro, inst in re.findall(r"^\s*(sky130_sram_\w+)\s+(\w+)\s*\(", text, re.M))
    assert found == synth.chip_macro_instances("small")
    assert re.search(r"^\s*module openframe_project_wrapper\(", text, re.M)
    assert re.search(r"inout \[43:0\] analog_io;", text)
