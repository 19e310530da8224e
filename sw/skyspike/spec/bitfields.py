"""Bit fields of registers, descriptor words and memory entries, defined once as data.

A :class:`Layout` is a tuple of :class:`Field` s over a bit vector (one 32-bit register, or
several words laid end to end: word j's bit b is bit 32j + b). The driver packs and unpacks
with it; the RTL builds ``amaranth.lib.data`` layouts from the same objects
(``skyspike_hw.layouts``); the firmware header and the docs print it.

Written by hand rather than with ``amaranth.lib.data`` so that the contract carries no HDL
library: the driver, the emulators and the firmware-header generator import it without
Amaranth, and the RTL derives its views from it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """``width`` bits at ``lsb``; ``signed`` fields are two's complement. ``scale`` > 1 stores
    ``value // scale`` (a value that is a multiple of ``scale``, e.g. a depth in 256-word units)."""

    name: str
    lsb: int
    width: int
    signed: bool = False
    doc: str = ""
    scale: int = 1

    def __post_init__(self):
        if self.lsb < 0 or self.width < 1:
            raise ValueError(f"field {self.name!r}: lsb {self.lsb} / width {self.width} out of range")

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits in place (e.g. ``STATUS.mask("busy")`` = 0x1)."""
        return ((1 << self.width) - 1) << self.lsb

    @property
    def bits(self) -> str:
        """``[hi:lo]`` or ``[b]``, as the docs and comments write it."""
        return f"[{self.lsb}]" if self.width == 1 else f"[{self.msb}:{self.lsb}]"

    @property
    def lo(self) -> int:
        """Least value the field holds (before scaling)."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def put(self, value: int) -> int:
        """``value`` in place; ValueError if it does not fit (never silently masked)."""
        v = int(value)
        if v % self.scale:
            raise ValueError(f"{self.name}={value} is not a multiple of {self.scale}")
        v //= self.scale
        if not self.lo <= v <= self.hi:
            raise ValueError(f"{self.name}={value} does not fit {self.width} bits"
                             f"{' signed' if self.signed else ''} ({self.lo}..{self.hi})")
        return (v & ((1 << self.width) - 1)) << self.lsb

    def get(self, raw: int) -> int:
        v = (int(raw) >> self.lsb) & ((1 << self.width) - 1)
        if self.signed and v >> (self.width - 1):
            v -= 1 << self.width
        return v * self.scale


class Layout:
    """Named, non-overlapping fields of a ``width``-bit vector."""

    def __init__(self, name: str, width: int, fields: list[Field] | tuple[Field, ...]):
        self.name = name
        self.width = width
        self.fields = tuple(fields)
        self._by_name = {f.name: f for f in self.fields}
        if len(self._by_name) != len(self.fields):
            raise ValueError(f"layout {name}: duplicate field names")
        used = 0
        for f in self.fields:
            if f.msb >= width or used & f.mask:
                raise ValueError(f"layout {name}: field {f.name} {f.bits} overlaps or exceeds {width} bits")
            used |= f.mask

    def __getitem__(self, name: str) -> Field:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"layout {self.name} has no field {name!r}; fields: {', '.join(self._by_name)}") from None

    def __iter__(self):
        return iter(self.fields)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def mask(self, name: str) -> int:
        return self[name].mask

    def pack(self, **values: int) -> int:
        """The vector holding ``values`` (fields not named are 0). Unknown names and values that
        do not fit raise ValueError."""
        raw = 0
        for name, value in values.items():
            if name not in self._by_name:
                raise ValueError(f"layout {self.name} has no field {name!r}; fields: {', '.join(self._by_name)}")
            raw |= self._by_name[name].put(value)
        return raw

    def unpack(self, raw: int) -> dict[str, int]:
        """Every field's value in ``raw`` (bits outside the fields are ignored)."""
        return {f.name: f.get(raw) for f in self.fields}

    def words(self, raw: int) -> list[int]:
        """A multi-word vector as its 32-bit words, word 0 first."""
        return [(raw >> (32 * j)) & 0xFFFF_FFFF for j in range((self.width + 31) // 32)]

    def from_words(self, words) -> int:
        return sum((int(w) & 0xFFFF_FFFF) << (32 * j) for j, w in enumerate(words))

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, {self.width}, {[f.name for f in self.fields]})"


def word_fields(word: int, *fields: Field) -> list[Field]:
    """``fields`` of 32-bit word ``word`` of a multi-word layout (lsb counted in that word)."""
    return [Field(f.name, 32 * word + f.lsb, f.width, f.signed, f.doc, f.scale) for f in fields]
