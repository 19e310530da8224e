"""Generate the Verilog of a core configuration: ``python -m skyspike_hw.gen --config chip``."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from amaranth.back import verilog

from skyspike.config import get_config

from .core import SNNCore


# Yosys puts a dummy register into every `always @*` block so that simulators evaluate the
# block at time 0; Icarus does not see its declaration initialiser as an event, and blocks
# whose inputs never change (constant selections) would stay X. One real event fixes that.
_KICK = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\S*)\s+= 0;$", re.M)


def kick_combinational(text: str) -> str:
    return _KICK.sub(lambda mo: f"{mo[0]}\n{mo[1]}initial #0 {mo[2]} = 1'h1;", text)


def generate(config="small", *, sim_model: bool = True, name: str = "skyspike_core") -> str:
    """Verilog text of :class:`SNNCore` for ``config`` (a name or a CoreConfig)."""
    core = SNNCore(get_config(config), sim_model=sim_model)
    text = verilog.convert(core, name=name, emit_src=False)
    return kick_combinational(text) if sim_model else text


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
