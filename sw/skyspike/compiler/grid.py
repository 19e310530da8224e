"""The chip's grid: how one float layer rounds onto the chip's integers (scale, weights, biases,
thresholds, leak). :mod:`skyspike.compiler.quantize` applies it to whole networks,
:mod:`skyspike.compiler.calibrate` searches its choices on data, :mod:`skyspike.compiler.qat` trains on it.

Each float layer (:class:`skyspike.compiler.floatnet.FloatLayer`) becomes one :class:`ChipLayer`. Rounding, exactly (all arithmetic
in float64, ``rint`` = numpy's round-half-to-even):

* scale ``s``, per layer (:func:`layer_scale`): the ``"max"`` rule ``s = max|W| / (2**(bits-1) - 1)``
  for 2/4/8 bits (symmetric, so nothing clips), the ``"mse"`` rule (default) the scale up to
  that with the least squared weight error; ``s = mean|W|`` at 1 bit; ``align_threshold``
  makes the threshold a whole number of LSBs. ``quantize(scales=[...])`` overrides it per layer.
* weights: ``W_int = clip(rint(W / s), lo, hi)`` at 2/4/8 bits; at 1 bit
  ``W_int = +1 if W >= 0 else -1``.
* bias: ``b_int = rint(b / s)``, spread over k always-on bias rows within the weight range
  (:func:`bias_rows`; at most ``MAX_BIAS_ROWS``, larger biases clip with a warning).
* the membrane unit is one weight LSB of the layer (``s``), so the threshold is
  ``T_int = rint(threshold / s)``. snnTorch fires at ``U > threshold``, i.e. on integers at
  ``V >= T_int + 1``: ``theta_high = theta_low = T_int + 1`` (no hysteresis), and a spike
  subtracts ``reset_sub = T_int`` at the next step (``reset_mechanism="subtract"``) or
  zeroes the membrane (``"zero"`` -> ``reset_zero=True``). The chip's own neuron
  (:class:`skyspike.compiler.neurons.Schmitt`) fires at ``V >= theta_high``: ``rint`` of each of
  theta_high, theta_low, reset_sub over ``s``. A non-spiking readout gets theta 32767.
* leak: ``beta_int = rint(clamp(beta, 0, 1) * 256)`` (snnTorch clamps beta to 0..1 too);
  the chip then computes ``(V * beta_int + 128) >> 8`` every step (round to nearest, ties up),
  where snnTorch computes ``beta * U`` exactly.

So a network whose weights, biases and thresholds are already integers times ``s`` and whose
leak never produces fractions (beta = 1, or membranes that stay divisible) runs
bit-exactly on the chip; otherwise the rounding above is the whole quantization error,
which :func:`quantization_report` measures.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from skyspike.spec.config import check_precision
from skyspike.chip.network import ChipLayer, NetworkError, weight_range


def bias_rows(b_int: np.ndarray, bits: int, where: str) -> tuple[np.ndarray | None, int]:
    """Split integer biases (n_out,) into k always-on rows within the weight range (the chip's
    bias, docs/semantics.md): (rows (k, n_out) or None, number of clipped biases).

    2/4/8 bits: k = ceil(max|b| / wmax) rows; each neuron's bias spread as evenly as possible.
    1 bit: rows are +-1, so k = max|b| rows and every sum has k's parity: a bias of the other
    parity moves one step towards zero (0 to +1): the rounding error of 1-bit biases."""
    from skyspike.spec.config import MAX_BIAS_ROWS

    wmax = 1 if bits == 1 else (1 << (bits - 1)) - 1
    limit = MAX_BIAS_ROWS * wmax
    # Clip in float first: a bias of 2**63 LSBs or more would wrap in int64 (never silently dropped).
    b_float = np.asarray(b_int, np.float64)
    b = np.clip(b_float, -limit - 1, limit + 1).astype(np.int64)
    m = int(np.abs(b).max(initial=0))
    if m == 0:
        return None, 0
    k = min(-(-m // wmax), MAX_BIAS_ROWS)
    clipped = int(np.sum(np.abs(b) > k * wmax))
    if clipped:
        warnings.warn(f"{where}: {clipped} biases exceed {k} bias rows x {wmax} and are clipped", stacklevel=3)
    b = np.clip(b, -k * wmax, k * wmax)
    if bits == 1:
        odd = (b - k) % 2 != 0
        b = np.where(odd, b - np.where(b > 0, 1, -1), b)   # towards zero; 0 -> +1
        n_pos = (k + b) // 2
        rows = np.where(np.arange(k)[:, None] < n_pos[None, :], 1, -1)
    else:
        q, r = np.divmod(b, k)
        rows = q[None, :] + (np.arange(k)[:, None] < r[None, :])
    return rows.astype(np.int64), clipped


SCALE_RULES = ("mse", "max")


def _mse_scale(w: np.ndarray, bits: int, s_max: float) -> float:
    """The scale among ``s_max * (1, 0.98, ..., 0.1)`` with the least squared weight error
    after rounding and clipping (the largest on ties): clipping a few outliers buys
    resolution for the many small weights, which matters most at 2 bits."""
    lo, hi = weight_range(bits)
    cands = s_max * np.linspace(1.0, 0.1, 46)
    flat = w.ravel()
    if flat.size > 65536:  # a fixed subsample keeps this cheap; the choice hardly moves
        flat = flat[np.linspace(0, flat.size - 1, 65536).astype(np.int64)]
    err = [np.sum((np.clip(np.rint(flat / c), lo, hi) * c - flat) ** 2) for c in cands]
    return float(cands[int(np.argmin(err))])


def layer_scale(ly, bits: int, rule: str = "mse", *, align_threshold: bool = False) -> float:
    """One weight LSB of a layer, in float membrane units.

    ``"max"``: max|W| / (2**(bits-1) - 1) (symmetric, nothing clips; 1 bit: mean|W|).
    ``"mse"``: the scale up to that one with the least squared rounding error of the weights
    (:func:`_mse_scale`; 1 bit: mean|W|, already the least-squares scale of sign(W)).
    ``align_threshold``: then move it so that the firing threshold is a whole number of
    LSBs, ``theta / max(1, rint(theta / s))``: the threshold is exact on the chip and only
    weights, biases and the leak round. Quantization-aware fine-tuning (:mod:`skyspike.compiler.qat`)
    trains against the ``"mse"`` + aligned grid.
    """
    if rule not in SCALE_RULES:
        raise ValueError(f"scale rule {rule!r}: use one of {SCALE_RULES}")
    w = np.abs(np.asarray(ly.weight, np.float64))
    qmax = max(1, (1 << (bits - 1)) - 1)
    s = float(w.mean()) if bits == 1 else float(w.max()) / qmax
    if rule == "mse" and bits > 1 and s > 0:
        s = _mse_scale(np.asarray(ly.weight, np.float64), bits, s)
    if align_threshold and ly.spiking and ly.theta_high > 0 and s > 0:
        s = ly.theta_high / max(1.0, float(np.rint(ly.theta_high / s)))
    return s


def _int16(v: float, name: str, where: str, s: float) -> int:
    from skyspike.chip.network import INT16_MAX, INT16_MIN
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        q = float(np.rint(np.float64(v) / s))
    if not (math.isfinite(q) and INT16_MIN <= q <= INT16_MAX):
        raise NetworkError(f"{where}: {name} = {v:.4g} is {q:.4g} weight LSBs (scale {s:.4g}), outside the "
                           f"chip's signed 16-bit range; use more weight bits or rescale the layer")
    return int(q)


def quantize_layer(ly, bits: int, s: float, where: str, input_scale: int = 1):
    """One FloatLayer -> ChipLayer at ``bits`` with scale ``s`` (rounding: module docstring).
    ``input_scale``: the integer that one float input unit becomes (2**b - 1 for layer 0 of a
    direct input of b bits): the membrane unit is then s / input_scale."""
    from skyspike.chip.network import INT16_MAX

    check_precision(bits, where, NetworkError)
    if not (s > 0 and math.isfinite(s)):
        raise NetworkError(f"{where}: weight scale {s} (all weights zero?) cannot be used")
    lo, hi = weight_range(bits)
    if bits == 1:
        wq = np.where(ly.weight >= 0, 1, -1).astype(np.int64)
    else:
        wq = np.clip(np.rint(ly.weight / s), lo, hi).astype(np.int64)
    bias, _ = (None, 0) if ly.bias is None else bias_rows(np.rint(ly.bias / s), bits, where)
    beta = int(np.rint(min(max(ly.beta, 0.0), 1.0) * 256))
    w_scale, s = s, s / input_scale   # weights and bias rows in LSBs of s; membranes in s / input_scale
    if not ly.spiking:   # a readout: never fires (short of saturating at 32767)
        hi_t = lo_t = INT16_MAX
        sub = 0
    elif ly.strict:      # snnTorch: U > T  <=>  V_int >= T_int + 1 on the grid
        t = _int16(ly.theta_high, "threshold", where, s)
        hi_t = lo_t = t + 1
        sub = _int16(ly.reset_sub, "reset", where, s)
        if hi_t > INT16_MAX:
            raise NetworkError(f"{where}: threshold {t} + 1 does not fit the chip's signed 16-bit field")
    else:                # the chip's own neuron: V >= theta_high, re-arm below theta_low
        hi_t = _int16(ly.theta_high, "theta_high", where, s)
        lo_t = _int16(ly.theta_low, "theta_low", where, s)
        sub = _int16(ly.reset_sub, "reset_sub", where, s)
    return ChipLayer(weights=wq, bits=bits, beta=beta, theta_high=hi_t, theta_low=lo_t, reset_sub=sub,
                     reset_zero=ly.reset_zero, bias=bias, scale=w_scale)


def input_scale(index: int, input_bits: int | None, input_mode: str) -> int:
    """The integer one float input unit of layer ``index`` becomes: 2**input_bits - 1 for layer 0
    of a direct input (its membranes are counted in s / that), else 1."""
    return (1 << input_bits) - 1 if index == 0 and input_bits is not None and input_mode == "direct" else 1


def layer_where(index: int, ly) -> str:
    """How errors name a layer."""
    return f"layer {index} ({ly.name!r})" if ly.name else f"layer {index}"


__all__ = ["input_scale", "layer_where", "bias_rows", "layer_scale", "quantize_layer", "SCALE_RULES"]
