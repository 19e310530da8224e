"""Activity-annotated power and energy of a synthesized netlist, window by window.

Input: an :class:`~.activity.Activity` (each net's toggles and time at 1 in each window of a
gate-level simulation). Output: a :class:`WindowEnergy` per window.

* **Standard cells:** OpenSTA ``report_power`` with every pin of every net annotated with the
  net's measured activity (toggles per clock cycle) and duty (time at 1), and every input port
  likewise. Debian's OpenSTA 2.0.17 has no ``read_vcd``/``read_saif``, and its
  ``set_power_activity -pins`` is broken (it calls an undefined ``get_pins_error``), so the
  pins are annotated through the command beneath it, ``sta::set_power_pin_activity``.
  The clock net keeps the SDC clock's activity (two transitions a cycle).
* **Clock gates:** OpenSTA takes a clock pin's activity from its clock, never from the
  annotation, so a gated clock would count as running every cycle. Each ICG's CLK -> GCLK
  arc is disabled and its GCLK becomes a clock of its own, whose period makes its edges
  those measured in the window: ``period x cycles / pulses``. The flops behind it and the
  ICG's output are then charged for the pulses that happened (tests/hw/flow/test_power.py).
* **Correction:** OpenSTA 2.0.17 charges a pin's rise *plus* fall internal energy on every
  transition (e.g. a dfxtp_1's CLK: 40.7 fJ per edge, 81 fJ a cycle, where the Liberty's
  rise and fall tables add up to 40 fJ a cycle); later OpenSTA averages the two (Power.cc,
  ``energy /= tr_count``). :data:`OPENSTA_INTERNAL_FACTOR` halves the cells' internal power
  to match (checked by tests/hw/flow/test_power.py against the Liberty table).
* **SRAM macros:** not OpenSTA's figure (it charges both ports' clock energy every cycle,
  selected or not): the Liberty ``internal_power`` of each port's clock pin (rise + fall: one
  access) times the cycles that port was selected (``csb`` low, from the activity), plus the
  macro's ``cell_leakage_power`` for the whole window. A deselected port's clock costs
  nothing here: OpenRAM's control logic gates its internal clocks with ``csb``, and its
  Liberty has no figure for that case.
* Pre-layout: no wires (only pin capacitances), no clock tree, ideal clock, typical corner.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path


from .activity import Activity
from .clockgate import ICG_FAMILY
from .sta import find_sta, parse_instance_power, parse_power

__all__ = ["OPENSTA_INTERNAL_FACTOR", "MacroPower", "WindowEnergy", "macro_power", "macro_ports", "clock_gates",
           "annotated_energy"]

#: Scale of OpenSTA 2.0.17's internal power to the Liberty's (see the module docstring).
OPENSTA_INTERNAL_FACTOR = 0.5


@dataclass(frozen=True)
class MacroPower:
    """One SRAM macro's Liberty power: pJ per access of each port, leakage in mW."""

    access_pj: dict
    leakage_mw: float


def macro_power(lib: Path) -> MacroPower:
    """Energy per access of each port (``clk0``, ``clk1``: the largest ``when`` entry's
    rise + fall energy of its clock pin, in the Liberty's units: V * pF = pJ) and leakage."""
    text = Path(lib).read_text()
    if not re.search(r"capacitive_load_unit\s*\(\s*1\s*,\s*pF\s*\)", text):
        raise ValueError(f"{lib}: expected capacitive_load_unit (1, pF) (energies in pJ)")
    access = {}
    for pin in ("clk0", "clk1"):
        m = re.search(rf"pin\({pin}\)\s*\{{(.*?)\n    \}}", text, re.S)
        if not m:
            raise ValueError(f"{lib}: no pin({pin})")
        rise = [float(v) for v in re.findall(r"rise_power\(scalar\)\s*\{\s*values\(\"([^\"]+)\"\)", m.group(1))]
        fall = [float(v) for v in re.findall(r"fall_power\(scalar\)\s*\{\s*values\(\"([^\"]+)\"\)", m.group(1))]
        if not rise or len(rise) != len(fall):
            raise ValueError(f"{lib}: pin({pin}) has no scalar rise/fall internal power")
        access[pin] = max(r + f for r, f in zip(rise, fall))
    leak = re.search(r"^\s*cell_leakage_power\s*:\s*([0-9.eE+-]+)", text, re.M)
    return MacroPower(access, float(leak.group(1)) if leak else 0.0)


#: Integrated clock gates (:mod:`.clockgate`): CLK, GATE -> GCLK.
_ICG_RE = re.compile(rf"\b{ICG_FAMILY}_\d+\s+(\S+)\s*\((.*?)\);", re.S)


