# amaranth: UnusedElaboratable=no
"""The FPGA top (hw/skyspike_hw/fpgatop.py), its PLL (ecp5pll.py) and the boards (boards.py):
PLL settings within the EHXPLLL's limits, bad arguments, and the board build's design as
Amaranth prepares it (pins, PLL, block RAM instead of the macro model)."""
from __future__ import annotations

import re

import pytest

from skyspike_hw.boards import BOARDS, get_board
from skyspike_hw.ecp5pll import ECP5PLL, pll_setting


@pytest.mark.parametrize("f_in,f_out", [(25e6, 40e6), (25e6, 33e6), (100e6, 48e6), (25e6, 25e6), (100e6, 37e6)])
def test_pll_setting_within_limits(f_in, f_out):
    s = pll_setting(f_in, f_out)
    assert abs(s.f_out - f_out) <= 0.02 * f_out
    assert 400e6 <= s.f_vco <= 800e6 and 3.125e6 <= f_in / s.in_div <= 400e6


@pytest.mark.parametrize("f_in,f_out,word", [(25e6, 1e6, "output"), (1e6, 40e6, "input"), (25e6, 500e6, "output")])
def test_pll_setting_rejects(f_in, f_out, word):
    with pytest.raises(ValueError, match=word):
        pll_setting(f_in, f_out)


def test_pll_needs_a_setting():
    with pytest.raises(TypeError, match="PLLSetting"):
        ECP5PLL(40e6)


def test_unknown_board():
    with pytest.raises(ValueError, match="unknown board 'nexys'"):
        get_board("nexys")


def test_fpgatop_rejects():
    from skyspike_hw.fpgatop import FPGATop
    with pytest.raises(TypeError, match="Board"):
        FPGATop("ulx3s-85f", clock_hz=40e6)
    with pytest.raises(ValueError, match="clock_hz"):
        FPGATop(get_board("ulx3s-85f"), clock_hz=-1)


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_board_design_prepares(board):
    """Every board's design elaborates for its platform: the PLL where the clock is not the
    oscillator's, the UART on its pins, and every SRAM as plain memory (block RAM), no model."""
    pytest.importorskip("amaranth_boards", reason="amaranth-boards is not installed (pip install -e '.[fpga]')")
    from skyspike_hw.fpgatop import FPGATop

    b = get_board(board)
    platform = b.make_platform()
    top = FPGATop(b, "small", firmware=[0x0000006F], clock_hz=40e6)
    plan = platform.prepare(top, name="top")
    rtlil = plan.files["top.il"] if isinstance(plan.files["top.il"], str) else plan.files["top.il"].decode()
    assert "EHXPLLL" in rtlil
    assert "junk0" not in rtlil and "sky130_sram" not in rtlil
    modules = re.findall(r"^module \\(\S+)$", rtlil, re.M)
    srams = [name for name in modules if re.search(r"\.(wbank|ibank)\d+$|\.ram\.sram$", name)]
    assert len(srams) == 4 + 4 + 1, modules  # weight and input banks, CPU RAM: plain memories
    lpf = plan.files["top.lpf"]
    assert "uart_0__tx" in lpf and "uart_0__rx" in lpf


def test_the_board_configuration_prepares_with_its_eight_weight_banks():
    """The 'fpga' configuration (the largest measured to route on the ECP5-85F) elaborates for
    the ULX3S 85F: 8 weight banks, 4 input banks and the CPU's RAM as block RAM."""
    pytest.importorskip("amaranth_boards", reason="amaranth-boards is not installed (pip install -e '.[fpga]')")
    from skyspike_hw.fpgatop import FPGATop

    b = get_board("ulx3s-85f")
    plan = b.make_platform().prepare(FPGATop(b, "fpga", firmware=[0x0000006F], clock_hz=35e6), name="top")
    rtlil = plan.files["top.il"] if isinstance(plan.files["top.il"], str) else plan.files["top.il"].decode()
    modules = re.findall(r"^module \\(\S+)$", rtlil, re.M)
    assert len([n for n in modules if re.search(r"\.wbank\d+$", n)]) == 8, modules
    assert "sky130_sram" not in rtlil
