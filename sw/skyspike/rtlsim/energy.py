"""Energy of real inferences, measured from the switching activity of the gate-level core.

:func:`measure_energy` runs networks and their inputs on the synthesized netlist of the core
(Icarus, the sky130 cell models, the macros as the SRAM model; ``skyspike.rtlsim.tb_energy``),
dumps the nets' values (VCD), counts each net's toggles and time at 1 per inference
(:mod:`skyspike_hw.flow.activity`) and hands them to OpenSTA and the macros' Liberty
(:mod:`skyspike_hw.flow.power`). docs/energy.md describes the method and what it leaves out.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skyspike.chip.netfile import save_network
from skyspike.chip.network import ChipNetwork
from skyspike.rtlsim.bus import CLOCK_NS
from skyspike.rtlsim.runner import run_cocotb

__all__ = ["EnergyRun", "measure_energy", "predicted_macro_reads", "CORE_TOP"]

#: The core's top module in its netlist (skyspike_hw.flow.synth.TOP).
CORE_TOP = "skyspike_core_syn"
_DUMP = "activity_dump"


@dataclass
class EnergyRun:
    """Measured windows: ``windows`` (tb_energy's records) and their
    :class:`skyspike_hw.flow.power.WindowEnergy` in ``energy``, same order; ``period_ns``:
    the clock the energies are for."""

    windows: list[dict]
    energy: list = field(default_factory=list)
    period_ns: float = CLOCK_NS

    def inferences(self) -> list[tuple[dict, object]]:
        return [(w, e) for w, e in zip(self.windows, self.energy) if w["kind"] == "inference"]

    def idle(self):
        return next((e for w, e in zip(self.windows, self.energy) if w["kind"] == "idle"), None)


def predicted_macro_reads(events, sample: int) -> dict[str, int]:
    """The engine-port reads of each SRAM macro instance of the core's netlist
    (``<bank>_macro/csb1``, as :class:`skyspike_hw.flow.power.WindowEnergy.macro_accesses`
    names them) that :func:`skyspike.chip.energy.count_events` predicts for one sample."""
    reads = {f"wbank{j}_macro/csb1": int(v) for j, v in enumerate(events.weight_bank_reads[sample])}
    return reads | {f"ibank{j}_macro/csb1": int(v) for j, v in enumerate(events.input_bank_reads[sample])}


def measure_energy(cases: list[tuple[ChipNetwork, np.ndarray]], netlist: Path, pdk, out_dir: Path, *,
                   config: str = "small", period_ns: float = CLOCK_NS, idle_cycles: int = 100) -> EnergyRun:
    """The energy of every inference of ``cases`` ((network, inputs) pairs; inputs as
    :func:`skyspike.chip.golden.run` takes them) on ``netlist`` (the core of ``config``
    synthesized by :mod:`skyspike_hw.flow.synth`), for a clock of ``period_ns``; ``pdk``: a
    :class:`skyspike_hw.flow.pdk.Sky130`. Also an idle window of ``idle_cycles`` (clock
    running, nothing to do) first. Raises AssertionError when the gate-level cycles differ
    from the golden model's."""
    from skyspike_hw.flow.activity import dump_module, read_activity
    from skyspike_hw.flow.gls import GLS_BUILD_ARGS, gls_sources
    from skyspike_hw.flow.power import annotated_energy
    from skyspike_hw.flow.synth import SDC, macro_names

    out_dir = Path(out_dir).resolve()
    (out_dir / "cases").mkdir(parents=True, exist_ok=True)
    plan = {"config": config, "idle_cycles": idle_cycles, "cases": []}
    for i, (net, x) in enumerate(cases):
        save_network(out_dir / "cases" / f"net{i}.npz", net)
        np.savez(out_dir / "cases" / f"x{i}.npz", x=np.asarray(x))
        plan["cases"].append({"network": str(out_dir / "cases" / f"net{i}.npz"),
                              "inputs": str(out_dir / "cases" / f"x{i}.npz")})
    (out_dir / "plan.json").write_text(json.dumps(plan))
    dump = out_dir / f"{_DUMP}.v"
    dump.write_text(dump_module(CORE_TOP, str(out_dir / "activity.vcd"), _DUMP))
    sources = [*gls_sources(netlist, out_dir / "models"), dump]
    windows_file = out_dir / "windows.json"
    run_cocotb(sources, CORE_TOP, "skyspike.rtlsim.tb_energy", build_dir=out_dir, sim="icarus",
               build_args=[*GLS_BUILD_ARGS, "-s", _DUMP], design_vcd=True,
               extra_env={"SKYSPIKE_PLAN": str(out_dir / "plan.json"), "SKYSPIKE_WINDOWS": str(windows_file)})
    windows = json.loads(windows_file.read_text())
    activity = read_activity(out_dir / "activity.vcd", [(w["start_ns"], w["end_ns"]) for w in windows])
    names = macro_names(config)
    energy = annotated_energy(netlist, CORE_TOP, pdk.liberty, {m: pdk.sram(m).lib for m in names}, SDC, activity,
                              CLOCK_NS, period_ns, out_dir / "sta")
    (out_dir / "vcd_size.txt").write_text(str((out_dir / "activity.vcd").stat().st_size))
    return EnergyRun(windows, energy, period_ns)
