"""The CPU's data RAM: one OpenRAM ``sky130_sram_1kbyte_1rw1r_32x256_8`` macro on the bus."""
from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .ports import WishboneSignature
from .sram import SRAMMacro

__all__ = ["RAM_DEPTH", "SRAMTarget"]

#: Words of the CPU RAM: the depth of the 1 KB OpenRAM macro.
RAM_DEPTH = 256


class SRAMTarget(wiring.Component):
    """A Wishbone B4 classic target on port 0 of one OpenRAM macro (port 1 unused: disabled).

    Contract: a write is done at the edge that sees the strobe and acked one cycle after it
    (``wb.sel`` is the byte mask). A read is issued at the edge that sees the strobe; the
    macro drives ``dout0`` only after the following *falling* edge (its Liberty arc is
    ``timing_type: falling_edge``), so a reset-less flop captures ``dout0`` at the next rising
    edge with no logic between pin and flop (no half-cycle path), and the ack comes one cycle
    later still: reads ack two cycles after the strobe, with the data from that flop.

    Parameters
    ----------
    sim_model : bool
        The macro as the cycle-exact simulation model (True) or a black-box instance (False):
        :class:`~skyspike_hw.sram.SRAMMacro`. The model powers up with pseudo-random words.

    Attributes
    ----------
    wb : In(WishboneSignature(8))
        The bus, target side: ``wb.adr`` is the word address.
    """

    def __init__(self, *, sim_model: bool):
        self.sim_model = bool(sim_model)
        super().__init__({"wb": In(WishboneSignature((RAM_DEPTH - 1).bit_length()))})

    def elaborate(self, platform):
        m = Module()
        wb = self.wb
        m.submodules.sram = sram = SRAMMacro(RAM_DEPTH, sim_model=self.sim_model)
        issued = Signal()                       # a read was issued at the last edge
        dout = Signal(32, reset_less=True)      # dout0, straight into a flop every edge
        req = wb.cyc & wb.stb & ~issued & ~wb.ack
        m.d.comb += [
            sram.p0.en.eq(req), sram.p0.we.eq(wb.we), sram.p0.wmask.eq(Mux(wb.we, wb.sel, 0)),
            sram.p0.addr.eq(wb.adr), sram.p0.wdata.eq(wb.dat_w),
            sram.p1.en.eq(0), sram.p1.addr.eq(0),
            wb.dat_r.eq(dout),
        ]
        m.d.sync += [dout.eq(sram.p0.rdata), issued.eq(req & ~wb.we), wb.ack.eq((req & wb.we) | issued)]
        return m
