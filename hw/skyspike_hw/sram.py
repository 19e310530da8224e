"""Model of the OpenRAM sky130 dual-port (1rw1r) SRAM macros.

Facts: ``shared/docs/openram-sky130-macros.md`` (beside the checkout); pin names and widths from the liberty files in
``sky130_sram_macros/lib``. The simulation model is deliberately unforgiving: read data exists
only in the one cycle the macro guarantees it, and is pseudo-random garbage at every other time.
"""

import random

from amaranth.hdl import ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import SRAM_MACROS as SPEC_MACROS

__all__ = ["SRAM_MACROS", "SRAMMacro", "make_sram"]


#: Macro name -> (depth in 32-bit words, address bits, area in um^2): a view of the contract's
#: table (skyspike.spec.config.SRAM_MACROS).
SRAM_MACROS = {m.name: (m.depth, m.addr_bits, m.area_um2) for m in SPEC_MACROS.values()}

_MACRO_BY_DEPTH = {depth: name for name, (depth, _, _) in SRAM_MACROS.items()}


def _lfsr(m, name, seed):
    """A free-running 32-bit Galois LFSR (x^32 + x^22 + x^2 + x + 1, maximal length)."""
    state = Signal(32, name=name, init=seed)
    m.d.sync += state.eq(Mux(state[0], (state >> 1) ^ 0x80200003, state >> 1))
    return state