def clock_gates(netlist_text: str) -> dict[str, str]:
    """{ICG instance: its GCLK net} of every clock gate in the netlist."""
    out = {}
    for m in _ICG_RE.finditer(netlist_text):
        gclk = re.search(r"\.GCLK\(\s*\\?([^\s()]+)\s*\)", m.group(2))
        if gclk is None:
            raise ValueError(f"clock gate {m.group(1)}: no GCLK connection")
        out[m.group(1).lstrip("\\")] = gclk.group(1)
    return out


def _gated_periods(gates: dict, activity: Activity, index: dict, w: int, cycles: float, period_ns: float) -> dict:
    """{ICG: the period (ns on silicon) of a clock with the pulses its GCLK had in window w}."""
    out = {}
    for icg, net in gates.items():
        if net not in index:
            raise ValueError(f"clock gate {icg}: its GCLK net {net!r} is not in the activity")
        pulses = float(activity.toggles[w, index[net]]) / 2
        out[icg] = period_ns * cycles / pulses if pulses else period_ns * cycles * 1e6
    return out


def macro_ports(netlist_text: str, macro_names) -> dict[str, dict[str, str]]:
    """{instance: {"type": macro, "csb0": net, "csb1": net}} of every SRAM macro instance."""
    out = {}
    for name in macro_names:
        for m in re.finditer(rf"\b{name}\s+(\S+)\s*\((.*?)\);", netlist_text, re.S):
            pins = dict(re.findall(r"\.(csb[01])\(\s*\\?([^\s()]+)\s*\)", m.group(2)))
            out[m.group(1)] = {"type": name, **pins}
    return out


@dataclass
class WindowEnergy:
    """One window's energy (pJ) and average power (mW), by part."""

    cycles: float
    cells_internal_pj: float
    cells_switching_pj: float
    cells_leakage_pj: float
    sequential_pj: float
    combinational_pj: float
    macro_access_pj: float
    macro_leakage_pj: float
    macro_accesses: dict

    @property
    def cells_pj(self) -> float:
        return self.cells_internal_pj + self.cells_switching_pj + self.cells_leakage_pj

    @property
    def macros_pj(self) -> float:
        return self.macro_access_pj + self.macro_leakage_pj

    @property
    def total_pj(self) -> float:
        return self.cells_pj + self.macros_pj

    def as_dict(self) -> dict:
        return {**asdict(self), "cells_pj": self.cells_pj, "macros_pj": self.macros_pj, "total_pj": self.total_pj}


_TCL = """\
{read_libs}
read_verilog {netlist}
link_design {top}
set ::env(CLOCK_PERIOD) {period}
read_sdc {sdc}
set clk_nets [get_nets -quiet {{{clock}}}]
set annotated {{}}
foreach net [get_nets *] {{
    set name [get_full_name $net]
    if {{$name ne "{clock}"}} {{ lappend annotated $name [get_pins -quiet -of_objects $net] }}
}}
set in_ports {{}}
foreach port [all_inputs] {{
    set name [get_full_name $port]
    if {{$name ne "{clock}"}} {{ lappend in_ports $name $port }}
}}
set macros [get_cells -quiet {{{macros}}}]
set clock_transition [expr {{[[get_clocks clk] slew rise max] * 1e9}}]
foreach icg {{{icgs}}} {{ set_disable_timing -from CLK -to GCLK [get_cells $icg] }}
foreach window {{{windows}}} {{
    array unset act
    array unset gated
    source $window
    foreach {{icg period}} [array get gated] {{
        create_clock -name gated_$icg -period $period [get_pins $icg/GCLK]
        set_clock_transition $clock_transition [get_clocks gated_$icg]
    }}
    foreach {{name pins}} $annotated {{
        if {{[info exists act($name)]}} {{ lassign $act($name) a d }} else {{ set a 0.0; set d 0.0 }}
        foreach pin $pins {{ sta::set_power_pin_activity $pin $a $d }}
    }}
    foreach {{name port}} $in_ports {{
        if {{[info exists act($name)]}} {{ lassign $act($name) a d }} else {{ set a 0.0; set d 0.0 }}
        sta::set_power_input_port_activity $port $a $d
    }}
    puts "@@begin power"
    report_power -digits 9
    puts "@@end power"
    puts "@@begin macros"
    if {{[llength $macros]}} {{ report_power -instances $macros -digits 9 }}
    puts "@@end macros"
}}
exit
"""


