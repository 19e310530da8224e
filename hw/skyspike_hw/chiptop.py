"""The silicon chip top: :class:`~skyspike_hw.soc.SkySpikeSoC` on the pads of the OpenFrame
harness (padframe only: 44 GPIOs, no management SoC), module ``openframe_project_wrapper``.

The port list is OpenFrame's (``openframe_project_wrapper`` of efabless' OpenFrame user
project): the reset and power-on-reset inputs, ``mask_rev``, and per GPIO pad the input
(``gpio_in``, ``gpio_in_h``), the output and its enable (``gpio_out``, ``gpio_oeb``) and the
pad configuration outputs, with the pad's constant ``gpio_loopback_one``/``_zero``. The
inouts ``analog_io`` and ``analog_noesd_io`` carry nothing here: the synthesis flow adds them
as unconnected ports (Amaranth components have no inout members); the power pins (vccd1,
vssd1 for the logic and the SRAM macros) are added by OpenLane from its VDD_NETS/GND_NETS.

Which pad carries what, and how every pad is configured, is the table of :mod:`.pins`
(docs/pins.md): every output of the port list is driven, unused pads to the pull-down mode.
"""
from __future__ import annotations

from amaranth import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from .pins import OPENFRAME_GPIOS, PINS, pad_mode
from .soc import SkySpikeSoC

__all__ = ["TOP_NAME", "INOUT_PORTS", "openframe_signature", "OpenFrameTop"]

#: The module name the OpenFrame harness instantiates.
TOP_NAME = "openframe_project_wrapper"
#: OpenFrame's inout buses (name, width), unconnected in this design.
INOUT_PORTS = (("analog_io", OPENFRAME_GPIOS), ("analog_noesd_io", OPENFRAME_GPIOS))
_PAD_CONFIG = ("gpio_inp_dis", "gpio_ib_mode_sel", "gpio_vtrip_sel", "gpio_slow_sel", "gpio_holdover",
               "gpio_analog_en", "gpio_analog_sel", "gpio_analog_pol", "gpio_dm2", "gpio_dm1", "gpio_dm0")


def openframe_signature() -> wiring.Signature:
    """OpenFrame's ports (power and inout pins aside), from the user project's side."""
    n = OPENFRAME_GPIOS
    return wiring.Signature({
        "porb_h": In(1), "porb_l": In(1), "por_l": In(1), "resetb_h": In(1), "resetb_l": In(1),
        "mask_rev": In(32),
        "gpio_in": In(n), "gpio_in_h": In(n), "gpio_loopback_one": In(n), "gpio_loopback_zero": In(n),
        "gpio_out": Out(n), "gpio_oeb": Out(n), **{name: Out(n) for name in _PAD_CONFIG},
    })


class OpenFrameTop(wiring.Component):
    """The chip: the SoC, its clock from the ``clk`` pad, its reset from ``resetb_l`` and
    ``porb_l`` (asserted asynchronously, released synchronously), its signals on the pads of
    :data:`.pins.PINS`, every pad configured by :func:`.pins.pad_mode`.

    Parameters
    ----------
    cfg, firmware, uart_divisor, sim_model
        As :class:`~skyspike_hw.soc.SkySpikeSoC` (``sim_model=False`` for silicon).

    Attributes
    ----------
    The members of :func:`openframe_signature`.
    """

    def __init__(self, cfg="chip", *, firmware=None, sim_model: bool = False, **soc_args):
        self.soc = SkySpikeSoC(cfg, firmware=firmware, sim_model=sim_model, **soc_args)
        super().__init__(openframe_signature())

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        m.submodules.soc = soc = self.soc
        by_name = {p.name: p.gpio for p in PINS}
        m.d.comb += cd.clk.eq(self.gpio_in[by_name["clk"]])
        m.submodules.reset_sync = ResetSynchronizer(~(self.resetb_l & self.porb_l), domain="sync")
        for p in PINS:
            if p.direction == "in" and p.name != "clk":
                m.d.comb += getattr(soc, p.name).eq(self.gpio_in[p.gpio])
        outputs = {p.gpio: getattr(soc, p.name) for p in PINS if p.direction == "out"}
        for gpio in range(OPENFRAME_GPIOS):
            self._pad(m, gpio, outputs.get(gpio))
        return m

    def _pad(self, m, gpio, signal):
        """Drive pad ``gpio``'s output (``signal``, or its mode's constant) and configuration."""
        mode = pad_mode(gpio)
        one, zero = self.gpio_loopback_one[gpio], self.gpio_loopback_zero[gpio]
        const = lambda bit: one if bit else zero  # noqa: E731
        bits = {"gpio_oeb": mode.oeb, "gpio_inp_dis": mode.inp_dis,
                "gpio_dm2": mode.dm >> 2 & 1, "gpio_dm1": mode.dm >> 1 & 1, "gpio_dm0": mode.dm & 1}
        for name in ("gpio_oeb", *_PAD_CONFIG):
            m.d.comb += getattr(self, name)[gpio].eq(const(bits.get(name, 0)))
        m.d.comb += self.gpio_out[gpio].eq(signal if signal is not None else const(mode.out))
