"""The rate encoder: a rate-coded input's spikes of one step, drawn on the chip from the values'
bit planes in the input buffer (docs/semantics.md, "Inputs")."""
from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import RATE_GENERATORS, RATE_SEED_MIX, CoreConfig, log2

from .descriptor import WORD_BITS
from .ports import SRAMReadSignature

__all__ = ["RateEncoder", "xorshift32"]


def xorshift32(x):
    """Marsaglia's xorshift32 (13, 17, 5) on a 32-bit value: shifts and XORs, no carries."""
    x = x ^ (x << 13)[:32]
    x = x ^ (x >> 17)
    return x ^ (x << 5)[:32]


class RateEncoder(wiring.Component):
    """Per step, reads the values' bit planes (frame p at ``p * rows + j`` of each input bank)
    row by row, plane by plane, most significant first, one read a cycle; compares each value
    with a random level, bit-serially, as its planes arrive two cycles later; and writes the
    row's 4 spike words (input word 4j + k from bank k) into ``bitmap``.

    The level of input 32(4j + k) + c is made of bit c of generator k's word at each plane:
    every generator steps once per row and plane (:func:`xorshift32`), seeded at ``reseed``.

    Parameters
    ----------
    cfg : CoreConfig
        ``input_banks`` must be RATE_GENERATORS (CoreConfig checks it).

    Attributes
    ----------
    reseed : In(1)
        Load the generators from ``seed`` (the start of a run).
    seed : In(32)
        The SEED register.
    start : In(1)
        Encode one step (ignored while ``busy``); ``bits_code`` and ``rows`` held until done.
    bits_code : In(2)
        Bits per value: 0..3 = 1, 2, 4, 8 planes.
    rows : In(WORD_BITS)
        Words per input bank of one plane (the layer's ``in_words_per_bank``).
    base : In(16)
        Input-buffer word of frame 0 (NET.input_base).
    inp : Out(SRAMReadSignature(input address bits)).array(input_banks)
        Read ports of the input buffer banks (data two cycles after a read).
    busy : Out(1)
        Reads left or in flight; the bitmap is complete the cycle it falls.
    bitmap : Out(max_inputs)
        The step's spikes: bit i = input i (words past the input's last are left as they were).
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.ia_bits = log2(cfg.input_depth)
        super().__init__({
            "reseed": In(1), "seed": In(32), "start": In(1), "bits_code": In(2), "rows": In(WORD_BITS), "base": In(16),
            "inp": Out(SRAMReadSignature(self.ia_bits)).array(cfg.input_banks),
            "busy": Out(1), "bitmap": Out(cfg.max_inputs),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        K = RATE_GENERATORS
        running, row, plane, addr = Signal(), Signal(WORD_BITS), Signal(3), Signal(17)
        last_plane = plane == (Const(1, 4) << self.bits_code) - 1
        # The read tags, as late as the data: (valid, first plane, last plane, row).
        tag = [(Signal(name=f"valid_d{d}"), Signal(name=f"first_d{d}"), Signal(name=f"last_d{d}"),
                Signal(WORD_BITS, name=f"row_d{d}")) for d in (1, 2)]
        m.d.sync += [a.eq(b) for a, b in zip(tag[0], (running, plane == 0, last_plane, row))]
        m.d.sync += [a.eq(b) for a, b in zip(tag[1], tag[0])]
        valid, first, last, row_q = tag[1]
        m.d.comb += self.busy.eq(running | tag[0][0] | valid)
        for port in self.inp:
            m.d.comb += [port.en.eq(running), port.addr.eq(addr)]

        with m.If(self.start & ~self.busy):
            m.d.sync += [running.eq(1), row.eq(0), plane.eq(0), addr.eq(self.base)]
        with m.Elif(running):
            # next plane of this row (address + rows), or plane 0 of the next row
            with m.If(~last_plane):
                m.d.sync += [plane.eq(plane + 1), addr.eq(addr + self.rows)]
            with m.Else():
                m.d.sync += [plane.eq(0), row.eq(row + 1), addr.eq(self.base + row + 1)]
                with m.If(row == self.rows - 1):
                    m.d.sync += running.eq(0)

        words = Array([self.bitmap[32 * w: 32 * (w + 1)] for w in range(cfg.max_inputs // 32)])
        for k in range(K):
            state = Signal(32, name=f"gen{k}")
            less, equal = Signal(32, name=f"less{k}"), Signal(32, name=f"equal{k}")
            init = Signal(32, name=f"seed{k}")
            m.d.comb += init.eq(self.seed ^ ((RATE_SEED_MIX * (k + 1)) & 0xFFFF_FFFF))
            with m.If(self.reseed):
                m.d.sync += state.eq(Mux(init == 0, 1, init))
            level = xorshift32(state)          # this plane's random bits (the generator's next state)
            x = self.inp[k].data
            # level < value, most significant plane first: decided at the first plane where
            # they differ (x 1, level 0); `equal` marks the lanes still undecided.
            lt = Mux(first, 0, less) | (Mux(first, 0xFFFF_FFFF, equal) & x & ~level)
            eq = Mux(first, 0xFFFF_FFFF, equal) & ~(x ^ level)
            with m.If(valid & ~self.reseed):
                m.d.sync += [state.eq(level), less.eq(lt), equal.eq(eq)]
                with m.If(last):
                    m.d.sync += words[Cat(Const(k, log2(K)), row_q)].eq(lt)
        return m
