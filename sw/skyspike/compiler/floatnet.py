"""Trained networks in float, before quantization: the chain of fully connected spiking
layers that every import produces (:mod:`skyspike.compiler.model`) and quantization maps onto
the chip's integers, with its float reference simulation.

It has the chip's semantics (docs/semantics.md) but no rounding.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skyspike.chip.network import ChipNetwork
from skyspike.chip.readout import predict


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


def float_reference(fnet, net: ChipNetwork, inputs: np.ndarray, batch: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The float model ``fnet``'s output spike counts and predictions on the chip's ``inputs``
    for ``net`` (:func:`float_inputs`), ``batch`` samples at a time, without gradients."""
    import torch

    counts, preds = [], []
    with torch.no_grad():
        for i in range(0, len(inputs), batch):
            r = fnet.simulate(float_inputs(inputs[i:i + batch], net), record=False)
            counts.append(r.counts.numpy())
            preds.append(r.prediction)
    return np.concatenate(counts), np.concatenate(preds)


@dataclass
class FloatResult:
    """What a float simulation records, per spiking layer."""

    spikes: list        # torch.Tensor (batch, steps, n_out) per layer
    membranes: list     # torch.Tensor (batch, steps or 1, n_out) per layer

    @property
    def counts(self):
        return self.spikes[-1].sum(dim=1)

    @property
    def prediction(self) -> np.ndarray:
        """The chip's rule (:func:`skyspike.chip.readout.predict`) on float counts / membranes."""
        return predict(self.counts.detach().cpu().numpy(), self.membranes[-1][:, -1].detach().cpu().numpy())


@dataclass
class FloatLayer:
    """One fully connected spiking layer in float.

    weight (n_in, n_out), bias (n_out,) or None; beta: decay per step (0..1);
    fires at ``V > theta_high`` if ``strict`` (snnTorch) else ``V >= theta_high`` (the chip,
    :class:`~skyspike.compiler.neurons.Schmitt`), while armed; re-arms below ``theta_low``;
    ``reset_sub`` / ``reset_zero`` as in :class:`skyspike.chip.network.ChipLayer`.
    ``spiking=False``: a non-spiking readout (NIR ``LI``), classified by its final membrane.
    """

    weight: np.ndarray
    bias: np.ndarray | None
    beta: float
    theta_high: float
    theta_low: float
    reset_sub: float
    reset_zero: bool = False
    strict: bool = True
    spiking: bool = True
    name: str = ""

    @property
    def n_in(self) -> int:
        return self.weight.shape[0]

    @property
    def n_out(self) -> int:
        return self.weight.shape[1]

    @property
    def hysteresis(self) -> bool:
        return self.theta_low < self.theta_high


@dataclass
class FloatNetwork:
    layers: list[FloatLayer]
    source: str = ""
    notes: list[str] = field(default_factory=list)   # what the import assumed (shown to users)
    # What the source says of layer 0's input (a NIR graph's "skyspike_input" metadata): graded
    # values of input_bits bits, "direct" or "rate" coded on the chip; None: it does not say.
    input_bits: int | None = None
    input_mode: str = "direct"
    # The grid the source was fine-tuned on (skyspike.compiler.finetune): {"bits": [...], "scales":
    # [...]} per layer; quantizing at those bits with those scales is exact. None: not on a grid.
    grid: dict | None = None

    def simulate(self, spikes, record: bool = True):
        """Run input spikes (batch, steps, n_in) in float64; returns a
        :class:`FloatResult` (spikes and membranes per layer)."""
        import torch

        x = torch.as_tensor(np.asarray(spikes), dtype=torch.float64)
        if x.ndim == 2:
            x = x[None]
        h = x
        spikes_out, mem_out = [], []
        for ly in self.layers:
            w = torch.as_tensor(ly.weight, dtype=torch.float64)
            cur = h @ w + (0 if ly.bias is None else torch.as_tensor(ly.bias, dtype=torch.float64))
            v = torch.zeros_like(cur[:, 0])
            armed = torch.ones_like(v, dtype=torch.bool)
            fired = torch.zeros_like(v)
            spk_t, mem_t = [], []
            for t in range(cur.shape[1]):
                base = v * ly.beta * (1 - fired) if ly.reset_zero else v * ly.beta - ly.reset_sub * fired
                v = base + cur[:, t]
                if ly.spiking:
                    over = v > ly.theta_high if ly.strict else v >= ly.theta_high
                    spk = over & armed if ly.hysteresis else over
                    if ly.hysteresis:
                        armed = ~spk & (armed | (v < ly.theta_low))
                else:
                    spk = torch.zeros_like(v, dtype=torch.bool)
                fired = spk.to(v.dtype)
                spk_t.append(fired)
                if record or t == cur.shape[1] - 1:
                    mem_t.append(v)
            h = torch.stack(spk_t, dim=1)
            spikes_out.append(h)
            mem_out.append(torch.stack(mem_t, dim=1))
        return FloatResult(spikes_out, mem_out)
