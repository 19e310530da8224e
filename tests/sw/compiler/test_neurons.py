"""The chip's neuron in PyTorch (skyspike.compiler.neurons.Schmitt)."""
from __future__ import annotations

import pytest
import torch
from skyspike.compiler.neurons import Schmitt




def test_schmitt_trains_with_surrogate_gradient():
    m = Schmitt(beta=0.9, theta_high=1.0, theta_low=0.5, learn_threshold=True)
    cur = torch.randn(8, 5, requires_grad=True)
    spk, state = m(cur)
    spk2, _ = m(cur * 2, state)
    (spk.sum() + spk2.sum()).backward()
    assert cur.grad is not None and cur.grad.abs().sum() > 0 and m.theta_high.grad is not None
    with pytest.raises(ValueError, match="theta_low"):
        Schmitt(theta_high=1.0, theta_low=2.0)
