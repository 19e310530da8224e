"""Models trained with snnTorch alone, as a user brings them (not the project's recipe): the
tests of calibration and fine-tuning start from these."""
from __future__ import annotations

import snntorch as snn
import torch
from torch import nn


def train_stock(x, y, sizes, *, reset="subtract", steps=16, epochs=20, direct=False, seed=0, lr=5e-3,
                   batch=64, threads=1):
    """A model trained with snnTorch alone, as a user would (not the project's recipe): Linear ->
    snn.Leaky(beta=0.9) layers of ``sizes`` (n_in, hidden..., n_out), cross-entropy on output
    spike counts, Adam. Inputs: intensities ``x`` (N, n_in) rate coded (Bernoulli) at every
    batch, or with ``direct`` the image itself at every step. Returns the trained nn.Sequential."""
    from snntorch import surrogate

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    mods = []
    for a, b in zip(sizes, sizes[1:]):
        mods += [nn.Linear(a, b), snn.Leaky(beta=0.9, reset_mechanism=reset,
                                             spike_grad=surrogate.fast_sigmoid(slope=25))]
    model = nn.Sequential(*mods)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(batch):
            xb = xt[idx]
            inp = xb[:, None].expand(-1, steps, -1) if direct else (torch.rand(len(xb), steps, xb.shape[1]) < xb[:, None])
            counts = stock_forward(model, inp.float())
            loss = nn.functional.cross_entropy(counts, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def stock_forward(model, inp):
    """Output spike counts of a stock Linear/Leaky Sequential over (batch, steps, n_in), snnTorch's
    own step loop (membranes from snn.Leaky.init_leaky)."""
    mems = [m.init_leaky() for m in model if isinstance(m, snn.Leaky)]
    total = 0
    for t in range(inp.shape[1]):
        h, k = inp[:, t], 0
        for m in model:
            if isinstance(m, snn.Leaky):
                h, mems[k] = m(h, mems[k])
                k += 1
            else:
                h = m(h)
        total = total + h
    return total
