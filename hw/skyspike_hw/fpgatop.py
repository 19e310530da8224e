"""The FPGA top: :class:`~skyspike_hw.soc.SkySpikeSoC` on an ECP5 board (:mod:`.boards`), the
counterpart of the chip top :mod:`.chiptop`. The same SoC and firmware; the SRAM macros become
block RAM because the SoC is elaborated for the board's platform (:func:`.sram.sram_kind`).
"""
from __future__ import annotations

from amaranth import ClockDomain, Const, Module
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer

from .boards import Board
from .ecp5pll import ECP5PLL, pll_setting
from .params import rejecting
from .soc import SkySpikeSoC
from .uart import divisor_for

__all__ = ["FPGATop", "BAUD"]

#: The board's UART rate at reset (the driver's default; the host may raise it with SET_DIVISOR).
BAUD = 115_200


class FPGATop(wiring.Component):
    """The SoC on a board: its clock from the board's oscillator through :class:`.ECP5PLL`
    (straight from the oscillator when ``clock_hz`` is its frequency), its reset while the PLL
    is unlocked or the board's reset button is pressed (released synchronously), its UART on
    the board's USB-serial pins at :data:`BAUD`, its status on the LEDs (:mod:`.boards`).

    A board top has no ports of its own: everything is a pin it requests from the platform.

    Parameters
    ----------
    board : Board
        The board (:data:`.boards.BOARDS`); the top must be elaborated for its platform.
    cfg, firmware
        As :class:`~skyspike_hw.soc.SkySpikeSoC`.
    clock_hz : float
        The SoC's clock; the UART divisor at reset is ``round(clock_hz / BAUD)``.

    Raises
    ------
    TypeError, ValueError
        ``board`` is not a Board, or ``clock_hz`` gives no PLL setting or UART divisor.
    """

    def __init__(self, board: Board, cfg="small", *, firmware=None, clock_hz: float):
        with rejecting(self):
            if not isinstance(board, Board):
                raise TypeError(f"board must be a skyspike_hw.boards.Board, not {board!r}")
            if isinstance(clock_hz, bool) or not isinstance(clock_hz, (int, float)) or clock_hz <= 0:
                raise ValueError(f"clock_hz must be a positive frequency in Hz, not {clock_hz!r}")
            divisor = divisor_for(clock_hz, BAUD)
        self.board, self.clock_hz = board, float(clock_hz)
        self.soc = SkySpikeSoC(cfg, firmware=firmware, uart_divisor=divisor)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        m.submodules.osc = osc = io.Buffer("i", platform.request(platform.default_clk, 0, dir="-"))
        f_osc = platform.default_clk_frequency
        if abs(self.clock_hz - f_osc) < 1:
            m.d.comb += cd.clk.eq(osc.i)
            locked = Const(1)
        else:
            m.submodules.pll = pll = ECP5PLL(pll_setting(f_osc, self.clock_hz))
            m.d.comb += [pll.clk_in.eq(osc.i), cd.clk.eq(pll.clk_out)]
            locked = pll.locked
        m.submodules.button = button = io.Buffer("i", platform.request(*self.board.reset, dir="-"))
        m.submodules.reset_sync = ResetSynchronizer(~locked | button.i, domain="sync")

        m.submodules.soc = soc = self.soc
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.uart_rx.eq(rx.i), tx.o.eq(soc.uart_tx)]
        self._leds(m, platform, [soc.heartbeat, soc.cpu_trap, soc.core_irq, locked])
        return m

    def _leds(self, m, platform, values):
        """Each value on its LED of the board's table (a resource requested once)."""
        requested = {}
        for i, ((name, number, sub), value) in enumerate(zip(self.board.leds, values)):
            res = requested.get((name, number)) or platform.request(name, number, dir="-")
            requested[(name, number)] = res
            m.submodules[f"led{i}"] = led = io.Buffer("o", getattr(res, sub) if sub else res)
            m.d.comb += led.o.eq(value)
