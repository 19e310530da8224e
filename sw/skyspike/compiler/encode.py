"""Spike encoders: pixel intensities (0..1) -> input spikes, bool (batch, steps, n_in); and
:func:`values`, the graded input of a direct-input network (int (batch, n_in), sent once).

The same encoded array feeds every backend (the float snnTorch model, the golden model, the
RTL simulation, the chip), so that their results can be compared sample by sample.
Randomness comes only from a seeded :class:`numpy.random.Generator`. Bad arguments raise
:class:`skyspike.errors.InputError` (a ValueError) naming the value.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from skyspike.errors import InputError

#: Most time steps an encoder makes (the chip runs at most 255: the NET register's steps field),
#: and the most spikes one call returns (bytes of its bool array).
MAX_STEPS = 65535
MAX_SPIKES = 1 << 32
METHODS = ("rate", "direct", "values", "chip-rate")


def _as_batch(x) -> np.ndarray:
    if x is None:
        raise InputError("intensities must be an array (n_in,) or (batch, n_in), not None")
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"intensities must be an array of numbers in 0..1 ({e})") from None
    if x.ndim == 0:
        raise InputError("intensities must be an array (n_in,) or (batch, n_in), not a single number")
    if x.size == 0:
        raise InputError(f"no intensities to encode (shape {x.shape})")
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        x = x.reshape(x.shape[0], -1)
    if np.isnan(x).any() or x.min() < 0 or x.max() > 1:
        raise InputError("intensities must lie in 0..1 (scale the images first)")
    return x


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps must be an integer in 1..{MAX_STEPS}, not {steps!r}")
    return int(steps)


def _check_size(x: np.ndarray, steps: int) -> None:
    n = x.shape[0] * steps * x.shape[1]
    if n > MAX_SPIKES:
        raise InputError(f"{x.shape[0]} samples x {steps} steps x {x.shape[1]} inputs = {n} spikes is more "
                         f"than one call encodes ({MAX_SPIKES}); encode in batches")


def _finite(name: str, v, lo: float = -math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < lo:
        raise InputError(f"{name} must be a finite number >= {lo:g}, not {v!r}")
    return float(v)


def rate(x: np.ndarray, steps: int, *, gain: float = 1.0,
         rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Rate (Bernoulli) coding: input i spikes at step t with probability min(1, gain * x_i),
    independently for every step. ``rng``: a Generator, or a seed for a new one.

    Returns bool (batch, steps, n_in); a 1-D ``x`` is one sample (batch 1).
    """
    steps = check_steps(steps)
    gain = _finite("gain", gain, 0.0)
    x = _as_batch(x)
    _check_size(x, steps)
    if not (rng is None or isinstance(rng, np.random.Generator) or
            (isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng >= 0)):
        raise InputError(f"rng must be a numpy Generator or a seed >= 0, not {rng!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    p = np.clip(x * gain, 0.0, 1.0)[:, None, :]
    return gen.random((x.shape[0], steps, x.shape[1])) < p


def direct(x: np.ndarray, steps: int, *, threshold: float = 0.5) -> np.ndarray:
    """Direct (threshold) coding: input i spikes at every step where x_i >= threshold, and
    never otherwise. Deterministic. Returns bool (batch, steps, n_in)."""
    steps = check_steps(steps)
    threshold = _finite("threshold", threshold)
    x = _as_batch(x)
    _check_size(x, steps)
    on = x >= threshold
    return np.repeat(on[:, None, :], steps, axis=1)


def values(x: np.ndarray, bits: int) -> np.ndarray:
    """Intensities 0..1 as the unsigned ``bits``-bit values of a direct-input network:
    rint(x * (2**bits - 1)), int64 (batch, n_in). The chip adds sum_i x_i W[i] to layer 0
    at every step (docs/semantics.md, "Inputs"); the float model sees x rounded to that grid."""
    from skyspike.spec.config import check_precision

    bits = check_precision(bits, "input values", InputError)
    x = _as_batch(x)
    return np.rint(x * ((1 << bits) - 1)).astype(np.int64)


def most_varying(x: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` pixels of images ``x`` (N, n_pixels) whose intensity varies most over them
    (standard deviation; ties: the lower index), in ascending order: a network can take these
    inputs alone (an MNIST digit's border is almost always blank), which leaves weight memory for
    a wider hidden layer. InputError for k outside 1..n_pixels."""
    x = np.asarray(x, np.float64)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= x.shape[1]:
        raise InputError(f"pixels must be an integer in 1..{x.shape[1]}, not {k!r}")
    order = np.lexsort((np.arange(x.shape[1]), -x.std(axis=0)))
    return np.sort(order[:k])


def check_pixels(pixels) -> list[int]:
    """A stored pixel selection: distinct indices >= 0, ascending; InputError otherwise."""
    try:
        p = np.asarray(pixels)
    except (TypeError, ValueError):
        p = np.asarray([])
    if p.ndim != 1 or p.size == 0 or not np.issubdtype(p.dtype, np.integer) or p.min() < 0 \
            or np.any(np.diff(p) <= 0):
        raise InputError("pixels must be a list of distinct pixel indices >= 0 in ascending order")
    return [int(i) for i in p]


def pick(x: np.ndarray, pixels) -> np.ndarray:
    """Images ``x`` (N, n_pixels) narrowed to the network's ``pixels`` (None: all of them);
    InputError if the images are too small for them."""
    if pixels is None:
        return x
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] <= pixels[-1]:
        raise InputError(f"the network takes pixels up to index {pixels[-1]}, but the images have "
                         f"{x.shape[-1] if x.ndim else 0} pixels")
    return x[:, pixels]


def check_encoding(enc) -> dict:
    """A stored encoding (``{"method": "rate", "gain": g}``, ``{"method": "direct",
    "threshold": t}``; for graded input ``{"method": "values", "bits": b}`` (direct) or
    ``{"method": "chip-rate", "bits": b}`` (rate coded on the chip)) with its parameters
    validated, or InputError. Any of them may add ``"pixels"``: the image pixels the network
    takes (:func:`most_varying`), picked on the host before encoding (:func:`pick`)."""
    from skyspike.spec.config import check_precision

    if not isinstance(enc, dict) or enc.get("method") not in METHODS:
        raise InputError(f"unknown input encoding {enc!r}; use method 'rate' (gain), 'direct' (threshold), "
                         f"'values' or 'chip-rate' (bits)")
    if enc["method"] == "rate":
        allowed, values = {"method", "gain"}, {"gain": _finite("gain", enc.get("gain", 1.0), 0.0)}
    elif enc["method"] in ("values", "chip-rate"):
        allowed, values = {"method", "bits"}, {"bits": check_precision(enc.get("bits"), "values", InputError)}
    else:
        allowed, values = {"method", "threshold"}, {"threshold": _finite("threshold", enc.get("threshold", 0.5))}
    if "pixels" in enc:
        allowed, values = allowed | {"pixels"}, {**values, "pixels": check_pixels(enc["pixels"])}
    if set(enc) - allowed:
        raise InputError(f"encoding {enc['method']!r} has unknown parameters {sorted(set(enc) - allowed)}")
    return {"method": enc["method"], **values}


def encode(x: np.ndarray, steps: int, method: str = "rate", **kwargs) -> np.ndarray:
    """Dispatch by name: ``"rate"`` (gain, rng) or ``"direct"`` (threshold)."""
    if method == "rate":
        return rate(x, steps, **kwargs)
    if method == "direct":
        return direct(x, steps, **kwargs)
    raise InputError(f"unknown encoding {method!r}; use 'rate' or 'direct'")


__all__ = ["rate", "direct", "values", "encode", "check_encoding", "check_steps", "most_varying", "pick",
           "check_pixels", "MAX_STEPS"]
