"""The energy calibration's fit (skyspike.apps.energycal) on synthetic measurements: the costs
come back, ``--refit`` reuses stored measurements with the events counted anew, and its bad
inputs end in one clear message. The gate-level measurement itself: tests/hw/flow/test_energy_gls.py."""
from __future__ import annotations

import json

import numpy as np
import pytest

from skyspike.apps.energycal import calibration_cases, fit_costs, main
from skyspike.chip.energy import EVENTS, count_events

COSTS = {"cycles": 90.0, "acc_group_cycles": 40.0, "weight_reads": 20.0, "input_reads": 5.0, "sops": 2.0,
         "updates": 3.0, "layer_loads": 10.0}


def test_fit_costs_recovers_linear_costs():
    rng = np.random.default_rng(1)
    events = rng.integers(1, 1000, (40, len(EVENTS))).astype(float)
    truth = np.array([COSTS[k] for k in EVENTS])
    assert fit_costs(events, events @ truth) == pytest.approx(truth, rel=1e-6)


def _stored_run(out, cal: int, held: int):
    """runs.json and idle.json as a measurement would leave them, energies from COSTS."""
    rows = []
    for c, (net, x) in enumerate(calibration_cases("small", cal, 13) + calibration_cases("small", held, 14)):
        ev = count_events(net, x, "small")
        for b in range(x.shape[0]):
            pj = sum(COSTS[k] * ev.counts[k][b] for k in EVENTS)
            rows.append({"case": c, "sample": b, "measured_pj": pj, "sram_reads_match": True,
                         **{k: 0 for k in EVENTS}})
    out.mkdir(parents=True, exist_ok=True)
    (out / "runs.json").write_text(json.dumps(rows))
    (out / "idle.json").write_text(json.dumps({"idle_pj_per_cycle": 50.0}))


def test_refit_uses_stored_measurements(tmp_path):
    _stored_run(tmp_path / "small", cal=10, held=3)
    assert main(["--config", "small", "--netlist", "unused.v", "--period", "10", "--cal", "10", "--held", "3",
                 "--out", str(tmp_path), "--refit"]) == 0
    fit = json.loads((tmp_path / "small" / "fit.json").read_text())
    assert fit["fit"]["worst_held_out_error"] < 1e-6 and fit["fit"]["idle_pj_per_cycle"] == 50.0
    assert fit["pj"]["cycles"] == pytest.approx(COSTS["cycles"], rel=1e-3)


def test_refit_errors_are_one_line(tmp_path):
    with pytest.raises(SystemExit, match="--refit needs an earlier run's runs.json"):
        main(["--config", "small", "--netlist", "x.v", "--period", "10", "--out", str(tmp_path), "--refit"])
    _stored_run(tmp_path / "small", cal=2, held=1)
    with pytest.raises(SystemExit, match="has 3 cases, these arguments make 5"):
        main(["--config", "small", "--netlist", "x.v", "--period", "10", "--cal", "3", "--held", "2",
              "--out", str(tmp_path), "--refit"])
