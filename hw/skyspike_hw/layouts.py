"""``amaranth.lib.data`` layouts of the contract's bit fields (``skyspike.spec.bitfields``):
the RTL views registers and entries through the same field tables as the driver."""
from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from skyspike.spec.bitfields import Layout

__all__ = ["data_layout"]


def data_layout(layout: Layout) -> data.FlexibleLayout:
    """The :class:`~amaranth.lib.data.FlexibleLayout` of ``layout``: every field at its lsb,
    signed where the field is; bits outside the fields are unnamed. (A scaled field holds its
    stored value, ``value // scale``.)"""
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a skyspike.spec.bitfields.Layout, not {layout!r}")
    return data.FlexibleLayout(layout.width, {
        f.name: data.Field(signed(f.width) if f.signed else unsigned(f.width), f.lsb) for f in layout})
