"""The interfaces between the hardware blocks, written once: the Wishbone bus and the SRAM
macro ports.

amaranth-soc defines a Wishbone signature too, but has no release on PyPI; this is the subset
the project uses (B4 classic, 32-bit data, no bursts, no err/rty), under the same member names.

Every signature is defined from the initiator's side (the side that drives the address);
a target declares ``In(...)`` of it (flipped).
"""
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class WishboneSignature(wiring.Signature):
    """Wishbone B4 classic, 32-bit data, byte selects; a Caravel user project's wbs_* roles.

    Members (initiator's view)
    --------------------------
    cyc, stb, we : Out(1)
        Bus cycle, strobe, write enable.
    sel : Out(4)
        Byte selects of a write.
    adr : Out(addr_width)
        Word address (byte address >> 2).
    dat_w : Out(32) ; dat_r : In(32)
        Write data; read data, valid with ``ack``.
    ack : In(1)
        The target's answer: one per strobe.

    Raises
    ------
    TypeError
        ``addr_width`` is not a positive int.
    """

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or isinstance(addr_width, bool) or addr_width < 1:
            raise TypeError(f"addr_width must be a positive int, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({
            "cyc": Out(1), "stb": Out(1), "we": Out(1), "sel": Out(4),
            "adr": Out(addr_width), "dat_w": Out(32), "dat_r": In(32), "ack": In(1),
        })

    def __eq__(self, other):
        return isinstance(other, WishboneSignature) and other.addr_width == self.addr_width

    def __repr__(self):
        return f"WishboneSignature({self.addr_width})"


class SRAMReadSignature(wiring.Signature):
    """A read-only SRAM port (the macros' port 1), from the reader's side.

    Members
    -------
    en : Out(1)
        Read at this clock edge.
    addr : Out(addr_width)
        Word address.
    data : In(32)
        The word, valid in the cycle after the read (the macro's one-cycle window).
    """

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or isinstance(addr_width, bool) or addr_width < 1:
            raise TypeError(f"addr_width must be a positive int, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({"en": Out(1), "addr": Out(addr_width), "data": In(32)})

    def __eq__(self, other):
        return isinstance(other, SRAMReadSignature) and other.addr_width == self.addr_width

    def __repr__(self):
        return f"SRAMReadSignature({self.addr_width})"


class SRAMReadWriteSignature(wiring.Signature):
    """A read/write SRAM port (the macros' port 0), from the initiator's side.

    Members
    -------
    en, we : Out(1)
        Access at this clock edge; write (else read).
    wmask : Out(4)
        Byte enables of a write.
    addr : Out(addr_width) ; wdata : Out(32)
        Word address and write data.
    rdata : In(32)
        Read data, valid in the cycle after the read.
    """

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or isinstance(addr_width, bool) or addr_width < 1:
            raise TypeError(f"addr_width must be a positive int, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({"en": Out(1), "we": Out(1), "wmask": Out(4), "addr": Out(addr_width),
                          "wdata": Out(32), "rdata": In(32)})

    def __eq__(self, other):
        return isinstance(other, SRAMReadWriteSignature) and other.addr_width == self.addr_width

    def __repr__(self):
        return f"SRAMReadWriteSignature({self.addr_width})"


__all__ = ["WishboneSignature", "SRAMReadSignature", "SRAMReadWriteSignature", "In", "Out"]
