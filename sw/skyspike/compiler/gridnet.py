"""The chip's grid as a trainable torch model: :class:`GridNet` is a quantized
:class:`~skyspike.chip.network.ChipNetwork` (and the float layers it came from) whose forward
pass is docs/semantics.md in float64 torch, integer for integer: weights ``clip(rint(W / s))``
(1 bit: the sign), biases the sums of :func:`skyspike.compiler.grid.bias_rows` (clipping and 1-bit
parity included), a direct input's values and full-scale bias, the leak ``(V * beta + 128) >> 8``,
the reset at the next step (subtract, or zero), saturation to 16 bits, the Schmitt trigger.

Gradients: rounding passes them straight through, a spike's is the fast sigmoid
(:func:`skyspike.compiler.neurons.fast_sigmoid_ge`) of ``(V - theta_high) / theta_high``, the
leak's floor is differentiated as ``beta / 256``, and a spike's reset is not differentiated.
Thresholds, leak and the per-layer scales are fixed. :mod:`skyspike.compiler.finetune` trains its
latent float weights and biases; :mod:`skyspike.compiler.adaround` only the rounding of each weight.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipLayer, ChipNetwork, NetworkError, weight_range
from skyspike.compiler.floatnet import FloatNetwork
from skyspike.compiler.grid import bias_rows, input_scale
from skyspike.compiler.neurons import fast_sigmoid_ge
from skyspike.spec.config import BETA_SHIFT


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward the identity of ``x``."""
    return x + (q - x).detach()


# How close to the half-way point a moved weight may come (rint's ties stay unambiguous).
MARGIN = 0.49


def _onto(weight: np.ndarray, chip: ChipLayer, scale: float) -> np.ndarray:
    """The float weights moved just far enough that they round to the chip layer's integers: a
    calibrated layer's rounding (learned, :mod:`skyspike.compiler.adaround`) need not be the
    nearest. Weights clipped at the ends of the range keep their side open."""
    w = np.asarray(weight, np.float64) / scale
    if chip.bits == 1:
        return w * scale                       # the sign: calibration does not learn it
    lo, hi = weight_range(chip.bits)
    q = chip.weights.astype(np.float64)
    low = np.where(q <= lo, -np.inf, q - MARGIN)
    high = np.where(q >= hi, np.inf, q + MARGIN)
    return np.clip(w, low, high) * scale


