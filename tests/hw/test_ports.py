# amaranth: UnusedElaboratable=no
"""The shared interfaces (skyspike_hw.ports), the flat top-level port names of the one Verilog
generator (skyspike_hw.gen), the parameter checks (skyspike_hw.params) and the data layouts
of the contract's bit fields (skyspike_hw.layouts)."""
import pytest
from amaranth.hdl import Module, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec import memmap as mm
from skyspike.spec.layouts import STATE_ENTRY
from skyspike_hw.gen import FlatPorts, verilog_text
from skyspike_hw.layouts import data_layout
from skyspike_hw.params import check_int, rejecting
from skyspike_hw.ports import SRAMReadSignature, SRAMReadWriteSignature, WishboneSignature

SIGNATURES = [WishboneSignature, SRAMReadSignature, SRAMReadWriteSignature]


@pytest.mark.parametrize("cls", SIGNATURES)
def test_signature_equality_and_repr(cls):
    assert cls(9) == cls(9) and cls(9) != cls(8)
    assert all(cls(9) != other(9) for other in SIGNATURES if other is not cls)
    assert repr(cls(9)) == f"{cls.__name__}(9)"
    assert len({cls(9), cls(9)}) == 1


@pytest.mark.parametrize("cls", SIGNATURES)
@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "8", None])
def test_signature_rejects_bad_widths(cls, bad):
    with pytest.raises(TypeError, match=repr(bad)):
        cls(bad)


def test_wishbone_members():
    sig = WishboneSignature(16)
    flows = {name: (m.flow, Shape.cast(m.shape).width) for name, m in sig.members.items()}
    assert flows == {"cyc": (Out, 1), "stb": (Out, 1), "we": (Out, 1), "sel": (Out, 4), "adr": (Out, 16),
                     "dat_w": (Out, 32), "dat_r": (In, 32), "ack": (In, 1)}


class _Target(wiring.Component):
    """A Wishbone target that acks every strobe and reads back its address."""

    def __init__(self):
        super().__init__({"wb": In(WishboneSignature(4)), "irq": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.wb.ack.eq(self.wb.cyc & self.wb.stb & ~self.wb.ack), self.wb.dat_r.eq(self.wb.adr)]
        return m


def test_flat_port_names():
    dut = _Target()
    flat = FlatPorts(dut)
    assert list(flat.signature.members) == ["wb_cyc", "wb_stb", "wb_we", "wb_sel", "wb_adr", "wb_dat_w",
                                            "wb_dat_r", "wb_ack", "irq"]
    assert flat.wb_adr is dut.wb.adr and flat.signature.members["wb_ack"].flow == Out
    text = verilog_text(_Target(), "target")
    assert "module target(" in text
    for port in ("input wb_cyc;", "input [3:0] wb_adr;", "output [31:0] wb_dat_r;", "output wb_ack;"):
        assert port in text
    assert "wb__" not in text


def test_flat_ports_rejects():
    with pytest.raises(TypeError, match="Module"):
        FlatPorts(Module())

    class Clash(wiring.Component):
        def __init__(self):
            super().__init__({"wb": In(WishboneSignature(4)), "wb_ack": Out(1)})

        def elaborate(self, platform):
            return Module()

    with pytest.raises(ValueError, match="wb_ack"):
        FlatPorts(Clash())


def test_check_int():
    assert check_int("n", 5, 1, 9) == 5
    with pytest.raises(TypeError, match="n must be an integer, not True"):
        check_int("n", True, 1, 9)
    with pytest.raises(ValueError, match=r"n must be within 1\.\.9 bytes, not 10"):
        check_int("n", 10, 1, 9, "bytes")


def test_rejecting_passes_the_error_on():
    for exc in (TypeError("t"), ValueError("v"), KeyError("k")):
        with pytest.raises(type(exc)), rejecting(_Target()):
            raise exc


def test_data_layout_matches_the_contract():
    for layout in (mm.CTRL, mm.STATUS, mm.NET, STATE_ENTRY, *mm.CAPS.values()):
        dl = data_layout(layout)
        assert dl.size == layout.width
        for f in layout:
            assert dl[f.name].offset == f.lsb and dl[f.name].width == f.width
            assert dl[f.name].shape.signed == f.signed
    with pytest.raises(TypeError, match="Layout"):
        data_layout({"v": 16})
