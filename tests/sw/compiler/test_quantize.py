"""The quantizer (skyspike.compiler.quantize) is exact where the float network is on the integer
grid, rounds as documented, and refuses what the chip cannot run."""
from __future__ import annotations

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn
from skyspike.chip import golden
from skyspike.compiler import quantize
from skyspike.compiler import train
from skyspike.chip.network import NetworkError




def _grid_model(rng, sizes, ints_per_layer, s, t_int, beta, reset):
    """A bias-free snnTorch MLP with weights ints * s and threshold t_int * s."""
    mods = []
    for (n_in, n_out), ints in zip(zip(sizes, sizes[1:]), ints_per_layer):
        lin = nn.Linear(n_in, n_out, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(ints.T * s, dtype=torch.float32))
        mods += [lin, snn.Leaky(beta=beta, threshold=t_int * s, reset_mechanism=reset)]
    return nn.Sequential(*mods)


def _snntorch_step_by_step(model, spikes):
    """The float model stepped the plain snnTorch way: per step, every layer in order."""
    lins, lifs = list(model)[0::2], list(model)[1::2]
    x = torch.as_tensor(spikes, dtype=torch.float32)
    mems = [None] * len(lifs)
    spk_rec = [[] for _ in lifs]
    mem_rec = [[] for _ in lifs]
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = x[:, t]
            for i, (lin, lif) in enumerate(zip(lins, lifs)):
                cur = lin(h)
                if mems[i] is None:
                    mems[i] = torch.zeros_like(cur)
                h, mems[i] = lif(cur, mems[i])
                spk_rec[i].append(h.numpy().astype(bool))
                mem_rec[i].append(mems[i].numpy().copy())
    return [np.stack(r, 1) for r in spk_rec], [np.stack(r, 1) for r in mem_rec]


def _check_exact(model, net, spikes, s_per_layer):
    fs, fm = _snntorch_step_by_step(model, spikes)
    g = golden.run(net, spikes)
    for i in range(len(net.layers)):
        for t in range(net.steps):  # step by step, so a failure says where it starts
            np.testing.assert_array_equal(fs[i][:, t], g.spikes[i][:, t], err_msg=f"spikes, layer {i}, step {t}")
            np.testing.assert_array_equal(fm[i][:, t] / s_per_layer[i], g.membranes[i][:, t],
                                          err_msg=f"membranes, layer {i}, step {t}")
    # the recipe's layer-by-layer simulator agrees with the step-by-step loop
    with torch.no_grad():
        fr = train.simulate(model, spikes)
    for i in range(len(net.layers)):
        np.testing.assert_array_equal(fr.spikes[i].numpy().astype(bool), fs[i])
        np.testing.assert_array_equal(fr.membranes[i].numpy(), fm[i])
    np.testing.assert_array_equal(fr.prediction, g.prediction)
    return g


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_quantizer_exact_on_grid_beta_1(reset):
    """beta = 1, 4-bit integer weights (max |w| = 7) times s = 1/8: the default per-layer scale
    recovers s, so every spike and membrane of snnTorch matches the golden model."""
    rng = np.random.default_rng(11)
    sizes, s, steps = [40, 24, 6], 0.125, 25
    ints = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        w = rng.integers(-7, 8, (n_in, n_out))
        w[rng.integers(n_in), rng.integers(n_out)] = rng.choice([-7, 7])
        w = np.where(rng.random(w.shape) < 0.3, np.abs(w), w)  # lean excitatory
        ints.append(w)
    model = _grid_model(rng, sizes, ints, s, t_int=9, beta=1.0, reset=reset)
    net = quantize.quantize_snntorch(model, bits=4, steps=steps)
    for ly, w in zip(net.layers, ints):
        np.testing.assert_array_equal(ly.weights, w)
        assert (ly.beta, ly.theta_high, ly.theta_low, ly.reset_sub, ly.reset_zero) == \
            (256, 10, 10, 9, reset == "zero")
        assert ly.scale == s
    spikes = rng.random((16, steps, sizes[0])) < 0.35
    g = _check_exact(model, net, spikes, [s, s])
    assert g.spikes[0].mean() > 0.05 and g.spikes[1].any(), "the test network must spike"


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_quantizer_exact_on_grid_beta_half(reset):
    """beta = 0.5: the chip rounds the leak, snnTorch does not; with 8-bit weights that are
    multiples of 16 (explicit scale s = 1/16) membranes stay divisible by 2**(4-t) for 5
    steps, so no rounding happens and the two agree exactly."""
    rng = np.random.default_rng(3)
    sizes, s, steps = [30, 20, 5], 1 / 16, 5
    ints = [16 * rng.integers(-8, 8, (n_in, n_out)) for n_in, n_out in zip(sizes, sizes[1:])]
    ints = [np.where(rng.random(w.shape) < 0.3, np.minimum(np.abs(w), 112), w) for w in ints]
    model = _grid_model(rng, sizes, ints, s, t_int=160, beta=0.5, reset=reset)
    net = quantize.quantize_snntorch(model, bits=8, steps=steps, scales=[s, s])
    for ly, w in zip(net.layers, ints):
        np.testing.assert_array_equal(ly.weights, w)
        assert (ly.beta, ly.theta_high, ly.reset_sub) == (128, 161, 160)
    spikes = rng.random((32, steps, sizes[0])) < 0.5
    g = _check_exact(model, net, spikes, [s, s])
    assert g.spikes[0].any() and g.spikes[1].any(), "the test network must spike"


