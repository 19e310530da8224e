"""Checks and conversions shared by the model importers (:mod:`skyspike.compiler.model`,
:mod:`skyspike.compiler.nirgraph`): parameters as finite float arrays, per-neuron values, and
per-neuron thresholds folded into the weights. Each raises NetworkError naming the layer."""
from __future__ import annotations

import numpy as np

from skyspike.errors import NetworkError


def as_array(t, what: str, where: str) -> np.ndarray:
    try:
        import torch
        if torch.is_tensor(t):
            t = t.detach().to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    a = np.asarray(t, dtype=np.float64)
    if a.size == 0:
        raise NetworkError(f"{where}: {what} is empty")
    if not np.all(np.isfinite(a)):
        raise NetworkError(f"{where}: {what} has NaN or infinite values")
    return a


def uniform(a: np.ndarray, n: int, what: str, where: str, hint: str) -> float:
    """The one value of a scalar or per-neuron parameter, or NetworkError if they differ."""
    a = a.ravel()
    if a.size not in (1, n):
        raise NetworkError(f"{where}: {what} has {a.size} values for {n} neurons")
    if np.any(a != a[0]):
        raise NetworkError(f"{where}: per-neuron {what} values differ ({a.min():.4g}..{a.max():.4g}); "
                           f"the chip has one {what} per layer. {hint}")
    return float(a[0])


def per_neuron(a: np.ndarray, n: int, what: str, where: str) -> np.ndarray:
    a = a.ravel()
    if a.size not in (1, n):
        raise NetworkError(f"{where}: {what} has {a.size} values for {n} neurons")
    return np.broadcast_to(a, (n,)).astype(np.float64)


def fold_thresholds(weight, bias, thr: np.ndarray, where: str):
    """Rescale each neuron's input column so that all share the layer's largest threshold:
    V_j' = V_j * T / T_j is the same neuron (leak and input are linear), exactly."""
    if np.all(thr == thr[0]):
        return weight, bias, float(thr[0])
    if np.any(thr <= 0):
        raise NetworkError(f"{where}: per-neuron thresholds must all be > 0 to share one threshold "
                           f"(got min {thr.min():.4g})")
    t = float(thr.max())
    c = t / thr
    return weight * c, (None if bias is None else bias * c), t


def check_weight(w: np.ndarray, where: str) -> np.ndarray:
    if w.ndim != 2:
        raise NetworkError(f"{where}: weight must be 2-D (out, in), got shape {w.shape}")
    return w
