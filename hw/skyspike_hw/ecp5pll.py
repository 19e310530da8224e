"""The ECP5 PLL (``EHXPLLL``) that makes the SoC's clock on an FPGA board from its oscillator.

Why a PLL: the boards' oscillators (25 MHz on the ULX3S, 100 MHz on the ECPIX-5) are not the
SoC's fmax; the FPGA build picks the clock from nextpnr's timing report and this block makes it.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import Instance, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .params import rejecting

__all__ = ["PLLSetting", "pll_setting", "ECP5PLL"]

# EHXPLLL limits (Lattice TN1263 / FPGA-DS-02012): input, phase-detector, VCO and output ranges.
_F_IN = (8e6, 400e6)
_F_PFD = (3.125e6, 400e6)
_F_VCO = (400e6, 800e6)
_F_OUT = (3.125e6, 400e6)


@dataclass(frozen=True)
class PLLSetting:
    """Dividers of one EHXPLLL setting: f_out = f_in * fb_div / in_div, VCO = f_out * op_div."""
    f_in: float
    in_div: int
    fb_div: int
    op_div: int

    @property
    def f_out(self) -> float:
        return self.f_in * self.fb_div / self.in_div

    @property
    def f_vco(self) -> float:
        return self.f_out * self.op_div


def pll_setting(f_in: float, f_out: float) -> PLLSetting:
    """The setting whose output is nearest ``f_out`` (exact where possible, the VCO highest
    among equals: least jitter). Raises ValueError naming a frequency out of the PLL's range."""
    if not _F_IN[0] <= f_in <= _F_IN[1]:
        raise ValueError(f"PLL input frequency must be within 8..400 MHz, not {f_in / 1e6:g} MHz")
    if not _F_OUT[0] <= f_out <= _F_OUT[1]:
        raise ValueError(f"PLL output frequency must be within 3.125..400 MHz, not {f_out / 1e6:g} MHz")
    best = None
    for in_div in range(1, 129):
        if not _F_PFD[0] <= f_in / in_div <= _F_PFD[1]:
            continue
        for fb_div in range(1, 81):
            out = f_in * fb_div / in_div
            if not _F_OUT[0] <= out <= _F_OUT[1]:
                continue
            for op_div in range(1, 129):
                if _F_VCO[0] <= out * op_div <= _F_VCO[1]:
                    key = (abs(out - f_out), -out * op_div)
                    if best is None or key < best[0]:
                        best = (key, PLLSetting(f_in, in_div, fb_div, op_div))
                    break
    if best is None:  # pragma: no cover - every frequency in range has a setting
        raise ValueError(f"no PLL setting makes {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz")
    return best[1]


class ECP5PLL(wiring.Component):
    """``clk_out`` = ``clk_in`` x fb_div / in_div (an ``EHXPLLL``, feedback from CLKOP).

    Parameters
    ----------
    setting : PLLSetting
        The dividers (:func:`pll_setting`).

    Attributes
    ----------
    clk_in : In(1)
        The reference clock (a board oscillator's pin), ``setting.f_in``.
    clk_out : Out(1)
        The output clock, ``setting.f_out`` (nextpnr derives its constraint from the setting).
    locked : Out(1)
        The PLL is locked: hold the logic on ``clk_out`` in reset while low.
    """

    def __init__(self, setting: PLLSetting):
        with rejecting(self):
            if not isinstance(setting, PLLSetting):
                raise TypeError(f"setting must be a PLLSetting (pll_setting()), not {setting!r}")
        self.setting = setting
        super().__init__({"clk_in": In(1), "clk_out": Out(1), "locked": Out(1)})

    def elaborate(self, platform):
        m = Module()
        s = self.setting
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{s.f_in / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{s.f_out / 1e6:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_FEEDBK_PATH="CLKOP",
            p_CLKI_DIV=s.in_div, p_CLKFB_DIV=s.fb_div,
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=s.op_div, p_CLKOP_CPHASE=s.op_div - 1, p_CLKOP_FPHASE=0,
            i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, i_CLKFB=self.clk_out, o_CLKOP=self.clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0, o_LOCK=self.locked,
        )
        return m
