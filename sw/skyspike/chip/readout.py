"""The chip's readout rule: which class an inference answers."""
from __future__ import annotations

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


def compare(result, ref) -> list[str]:
    """Where two runs of the same inputs differ, as readable lines (empty: bit for bit equal).
    Both have ``counts`` (batch, n_out) and ``cycles`` (batch,); ``final_v`` (per layer, batch x
    n_out) is compared where both have it."""
    diffs = []
    counts, ref_counts = np.asarray(result.counts), np.asarray(ref.counts)
    for b in np.flatnonzero((counts != ref_counts).any(axis=1)):
        diffs.append(f"sample {b}: counts {counts[b].tolist()} != {ref_counts[b].tolist()}")
    cycles, ref_cycles = np.asarray(result.cycles), np.asarray(ref.cycles)
    for b in np.flatnonzero(cycles != ref_cycles):
        diffs.append(f"sample {b}: cycles {int(cycles[b])} != {int(ref_cycles[b])}")
    fv, ref_fv = getattr(result, "final_v", None), getattr(ref, "final_v", None)
    if fv is not None and ref_fv is not None:
        for layer, (v, rv) in enumerate(zip(fv, ref_fv)):
            for b in np.flatnonzero((np.asarray(v) != np.asarray(rv)).any(axis=1)):
                diffs.append(f"sample {b}, layer {layer}: final membranes differ")
    return diffs
