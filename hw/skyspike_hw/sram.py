"""Model of the OpenRAM sky130 dual-port (1rw1r) SRAM macros.

Facts: ``shared/docs/openram-sky130-macros.md`` (beside the checkout); pin names and widths from the liberty files in
``sky130_sram_macros/lib``. The simulation model is deliberately unforgiving: read data exists
only in the one cycle the macro guarantees it, and is pseudo-random garbage at every other time.

What a macro elaborates into is the platform's choice (:func:`sram_kind`): on an FPGA (any
Amaranth build platform, e.g. the ECP5 boards of :mod:`skyspike_hw.boards`) it is block RAM
with the macro's cycle behaviour; otherwise the ``sim_model`` argument picks the simulation
model or the black-box macro. No hand edits: the same SoC source serves all three.
"""

import random

from amaranth.build import Platform
from amaranth.hdl import ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import SRAM_MACROS

from .params import rejecting
from .ports import SRAMReadSignature, SRAMReadWriteSignature

__all__ = ["SRAMMacro", "SRAM_KINDS", "sram_kind"]

#: What an SRAM macro elaborates into: the macro instance (silicon), the cycle-exact
#: simulation model, or FPGA block RAM.
SRAM_KINDS = ("macro", "model", "bram")


def sram_kind(platform, sim_model: bool) -> str:
    """The kind (:data:`SRAM_KINDS`) for ``platform``: ``"bram"`` on an Amaranth build platform
    (an FPGA), else ``"model"`` or ``"macro"`` as ``sim_model`` says."""
    if isinstance(platform, Platform):
        return "bram"
    return "model" if sim_model else "macro"


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

    A write at edge *e* (per enabled byte of ``p0.wmask``) is seen by reads issued at later edges.
    Port 0 writing (``p0.en & p0.we``, whatever the mask) the address that port 1 reads at the
    same edge is a collision: port 1 returns garbage for that read and the simulation model raises
    the sticky ``collision`` flag from the next cycle on, until reset.

    Parameters
    ----------
    depth : :class:`int`
        Number of 32-bit words: a key of ``skyspike.spec.config.SRAM_MACROS`` (256:
        ``sky130_sram_1kbyte_1rw1r_32x256_8``, 512: ``sky130_sram_2kbyte_1rw1r_32x512_8``).
    sim_model : :class:`bool`
        If true, elaborate into a behavioural model built on :class:`~amaranth.lib.memory.Memory`.
        If false, elaborate into an :class:`~amaranth.hdl.Instance` of the real macro (a black box
        for synthesis, power pins added by OpenLane through ``USE_POWER_PINS``). Ignored when
        elaborated for an FPGA platform: block RAM then (:func:`sram_kind`), a ``1rw`` port 0 and
        a read port 1 with one cycle of read latency (read data is held there, which the model's
        garbage makes sure nothing relies on); it starts with the model's power-up contents.
    init : iterable of :class:`int` or :py:`None`
        Initial contents (simulation model and block RAM only). Missing words are zero. If :py:`None`, the
        memory starts with deterministic pseudo-random contents, like an SRAM after power-up.

    Attributes
    ----------
    p0 : :py:`In(SRAMReadWriteSignature(A))`
        Port 0, read/write; A is 8 for 256 words, 9 for 512. Macro pins: ``csb0 = ~p0.en``,
        ``web0 = ~p0.we`` (an access with ``p0.we`` low is a read), ``wmask0 = p0.wmask``
        (bit *i* enables ``p0.wdata[8*i:8*i+8]``), ``addr0``, ``din0 = p0.wdata``,
        ``dout0 = p0.rdata`` (valid only in the cycle after a port 0 read).
    p1 : :py:`In(SRAMReadSignature(A))`
        Port 1, read-only. Macro pins: ``csb1 = ~p1.en``, ``addr1``, ``dout1 = p1.data``
        (valid only in the cycle after a port 1 read).
    p0_valid : :py:`Out(1)`
        ``p0.rdata`` carries a read result this cycle. For tests and assertions only;
        always 0 for the macro and block RAM.
    p1_valid : :py:`Out(1)`
        As ``p0_valid``, for port 1 (low after a collision).
    collision : :py:`Out(1)`
        Sticky: a port 0 write hit the address port 1 read at the same edge. Cleared by reset;
        always 0 for the macro and block RAM.

    Raises
    ------
    :exc:`ValueError`
        If :py:`depth` is not a macro's depth, or if :py:`init` is given without :py:`sim_model`.
    """

    def __init__(self, depth, *, sim_model, init=None):
        with rejecting(self):
            if depth not in SRAM_MACROS:
                raise ValueError(f"SRAM depth must be one of {', '.join(map(str, SRAM_MACROS))}, not {depth!r}")
            if init is not None and not sim_model:
                raise ValueError("'init' is only supported by the simulation model")
        self.depth = depth
        self.macro_name = SRAM_MACROS[depth].name
        self.addr_width = SRAM_MACROS[depth].addr_bits
        self.sim_model = bool(sim_model)
        if init is None:
            rng = random.Random(depth)  # fixed seed: reproducible "power-up" contents
            init = [rng.getrandbits(32) for _ in range(depth)]
        self.init = list(init)
        super().__init__({
            "p0": In(SRAMReadWriteSignature(self.addr_width)), "p1": In(SRAMReadSignature(self.addr_width)),
            "p0_valid": Out(1), "p1_valid": Out(1), "collision": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p0, p1 = self.p0, self.p1
        kind = sram_kind(platform, self.sim_model)
        if kind == "bram":
            return self._bram(m)
        if kind == "macro":
            m.submodules.macro = Instance(
                self.macro_name,
                i_clk0=ClockSignal("sync"), i_csb0=~p0.en, i_web0=~p0.we,
                i_wmask0=p0.wmask, i_addr0=p0.addr, i_din0=p0.wdata, o_dout0=p0.rdata,
                i_clk1=ClockSignal("sync"), i_csb1=~p1.en, i_addr1=p1.addr, o_dout1=p1.data,
            )
            m.d.comb += [self.p0_valid.eq(0), self.p1_valid.eq(0), self.collision.eq(0)]
            return m

        m.submodules.mem = mem = Memory(shape=32, depth=self.depth, init=self.init)
        wr = mem.write_port(granularity=8)
        # Non-transparent ports: a read returns the array as it was before this edge's write.
        rd0 = mem.read_port(domain="sync")
        rd1 = mem.read_port(domain="sync")

        p0_write = p0.en & p0.we
        p0_read = p0.en & ~p0.we
        hit = p0_write & p1.en & (p0.addr == p1.addr)
        m.d.comb += [
            wr.addr.eq(p0.addr), wr.data.eq(p0.wdata), wr.en.eq(Mux(p0_write, p0.wmask, 0)),
            rd0.addr.eq(p0.addr), rd0.en.eq(p0_read),
            rd1.addr.eq(p1.addr), rd1.en.eq(p1.en),
        ]

        # The valid bits mark the single cycle in which dout carries the word read at the last edge.
        m.d.sync += [self.p0_valid.eq(p0_read), self.p1_valid.eq(p1.en & ~hit)]
        with m.If(hit):
            m.d.sync += self.collision.eq(1)

        # Outside that cycle the macro's dout is undefined: show garbage, not zero or a stale word.
        junk0 = _lfsr(m, "junk0", 0x5EED0001)
        junk1 = _lfsr(m, "junk1", 0xC0FFEE17)
        m.d.comb += [
            p0.rdata.eq(Mux(self.p0_valid, rd0.data, junk0)),
            p1.data.eq(Mux(self.p1_valid, rd1.data, junk1 ^ 0xA5A5A5A5)),
        ]
        return m


    def _bram(self, m):
        """Block RAM: the model's memory without its garbage or checks. A 32-bit ECP5 block RAM
        (PDPW16KD) has one write and one read port, so Yosys keeps one copy per read port, both
        written (two blocks a macro; one where port 1 is never enabled, as in the CPU's RAM)."""
        p0, p1 = self.p0, self.p1
        m.submodules.mem = mem = Memory(shape=32, depth=self.depth, init=self.init)
        wr = mem.write_port(granularity=8)
        rd0 = mem.read_port(domain="sync")
        rd1 = mem.read_port(domain="sync")
        m.d.comb += [
            wr.addr.eq(p0.addr), wr.data.eq(p0.wdata), wr.en.eq(Mux(p0.en & p0.we, p0.wmask, 0)),
            rd0.addr.eq(p0.addr), rd0.en.eq(p0.en & ~p0.we), p0.rdata.eq(rd0.data),
            rd1.addr.eq(p1.addr), rd1.en.eq(p1.en), p1.data.eq(rd1.data),
            self.p0_valid.eq(0), self.p1_valid.eq(0), self.collision.eq(0),
        ]
        return m
