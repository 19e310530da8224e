"""Clock gating of a Yosys JSON netlist (skyspike_hw.flow.clockgate) on hand-made coarse netlists:
which flops are grouped behind which ICG, with which gate. That the gated core still computes
the golden model's answer cycle for cycle is tests/hw/flow/test_gls.py's job."""
from __future__ import annotations

import json

import pytest

from skyspike_hw.flow.clockgate import ICG_CELL, gate_clocks, main

CLK, EN, EN2, RST = 2, 3, 4, 5


def _bin(v: int) -> str:
    return format(v, "032b")


def _flop(type_: str, q: int, *, en=EN, rst=RST, clk=CLK, width=1, clk_pos=True, en_pos=True) -> dict:
    """A coarse Yosys register (``$dffe``, ``$sdffe``, ``$sdffce``, ``$sdff``) of ``width`` bits."""
    conn = {"CLK": [clk], "D": [100 + q + i for i in range(width)], "Q": [q + i for i in range(width)]}
    params = {"CLK_POLARITY": _bin(clk_pos), "WIDTH": _bin(width)}
    if type_.endswith("e"):
        conn["EN"], params["EN_POLARITY"] = [en], _bin(en_pos)
    if type_.startswith("$sdff"):
        conn["SRST"], params["SRST_POLARITY"], params["SRST_VALUE"] = [rst], _bin(1), "0" * width
    return {"hide_name": 1, "type": type_, "parameters": params, "attributes": {},
            "port_directions": {p: "output" if p == "Q" else "input" for p in conn}, "connections": conn}


def _design(cells: dict) -> dict:
    bits = sorted({b for c in cells.values() for v in c["connections"].values() for b in v})
    return {"modules": {"top": {"attributes": {"top": "1"}, "ports": {}, "cells": cells,
                                "netnames": {f"n{b}": {"hide_name": 0, "bits": [b], "attributes": {}} for b in bits}}}}


def _cells(design):
    return design["modules"]["top"]["cells"]


def test_enable_flops_share_one_icg():
    design = _design({f"r{i}": _flop("$dffe", 1000 + 2 * i, width=2) for i in range(4)})
    report = gate_clocks(design, "top", min_flops=8)
    assert report.as_dict() == {"icgs": 1, "gated_flops": 8, "enable_flops": 8, "flops": 8}
    cells = _cells(design)
    icg = cells["clockgate0"]
    assert icg["type"] == ICG_CELL and icg["connections"]["CLK"] == [CLK] and icg["connections"]["GATE"] == [EN]
    gclk = icg["connections"]["GCLK"]
    for i in range(4):
        r = cells[f"r{i}"]
        assert r["type"] == "$dff" and r["connections"]["CLK"] == gclk and "EN" not in r["connections"]
        assert "EN_POLARITY" not in r["parameters"] and r["connections"]["D"] == [1100 + 2 * i, 1101 + 2 * i]
    assert design["modules"][ICG_CELL]["attributes"]["blackbox"]
    assert design["modules"]["top"]["netnames"]["clockgate0_gclk"]["bits"] == gclk


def test_small_groups_and_falling_clocks_keep_their_multiplexers():
    cells = {f"a{i}": _flop("$dffe", 1000 + i) for i in range(3)}
    cells.update({f"b{i}": _flop("$dffe", 1100 + i, en=EN2, clk_pos=False) for i in range(8)})
    cells.update({f"c{i}": _flop("$sdff", 1200 + i) for i in range(8)})
    design = _design(cells)
    report = gate_clocks(design, "top", min_flops=4)
    assert report.as_dict() == {"icgs": 0, "gated_flops": 0, "enable_flops": 11, "flops": 19}
    assert ICG_CELL not in design["modules"]
    assert {c["type"] for c in _cells(design).values()} == {"$dffe", "$sdff"}


def test_reset_over_enable_opens_the_gate_for_the_reset():
    """$sdffe: the reset wins over the enable, so the gate is enable | reset; $sdffce: the
    reset acts only when enabled, so the gate is the enable alone."""
    cells = {f"s{i}": _flop("$sdffe", 1000 + i) for i in range(4)}
    cells.update({f"c{i}": _flop("$sdffce", 1100 + i, en=EN2) for i in range(4)})
    design = _design(cells)
    assert gate_clocks(design, "top", min_flops=4).icgs == 2
    cells = _cells(design)
    gates = {c["connections"]["GATE"][0]: name for name, c in cells.items() if c["type"] == ICG_CELL}
    assert EN2 in gates
    (or_cell,) = [c for c in cells.values() if c["type"] == "$_OR_"]
    assert or_cell["connections"]["A"] == [EN] and or_cell["connections"]["B"] == [RST]
    assert or_cell["connections"]["Y"][0] in gates
    assert {cells[f"{g}{i}"]["type"] for g in "sc" for i in range(4)} == {"$sdff"}
    assert all(cells[f"s{i}"]["connections"]["SRST"] == [RST] for i in range(4))


def test_active_low_enable_is_inverted():
    design = _design({f"r{i}": _flop("$dffe", 1000 + i, en_pos=False) for i in range(4)})
    gate_clocks(design, "top", min_flops=4)
    cells = _cells(design)
    (inv,) = [c for c in cells.values() if c["type"] == "$_NOT_"]
    assert inv["connections"]["A"] == [EN]
    assert cells["clockgate0"]["connections"]["GATE"] == inv["connections"]["Y"]
    assert cells["r0"]["type"] == "$dff"


def test_groups_split_by_enable_and_clock():
    cells = {f"a{i}": _flop("$dffe", 1000 + i) for i in range(4)}
    cells.update({f"b{i}": _flop("$dffe", 1100 + i, en=EN2) for i in range(4)})
    cells.update({f"c{i}": _flop("$dffe", 1200 + i, clk=6) for i in range(4)})
    design = _design(cells)
    assert gate_clocks(design, "top", min_flops=4).icgs == 3
    cells = _cells(design)
    assert len({cells[f"{g}0"]["connections"]["CLK"][0] for g in "abc"}) == 3


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "8"])
def test_bad_min_flops(bad):
    with pytest.raises(ValueError, match="min_flops"):
        gate_clocks(_design({}), "top", min_flops=bad)


def test_unknown_top_and_cli(tmp_path, capsys):
    with pytest.raises(ValueError, match="no module 'nope'"):
        gate_clocks(_design({}), "nope")
    src, dst, rep = tmp_path / "in.json", tmp_path / "out.json", tmp_path / "r.json"
    src.write_text(json.dumps(_design({"r": _flop("$dffe", 1000, width=8)})))
    assert main([str(src), str(dst), "--top", "top", "--report", str(rep)]) == 0
    assert json.loads(rep.read_text())["gated_flops"] == 8
    assert "1 ICGs, 8 of 8 flops gated" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.json"), str(dst), "--top", "top"]) == 2
    assert "error:" in capsys.readouterr().err
