"""Activity-annotated power (skyspike_hw.flow.activity, skyspike_hw.flow.power): the VCD
counter on a hand-written dump, the macros' Liberty energies, and OpenSTA's annotation and
the internal-power correction checked against the standard cells' Liberty tables."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from flowrun import pdk
from skyspike_hw.flow.activity import dump_module, read_activity
from skyspike_hw.flow.power import OPENSTA_INTERNAL_FACTOR, macro_ports, macro_power
from skyspike_hw.flow.sta import find_sta

VCD = """$timescale 1ps $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 2 " bus [1:0] $end
$var wire 1 # \\esc[0] $end
$scope module cell $end
$var wire 1 $ inner $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
0!
b00 "
0#
0$
#1000
1!
b01 "
1#
1$
#2000
0!
b10 "
#3000
1!
0#
#4000
0!
b11 "
#5000
"""


def test_read_activity_counts_toggles_and_time_high(tmp_path):
    (tmp_path / "a.vcd").write_text(VCD)
    act = read_activity(tmp_path / "a.vcd", [(0.0, 2.0), (2.0, 5.0)])
    assert act.nets == ["clk", "bus[1]", "bus[0]", "esc[0]"]      # one level: not the cell's insides
    assert act.toggles.tolist() == [[1, 0, 1, 1], [3, 1, 2, 1]]
    assert act.high_ns.tolist() == [[1.0, 0.0, 1.0, 1.0], [1.0, 3.0, 1.0, 1.0]]
    assert act.length_ns.tolist() == [2.0, 3.0]
    assert np.allclose(act.duty()[1], [1 / 3, 1.0, 1 / 3, 1 / 3])


def test_read_activity_rejects_bad_windows(tmp_path):
    (tmp_path / "a.vcd").write_text(VCD)
    with pytest.raises(ValueError, match="windows"):
        read_activity(tmp_path / "a.vcd", [(2.0, 1.0)])
    with pytest.raises(ValueError, match="ends at"):
        read_activity(tmp_path / "a.vcd", [(0.0, 9.0)])


def test_dump_module_dumps_one_level():
    text = dump_module("skyspike_core_syn", "x.vcd")
    assert "$dumpvars(1, skyspike_core_syn);" in text and '$dumpfile("x.vcd");' in text


def test_macro_energy_from_liberty():
    p = macro_power(pdk().sram("sky130_sram_1kbyte_1rw1r_32x256_8").lib)
    # OpenRAM's Liberty: 9.589466 pJ on each clock edge of either port; 0.009516 mW leakage.
    assert p.access_pj == {"clk0": pytest.approx(2 * 9.589466), "clk1": pytest.approx(2 * 9.589466)}
    assert p.leakage_mw == pytest.approx(0.009516)


def test_macro_ports_finds_chip_selects():
    text = ("  sky130_sram_1kbyte_1rw1r_32x256_8 wbank0_macro (\n    .clk0(clk),\n    .csb0(_000001_),\n"
            "    .csb1(\\engine.en[0] ),\n    .web0(_000000_)\n  );\n")
    assert macro_ports(text, ["sky130_sram_1kbyte_1rw1r_32x256_8"]) == {
        "wbank0_macro": {"type": "sky130_sram_1kbyte_1rw1r_32x256_8", "csb0": "_000001_", "csb1": "engine.en[0]"}}


def _liberty_clk_energy(lib_text: str, cell: str) -> float:
    """rise + fall internal energy (pJ) of ``cell``'s CLK pin at the table's 0.15 ns slew point."""
    body = lib_text[lib_text.index(f"cell (\"{cell}\")") if f"cell (\"{cell}\")" in lib_text else lib_text.index(f"cell ({cell})"):]
    pin = body[body.index("pin (CLK)"):]
    total = 0.0
    for kind in ("rise_power", "fall_power"):
        block = pin[pin.index(kind):]
        index = [float(v) for v in re.search(r'index_1 \("([^"]+)"\)', block).group(1).split(",")]
        values = [float(v) for v in re.search(r'values \("([^"]+)"\)', block).group(1).split(",")]
        total += float(np.interp(0.15, index, values))
    return total


def test_opensta_annotation_and_internal_factor(tmp_path):
    """One flop on the SDC's clock (0.15 ns transition): OpenSTA's clock-pin internal power,
    times OPENSTA_INTERNAL_FACTOR, is the Liberty's rise + fall energy once a cycle; and an
    activity set on a pin through sta::set_power_pin_activity reaches the report."""
    p = pdk()
    (tmp_path / "one.v").write_text("module one(clk, d, q);\n  input clk, d;\n  output q;\n"
                                    "  sky130_fd_sc_hd__dfxtp_1 r (.CLK(clk), .D(d), .Q(q));\nendmodule\n")
    (tmp_path / "one.tcl").write_text(f"""read_liberty {p.liberty}
