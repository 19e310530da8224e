"""The chip's neuron as a PyTorch module, so networks can be trained for the Schmitt trigger.

:class:`Schmitt` is a leaky integrate-and-fire neuron whose firing is gated by hysteresis,
the float counterpart of docs/semantics.md ("The Schmitt neuron, per time step")::

    base   = beta * V - reset_sub * fired          (reset_mechanism="subtract")
           = beta * V * (1 - fired)                (reset_mechanism="zero")
    V      = base + I
    spike  = V >= theta_high  and  (armed or theta_low == theta_high)
    armed  = not spike and (armed or V < theta_low)

It follows snnTorch's layer API (``spk, state = neuron(cur, state)``, surrogate gradient in
``spike_grad``, ``learn_beta`` / ``learn_threshold``); the state is a :class:`SchmittState`
(membrane, armed, fired) because, unlike snnTorch's ``Leaky``, whether the neuron fired
cannot be recomputed from the membrane once the hysteresis gates it.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn


class _SpikeGE(torch.autograd.Function):
    """Heaviside ``x >= 0`` (the chip fires *at* the threshold; snnTorch's surrogates use
    ``x > 0``) with the fast-sigmoid surrogate gradient 1 / (1 + slope |x|)^2."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + ctx.slope * x.abs()) ** 2, None


def fast_sigmoid_ge(slope: float = 25.0):
    """Surrogate spike function for :class:`Schmitt`: forward ``x >= 0``, backward fast sigmoid."""
    if not slope > 0:
        raise ValueError(f"slope must be > 0, not {slope}")
    return lambda x: _SpikeGE.apply(x, slope)


class SchmittState(NamedTuple):
    mem: torch.Tensor     # membrane V
    armed: torch.Tensor   # bool: may fire
    fired: torch.Tensor   # float 0/1: spiked at the previous step (its reset is still due)


class Schmitt(nn.Module):
    """Leaky integrate-and-fire neuron with a hysteresis (Schmitt trigger) threshold.

    Parameters
    ----------
    beta : float
        Membrane decay per step, 0..1 (clamped in the forward pass, as snnTorch does).
    theta_high : float
        Fire at ``V >= theta_high`` while armed.
    theta_low : float or None
        Re-arm only once ``V < theta_low``. ``None`` or equal to ``theta_high``: no hysteresis
        (a plain LIF neuron firing at ``V >= theta_high``). Must be <= theta_high.
    reset_mechanism : str
        ``"subtract"`` (subtract ``reset_sub`` at the next step) or ``"zero"``.
    reset_sub : float or None
        What a spike subtracts; ``None``: ``theta_high``.
    spike_grad : callable or None
        Surrogate spike function of ``V - theta_high``; default :func:`fast_sigmoid_ge`.
    learn_beta, learn_threshold : bool
        Make beta / theta_high trainable (theta_low and reset_sub keep their offsets from
        theta_high).

    Call: ``spk, state = neuron(cur, state)`` with ``cur`` (batch, n) and ``state`` a
    :class:`SchmittState` or ``None`` (membrane 0, armed, not fired: how an inference starts).
    """

    def __init__(self, beta: float = 0.9, theta_high: float = 1.0, theta_low: float | None = None, *,
                 reset_mechanism: str = "subtract", reset_sub: float | None = None, spike_grad=None,
                 learn_beta: bool = False, learn_threshold: bool = False):
        super().__init__()
        theta_low = theta_high if theta_low is None else theta_low
        reset_sub = theta_high if reset_sub is None else reset_sub
        for name, v in (("beta", beta), ("theta_high", theta_high), ("theta_low", theta_low), ("reset_sub", reset_sub)):
            try:
                finite = not isinstance(v, bool) and math.isfinite(float(v))
            except (TypeError, ValueError):
                finite = False
            if not finite:
                raise ValueError(f"{name}={v!r} must be a finite number")
        if not theta_low <= theta_high:
            raise ValueError(f"theta_low={theta_low} must be <= theta_high={theta_high}")
        if reset_mechanism not in ("subtract", "zero"):
            raise ValueError(f"reset_mechanism={reset_mechanism!r}: use 'subtract' or 'zero'")
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta={beta} is outside 0..1")
        self.reset_mechanism = reset_mechanism
        self.spike_grad = spike_grad or fast_sigmoid_ge()
        beta_t = torch.as_tensor(float(beta))
        theta_t = torch.as_tensor(float(theta_high))
        for name, value, learn in (("beta", beta_t, learn_beta), ("theta_high", theta_t, learn_threshold)):
            if learn:
                setattr(self, name, nn.Parameter(value))
            else:
                self.register_buffer(name, value)
        # Offsets from theta_high: a learned threshold moves the whole trigger.
        self.register_buffer("low_offset", torch.as_tensor(float(theta_high - theta_low)))
        self.register_buffer("reset_offset", torch.as_tensor(float(theta_high - reset_sub)))

    @property
    def theta_low(self) -> torch.Tensor:
        return self.theta_high - self.low_offset

    @property
    def reset_sub(self) -> torch.Tensor:
        return self.theta_high - self.reset_offset

    @property
    def hysteresis(self) -> bool:
        return float(self.low_offset) > 0

    def init_state(self, cur: torch.Tensor) -> SchmittState:
        return SchmittState(torch.zeros_like(cur), torch.ones_like(cur, dtype=torch.bool), torch.zeros_like(cur))

    def forward(self, cur: torch.Tensor, state: SchmittState | None = None):
        if state is None:
            state = self.init_state(cur)
        mem, armed, fired = state
        beta = self.beta.clamp(0, 1)
        if self.reset_mechanism == "subtract":
            base = beta * mem - self.reset_sub * fired
        else:
            base = beta * mem * (1 - fired)
        mem = base + cur
        if self.hysteresis:
            spk = self.spike_grad(mem - self.theta_high) * armed.to(mem.dtype)
            fired_now = spk.detach() > 0
            armed = ~fired_now & (armed | (mem.detach() < self.theta_low))
        else:
            spk = self.spike_grad(mem - self.theta_high)
            armed = torch.ones_like(armed)
        return spk, SchmittState(mem, armed, spk.detach())

    def extra_repr(self) -> str:
        return (f"beta={float(self.beta):.4g}, theta_high={float(self.theta_high):.4g}, "
                f"theta_low={float(self.theta_low):.4g}, reset_mechanism={self.reset_mechanism!r}")


__all__ = ["Schmitt", "SchmittState", "fast_sigmoid_ge"]
