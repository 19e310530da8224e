"""``amaranth.lib.data`` views of the contract's bit layouts (``skyspike.spec.layouts``).

Every field offset is written once, in ``skyspike.spec``; this module only translates a
:class:`skyspike.spec.bitfields.Layout` into an Amaranth layout, so the RTL reads the
descriptor table and writes the neuron state exactly as the driver packs and unpacks them.
"""
from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data

from skyspike.spec import layouts as spec
from skyspike.spec.bitfields import Layout

__all__ = ["data_layout", "DESCRIPTOR", "STATE_ENTRY"]


def data_layout(layout: Layout, width: int | None = None) -> data.Layout:
    """The Amaranth layout of ``layout`` over its first ``width`` bits (default: all of it).

    Signed fields get signed shapes. Fields that tile ``width`` bits from bit 0 without gaps
    become a :class:`~amaranth.lib.data.StructLayout`, others a
    :class:`~amaranth.lib.data.FlexibleLayout` with the spec's offsets.

    Raises
    ------
    TypeError
        ``layout`` is not a ``skyspike.spec.bitfields.Layout``.
    ValueError
        ``width`` is not positive, or cuts a field.
    """
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a skyspike.spec.bitfields.Layout, not {layout!r}")
    width = layout.width if width is None else width
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive int, not {width!r}")
    fields = sorted(layout, key=lambda f: f.lsb)
    for f in fields:
        if f.msb >= width:
            raise ValueError(f"layout {layout.name}: field {f.name} {f.bits} does not fit {width} bits")
    shapes = {f.name: (signed if f.signed else unsigned)(f.width) for f in fields}
    contiguous = all(f.lsb == sum(g.width for g in fields[:i]) for i, f in enumerate(fields))
    if contiguous and sum(f.width for f in fields) == width:
        return data.StructLayout(shapes)
    return data.FlexibleLayout(width, {f.name: data.Field(shapes[f.name], f.lsb) for f in fields})


#: One layer's descriptor as the core stores it (words 0 .. STORED_WORDS - 1).
DESCRIPTOR = data_layout(spec.DESCRIPTOR, 32 * spec.STORED_WORDS)
#: One neuron's state entry as the core keeps it (V, armed, fired).
STATE_ENTRY = data_layout(spec.STATE_ENTRY, spec.STATE_BITS)
