"""The memory plan: which weight banks, macro and input buffer the chip is built from.

For each candidate plan (a :class:`~skyspike.spec.config.CoreConfig` differing from ``chip``
in its weight banks) this computes what the choice is made on: SRAM macro area (weight banks,
input buffer, the CPU's data RAM), synapse lanes, the largest 784-H-10 network that fits at
each precision with up to 32 bias rows a layer (``skyspike.chip.network.place``; the accuracy
benchmark trains its networks with biases, ``bench/accuracy.py`` uses the same sizes), and its cycles per MNIST inference
(``skyspike.chip.golden.predict_cycles`` on rate-coded MNIST test images, 16 steps, with the
hidden layer spiking at a stated rate: the cycles depend on the network only through that).

``python -m skyspike.apps.memplan [--data DIR] [--accuracy DIR] [--fmax MHZ]`` prints the
table (markdown) of docs/memory-plan.md; ``--accuracy`` adds measured accuracies from
``bench/accuracy.py`` result folders, ``--cells`` the cell area of ``make synth``'s report.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from skyspike.chip import golden
from skyspike.chip.network import ChipLayer, ChipNetwork, place
from skyspike.errors import NetworkError
from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS, PRECISIONS, SRAM_MACROS, CoreConfig

__all__ = ["PLANS", "OPENFRAME_MM2", "AREA_BUDGET", "Plan", "largest_hidden", "plan_rows", "markdown"]

#: OpenFrame's user area (its LEF: 3166.63 x 4766.63 um) and the issue's budget for cells + macros.
OPENFRAME_MM2 = 3166.63 * 4766.63 / 1e6
AREA_BUDGET = 0.65
#: The CPU's data RAM: one 1 KB macro in every plan.
CPU_RAM_DEPTH = 256
STEPS = 16
HIDDEN_RATE = 0.1   # hidden-layer spike probability per step for the cycle figure


@dataclass(frozen=True)
class Plan:
    name: str
    cfg: CoreConfig
    note: str = ""

    @property
    def macro_mm2(self) -> float:
        c = self.cfg
        um2 = (c.banks * SRAM_MACROS[c.bank_depth].area_um2 + c.input_banks * SRAM_MACROS[c.input_depth].area_um2
               + SRAM_MACROS[CPU_RAM_DEPTH].area_um2)
        return um2 / 1e6

    @property
    def macros(self) -> int:
        return self.cfg.banks + self.cfg.input_banks + 1


def _chip(**kw) -> CoreConfig:
    return replace(CONFIGS["chip"], **kw)


PLANS = [
    Plan("32 x 2 KB", _chip(bank_depth=512), "the block before this plan"),
    Plan("32 x 1 KB", _chip(bank_depth=256), "chosen"),
    Plan("16 x 2 KB", _chip(banks=16, bank_depth=512, update_lanes=16)),
    Plan("16 x 1 KB", _chip(banks=16, bank_depth=256)),
]


def _network(hidden: int, bits: int | list[int], n_in: int = 784, n_out: int = 10, n_bias: int = 0) -> ChipNetwork:
    """An ``n_in``-``hidden``-``n_out`` network of zero weights at ``bits`` (one for both layers, or
    [hidden layer's, output layer's]), ``n_bias`` bias rows a layer."""
    per_layer = [bits, bits] if isinstance(bits, int) else list(bits)
    layers = [ChipLayer(np.zeros((a, b), int), bits=lb, bias=np.zeros((n_bias, b), int) if n_bias else None)
              for (a, b), lb in zip(((n_in, hidden), (hidden, n_out)), per_layer)]
    return ChipNetwork(layers, STEPS)


def fits(cfg: CoreConfig, hidden: int, bits: int | list[int], n_in: int = 784, n_out: int = 10,
         n_bias: int = MAX_BIAS_ROWS) -> bool:
    """An ``n_in``-``hidden``-``n_out`` network at ``bits``, each layer with ``n_bias`` bias rows,
    fits ``cfg``."""
    try:
        place(_network(hidden, bits, n_in, n_out, n_bias), cfg)
    except NetworkError:
        return False
    return True


def largest_hidden(cfg: CoreConfig, bits: int | list[int], n_in: int = 784, n_bias: int = MAX_BIAS_ROWS, step: int = 16) -> int:
    """The widest ``n_in``-H-10 (H a multiple of ``step``) that fits ``cfg`` at ``bits`` (one for
    both layers, or [hidden layer's, output layer's]); 0 if none.
    By default each layer may have the most bias rows quantization makes (MAX_BIAS_ROWS), so
    that any network trained with biases (the accuracy benchmark's recipe) fits."""
    h = 0
    while h + step <= cfg.max_neurons and fits(cfg, h + step, bits, n_in, n_bias=n_bias):
        h += step
    return h


def mnist_cycles(cfg: CoreConfig, hidden: int, bits: int, images: np.ndarray, seed: int = 1) -> float:
    """Mean predicted cycles of a 784-``hidden``-10 network at ``bits`` over ``images`` (N, 784)
    in 0..1, rate-coded at 16 steps, the hidden layer spiking at HIDDEN_RATE."""
    rng = np.random.default_rng(seed)
    net = _network(hidden, bits)
    x = rng.random((len(images), STEPS, 784)) < images[:, None, :]
    h = rng.random((len(images), STEPS, hidden)) < HIDDEN_RATE
    return float(golden.predict_cycles(net, cfg, [x, h]).mean())


def plan_rows(images: np.ndarray, cells_mm2: float | None = None, fmax_mhz: float | None = None,
              accuracy: dict | None = None) -> list[dict]:
    """One row per plan and precision: the figures the choice is made on."""
    rows = []
    for plan in PLANS:
        area = plan.macro_mm2 + (cells_mm2 or 0.0)
        for bits in PRECISIONS:
            h = largest_hidden(plan.cfg, bits)
            cyc = mnist_cycles(plan.cfg, h, bits, images) if h else None
            rows.append({
                "plan": plan.name, "note": plan.note, "lanes": plan.cfg.lanes, "macros": plan.macros,
                "weight_kib": plan.cfg.weight_bits // 8192, "macro_mm2": plan.macro_mm2, "area_mm2": area,
                "openframe": area / OPENFRAME_MM2, "fits_budget": area <= AREA_BUDGET * OPENFRAME_MM2,
                "bits": bits, "network": f"784-{h}-10" if h else "-", "cycles": cyc,
                "inferences_per_s": fmax_mhz * 1e6 / cyc if (cyc and fmax_mhz) else None,
                "accuracy": (accuracy or {}).get((h, bits)),
            })
    return rows


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def markdown(rows: list[dict], cells_mm2: float | None, fmax_mhz: float | None) -> str:
    area_what = f"macros + {cells_mm2:.2f} mm^2 of cells" if cells_mm2 else "macros only"
    lines = [f"| plan | lanes | weights | macros (mm^2) | area, {area_what} (mm^2, OpenFrame %) | bits | "
             f"largest MNIST net | accuracy MNIST / Fashion | cycles/inference | inferences/s"
             f"{f' at {fmax_mhz:.0f} MHz' if fmax_mhz else ''} |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = r["accuracy"]
        acc_s = " / ".join(f"{a:.2%}" if a is not None else "-" for a in acc) if acc else "-"
        over = "" if r["fits_budget"] else " (over 65%)"
        lines.append(f"| {r['plan']}{' (' + r['note'] + ')' if r['note'] else ''} | {r['lanes']} | "
                     f"{r['weight_kib']} KiB | {r['macros']}: {r['macro_mm2']:.2f} | "
                     f"{r['area_mm2']:.2f} ({r['openframe']:.0%}){over} | {r['bits']} | {r['network']} | {acc_s} | "
                     f"{_fmt(r['cycles'], ',.0f')} | {_fmt(r['inferences_per_s'], ',.0f')} |")
    return "\n".join(lines) + "\n"


def load_accuracy(folder: Path) -> dict:
    """{(hidden, bits): (mnist, fashion)} from accuracy.json files under ``folder``."""
    found: dict = {}
    for path in Path(folder).rglob("accuracy.json"):
        for r in json.loads(path.read_text()).get("rows", []):
            if r.get("dataset") in ("mnist", "fashion-mnist"):
                key = (r["hidden"], r["bits"])
                pair = list(found.get(key, (None, None)))
                pair[r["dataset"] == "fashion-mnist"] = r["chip"]   # after quantization-aware fine-tuning
                found[key] = tuple(pair)
    return found


def main(argv=None) -> int:
    from skyspike.compiler import datasets

    ap = argparse.ArgumentParser(description="The memory-plan table (docs/memory-plan.md).")
    ap.add_argument("--data", type=Path, default=None, help="folder with mnist/ IDX files (default: ../shared/datasets)")
    ap.add_argument("--images", type=int, default=256, help="MNIST test images for the cycle figure")
    ap.add_argument("--synth", type=Path, default=None, help="a make synth report.json: its cell area and fmax")
    ap.add_argument("--accuracy", type=Path, nargs="+", default=None,
                    help="folders of bench/accuracy.py results (a later folder wins for the same network)")
    args = ap.parse_args(argv)
    split = datasets.load("mnist", args.data)
    images = np.asarray(split.x_test[:args.images], float).reshape(-1, 784)
    cells = fmax = None
    if args.synth:
        rep = json.loads(args.synth.read_text())
        cells, fmax = rep["area"]["std_cell_mm2"], rep["timing"]["fmax_mhz"]
    acc = {k: v for folder in args.accuracy for k, v in load_accuracy(folder).items()} if args.accuracy else None
    print(markdown(plan_rows(images, cells, fmax, acc), cells, fmax), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
