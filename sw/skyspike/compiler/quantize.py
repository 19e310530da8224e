"""Quantization: a trained float network -> a :class:`ChipNetwork` in chip integers.

Sources are everything :mod:`skyspike.compiler.model` imports (PyTorch/snnTorch modules, NIR graphs).
Each Linear + neuron pair becomes one :class:`ChipLayer`. Rounding, exactly (all arithmetic
in float64, ``rint`` = numpy's round-half-to-even):

* scale ``s``, per layer (:func:`layer_scale`): the ``"max"`` rule ``s = max|W| / (2**(bits-1) - 1)``
  for 2/4/8 bits (symmetric, so nothing clips), the ``"mse"`` rule (default) the scale up to
  that with the least squared weight error; ``s = mean|W|`` at 1 bit; ``align_threshold``
  makes the threshold a whole number of LSBs. ``scales=[...]`` overrides it per layer.
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
from dataclasses import dataclass

import numpy as np

from skyspike.chip.readout import predict
from skyspike.spec.config import check_precision
from skyspike.chip.network import ChipLayer, ChipNetwork, NetworkError, weight_range


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


def quantize(model, bits: int | list[int] = 4, steps: int = 16, *, scales: list[float | None] | None = None,
             rule: str = "mse", align_threshold: bool = False, input_bits: int | None = None,
             input_mode: str = "direct", seed: int = 1, **nir_options) -> ChipNetwork:
    """Quantize a trained network (torch module or list, NIR graph or file, FloatNetwork) to a
    :class:`ChipNetwork`: ``bits`` per network or per layer, ``steps`` time steps per
    inference, per-layer ``scales`` overriding ``rule`` and ``align_threshold`` (see
    :func:`layer_scale`; models fine-tuned by :mod:`skyspike.compiler.qat` need ``align_threshold=True``).

    ``input_bits``: the model's first Linear gets the image itself (intensities 0..1) at every
    step, as in snnTorch's tutorials (``cur1 = fc1(x)``): the network becomes a direct-input
    one taking ``input_bits``-bit values (:func:`skyspike.compiler.encode.values`); one float
    input unit is 2**input_bits - 1 integer units, so layer 0's membranes and thresholds are
    counted in s / (2**input_bits - 1). None: the model takes spikes. ``input_mode="rate"``
    instead: a model trained on rate-coded spikes takes the same values and the chip rate codes
    them (with generators seeded by ``seed``); nothing else changes.

    Raises :class:`NetworkError` (a ValueError) naming the layer for anything the chip cannot
    compute (see :mod:`skyspike.compiler.model`) and for values that do not fit its fields.
    """
    from skyspike.compiler.model import load_model

    fnet = load_model(model, **nir_options)
    if input_bits is None and fnet.input_bits is not None:   # the source says its input is graded
        input_bits, input_mode = fnet.input_bits, fnet.input_mode
    n = len(fnet.layers)
    per_layer = list(bits) if isinstance(bits, (list, tuple)) else [bits] * n
    if len(per_layer) != n:
        raise NetworkError(f"bits has {len(per_layer)} entries for {n} layers")
    if scales is not None and len(scales) != n:
        raise NetworkError(f"scales has {len(scales)} entries for {n} layers")
    if input_bits is not None:
        check_precision(input_bits, f"{input_mode} input", NetworkError)
        if input_mode not in ("direct", "rate"):
            raise NetworkError(f"input_mode={input_mode!r}: use 'direct' or 'rate' with input_bits")
    layers = []
    for i, (ly, b) in enumerate(zip(fnet.layers, per_layer)):
        where = f"layer {i} ({ly.name!r})" if ly.name else f"layer {i}"
        check_precision(b, where, NetworkError)
        s = scales[i] if scales is not None and scales[i] is not None else \
            layer_scale(ly, b, rule, align_threshold=align_threshold)
        input_scale = (1 << input_bits) - 1 if i == 0 and input_bits is not None and input_mode == "direct" else 1
        layers.append(quantize_layer(ly, b, s, where, input_scale))
    net = ChipNetwork(layers, steps, *((input_mode, input_bits, seed) if input_bits is not None else ()))
    net.check()
    return net


def quantize_snntorch(model_or_layers, bits: int = 4, steps: int = 16, *,
                      scales: list[float | None] | None = None) -> ChipNetwork:
    """:func:`quantize` of a torch model with the ``"max"`` scale rule (nothing clips)."""
    return quantize(model_or_layers, bits, steps, scales=scales, rule="max")


@dataclass
class QuantReport:
    float_accuracy: float
    golden_accuracy: float
    agreement: float              # fraction of samples where float and golden predict the same
    count_mae: float              # mean |float - golden| output spike count
    float_prediction: np.ndarray
    golden_prediction: np.ndarray

    def __str__(self) -> str:
        return (f"float {100 * self.float_accuracy:.1f}% vs golden {100 * self.golden_accuracy:.1f}% "
                f"(same prediction on {100 * self.agreement:.1f}%, output count MAE {self.count_mae:.2f})")


def quantization_report(model, net: ChipNetwork, spikes: np.ndarray, labels: np.ndarray, *,
                        batch: int = 2000) -> QuantReport:
    """Float model (anything :func:`skyspike.compiler.model.load_model` takes) vs the golden model of
    its quantized network ``net``, on the same encoded inputs (a direct input's values: the float
    model sees them as intensities, :func:`float_inputs`), in batches of ``batch``."""
    import torch

    from skyspike.chip import golden
    from skyspike.compiler.model import load_model

    fnet = load_model(model)
    fp, gp, mae = [], [], 0.0
    spikes = np.asarray(spikes)
    with torch.no_grad():
        for i in range(0, len(spikes), batch):
            x = spikes[i:i + batch]
            fr = fnet.simulate(float_inputs(x, net), record=False)
            gr = golden.run(net, x)
            fp.append(fr.prediction)
            gp.append(predict(gr.counts, gr.membranes[-1][:, -1]))
            mae += float(np.abs(fr.counts.numpy() - gr.counts).sum()) / gr.counts.shape[1]
    fp, gp = np.concatenate(fp), np.concatenate(gp)
    labels = np.asarray(labels)
    return QuantReport(float(np.mean(fp == labels)), float(np.mean(gp == labels)), float(np.mean(fp == gp)),
                       mae / len(spikes), fp, gp)


def float_inputs(x: np.ndarray, net: ChipNetwork) -> np.ndarray:
    """What the float model sees of the chip's inputs ``x``: the spikes; for a direct input
    its values over 2**input_bits - 1 at every step (batch, steps, n_in); for rate-coded input
    the spikes the chip draws from them."""
    from skyspike.chip import golden

    if not net.graded:
        return x
    if net.input_mode == "rate":
        return golden.rate_spikes(x, net)
    v = np.asarray(x, np.float64) / ((1 << net.input_bits) - 1)
    return np.repeat(v[:, None, :], net.steps, axis=1)


def golden_prediction(result) -> np.ndarray:
    """:func:`predict` on anything with ``counts`` and per-layer ``membranes`` (batch, steps, n)
    or ``finals`` (batch, n): a GoldenResult or an RTLResult."""
    finals = getattr(result, "finals", None)
    last = finals[-1] if finals is not None else result.membranes[-1][:, -1]
    return predict(result.counts, last)


__all__ = ["quantize", "quantize_layer", "layer_scale", "bias_rows", "SCALE_RULES", "quantize_snntorch", "quantization_report", "QuantReport", "golden_prediction"]
