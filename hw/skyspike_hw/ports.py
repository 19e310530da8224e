"""The interfaces between the hardware blocks, written once: the Wishbone bus and the SRAM
macro ports.

amaranth-soc defines a Wishbone signature too, but has no release on PyPI; this is the subset
the project uses (B4 classic, 32-bit data, no bursts, no err/rty), under the same member names.

Every signature is defined from the initiator's side (the side that drives the address);
a target declares ``In(...)`` of it (flipped).
"""
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class _AddressedSignature(wiring.Signature):
    """A signature whose only parameter is an address width; equal when the widths are.

    Raises
    ------
    TypeError
        ``addr_width`` is not a positive int.
    """

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or isinstance(addr_width, bool) or addr_width < 1:
            raise TypeError(f"addr_width must be a positive int, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__(self._members(addr_width))

    @staticmethod
    def _members(addr_width: int) -> dict:
        raise NotImplementedError

    def __eq__(self, other):
        return type(other) is type(self) and other.addr_width == self.addr_width

    def __hash__(self):
        return hash((type(self), self.addr_width))

    def __repr__(self):
        return f"{type(self).__name__}({self.addr_width})"


class WishboneSignature(_AddressedSignature):
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

    @staticmethod
    def _members(addr_width):
        return {"cyc": Out(1), "stb": Out(1), "we": Out(1), "sel": Out(4),
                "adr": Out(addr_width), "dat_w": Out(32), "dat_r": In(32), "ack": In(1)}


class SRAMReadSignature(_AddressedSignature):
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

    @staticmethod
    def _members(addr_width):
        return {"en": Out(1), "addr": Out(addr_width), "data": In(32)}


class SRAMReadWriteSignature(_AddressedSignature):
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

    @staticmethod
    def _members(addr_width):
        return {"en": Out(1), "we": Out(1), "wmask": Out(4), "addr": Out(addr_width),
                "wdata": Out(32), "rdata": In(32)}


__all__ = ["WishboneSignature", "SRAMReadSignature", "SRAMReadWriteSignature", "In", "Out"]