read_verilog {tmp_path / 'one.v'}
link_design one
create_clock -name clk -period 10 [get_ports clk]
set_clock_transition 0.15 [get_clocks clk]
foreach pin [get_pins {{r/D r/Q}}] {{ sta::set_power_pin_activity $pin 0.0 0.0 }}
sta::set_power_input_port_activity [get_ports d] 0.0 0.0
report_power -instances [get_cells r] -digits 9
foreach pin [get_pins {{r/D r/Q}}] {{ sta::set_power_pin_activity $pin 1.0 0.5 }}
sta::set_power_input_port_activity [get_ports d] 1.0 0.5
report_power -instances [get_cells r] -digits 9
exit
""")
    out = subprocess.run([find_sta(), "-no_splash", "-exit", str(tmp_path / "one.tcl")], capture_output=True,
                         text=True, check=True).stdout
    rows = [float(m.group(1)) for m in re.finditer(r"^\s*([0-9.e+-]+)\s+\S+\s+\S+\s+\S+\s+r$", out, re.M)]
    assert len(rows) == 2, out
    per_cycle_pj = rows[0] * 10e-9 * 1e12 * OPENSTA_INTERNAL_FACTOR      # W * 10 ns, in pJ
    assert per_cycle_pj == pytest.approx(_liberty_clk_energy(p.liberty.read_text(), "sky130_fd_sc_hd__dfxtp_1"), rel=0.05)
    assert rows[1] > rows[0] * 1.2    # the annotated D and Q activity counts


def test_gated_clock_is_charged_for_its_pulses(tmp_path):
    """Four flops behind an ICG: their clock energy follows the GCLK pulses measured in each
    window (every cycle, a quarter of them, none), not the SDC clock's two edges a cycle."""
    from skyspike_hw.flow.activity import Activity
    from skyspike_hw.flow.power import annotated_energy, clock_gates

    flops = "".join(f"  sky130_fd_sc_hd__dfxtp_1 r{i} (.CLK(gclk), .D(d), .Q(q[{i}]));\n" for i in range(4))
    netlist = tmp_path / "gated.v"
    netlist.write_text("module gated(clk, en, d, q);\n  input clk, en, d;\n  output [3:0] q;\n  wire gclk;\n"
                       "  sky130_fd_sc_hd__dlclkp_1 icg (.CLK(clk), .GATE(en), .GCLK(gclk));\n" + flops + "endmodule\n")
    assert clock_gates(netlist.read_text()) == {"icg": "gclk"}
    nets = ["clk", "en", "d", "gclk", "q[0]", "q[1]", "q[2]", "q[3]"]
    cycles = 100
    pulses = [cycles, cycles // 4, 0]
    toggles = np.array([[2 * cycles, 0, 0, 2 * p, 0, 0, 0, 0] for p in pulses])
    act = Activity(nets, toggles, np.full(toggles.shape, 5.0 * cycles), np.full(3, 10.0 * cycles))
    p = pdk()
    sdc = tmp_path / "clk.sdc"
    sdc.write_text("create_clock -name clk -period 10 [get_ports clk]\nset_clock_transition 0.15 [get_clocks clk]\n")
    energy = annotated_energy(netlist, "gated", p.liberty, {}, sdc, act, 10.0, 10.0, tmp_path / "run")
    full, quarter, none = (e.cells_internal_pj for e in energy)
    flop_clock_pj = _liberty_clk_energy(p.liberty.read_text(), "sky130_fd_sc_hd__dfxtp_1")
    assert full - none == pytest.approx(4 * cycles * flop_clock_pj, rel=0.15)   # plus the ICG's output
    assert quarter - none == pytest.approx((full - none) / 4, rel=0.02)