def annotated_energy(netlist: Path, top: str, liberty: Path, macro_libs: dict[str, Path], sdc: Path,
                     activity: Activity, sim_period_ns: float, period_ns: float, out_dir: Path, *,
                     clock: str = "clk") -> list[WindowEnergy]:
    """The energy of each window of ``activity`` (a simulation of ``netlist`` clocked at
    ``sim_period_ns``) on silicon clocked at ``period_ns``: OpenSTA on the annotated netlist
    for the cells, the Liberty for the macros (``macro_libs``: {macro name: its Liberty}).
    Switching energy per cycle does not depend on the period; leakage does. Writes the
    scripts and ``power.log`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    windows = []
    cycles = activity.length_ns / sim_period_ns
    duty = activity.duty()
    text = Path(netlist).read_text()
    gates = clock_gates(text)
    index = {n: i for i, n in enumerate(activity.nets)}
    for w in range(len(activity.length_ns)):
        lines = [f"set {{act({n})}} {{{t / cycles[w]:.6g} {d:.4g}}}"
                 for n, t, d in zip(activity.nets, activity.toggles[w], duty[w])]
        lines += [f"set {{gated({icg})}} {p:.6g}"
                  for icg, p in _gated_periods(gates, activity, index, w, cycles[w], period_ns).items()]
        path = out_dir / f"window{w}.tcl"
        path.write_text("\n".join(lines) + "\n")
        windows.append(str(path.resolve()))
    ports = macro_ports(text, macro_libs)
    script = _TCL.format(read_libs="\n".join(f"read_liberty {Path(p).resolve()}" for p in [liberty, *macro_libs.values()]),
                         netlist=Path(netlist).resolve(), top=top, period=period_ns, sdc=Path(sdc).resolve(),
                         clock=clock, macros=" ".join(ports), windows=" ".join(windows), icgs=" ".join(gates))
    (out_dir / "power.tcl").write_text(script)
    proc = subprocess.run([find_sta(), "-no_splash", "-exit", str(out_dir / "power.tcl")], capture_output=True, text=True,
                          env={**os.environ, "CLOCK_PERIOD": str(period_ns), "CLOCK_PORT": clock})
    log = proc.stdout + proc.stderr
    (out_dir / "power.log").write_text(log)
    errors = [ln for ln in log.splitlines() if ln.startswith("Error")]
    blocks = re.findall(r"@@begin power\n(.*?)@@end power\n@@begin macros\n(.*?)@@end macros", proc.stdout, re.S)
    if proc.returncode != 0 or errors or len(blocks) != len(windows):
        raise RuntimeError(f"OpenSTA failed (see {out_dir / 'power.log'}):\n" + "\n".join(errors or log.splitlines()[-20:]))
    libs = {name: macro_power(lib) for name, lib in macro_libs.items()}
    return [_window(parse_power(p), parse_instance_power(m), ports, libs, index, activity, w, sim_period_ns, period_ns)
            for w, (p, m) in enumerate(blocks)]


def _window(groups, macro_rows, ports, libs, index, activity: Activity, w: int, sim_period_ns: float,
            period_ns: float) -> WindowEnergy:
    sim_ns = float(activity.length_ns[w])
    cycles = sim_ns / sim_period_ns
    t_ns = cycles * period_ns   # the window's length on silicon
    pj = lambda watts: watts * t_ns * 1e3  # noqa: E731  W * ns = nJ; * 1e3 = pJ
    macro = {k: sum(r[k] for r in macro_rows.values()) for k in ("internal", "switching", "leakage")}
    cell = {k: groups["total"][k] - macro[k] for k in ("internal", "switching", "leakage")}
    seq = groups.get("sequential", {})
    comb = {k: groups.get("combinational", {}).get(k, 0.0) - macro[k] for k in ("internal", "switching", "leakage")}
    f = OPENSTA_INTERNAL_FACTOR
    accesses, access_pj, leak_mw = {}, 0.0, 0.0
    for inst, p in ports.items():
        lib = libs[p["type"]]
        leak_mw += lib.leakage_mw
        for port, clk in (("csb0", "clk0"), ("csb1", "clk1")):
            net = p.get(port)
            if net is None or net not in index:
                raise ValueError(f"macro {inst}: its {port} net {net!r} is not in the activity")
            low = round((sim_ns - float(activity.high_ns[w, index[net]])) / sim_period_ns)
            accesses[f"{inst}/{port}"] = low
            access_pj += low * lib.access_pj[clk]
    return WindowEnergy(
        cycles=cycles, cells_internal_pj=pj(cell["internal"]) * f, cells_switching_pj=pj(cell["switching"]),
        cells_leakage_pj=pj(cell["leakage"]),
        sequential_pj=pj(seq.get("internal", 0.0)) * f + pj(seq.get("switching", 0.0) + seq.get("leakage", 0.0)),
        combinational_pj=pj(comb["internal"]) * f + pj(comb["switching"] + comb["leakage"]),
        macro_access_pj=access_pj, macro_leakage_pj=leak_mw * 1e-3 * t_ns * 1e3, macro_accesses=accesses)
