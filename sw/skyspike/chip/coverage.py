"""Functional coverage of the whole-network regression: which features of the chip a set of
(network, inputs) cases exercised, counted in named bins.

Bins (``bins(cfg)``):

* one per layer configuration: precision x slots x reset mode x hysteresis x bias rows
  (``layer bits=4 slots=2 reset=zero hyst=yes bias=no``), counted for every layer of every
  case;
* the membrane saturating at each rail (``membrane at +32767``, ``membrane at -32768``);
* inferences with input density 0 and 1 (no input spike at all; every input at every step);
* layer 0's input mode: spikes, and direct and rate-coded values of each width
  (``input direct bits=4``);
* every run-time error code the core reports (``error BAD_STEPS``, ...).

The regression records the bins of what it ran and compared (RTL == golden), ``make coverage``
prints the report. Written here rather than with cocotb-coverage: the bins are functions of the
golden model's view of a case (placement, membranes), computed in numpy after the run, not
samples of simulator signals.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipNetwork, place
from skyspike.spec.config import PRECISIONS, CoreConfig
from skyspike.spec.memmap import RunError

RAILS = {INT16_MAX: "membrane at +32767", INT16_MIN: "membrane at -32768"}
DENSITY = {0.0: "input density 0", 1.0: "input density 1"}


def slot_counts(cfg: CoreConfig) -> list[int]:
    return [1 << j for j in range(cfg.max_slots.bit_length())]


def layer_bin(bits: int, slots: int, reset_zero: bool, hysteresis: bool, bias: bool) -> str:
    return (f"layer bits={bits} slots={slots} reset={'zero' if reset_zero else 'subtract'} "
            f"hyst={'yes' if hysteresis else 'no'} bias={'yes' if bias else 'no'}")


def input_bin(net: ChipNetwork) -> str:
    return "input spikes" if not net.graded else f"input {net.input_mode} bits={net.input_bits}"


def error_bin(code: int) -> str:
    return f"error {RunError(code).name}"


def bins(cfg: CoreConfig) -> list[str]:
    """Every bin of a configuration, in report order."""
    out = [layer_bin(b, s, z, h, c) for b in PRECISIONS for s in slot_counts(cfg)
           for z in (False, True) for h in (False, True) for c in (False, True)]
    inputs = ["input spikes"] + [f"input {mode} bits={b}" for mode in ("direct", "rate") for b in PRECISIONS]
    return out + list(RAILS.values()) + list(DENSITY.values()) + inputs + [error_bin(e) for e in RunError]


def case_bins(net: ChipNetwork, cfg: CoreConfig, x: np.ndarray, membranes: list[np.ndarray]) -> Counter:
    """The bins one case hit: its layers, and over its inferences ``x`` (batch, steps, n_in) with
    the golden model's ``membranes`` (per layer, batch x steps x n_out), rails and densities."""
    hits = Counter({input_bin(net): 1})
    for ly, lp in zip(net.layers, place(net, cfg).layers):
        hits[layer_bin(ly.bits, lp.slots, bool(ly.reset_zero), ly.theta_low < ly.theta_high, ly.n_bias > 0)] += 1
    for b in range(len(x)):
        for rail, name in RAILS.items():
            hits[name] += int(any(np.any(m[b] == rail) for m in membranes))
        density = float(np.mean(x[b])) if x[b].size else 0.0
        if density in DENSITY:
            hits[DENSITY[density]] += 1
    return +hits   # drop zero counts


def save_hits(hits, path: str | Path | None) -> None:
    """Write bin hit counts as JSON to ``path`` (a regression run's COVERAGE_FILE); nothing if None."""
    if path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(hits)))


class Coverage:
    """Bin hit counts of a configuration, merged over runs (JSON files, one per regression shard)."""

    def __init__(self, cfg: CoreConfig, hits: Counter | None = None):
        self.cfg = cfg
        self.hits = Counter({name: 0 for name in bins(cfg)})
        self.hits.update(hits or {})

    def add(self, hits) -> None:
        self.hits.update(hits)

    @property
    def missing(self) -> list[str]:
        return [name for name in bins(self.cfg) if not self.hits[name]]

    @property
    def fraction(self) -> float:
        total = len(bins(self.cfg))
        return (total - len(self.missing)) / total

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: v for k, v in self.hits.items() if v}, indent=0, sort_keys=True))

    @classmethod
    def load_all(cls, cfg: CoreConfig, paths) -> Coverage:
        cov = cls(cfg)
        for p in paths:
            cov.add(json.loads(Path(p).read_text()))
        return cov

    def report(self) -> str:
        lines = [f"functional coverage: {len(bins(self.cfg)) - len(self.missing)}/{len(bins(self.cfg))} bins "
                 f"({100 * self.fraction:.1f}%)"]
        lines += [f"  {self.hits[name]:7d}  {name}" for name in bins(self.cfg)]
        if self.missing:
            lines.append("not hit: " + "; ".join(self.missing))
        return "\n".join(lines)


__all__ = ["Coverage", "bins", "case_bins", "error_bin", "input_bin", "layer_bin", "save_hits"]
