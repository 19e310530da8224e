"""Generate the Verilog of a core configuration: ``python -m skyspike_hw.gen --config chip``."""
from __future__ import annotations

import argparse
from pathlib import Path

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil

from skyspike.spec.config import get_config

from .core import SNNCore

# Amaranth's own Verilog back end keeps processes as `always @*` blocks. Icarus simulates those
# very slowly at the chip's size (5 cycles/s) and leaves blocks whose inputs never change at X,
# so we run Yosys' full `proc` and `flatten` ourselves: plain assigns, ~50x faster in Icarus.
_SCRIPT = """read_rtlil <<rtlil
{rtlil}
rtlil
proc
flatten
opt_clean -purge
write_verilog -noattr
"""


def convert(elaboratable, name: str) -> str:
    """Verilog text of an Amaranth component, through Yosys ``proc`` and ``flatten``."""
    text = rtlil.convert(elaboratable, name=name, emit_src=False)
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    return yosys.run(["-q", "-"], _SCRIPT.format(rtlil=text), ignore_warnings=True)


def generate(config="small", *, sim_model: bool = True, name: str = "skyspike_core") -> str:
    """Verilog text of :class:`SNNCore` for ``config`` (a name or a CoreConfig).

    ``sim_model=False`` emits the SRAMs as black-box instances of the OpenRAM macros."""
    return convert(SNNCore(get_config(config), sim_model=sim_model), name)


def write(config, out_dir: Path, *, sim_model: bool = True, name: str = "skyspike_core") -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.v"
    text = generate(config, sim_model=sim_model, name=name)
    if not path.exists() or path.read_text() != text:  # keep mtimes stable for build caches
        path.write_text(text)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="chip", help="core configuration name (small, chip)")
    ap.add_argument("--macros", action="store_true", help="emit SRAMs as black-box macro instances (synthesis)")
    ap.add_argument("-o", "--out", default="build/verilog", type=Path)
    args = ap.parse_args(argv)
    name = "skyspike_core" if not args.macros else "skyspike_core_syn"
    path = write(args.config, args.out / args.config, sim_model=not args.macros, name=name)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
