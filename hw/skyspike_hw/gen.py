"""Verilog of the hardware blocks, generated one way for every consumer (simulation, gate-level
models, the SoC): ``python -m skyspike_hw.gen --config chip`` writes the core's.

Top-level ports are the component's signature members, interface members flattened with
``_`` (``wb.cyc`` -> ``wb_cyc``): the names the cocotb benches, ``openlane/pin_order.cfg`` and
``openlane/skyspike.sdc`` use.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable
from amaranth.lib import wiring

from skyspike.spec.config import get_config

from .core import SNNCore

__all__ = ["FlatPorts", "rtlil_text", "verilog_text", "write_if_changed", "generate", "write"]

# Amaranth's own Verilog back end keeps processes as `always @*` blocks. Icarus simulates those
# very slowly at the chip's size (5 cycles/s) and leaves blocks whose inputs never change at X,
# so we run Yosys' full `proc` and `flatten` ourselves: plain assigns, ~50x faster in Icarus.
# Instances of modules that are not part of the design (PicoRV32, SRAM macros) stay instances.
_SCRIPT = """read_rtlil <<rtlil
{rtlil}
rtlil
proc
flatten
opt_clean -purge
write_verilog -noattr
"""


class FlatPorts(Elaboratable):
    """``component`` with its interface members as flat top-level ports: ``wb.cyc`` becomes
    the attribute and port ``wb_cyc``. Elaborates into the component itself (no extra level
    of hierarchy), so instance and signal names inside are unchanged."""

    def __init__(self, component: wiring.Component):
        if not isinstance(component, wiring.Component):
            raise TypeError(f"component must be an amaranth.lib.wiring.Component, not {component!r}")
        self.component = component
        members = {}
        for path, member, value in component.signature.flatten(component):
            name = "_".join(map(str, path))
            if name in members:
                raise ValueError(f"{component!r}: two ports flatten to {name!r}")
            members[name] = member
            setattr(self, name, value)
        self.signature = wiring.Signature(members)

    def elaborate(self, platform):
        return self.component


def rtlil_text(component: wiring.Component, name: str, platform=None) -> str:
    """RTLIL of ``component`` as top module ``name``, ports flattened (:class:`FlatPorts`),
    elaborated for ``platform`` (None: simulation and silicon; a build platform: an FPGA)."""
    return rtlil.convert(FlatPorts(component), name=name, platform=platform, emit_src=False)


def verilog_text(component: wiring.Component, name: str, platform=None) -> str:
    """Verilog of ``component`` as top module ``name``: :func:`rtlil_text` through Yosys
    ``proc`` and ``flatten``."""
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    return yosys.run(["-q", "-"], _SCRIPT.format(rtlil=rtlil_text(component, name, platform)), ignore_warnings=True)


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` unless the file already holds it (keeps mtimes stable for build caches)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def generate(config="small", *, sim_model: bool = True, name: str = "skyspike_core") -> str:
    """Verilog text of :class:`SNNCore` for ``config`` (a name or a CoreConfig).

    ``sim_model=False`` emits the SRAMs as black-box instances of the OpenRAM macros."""
    return verilog_text(SNNCore(get_config(config), sim_model=sim_model), name)


def write(config, out_dir: Path, *, sim_model: bool = True, name: str = "skyspike_core") -> Path:
    """Write ``<out_dir>/<name>.v`` (:func:`generate`) and return its path."""
    return write_if_changed(Path(out_dir) / f"{name}.v", generate(config, sim_model=sim_model, name=name))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="chip", help="core configuration name (small, fpga, chip)")
    ap.add_argument("--macros", action="store_true", help="emit SRAMs as black-box macro instances (synthesis)")
    ap.add_argument("-o", "--out", default="build/verilog", type=Path)
    args = ap.parse_args(argv)
    name = "skyspike_core" if not args.macros else "skyspike_core_syn"
    path = write(args.config, args.out / args.config, sim_model=not args.macros, name=name)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
