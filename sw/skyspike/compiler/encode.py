"""Spike encoders: pixel intensities (0..1) -> input spikes, bool (batch, steps, n_in).

The same encoded array feeds every backend (the float snnTorch model, the golden model, the
RTL simulation, the chip), so that their results can be compared sample by sample.
Randomness comes only from a seeded :class:`numpy.random.Generator`.
"""
from __future__ import annotations

import numpy as np


def _as_batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        x = x.reshape(x.shape[0], -1)
    if x.size and (np.isnan(x).any() or x.min() < 0 or x.max() > 1):
        raise ValueError("intensities must lie in 0..1 (scale the images first)")
    return x


def rate(x: np.ndarray, steps: int, *, gain: float = 1.0,
         rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Rate (Bernoulli) coding: input i spikes at step t with probability min(1, gain * x_i),
    independently for every step. ``rng``: a Generator, or a seed for a new one.

    Returns bool (batch, steps, n_in); a 1-D ``x`` is one sample (batch 1).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps}")
    if gain < 0:
        raise ValueError(f"gain must be >= 0, not {gain}")
    x = _as_batch(x)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    p = np.clip(x * gain, 0.0, 1.0)[:, None, :]
    return gen.random((x.shape[0], steps, x.shape[1])) < p


def direct(x: np.ndarray, steps: int, *, threshold: float = 0.5) -> np.ndarray:
    """Direct (threshold) coding: input i spikes at every step where x_i >= threshold, and
    never otherwise. Deterministic. Returns bool (batch, steps, n_in)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, not {steps}")
    x = _as_batch(x)
    on = x >= threshold
    return np.repeat(on[:, None, :], steps, axis=1)


def encode(x: np.ndarray, steps: int, method: str = "rate", **kwargs) -> np.ndarray:
    """Dispatch by name: ``"rate"`` (gain, rng) or ``"direct"`` (threshold)."""
    if method == "rate":
        return rate(x, steps, **kwargs)
    if method == "direct":
        return direct(x, steps, **kwargs)
    raise ValueError(f"unknown encoding {method!r}; use 'rate' or 'direct'")


__all__ = ["rate", "direct", "encode"]
