"""Calibrate the energy model of a core configuration against activity-annotated gate-level
measurements (docs/energy.md).

    python -m skyspike.apps.energycal --config small --netlist build/tests/synth/small/netlist.v \\
        --report build/tests/synth/small/report.json [--write]

Runs random networks (every input mode, 1-4 layers, sparse to dense inputs) on the gate-level
core (:func:`skyspike.rtlsim.energy.measure_energy`), fits the per-event costs of
:class:`skyspike.chip.energy.EnergyModel` by non-negative least squares on the relative error
of the calibration runs, and checks them on held-out runs drawn with another seed. Writes
``build/energy/<config>/`` (runs.json, fit.json, energy_fit.png); ``--write`` also stores the
model as ``sw/skyspike/chip/calibration/energy-<config>.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from skyspike.chip.energy import CALIBRATION_DIR, EVENTS, EnergyModel, count_events
from skyspike.chip.netfile import load_network
from skyspike.chip.testing import random_inputs, random_network
from skyspike.spec.config import get_config

__all__ = ["calibration_cases", "fit_costs", "relative_errors", "main"]


def calibration_cases(config: str, n: int, seed: int, batch: int = 2) -> list:
    """``n`` (network, inputs) pairs drawn with ``seed``: the regression's random networks
    (sizes capped at 64 to keep gate-level runs short), ``batch`` samples each."""
    cfg = get_config(config)
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        net = random_network(rng, cfg, max_width=64)
        out.append((net, random_inputs(rng, net, batch)))
    return out


def fit_costs(events: np.ndarray, measured_pj: np.ndarray) -> np.ndarray:
    """Per-event costs (pJ, >= 0) minimizing the relative errors of ``events`` (runs, EVENTS)
    against ``measured_pj`` (runs,)."""
    from scipy.optimize import nnls

    weights = 1.0 / measured_pj
    costs, _ = nnls(events * weights[:, None], measured_pj * weights)
    return costs


def relative_errors(model: EnergyModel, events: np.ndarray, measured_pj: np.ndarray) -> np.ndarray:
    return events @ np.array([model.pj[k] for k in EVENTS]) / measured_pj - 1.0


def _measure(cases, args, out: Path):
    from skyspike.rtlsim.energy import measure_energy, predicted_macro_reads
    from skyspike_hw.flow.pdk import Sky130

    run = measure_energy(cases, args.netlist, Sky130(args.pdk_root), out / "gls", config=args.config,
                         period_ns=args.period)
    rows, events = [], []
    per_case = [count_events(net, x, args.config) for net, x in cases]
    for w, e in run.inferences():
        ev = per_case[w["case"]]
        row = {"case": w["case"], "sample": w["sample"], **{k: int(ev.counts[k][w["sample"]]) for k in EVENTS},
               "measured_pj": e.total_pj, **{k: v for k, v in e.as_dict().items() if k != "macro_accesses"}}
        predicted = predicted_macro_reads(ev, w["sample"])
        row["sram_reads_match"] = all(e.macro_accesses.get(k, 0) == v for k, v in predicted.items())
        rows.append(row)
        events.append([row[k] for k in EVENTS])
    idle = run.idle()
    idle = idle.total_pj / idle.cycles if idle else None
    (out / "idle.json").write_text(json.dumps({"idle_pj_per_cycle": idle}))
    return rows, np.array(events, float), np.array([r["measured_pj"] for r in rows]), idle


def _reuse(cases, args, out: Path):
    """The measurements of an earlier run in ``out`` (runs.json, idle.json) with the events
    counted again: a new event set is fitted without simulating again."""
    try:
        rows = json.loads((out / "runs.json").read_text())
        idle = json.loads((out / "idle.json").read_text())["idle_pj_per_cycle"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"error: --refit needs an earlier run's runs.json and idle.json in {out}: {exc}") from None
    stored = max(r["case"] for r in rows) + 1
    if stored != len(cases):
        raise SystemExit(f"error: {out / 'runs.json'} has {stored} cases, these "
                         f"arguments make {len(cases)}: give the --cal, --held, --seed and --extra it was run with")
    per_case = [count_events(net, x, args.config) for net, x in cases]
    for row in rows:
        row.update({k: int(per_case[row["case"]].counts[k][row["sample"]]) for k in EVENTS})
    events = np.array([[r[k] for k in EVENTS] for r in rows], float)
    return rows, events, np.array([r["measured_pj"] for r in rows]), idle


def _plot(cal, held, model, path: Path):
    from skyspike.apps.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for (ev, meas), label in ((cal, "calibration"), (held, "held out")):
        ax.scatter(meas / 1e3, model.predict_pj_matrix(ev) / 1e3, s=12, label=label)
    top = max(cal[1].max(), held[1].max()) / 1e3 * 1.05
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.set_xlabel("measured (gate level, OpenSTA), nJ")
    ax.set_ylabel("predicted (golden-model events), nJ")
    ax.set_title(f"energy per inference, {model.config} core")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="small")
    ap.add_argument("--netlist", type=Path, required=True, help="the core's gate-level netlist (make synth, --top core)")
    ap.add_argument("--report", type=Path, help="its report.json (the clock: fmax) unless --period is given")
    ap.add_argument("--period", type=float, help="clock period in ns the energies are for")
    ap.add_argument("--pdk-root", default=None)
    ap.add_argument("--cal", type=int, default=16, help="calibration networks (2 samples each)")
    ap.add_argument("--held", type=int, default=8, help="held-out networks (2 samples each)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--extra", nargs=2, action="append", default=[], metavar=("NETWORK", "INPUTS"),
                    help="a further held-out case: a network file and an npz of its inputs (key x), e.g. "
                         "the best MNIST network and a few test images")
    ap.add_argument("--out", type=Path, default=Path("build/energy"))
    ap.add_argument("--write", action="store_true", help="store the model in sw/skyspike/chip/calibration/")
    ap.add_argument("--refit", action="store_true",
                    help="fit again on the measurements already in OUT/<config> (same --cal/--held/--seed/--extra): "
                         "no simulation")
    args = ap.parse_args(argv)
    if args.period is None:
        if not args.report:
            ap.error("give --period or --report")
        args.period = float(json.loads(args.report.read_text())["timing"]["min_period_ns"])
    out = args.out / args.config
    out.mkdir(parents=True, exist_ok=True)
    cases = calibration_cases(args.config, args.cal, args.seed) + calibration_cases(args.config, args.held, args.seed + 1)
    cases += [(load_network(net), np.load(x)["x"]) for net, x in args.extra]
    if args.refit:
        rows, events, measured, idle = _reuse(cases, args, out)
    else:
        rows, events, measured, idle = _measure(cases, args, out)
    is_cal = np.array([r["case"] < args.cal for r in rows])
    costs = fit_costs(events[is_cal], measured[is_cal])
    model = EnergyModel(args.config, args.period, dict(zip(EVENTS, map(float, costs))))
    err_cal = relative_errors(model, events[is_cal], measured[is_cal])
    err_held = relative_errors(model, events[~is_cal], measured[~is_cal])
    model.fit = {"calibration_runs": int(is_cal.sum()), "held_out_runs": int((~is_cal).sum()),
                 "worst_calibration_error": float(np.abs(err_cal).max()),
                 "worst_held_out_error": float(np.abs(err_held).max()),
                 "mean_abs_held_out_error": float(np.abs(err_held).mean()),
                 "idle_pj_per_cycle": idle,
                 "sram_reads_match": all(r["sram_reads_match"] for r in rows),
                 "seed": args.seed, "method": "nnls on relative errors; measured = OpenSTA (annotated) + SRAM Liberty x reads"}
    extra = [r for r in rows if r["case"] >= args.cal + args.held]
    if extra:
        model.fit["extra_cases"] = [{"network": str(net), "inputs": str(x)} for net, x in args.extra]
        model.fit["extra_measured_pj"] = [r["measured_pj"] for r in extra]
        model.fit["extra_error"] = [float(e) for e in relative_errors(
            model, np.array([[r[k] for k in EVENTS] for r in extra], float), np.array([r["measured_pj"] for r in extra]))]
    (out / "runs.json").write_text(json.dumps(rows, indent=1))
    (out / "fit.json").write_text(model.to_json())
    _plot((events[is_cal], measured[is_cal]), (events[~is_cal], measured[~is_cal]), model, out / "energy_fit.png")
    print(model.to_json())
    if args.write:
        CALIBRATION_DIR.mkdir(exist_ok=True)
        (CALIBRATION_DIR / f"energy-{args.config}.json").write_text(model.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
