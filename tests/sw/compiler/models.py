"""Small torch models and spike trains shared by the compiler's tests."""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from torch import nn


def spikes(rng, batch, steps, n, p=0.3):
    return rng.random((batch, steps, n)) < p


def set_linear(lin: nn.Linear, w: np.ndarray, b: np.ndarray | None = None) -> nn.Linear:
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w.T, dtype=torch.float32))
        if b is not None:
            lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return lin


def per_neuron_model(n_in=20, h=16, n_out=5):
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(n_in, h), snn.Leaky(beta=torch.full((h,), 0.9), threshold=torch.ones(h), init_hidden=True),
        nn.Linear(h, n_out), snn.Leaky(beta=torch.full((n_out,), 0.9), threshold=torch.ones(n_out),
                                       init_hidden=True, output=True))
