"""Learned rounding of the weights (AdaRound, Nagel et al., ICML 2020, "Up or Down? Adaptive
Rounding for Post-Training Quantization"), for :mod:`skyspike.compiler.calibrate`. Only the
choice of rounding down or up is learned: every weight stays within one LSB of its float value.

Rounding each weight to its nearest grid point minimizes the weight error, not the error of
the layer's input current, which is what the neurons integrate. With the layer's real inputs
``X`` (calibration samples x steps), AdaRound chooses for every weight whether it rounds down
or up so that ``||X (W / s - W_int)||^2`` is small. Each weight gets a soft rounding
``h(V) in [0, 1]`` (a rectified sigmoid) trained with Adam; a regularizer, its exponent annealed,
pushes every ``h`` to 0 or 1, and the final rounding is ``floor(W / s) + (V >= 0)``.

Written here, not taken from a library: the quantization toolkits that implement AdaRound
(AIMET, Brevitas, ...) work on torch modules with their own quantizers; this needs the chip's
grid (:mod:`skyspike.compiler.grid`) and the golden model's inputs, and is 50 lines with the
quadratic form below.

Per layer (:func:`learn_rounding`), the target is the layer's input current.

The error is a quadratic form in the rounding: with ``G = X^T X / N`` it is
``trace(D^T G D)``, ``D = W / s - W_int``, so each step costs one (n_in x n_in) x (n_in x n_out)
product whatever the number of samples: a 784-128 layer takes about a second.

For the whole network (:func:`refine_rounding`), the target is the network's answer, as in
BRECQ's and QDrop's network-level reconstruction: the rounding of every 2- and 4-bit layer at once,
through the chip's arithmetic (:class:`skyspike.compiler.gridnet.GridNet`, surrogate spike
gradients), on the KL divergence of the chip's output spike counts from the float model's
over the calibration samples. Nothing else changes (scales, thresholds, biases, leak). This is
what brings 2-bit networks close to float. The float model's answers, not the labels, are the
target: cross-entropy with the labels fits the calibration samples themselves (MNIST 784-128-10,
1,000 samples: 99% on them, 87.2% on the test set, against 88.5% learning the float model's).
:mod:`skyspike.compiler.calibrate` keeps the result only where the golden model says it is better.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np

from skyspike.chip.network import weight_range

#: The widest layers whose rounding is learned: at 8 bits rounding to nearest already keeps stock
#: models within 0.3 points of float, and learning it costs minutes on MNIST for nothing.
MAX_LEARNED_BITS = 4
ZETA, GAMMA = 1.1, -0.1          # the rectified sigmoid's stretch (the paper's values)
ITERATIONS = 800
WARMUP = 0.2                     # the first fifth without the regularizer
BETA_START, BETA_END = 20.0, 2.0  # the regularizer's exponent, annealed
LR = 0.05


def _soft(v):
    import torch

    return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


def gram(x: np.ndarray) -> np.ndarray:
    """``X^T X / N`` of a layer's inputs (..., n_in), in float64: what :func:`learn_rounding` needs
    of the data."""
    flat = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
    return flat.T @ flat / max(1, len(flat))


def learn_rounding(weight: np.ndarray, scale: float, bits: int, g: np.ndarray, *, reg: float = 1.0,
                   iterations: int = ITERATIONS, seed: int = 0) -> np.ndarray:
    """Integer weights (n_in, n_out) of ``weight`` / ``scale`` at ``bits`` (2, 4 or 8), each
    rounded down or up (then clipped to the weight range) to minimize the input-current error
    under ``g`` = :func:`gram` of the layer's inputs; never a larger error than rounding to nearest.
    ``reg``: the regularizer's weight relative to the error of rounding to nearest.
    ValueError for 1 bit (signs: nothing to round)."""
    import torch

    if bits not in (2, 4, 8):
        raise ValueError(f"learned rounding needs 2, 4 or 8 bits, not {bits}")
    lo, hi = weight_range(bits)
    w = torch.as_tensor(np.asarray(weight, np.float64) / scale)
    floor = torch.floor(w)
    v = _rounding_param((w - floor).clamp(0.01, 0.99))   # start at the real fraction
    gm = torch.as_tensor(np.asarray(g, np.float64))

    def error(w_int):
        d = w - torch.clamp(w_int, lo, hi)
        return torch.sum(d * (gm @ d))

    nearest = float(error(torch.round(w)))
    norm = max(nearest, 1e-12)
    torch.manual_seed(seed)
    opt = torch.optim.Adam([v], lr=LR)
    for it in range(iterations):
        h = _soft(v)
        loss = error(floor + h) / norm + reg * _regularizer(it, iterations, [h])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        w_int = torch.clamp(floor + (v >= 0).to(floor.dtype), lo, hi)
        if float(error(w_int)) > nearest:   # the relaxation can end worse (seen at 4 bits)
            w_int = torch.clamp(torch.round(w), lo, hi)
    return w_int.numpy().astype(np.int64)


NET_ITERATIONS = 600
NET_BATCH = 256
NET_REG = 0.1
# One thread: the network's tensors are small (a batch of 256), and a second thread waiting for a
# busy core costs more than it gains. MNIST 784-128-10 with another job on 2 cores: 168 ms an
# iteration on one thread, 546 ms on two (digits 64-32-10: 37 vs 260 ms).
NET_THREADS = 1


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with torch on ``n`` threads, then restore the count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _learnable(bits: int) -> bool:
    return 1 < bits <= MAX_LEARNED_BITS


def _regularizer(it: int, iterations: int, hs):
    """Pushes each soft rounding ``h`` to 0 or 1: 0 in the warm-up, then ``mean(1 - |2h - 1|^b)``
    per tensor with ``b`` annealed from BETA_START to BETA_END (the paper's schedule)."""
    import torch

    start = int(WARMUP * iterations)
    if it < start:
        return 0.0
    frac = (it - start) / max(1, iterations - start)
    b = BETA_END + 0.5 * (BETA_START - BETA_END) * (1 + np.cos(np.pi * frac))
    return sum(torch.mean(1 - torch.abs(2 * h - 1) ** b) for h in hs)


def _rounding_param(h0):
    """The trainable V whose soft rounding h(V) starts at ``h0`` (in (0, 1))."""
    import torch

    return torch.nn.Parameter(-torch.log((ZETA - GAMMA) / (h0 - GAMMA) - 1))


def refine_rounding(fnet, net, inputs: np.ndarray, ref_counts: np.ndarray, *,
                    iterations: int = NET_ITERATIONS, batch: int = NET_BATCH, reg: float = NET_REG,
                    seed: int = 0) -> list[np.ndarray] | None:
    """The integer weights of each layer of ``net`` (from ``fnet``) with the rounding of its 2- and 4-bit
    layers learned on the network's loss over the chip ``inputs`` (module docstring): the KL
    divergence from ``ref_counts``, the float model's output spike counts on them.
    Starts from ``net``'s own rounding; layers of 1 bit (signs) or more than MAX_LEARNED_BITS keep
    theirs. None if nothing is learned (no such layer, or a non-spiking readout, which has no
    spike counts)."""
    import torch

    from skyspike.compiler.gridnet import GridNet

    if not all(ly.spiking for ly in fnet.layers) or not any(_learnable(ly.bits) for ly in net.layers):
        return None
    torch.manual_seed(seed)
    grid = GridNet(fnet, net).requires_grad_(False)
    learned = {}                                   # layer index -> (floor, V, lo, hi)
    for i, (ly, cl) in enumerate(zip(grid.layers, net.layers)):
        if _learnable(ly.bits):
            floor = torch.floor(ly.weight / ly.scale)
            up = torch.as_tensor(cl.weights, dtype=torch.float64) > floor
            v = _rounding_param(torch.where(up, 0.75, 0.25).to(torch.float64))   # start at net's rounding
            learned[i] = (floor, v, *weight_range(ly.bits))
            ly.rounding = functools.partial(lambda f, v, lo, hi: torch.clamp(f + _soft(v), lo, hi), *learned[i])
    params = [v for _, v, _, _ in learned.values()]
    opt = torch.optim.Adam(params, lr=LR)
    x = np.asarray(inputs)
    target = torch.softmax(torch.as_tensor(np.asarray(ref_counts), dtype=torch.float64), 1)
    rng = np.random.default_rng(seed)
    with torch_threads(NET_THREADS):
        for it in range(iterations):
            idx = rng.choice(len(x), min(batch, len(x)), replace=False)
            counts, _ = grid(x[idx])
            loss = torch.nn.functional.kl_div(torch.log_softmax(counts, 1), target[idx], reduction="batchmean")
            loss = loss + reg * _regularizer(it, iterations, [_soft(v) for v in params])
            opt.zero_grad()
            loss.backward()
            opt.step()
    out = []
    with torch.no_grad():
        for i, cl in enumerate(net.layers):
            if i not in learned:
                out.append(cl.weights)
                continue
            floor, v, lo, hi = learned[i]
            out.append(torch.clamp(floor + (v >= 0).to(floor.dtype), lo, hi).numpy().astype(np.int64))
    return out


__all__ = ["gram", "learn_rounding", "refine_rounding"]
