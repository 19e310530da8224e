"""Quantization-aware fine-tuning: train the float model against the chip's weight grid.

Each Linear's weight (and bias) is replaced in the forward pass by its fake-quantized value
``s * rint(W / s)`` at the target precision (``s * sign(W)`` at 1 bit), with the
straight-through estimator for the gradient; ``s`` is the per-layer scale of
:func:`skyspike.compiler.grid.layer_scale` (``"mse"`` rule, ``align_threshold=True``),
recomputed from the current weights at every step and not differentiated. The latent float
weights keep training; :func:`skyspike.compiler.quantize.quantize` with ``align_threshold=True``
then maps them to exactly the integers the fine-tuning saw. Thresholds sit on the grid by that rule, so what
remains between the fine-tuned float model and the chip is the leak's rounding.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from skyspike.spec.config import check_precision
from skyspike.compiler.model import FloatLayer
from skyspike.compiler.grid import layer_scale


def _ste(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return w + (q - w).detach()


class FakeQuant(nn.Module):
    """Parametrization of a Linear's ``weight`` or ``bias``: forward = fake-quantized value.

    ``owner``: the Linear (its current weight sets the scale), ``threshold``: the following
    neuron's firing threshold (a float), ``bits``: 1, 2, 4 or 8."""

    def __init__(self, owner: nn.Linear, threshold: float, bits: int, is_bias: bool = False):
        super().__init__()
        check_precision(bits, "FakeQuant")
        self.owner = [owner]          # a list: not a submodule (no parameter loop)
        self.threshold, self.bits, self.is_bias = threshold, bits, is_bias

    def scale(self) -> float:
        lin = self.owner[0]
        w = lin.parametrizations.weight.original if parametrize.is_parametrized(lin, "weight") else lin.weight
        w = w.detach().double().cpu().numpy().T
        ly = FloatLayer(w, None, 1.0, self.threshold, self.threshold, self.threshold)
        return layer_scale(ly, self.bits, "mse", align_threshold=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale()
        if self.bits == 1 and not self.is_bias:
            return _ste(x, s * torch.where(x >= 0, 1.0, -1.0).to(x.dtype))
        if self.is_bias:
            return _ste(x, s * torch.round(x / s))
        hi = (1 << (self.bits - 1)) - 1
        return _ste(x, s * torch.clamp(torch.round(x / s), -hi - 1, hi))


def _threshold(neuron) -> float:
    t = getattr(neuron, "threshold", None)
    if t is None:
        t = neuron.theta_high
    t = torch.as_tensor(t).detach().flatten()
    return float(t.max())


def attach(model: nn.Sequential, bits: int | list[int]) -> list[nn.Linear]:
    """Put fake quantization on every Linear of ``model`` (followed by its neuron) at ``bits``:
    one precision for all, or one per Linear (as :func:`skyspike.compiler.quantize.quantize`
    takes them). ValueError if the list's length is not the number of Linears."""
    mods = list(model)
    n_linear = sum(isinstance(m, nn.Linear) for m in mods)
    per_layer = [bits] * n_linear if isinstance(bits, int) else list(bits)
    if len(per_layer) != n_linear:
        raise ValueError(f"bits {bits!r}: one precision per Linear layer wanted, the model has {n_linear}")
    linears = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            thr, bits = _threshold(mods[i + 1]), per_layer[len(linears)]
            parametrize.register_parametrization(m, "weight", FakeQuant(m, thr, bits))
            if m.bias is not None:
                parametrize.register_parametrization(m, "bias", FakeQuant(m, thr, bits, is_bias=True))
            linears.append(m)
    return linears


def detach(model: nn.Sequential) -> None:
    """Remove the fake quantization, keeping the latent float weights."""
    for m in model:
        if isinstance(m, nn.Linear):
            for name in ("weight", "bias"):
                if parametrize.is_parametrized(m, name):
                    parametrize.remove_parametrizations(m, name, leave_parametrized=False)


__all__ = ["FakeQuant", "attach", "detach"]
