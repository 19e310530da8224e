"""The chip's readout rule (which class an inference answers), and the one comparison of two
runs of the same inputs (golden model, RTL simulation, serial chip: they must agree bit for bit)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def predict(counts: np.ndarray, last_membrane: np.ndarray) -> np.ndarray:
    """The chip's classification rule, shared by the golden model, the RTL results and the
    float model: the output with the most spikes; ties -> the higher final membrane, then the
    lower index. Same result as :attr:`skyspike.chip.golden.GoldenResult.prediction` (which packs
    the same order into one integer score); works for integer and float inputs.

    counts, last_membrane: (batch, n_out), or (n_out,) for one sample.
    """
    c = np.asarray(counts)
    v = np.asarray(last_membrane, dtype=np.float64)
    single = c.ndim == 1
    c, v = np.atleast_2d(c), np.atleast_2d(v)
    top = c == c.max(axis=1, keepdims=True)
    return (np.argmax(np.where(top, v, -np.inf), axis=1)[0] if single
            else np.argmax(np.where(top, v, -np.inf), axis=1))


@dataclass(frozen=True)
class Mismatch:
    """One way in which sample ``sample`` of a run differs from the reference: ``field`` is
    ``"error"``, ``"spikes"``, ``"membranes"``, ``"finals"`` (final membranes), ``"counts"`` or
    ``"cycles"``; ``layer`` is set for the per-layer fields; ``detail`` says where and how."""

    sample: int
    field: str
    layer: int | None = None
    detail: str = ""

    @property
    def what(self) -> str:
        """``"spikes L0"``, ``"counts"``, ...: the field, and the layer where there is one."""
        return self.field if self.layer is None else f"{self.field} L{self.layer}"

    def __str__(self) -> str:
        return f"sample {self.sample}: {self.what}: {self.detail}"


def final_membranes(run) -> list | None:
    """Per layer (batch, n_out): ``run.finals``, else the last step of ``run.membranes``."""
    finals = getattr(run, "finals", None)
    if finals is None and getattr(run, "membranes", None) is not None:
        finals = [np.asarray(m)[:, -1] for m in run.membranes]
    return finals


def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    """Where two equally shaped arrays first differ: ``step t neuron n: a != b``."""
    idx = tuple(int(i) for i in np.argwhere(a != b)[0])
    where = " ".join(f"{name} {i}" for name, i in zip(("step", "neuron")[-len(idx):], idx))
    return f"{where}: {a[idx]} != {b[idx]}"


def _sample_mismatches(result, ref, b: int, rb: int) -> list[Mismatch]:
    out = []
    for side, run, s in (("", result, b), ("reference ", ref, rb)):
        errors = getattr(run, "errors", None)
        if errors is not None and int(errors[s]):
            out.append(Mismatch(b, "error", detail=f"{side}run reported error 0x{int(errors[s]):02x}"))
    per_layer = [(name, getattr(result, name, None), getattr(ref, name, None)) for name in ("spikes", "membranes")]
    per_layer.append(("finals", final_membranes(result), final_membranes(ref)))
    per_layer = [f for f in per_layer if f[1] is not None and f[2] is not None]   # where both have it
    n_layers = min((min(len(mine), len(theirs)) for _, mine, theirs in per_layer), default=0)
    for layer in range(n_layers):
        for name, mine, theirs in per_layer:
            if mine[layer] is None or theirs[layer] is None:   # a layer a backend does not see
                continue
            a, r = np.asarray(mine[layer][b]), np.asarray(theirs[layer][rb])
            if a.shape != r.shape:
                out.append(Mismatch(b, name, layer, f"shape {a.shape} != {r.shape}"))
            elif not np.array_equal(a, r):
                out.append(Mismatch(b, name, layer, _first_difference(a, r)))
    counts, ref_counts = np.asarray(result.counts[b]), np.asarray(ref.counts[rb])
    if not np.array_equal(counts, ref_counts):
        out.append(Mismatch(b, "counts", detail=f"{counts.tolist()} != {ref_counts.tolist()}"))
    if int(result.cycles[b]) != int(ref.cycles[rb]):
        out.append(Mismatch(b, "cycles", detail=f"{int(result.cycles[b])} != {int(ref.cycles[rb])}"))
    return out


def compare(result, ref, samples=None, ref_samples=None) -> list[Mismatch]:
    """Where ``result`` differs from ``ref``, two runs of the same inputs (empty: bit for bit
    equal), sample by sample.

    Both have ``counts`` (batch, n_out) and ``cycles`` (batch,), always compared. Compared
    where both have them (not None): per layer ``spikes`` and ``membranes`` (batch, steps, n_out)
    and the final membranes (``finals`` (batch, n_out), else the last step of ``membranes``); a
    layer that is None on either side (the stream path reads only the last layer's) is skipped.
    A nonzero ``errors`` (batch,) of either run is a mismatch too. Works on
    :class:`skyspike.chip.golden.GoldenResult`, :class:`skyspike.backends.Outcome` and
    :class:`skyspike.rtlsim.RTLResult` alike.

    ``samples``: indices into ``result`` (default: all); ``ref_samples``: the matching indices
    into ``ref`` (default: the same). A mismatch's ``sample`` is the index into ``result``.
    """
    samples = range(len(result.counts)) if samples is None else list(samples)
    ref_samples = samples if ref_samples is None else list(ref_samples)
    if len(ref_samples) != len(samples):
        raise ValueError(f"{len(samples)} samples against {len(ref_samples)} reference samples")
    return [m for b, rb in zip(samples, ref_samples) for m in _sample_mismatches(result, ref, int(b), int(rb))]


__all__ = ["predict", "Mismatch", "compare", "final_membranes"]