class GridLayer(nn.Module):
    """One chip layer with trainable latent float weights (n_in, n_out) and bias, on scale ``scale``.
    The latent weights start at the float ones moved onto ``chip``'s integers (:func:`_onto`), so
    the grid starts as the network it was given, calibrated rounding included."""

    def __init__(self, weight: np.ndarray, chip: ChipLayer, scale: float, in_scale: int, where: str):
        super().__init__()
        self.scale, self.bits, self.in_scale, self.where = float(scale), chip.bits, in_scale, where
        self.weight = nn.Parameter(torch.as_tensor(_onto(weight, chip, scale), dtype=torch.float64))
        # The bias starts at the sum the chip has (calibration may have corrected it).
        self.bias = None if chip.bias is None else \
            nn.Parameter(torch.as_tensor(chip.bias.sum(axis=0) * self.scale, dtype=torch.float64))
        self.beta, self.reset_zero = chip.beta, chip.reset_zero
        self.theta_high, self.theta_low, self.reset_sub = chip.theta_high, chip.theta_low, chip.reset_sub
        self.spike = fast_sigmoid_ge(25.0)
        # a callable giving the (soft) integer weights instead: learned rounding (skyspike.compiler.adaround)
        self.rounding = None

    def weight_int(self) -> torch.Tensor:
        if self.rounding is not None:
            return self.rounding()
        w = self.weight / self.scale
        if self.bits == 1:
            return _ste(w, torch.where(self.weight >= 0, 1.0, -1.0).to(w.dtype))
        lo, hi = weight_range(self.bits)
        return _ste(w, torch.clamp(torch.round(w), lo, hi))

    def bias_rows(self) -> np.ndarray | None:
        """The bias rows the chip gets (:func:`bias_rows` of the rounded bias), or None."""
        if self.bias is None:
            return None
        b = np.rint(self.bias.detach().numpy() / self.scale)
        return bias_rows(b, self.bits, self.where)[0]

    def bias_int(self) -> torch.Tensor | float:
        rows = self.bias_rows()
        if rows is None:
            return 0.0
        return _ste(self.bias / self.scale, torch.as_tensor(rows.sum(axis=0), dtype=torch.float64))

    def forward(self, x: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input (batch, steps, n_in) spikes, or (batch, n_in) direct values -> (spikes (batch,
        steps, n_out), last membrane (batch, n_out)), integers in float64."""
        cur = x @ self.weight_int() + self.bias_int() * self.in_scale
        v = torch.zeros(cur.shape[0], cur.shape[-1], dtype=torch.float64)
        armed = torch.ones_like(v, dtype=torch.bool)
        fired = torch.zeros_like(v)
        hysteresis = self.theta_low < self.theta_high
        norm = max(1.0, abs(self.theta_high))
        out = []
        for t in range(steps):
            raw = v * self.beta / (1 << BETA_SHIFT) + 0.5
            lk = _ste(raw - 0.5, torch.floor(raw))          # (V * beta + 128) >> 8
            base = lk * (1 - fired) if self.reset_zero else lk - self.reset_sub * fired
            v = torch.clamp(base + (cur if cur.ndim == 2 else cur[:, t]), INT16_MIN, INT16_MAX)
            spk = self.spike((v - self.theta_high) / norm)
            if hysteresis:
                spk = spk * armed
                armed = (spk.detach() == 0) & (armed | (v.detach() < self.theta_low))
            fired = spk.detach()
            out.append(spk)
        return torch.stack(out, dim=1), v


class GridNet(nn.Module):
    """The chip network ``net`` as a trainable torch model (module docstring)."""

    def __init__(self, fnet: FloatNetwork, net: ChipNetwork):
        super().__init__()
        if not all(ly.spiking for ly in fnet.layers):
            raise NetworkError("fine-tuning needs spiking layers throughout (a non-spiking readout has no "
                               "spike counts to train)")
        head = net.input_bits if net.graded else None
        self.layers = nn.ModuleList(
            GridLayer(fl.weight, cl, cl.scale, input_scale(i, head, net.input_mode), f"layer {i}")
            for i, (fl, cl) in enumerate(zip(fnet.layers, net.layers)))
        self.steps, self.input_mode, self.input_bits, self.seed = net.steps, net.input_mode, net.input_bits, net.seed
        self.names = [fl.name for fl in fnet.layers]

    def forward(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Chip inputs (encoded as for the golden model) -> (output spike counts, last membranes)."""
        h = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        if self.input_mode == "rate":
            from skyspike.chip import golden
            h = torch.as_tensor(golden.rate_spikes(np.asarray(x), self.chip()), dtype=torch.float64)
        v = None
        for ly in self.layers:
            h, v = ly(h, self.steps)
        return h.sum(dim=1), v

    def chip(self) -> ChipNetwork:
        """The network the chip runs: this grid's integers."""
        layers = []
        for ly in self.layers:
            w = ly.weight_int().detach().numpy().astype(np.int64)
            layers.append(ChipLayer(w, ly.bits, ly.beta, ly.theta_high, ly.theta_low, ly.reset_sub, ly.reset_zero,
                                    bias=ly.bias_rows(), scale=ly.scale))
        net = ChipNetwork(layers, self.steps, *((self.input_mode, self.input_bits, self.seed) if self.input_mode in
                                                ("direct", "rate") else ()))
        net.check()
        return net

    def grid(self) -> dict:
        return {"bits": [ly.bits for ly in self.layers], "scales": [ly.scale for ly in self.layers],
                "reset": "zero" if self.layers[0].reset_zero else "subtract"}

    def to_torch(self) -> nn.Sequential:
        """The fine-tuned model as Linear + snn.Leaky (Schmitt where the trigger has a hysteresis
        or is not snnTorch's ``U > T``), every value exactly on the grid; ``skyspike_grid`` set."""
        import snntorch as snn

        from skyspike.compiler.model import GRID_ATTRIBUTE
        from skyspike.compiler.neurons import Schmitt

        mods = []
        for ly, cl in zip(self.layers, self.chip().layers):
            lin = nn.Linear(cl.n_in, cl.n_out, bias=cl.bias is not None)
            with torch.no_grad():
                lin.weight.copy_(torch.as_tensor(cl.weights.T * ly.scale))
                if cl.bias is not None:
                    lin.bias.copy_(torch.as_tensor(cl.bias.sum(axis=0) * ly.scale))
            unit = ly.scale / ly.in_scale     # one membrane LSB in float
            beta = cl.beta / (1 << BETA_SHIFT)
            mode = "zero" if cl.reset_zero else "subtract"
            if cl.theta_low == cl.theta_high and cl.reset_sub == cl.theta_high - 1:
                neuron = snn.Leaky(beta=beta, threshold=unit * cl.reset_sub, reset_mechanism=mode)
            else:
                neuron = Schmitt(beta, unit * cl.theta_high, unit * cl.theta_low, reset_mechanism=mode,
                                 reset_sub=unit * cl.reset_sub)
            mods += [lin, neuron]
        model = nn.Sequential(*mods)
        setattr(model, GRID_ATTRIBUTE, self.grid())
        return model


__all__ = ["GridNet", "GridLayer"]
