"""Static timing and power of a synthesized netlist with OpenSTA (Debian's ``opensta``, ``sta``).

The constraints are the design's SDC (``openlane/skyspike.sdc``, the same file OpenLane
uses); its period comes from ``$CLOCK_PERIOD``. Everything is pre-layout: ideal clock, no wires.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Timing", "run_sta"]

_TEMPLATE = Path(__file__).with_name("sta.tcl")


@dataclass
class Timing:
    """What OpenSTA found (times in ns, power in W)."""

    period: float
    worst_slack: float
    tns: float
    hold_slack: float
    min_period: float
    critical_path: str
    endpoints: str
    power: dict = field(default_factory=dict)
    macro_power: dict = field(default_factory=dict)
    activity: float = 0.1

    @property
    def wns(self) -> float:
        return min(0.0, self.worst_slack)

    @property
    def fmax_mhz(self) -> float:
        return 1000.0 / self.min_period

    def path_summary(self) -> dict:
        """Start, end and arrival of the critical path at the target period."""
        text = self.critical_path
        get = lambda rx: (m.group(1).strip() if (m := re.search(rx, text, re.M)) else None)  # noqa: E731
        arrival = get(r"^\s*([0-9.-]+)\s+data arrival time")
        return {"startpoint": get(r"^Startpoint: (.*)$"), "endpoint": get(r"^Endpoint: (.*)$"),
                "arrival_ns": float(arrival) if arrival else None}


def find_sta() -> str:
    sta = os.environ.get("STA") or shutil.which("sta")
    if not sta:
        raise FileNotFoundError("OpenSTA (`sta`) not found: apt-get install opensta (make setup does)")
    return sta


def _sections(text: str) -> tuple[dict, dict]:
    values, sections, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("@@begin "):
            current = line.split()[1]
            sections[current] = []
        elif line.startswith("@@end "):
            current = None
        elif line.startswith("@@"):
            key, _, val = line[2:].partition(" ")
            values[key] = val.strip()
        elif current:
            sections[current].append(line)
    return values, {k: "\n".join(v).strip("\n") for k, v in sections.items()}


def parse_power(text: str) -> dict:
    """The group rows of ``report_power``: {group: {internal, switching, leakage, total}} in W."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(Sequential|Combinational|Macro|Pad|Total)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if m:
            rows[m.group(1).lower()] = dict(zip(("internal", "switching", "leakage", "total"),
                                                map(float, m.group(2, 3, 4, 5))))
    return rows


def parse_instance_power(text: str) -> dict:
    """``report_power -instances`` rows: {instance: {internal, switching, leakage, total}} in W."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5:
            try:
                rows[parts[4]] = dict(zip(("internal", "switching", "leakage", "total"), map(float, parts[:4])))
            except ValueError:
                pass
    return rows


def run_sta(netlist: Path, top: str, liberties: list[Path], sdc: Path, period: float, out_dir: Path,
            *, activity: float = 0.1, resolution: float = 0.05, clock_port: str = "clk") -> Timing:
    """Time ``netlist`` against ``sdc`` at ``period`` ns, search fmax to ``resolution`` ns and
    report power at ``activity`` (transitions per clock cycle on every non-clock net).
    The SDC finds the clock port in ``$CLOCK_PORT`` (as OpenLane exports it).
    Writes ``sta.tcl`` and ``sta.log`` into ``out_dir``."""
    out_dir = Path(out_dir)
    script = _TEMPLATE.read_text().format(
        read_libs="\n".join(f"read_liberty {Path(lib).resolve()}" for lib in liberties),
        netlist=Path(netlist).resolve(), top=top, sdc=Path(sdc).resolve(), period=period,
        activity=activity, resolution=resolution)
    (out_dir / "sta.tcl").write_text(script)
    proc = subprocess.run([find_sta(), "-no_splash", "-exit", str(out_dir / "sta.tcl")],
                          capture_output=True, text=True, env={**os.environ, "CLOCK_PERIOD": str(period), "CLOCK_PORT": clock_port})
    log = proc.stdout + proc.stderr
    (out_dir / "sta.log").write_text(log)
    values, sections = _sections(proc.stdout)
    errors = [ln for ln in log.splitlines() if ln.startswith("Error")]
    if proc.returncode != 0 or errors or "min_period" not in values:
        raise RuntimeError(f"OpenSTA failed (see {out_dir / 'sta.log'}):\n" + "\n".join(errors or log.splitlines()[-20:]))
    return Timing(period=period, worst_slack=float(values["worst_slack"]), tns=float(values["tns"]),
                  hold_slack=float(values["hold_slack"]), min_period=float(values["min_period"]),
                  critical_path=sections.get("critical_path", ""), endpoints=sections.get("endpoints", ""),
                  power=parse_power(sections.get("power", "")),
                  macro_power=parse_instance_power(sections.get("macro_power", "")), activity=activity)