class SRAMMacro(wiring.Component):
    """An OpenRAM sky130 ``1rw1r`` 32-bit SRAM macro (256 or 512 words).

    Port 0 is read/write (control side: host loading weights), port 1 is read-only (engine side:
    the neuron core streaming weights). Both ports are clocked by the ``sync`` domain; ``clk0`` and
    ``clk1`` of the macro are both the domain clock. The macro's active-low controls are presented
    as active-high signals here.

    Reads have one cycle of latency: a read issued at rising edge *e* (port enabled and, on
    port 0, not writing) presents the word during the cycle after *e*, so synchronous logic
    captures it at edge *e + 1*. The read data is *not held*: at all other times (and after a
    write on port 0) the simulation model drives a free-running pseudo-random pattern, different
    per port, so that logic sampling at the wrong time gets wrong data.

    A write at edge *e* (per enabled byte of ``p0_wmask``) is seen by reads issued at later edges.
    Port 0 writing (``p0_en & p0_we``, whatever the mask) the address that port 1 reads at the
    same edge is a collision: port 1 returns garbage for that read and the simulation model raises
    the sticky ``collision`` flag from the next cycle on, until reset.

    Parameters
    ----------
    depth : :class:`int`
        Number of 32-bit words: 256 (``sky130_sram_1kbyte_1rw1r_32x256_8``) or
        512 (``sky130_sram_2kbyte_1rw1r_32x512_8``).
    sim_model : :class:`bool`
        If true, elaborate into a behavioural model built on :class:`~amaranth.lib.memory.Memory`.
        If false, elaborate into an :class:`~amaranth.hdl.Instance` of the real macro (a black box
        for synthesis, power pins added by OpenLane through ``USE_POWER_PINS``).
    init : iterable of :class:`int` or :py:`None`
        Initial contents (simulation model only). Missing words are zero. If :py:`None`, the
        memory starts with deterministic pseudo-random contents, like an SRAM after power-up.

    Attributes
    ----------
    p0_en : :py:`In(1)`
        Port 0 select (``csb0 = ~p0_en``).
    p0_we : :py:`In(1)`
        Port 0 write enable (``web0 = ~p0_we``); a port 0 access with ``p0_we`` low is a read.
    p0_wmask : :py:`In(4)`
        Port 0 byte write enables (``wmask0``); bit *i* enables ``p0_wdata[8*i:8*i+8]``.
    p0_addr : :py:`In(A)`
        Port 0 word address (``addr0``); A is 8 for 256 words, 9 for 512.
    p0_wdata : :py:`In(32)`
        Port 0 write data (``din0``).
    p0_rdata : :py:`Out(32)`
        Port 0 read data (``dout0``), valid only in the cycle after a port 0 read.
    p1_en : :py:`In(1)`
        Port 1 select (``csb1 = ~p1_en``); port 1 only reads.
    p1_addr : :py:`In(A)`
        Port 1 word address (``addr1``).
    p1_rdata : :py:`Out(32)`
        Port 1 read data (``dout1``), valid only in the cycle after a port 1 read.
    p0_valid : :py:`Out(1)`
        ``p0_rdata`` carries a read result this cycle. For tests and assertions only;
        always 0 when :py:`sim_model` is false.
    p1_valid : :py:`Out(1)`
        As ``p0_valid``, for port 1 (low after a collision).
    collision : :py:`Out(1)`
        Sticky: a port 0 write hit the address port 1 read at the same edge. Cleared by reset;
        always 0 when :py:`sim_model` is false.

    Raises
    ------
    :exc:`ValueError`
        If :py:`depth` is not 256 or 512, or if :py:`init` is given without :py:`sim_model`.
    """

    def __init__(self, depth, *, sim_model, init=None):
        if depth not in _MACRO_BY_DEPTH:
            raise ValueError(f"SRAM depth must be 256 or 512, not {depth!r}")
        if init is not None and not sim_model:
            raise ValueError("'init' is only supported by the simulation model")
        self.depth = depth
        self.macro_name = _MACRO_BY_DEPTH[depth]
        self.addr_width = SRAM_MACROS[self.macro_name][1]
        self.sim_model = bool(sim_model)
        if init is None:
            rng = random.Random(depth)  # fixed seed: reproducible "power-up" contents
            init = [rng.getrandbits(32) for _ in range(depth)]
        self.init = list(init)
        super().__init__({
            "p0_en": In(1), "p0_we": In(1), "p0_wmask": In(4),
            "p0_addr": In(self.addr_width), "p0_wdata": In(32), "p0_rdata": Out(32),
            "p1_en": In(1), "p1_addr": In(self.addr_width), "p1_rdata": Out(32),
            "p0_valid": Out(1), "p1_valid": Out(1), "collision": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        if not self.sim_model:
            m.submodules.macro = Instance(
                self.macro_name,
                i_clk0=ClockSignal("sync"), i_csb0=~self.p0_en, i_web0=~self.p0_we,
                i_wmask0=self.p0_wmask, i_addr0=self.p0_addr, i_din0=self.p0_wdata,
                o_dout0=self.p0_rdata,
                i_clk1=ClockSignal("sync"), i_csb1=~self.p1_en, i_addr1=self.p1_addr,
                o_dout1=self.p1_rdata,
            )
            m.d.comb += [self.p0_valid.eq(0), self.p1_valid.eq(0), self.collision.eq(0)]
            return m

        m.submodules.mem = mem = Memory(shape=32, depth=self.depth, init=self.init)
        wr = mem.write_port(granularity=8)
        # Non-transparent ports: a read returns the array as it was before this edge's write.
        rd0 = mem.read_port(domain="sync")
        rd1 = mem.read_port(domain="sync")

        p0_write = self.p0_en & self.p0_we
        p0_read = self.p0_en & ~self.p0_we
        hit = p0_write & self.p1_en & (self.p0_addr == self.p1_addr)
        m.d.comb += [
            wr.addr.eq(self.p0_addr), wr.data.eq(self.p0_wdata),
            wr.en.eq(Mux(p0_write, self.p0_wmask, 0)),
            rd0.addr.eq(self.p0_addr), rd0.en.eq(p0_read),
            rd1.addr.eq(self.p1_addr), rd1.en.eq(self.p1_en),
        ]

        # The valid bits mark the single cycle in which dout carries the word read at the last edge.
        m.d.sync += [self.p0_valid.eq(p0_read), self.p1_valid.eq(self.p1_en & ~hit)]
        with m.If(hit):
            m.d.sync += self.collision.eq(1)

        # Outside that cycle the macro's dout is undefined: show garbage, not zero or a stale word.
        junk0 = _lfsr(m, "junk0", 0x5EED0001)
        junk1 = _lfsr(m, "junk1", 0xC0FFEE17)
        m.d.comb += [
            self.p0_rdata.eq(Mux(self.p0_valid, rd0.data, junk0)),
            self.p1_rdata.eq(Mux(self.p1_valid, rd1.data, junk1 ^ 0xA5A5A5A5)),
        ]
        return m


def make_sram(depth, *, sim_model, init=None):
    """Shorthand for :class:`SRAMMacro` (``depth`` 256 or 512)."""
    return SRAMMacro(depth, sim_model=sim_model, init=init)
