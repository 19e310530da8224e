"""Post-training quantization: a float snnTorch network -> a :class:`ChipNetwork` in chip integers.

Accepted models: an ``nn.Sequential`` (or a list of modules) of ``nn.Linear(bias=False)`` /
``snn.Leaky`` pairs (``nn.Identity`` is skipped). Each pair becomes one
:class:`ChipLayer`. Rounding, exactly (all arithmetic in float64, ``rint`` = numpy's
round-half-to-even):

* scale ``s``, per layer: ``s = max|W| / (2**(bits-1) - 1)`` for 2/4/8 bits (symmetric,
  so the most negative code, e.g. -8 at 4 bits, is never produced); ``s = mean|W|`` at 1 bit.
  ``scales=[...]`` overrides it per layer.
* weights: ``W_int = clip(rint(W / s), lo, hi)`` at 2/4/8 bits (the clip only acts with an
  overridden scale); at 1 bit ``W_int = +1 if W >= 0 else -1``.
* the membrane unit is one weight LSB of the layer (``s``), so the threshold is
  ``T_int = rint(threshold / s)``. snnTorch fires at ``U > threshold``, i.e. on integers at
  ``V >= T_int + 1``: ``theta_high = theta_low = T_int + 1`` (no hysteresis), and a spike
  subtracts ``reset_sub = T_int`` at the next step (``reset_mechanism="subtract"``) or
  zeroes the membrane (``"zero"`` -> ``reset_zero=True``).
* leak: ``beta_int = rint(clamp(beta, 0, 1) * 256)`` (snnTorch clamps beta to 0..1 too);
  the chip then computes ``(V * beta_int + 128) >> 8`` every step (round to nearest, ties up),
  where snnTorch computes ``beta * U`` exactly.

So a network whose weights and thresholds are already integers times ``s`` and whose
leak never produces fractions (beta = 1, or membranes that stay divisible) runs
bit-exactly on the chip; otherwise the rounding above is the whole quantization error,
which :func:`quantization_report` measures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import ChipLayer, ChipNetwork, NetworkError, weight_range


def predict(counts: np.ndarray, last_membrane: np.ndarray) -> np.ndarray:
    """The chip's classification rule, shared by the golden model, the RTL results and the
    float model: the output with the most spikes; ties -> the higher final membrane, then the
    lower index. Same result as :attr:`skyspike.golden.GoldenResult.prediction` (which packs
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


def _modules(model_or_layers) -> list[tuple[str, object]]:
    import torch.nn as nn
    if isinstance(model_or_layers, nn.Sequential):
        return list(model_or_layers.named_children())
    if isinstance(model_or_layers, nn.Module):
        children = list(model_or_layers.named_children())
        if not children:
            return [(type(model_or_layers).__name__, model_or_layers)]
        return children
    return [(str(i), m) for i, m in enumerate(model_or_layers)]


def _scalar(t, what: str, where: str) -> float:
    import torch
    a = t.detach().to(torch.float64).cpu().numpy() if torch.is_tensor(t) else np.asarray(t, np.float64)
    if a.size == 0:
        raise NetworkError(f"{where}: {what} is empty")
    if not np.all(np.isfinite(a)):
        raise NetworkError(f"{where}: {what} is not finite ({a.ravel()[:4]})")
    if np.any(a != a.ravel()[0]):
        raise NetworkError(f"{where}: per-neuron {what} is not supported (the chip has one per layer)")
    return float(a.ravel()[0])


def _check_leaky(lif, where: str) -> tuple[float, float, bool]:
    """(beta, threshold, reset_zero) of an snn.Leaky, or NetworkError for what the chip lacks."""
    mech = int(lif.reset_mechanism_val)
    if mech == 2:
        raise NetworkError(f"{where}: reset_mechanism='none' is not supported (use 'subtract' or 'zero')")
    if mech not in (0, 1):
        raise NetworkError(f"{where}: unknown reset mechanism {mech}")
    if getattr(lif, "inhibition", False):
        raise NetworkError(f"{where}: inhibition=True is not supported")
    if getattr(lif, "state_quant", False):
        raise NetworkError(f"{where}: state_quant is not supported (the chip has its own integers)")
    if not getattr(lif, "reset_delay", True):
        raise NetworkError(f"{where}: reset_delay=False is not supported (the chip resets at the next step)")
    gsf = getattr(lif, "graded_spikes_factor", None)
    if gsf is not None and _scalar(gsf, "graded_spikes_factor", where) != 1.0:
        raise NetworkError(f"{where}: graded spikes (graded_spikes_factor != 1) are not supported")
    beta = _scalar(lif.beta, "beta", where)
    thr = _scalar(lif.threshold, "threshold", where)
    return beta, thr, mech == 1


def quantize_snntorch(model_or_layers, bits: int = 4, steps: int = 16, *,
                      scales: list[float | None] | None = None) -> ChipNetwork:
    """Quantize Linear/Leaky pairs to a :class:`ChipNetwork` of ``bits``-bit layers
    (rounding as in the module docstring). ``steps``: time steps of an inference.

    Raises :class:`NetworkError` (a ValueError) naming the layer for a bias, NaN/inf or
    all-zero weights, per-neuron beta/threshold, reset 'none', other neuron options the chip
    lacks, and modules other than Linear/Leaky.
    """
    import snntorch as snn
    import torch.nn as nn

    if bits not in (1, 2, 4, 8):
        raise NetworkError(f"bits={bits} is not one of 1, 2, 4, 8")
    pairs: list[tuple[str, nn.Linear, str, snn.Leaky]] = []
    pending: tuple[str, nn.Linear] | None = None
    for name, m in _modules(model_or_layers):
        where = f"module {name!r} ({type(m).__name__})"
        if isinstance(m, nn.Identity):
            continue
        if isinstance(m, nn.Linear):
            if pending is not None:
                raise NetworkError(f"{where}: two Linear layers without a Leaky between them "
                                   f"(after module {pending[0]!r})")
            pending = (name, m)
        elif isinstance(m, snn.Leaky):
            if pending is None:
                raise NetworkError(f"{where}: a Leaky layer must follow a Linear layer")
            pairs.append((*pending, name, m))
            pending = None
        else:
            raise NetworkError(f"{where}: unsupported module; only Linear (bias=False) and snn.Leaky "
                               f"layers map onto the chip")
    if pending is not None:
        raise NetworkError(f"module {pending[0]!r} (Linear): the last Linear layer has no Leaky after it")
    if not pairs:
        raise NetworkError("no Linear/Leaky layers to quantize")
    if scales is not None and len(scales) != len(pairs):
        raise NetworkError(f"scales has {len(scales)} entries for {len(pairs)} layers")

    layers = []
    lo, hi = weight_range(bits)
    qmax = max(1, (1 << (bits - 1)) - 1)
    for i, (lin_name, lin, lif_name, lif) in enumerate(pairs):
        where = f"layer {i} (Linear {lin_name!r})"
        if lin.bias is not None:
            raise NetworkError(f"{where}: has a bias; the chip has none (use bias=False)")
        w = lin.weight.detach().to("cpu").double().numpy().T  # (n_in, n_out)
        if not np.all(np.isfinite(w)):
            bad = int((~np.isfinite(w)).sum())
            raise NetworkError(f"{where}: {bad} weights are NaN or infinite")
        beta, thr, zero = _check_leaky(lif, f"layer {i} (Leaky {lif_name!r})")
        s = scales[i] if scales is not None and scales[i] is not None else \
            (float(np.mean(np.abs(w))) if bits == 1 else float(np.max(np.abs(w))) / qmax)
        if not (s > 0 and math.isfinite(s)):
            raise NetworkError(f"{where}: weight scale {s} (all weights zero?) cannot be used")
        if bits == 1:
            wq = np.where(w >= 0, 1, -1).astype(np.int64)
        else:
            wq = np.clip(np.rint(w / s), lo, hi).astype(np.int64)
        t_int = int(np.rint(thr / s))
        beta_int = int(np.rint(min(max(beta, 0.0), 1.0) * 256))
        layers.append(ChipLayer(weights=wq, bits=bits, beta=beta_int, theta_high=t_int + 1,
                                theta_low=t_int + 1, reset_sub=t_int, reset_zero=zero))
        layers[-1].scale = s  # float value of one membrane/weight unit (informational)
    net = ChipNetwork(layers, steps)
    net.check()
    return net


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


def quantization_report(model, net: ChipNetwork, spikes: np.ndarray, labels: np.ndarray) -> QuantReport:
    """Float model vs golden model of its quantized network on the same encoded inputs."""
    import torch

    from . import golden
    from .train import simulate

    with torch.no_grad():
        fr = simulate(model, spikes)
    gr = golden.run(net, spikes)
    fp, gp = fr.prediction, predict(gr.counts, gr.membranes[-1][:, -1])
    labels = np.asarray(labels)
    fc = fr.counts.numpy()
    return QuantReport(float(np.mean(fp == labels)), float(np.mean(gp == labels)), float(np.mean(fp == gp)),
                       float(np.mean(np.abs(fc - gr.counts))), fp, gp)


def golden_prediction(result) -> np.ndarray:
    """:func:`predict` on anything with ``counts`` and per-layer ``membranes`` (batch, steps, n)
    or ``finals`` (batch, n): a GoldenResult or an RTLResult."""
    finals = getattr(result, "finals", None)
    last = finals[-1] if finals is not None else result.membranes[-1][:, -1]
    return predict(result.counts, last)


__all__ = ["quantize_snntorch", "quantization_report", "QuantReport", "predict", "golden_prediction"]
