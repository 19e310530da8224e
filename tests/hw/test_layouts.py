"""skyspike_hw.layouts: the Amaranth views are the spec's layouts (skyspike.spec.layouts),
field for field, and a value packed by the spec reads back through the view."""
from __future__ import annotations

import numpy as np
import pytest
from amaranth import Module, Signal, signed
from amaranth.lib import data
from amaranth.sim import Simulator

from skyspike.spec import layouts as spec
from skyspike.spec.bitfields import Field, Layout
from skyspike_hw import layouts


@pytest.mark.parametrize("name, width", [("DESCRIPTOR", 32 * spec.STORED_WORDS), ("STATE_ENTRY", spec.STATE_BITS)])
def test_views_match_spec(name, width):
    view, table = getattr(layouts, name), getattr(spec, name)
    assert view.size == width
    assert [f for f, _ in view] == [f.name for f in sorted(table, key=lambda f: f.lsb)]
    for f in table:
        assert (view[f.name].offset, view[f.name].width, view[f.name].shape.signed) == (f.lsb, f.width, f.signed)


def test_state_entry_is_a_struct_and_descriptor_flexible():
    assert isinstance(layouts.STATE_ENTRY, data.StructLayout)      # v, armed, fired: contiguous
    assert isinstance(layouts.DESCRIPTOR, data.FlexibleLayout)     # gaps between the fields


def test_spec_packing_reads_back_through_the_view():
    rng = np.random.default_rng(3)
    sig = Signal(layouts.DESCRIPTOR)
    values = [{f.name: int(rng.integers(f.lo, f.hi + 1)) for f in spec.DESCRIPTOR} for _ in range(20)]
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(sig.as_value(), spec.DESCRIPTOR.pack(**v))
            got.append({f.name: ctx.get(sig[f.name]) for f in spec.DESCRIPTOR})

    sim = Simulator(Module())
    sim.add_testbench(bench)
    sim.run()
    assert got == values


def test_bad_arguments():
    with pytest.raises(TypeError, match="Layout"):
        layouts.data_layout({"a": 1})
    with pytest.raises(ValueError, match="width"):
        layouts.data_layout(spec.STATE_ENTRY, 0)
    with pytest.raises(ValueError, match="fired"):
        layouts.data_layout(spec.STATE_ENTRY, 17)
    tiny = Layout("t", 8, [Field("lo", 0, 3, signed=True), Field("hi", 3, 5)])
    assert layouts.data_layout(tiny) == data.StructLayout({"lo": signed(3), "hi": 5})
    assert layouts.data_layout(tiny, 12) == data.FlexibleLayout(12, {"lo": data.Field(signed(3), 0),
                                                                   "hi": data.Field(5, 3)})
