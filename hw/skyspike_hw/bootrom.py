"""The boot ROM: the firmware's code and read-only data in standard cells.

Why a ROM of logic and not a loader: the chip has no management SoC and no flash, so the CPU
must find its program on chip at power-up. A UART or SPI loader would need a first-stage
program anyway (itself a ROM), a host or flash that speaks it before the chip can answer
anything, and a RAM large enough for the whole image (the one CPU RAM macro is 1 KB; the
firmware is ~2.7 KB). Baking the image into logic costs a few thousand cells (Yosys maps an
Amaranth ``Memory`` with an ``init`` and no write port to a constant decode), needs no macro,
boots in the first cycle after reset, and the chip answers the host protocol with nothing but
a clock, a reset and a UART. The price: the firmware is fixed at tape-out (the network, the
weights and the inputs are not: they arrive over the UART).
"""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In

from .params import rejecting
from .ports import WishboneSignature

__all__ = ["BootROM", "rom_depth", "check_image"]


def rom_depth(n_words: int) -> int:
    """Depth of the ROM that holds ``n_words``: the next power of two, at least 16 (words past
    the image read 0; addresses past the depth wrap around: the decode uses the low bits)."""
    return max(16, 1 << max(0, n_words - 1).bit_length())


def check_image(words, limit: int) -> list[int]:
    """``words`` as a list of 32-bit unsigned integers of at most ``limit`` entries."""
    if isinstance(words, (str, bytes)):
        raise TypeError(f"the firmware image must be a list of 32-bit words, not {type(words).__name__}")
    words = list(words or [])
    if len(words) > limit:
        raise ValueError(f"firmware of {len(words)} words does not fit in the boot ROM ({limit} words)")
    for i, w in enumerate(words):
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < 2 ** 32:
            raise ValueError(f"firmware word {i} is not a 32-bit unsigned integer: {w!r}")
    return words


class BootROM(wiring.Component):
    """Read-only memory behind a Wishbone B4 classic target; acks one cycle after the strobe.

    Contract: a read at word address ``wb.adr`` returns ``image[adr]`` (0 past the image)
    with the ack, one cycle after the strobe (the word comes from a register: the ROM's
    decode is the only logic before it). Only the low log2(depth) address bits decode.
    Writes are acked and ignored.

    Parameters
    ----------
    image : list of int
        The words from word address 0 (little-endian 32-bit words of the firmware binary).
    limit : int
        Most words the ROM may hold (its address window in words).

    Attributes
    ----------
    wb : In(WishboneSignature(A))
        The bus, target side, A = log2(:func:`rom_depth` of the image).

    Raises
    ------
    TypeError, ValueError
        ``image`` is not a list of 32-bit words or is longer than ``limit``.
    """

    def __init__(self, image, *, limit: int):
        with rejecting(self):
            self.image = check_image(image, limit)
        self.depth = rom_depth(len(self.image))
        super().__init__({"wb": In(WishboneSignature((self.depth - 1).bit_length()))})

    def elaborate(self, platform):
        m = Module()
        wb = self.wb
        m.submodules.mem = mem = Memory(shape=32, depth=self.depth, init=self.image)
        rd = mem.read_port()
        req = wb.cyc & wb.stb & ~wb.ack
        m.d.comb += [rd.addr.eq(wb.adr), rd.en.eq(req), wb.dat_r.eq(rd.data)]
        m.d.sync += wb.ack.eq(req)
        return m