def test_quantizer_rounding():
    """s = max|W| / 7; rint rounds half to even; threshold in units of s; beta x 256."""
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():   # all exact in float32; s = 0.875 / 7 = 1/8
        lin.weight.copy_(torch.tensor([[0.875, -0.4375, 0.0625], [0.3125, 0.25, -0.875]]))
    lif = snn.Leaky(beta=0.9, threshold=1.0)
    net = quantize.quantize_snntorch([lin, lif], bits=4, steps=8)
    ly = net.layers[0]
    assert ly.scale == 0.125
    # -3.5 -> -4, 0.5 -> 0, 2.5 -> 2 (half to even)
    np.testing.assert_array_equal(ly.weights, [[7, 2], [-4, 2], [0, -7]])
    assert ly.beta == 230 and ly.reset_sub == 8 and ly.theta_high == ly.theta_low == 9
    one = quantize.quantize_snntorch([lin, lif], bits=1, steps=8).layers[0]
    assert set(np.unique(one.weights)) <= {-1, 1}
    assert one.scale == pytest.approx(np.abs(lin.weight.detach().numpy()).mean())


def _bad(kind):
    lin1, lif1 = nn.Linear(4, 3, bias=False), snn.Leaky(beta=0.9)
    lin2, lif2 = nn.Linear(3, 2, bias=False), snn.Leaky(beta=0.9)
    mods = {"fc1": lin1, "lif1": lif1, "fc2": lin2, "lif2": lif2}
    if kind == "nan":
        with torch.no_grad():
            lin2.weight[1, 2] = float("nan")
    elif kind == "inf":
        with torch.no_grad():
            lin2.weight[0, 0] = float("inf")
    elif kind == "beta":
        mods["lif2"] = snn.Leaky(beta=torch.tensor([0.9, 0.8]))
    elif kind == "none":
        mods["lif2"] = snn.Leaky(beta=0.9, reset_mechanism="none")
    elif kind == "relu":
        mods["lif2"] = nn.ReLU()
    return nn.Sequential(__import__("collections").OrderedDict(mods))


@pytest.mark.parametrize("kind, message", [
    ("nan", r"layer 1 \(Linear 'fc2'\).*NaN"),
    ("inf", r"layer 1 \(Linear 'fc2'\).*NaN or infinite"),
    ("beta", r"layer 1 \(Leaky 'lif2'\).*per-neuron beta"),
    ("none", r"layer 1 \(Leaky 'lif2'\).*reset_mechanism='none'"),
    ("relu", r"module 'lif2' \(ReLU\).*not supported"),
])
def test_quantizer_rejects_unsupported(kind, message):
    with pytest.raises(NetworkError, match=message):
        quantize.quantize_snntorch(_bad(kind), bits=4, steps=8)


def test_quantizer_rejects_bad_structure():
    lin, lif = nn.Linear(4, 3, bias=False), snn.Leaky(beta=0.9)
    with pytest.raises(NetworkError, match="no neuron layer after it"):
        quantize.quantize_snntorch([lin, lif, nn.Linear(3, 2, bias=False)], steps=4)
    with pytest.raises(NetworkError, match="must follow a Linear layer"):
        quantize.quantize_snntorch([lif], steps=4)
    with pytest.raises(ValueError):   # NetworkError is a ValueError
        quantize.quantize_snntorch([lin, lif], bits=3, steps=4)
