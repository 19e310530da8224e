"""Import from PyTorch / snnTorch (skyspike.compiler.model): the float network is snnTorch's own
computation, exact on the integer grid, and everything the chip cannot run is refused by name."""
from __future__ import annotations

from models import per_neuron_model, set_linear, spikes

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn
from skyspike.chip import golden
from skyspike.compiler import quantize
from skyspike.compiler import train
from skyspike.spec.config import CONFIGS
from skyspike.compiler.model import FloatNetwork, from_torch, load_model
from skyspike.chip.network import NetworkError
from skyspike.compiler.neurons import Schmitt

CFG = CONFIGS["chip"]


def test_from_torch_matches_snntorch_with_bias_and_per_neuron_thresholds():
    """Per-neuron thresholds are folded into the weight columns: the same spikes as snnTorch."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(30, 20), snn.Leaky(beta=0.85, threshold=torch.rand(20) + 0.5),
                          nn.Linear(20, 6), snn.Leaky(beta=0.9, threshold=0.7, reset_mechanism="zero"))
    fnet = from_torch(model)
    assert fnet.layers[0].bias is not None and fnet.layers[1].reset_zero
    x = spikes(rng, 32, 12, 30, 0.4)
    ours = fnet.simulate(x)
    with torch.no_grad():
        ref = train.simulate(model.double(), x)
    for a, b in zip(ours.spikes, ref.spikes):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ref.spikes[0].sum() > 50, "the test network must spike"


def test_bias_exact_on_grid():
    """Weights, biases and threshold on the grid, beta = 1: chip == snnTorch, every spike."""
    rng = np.random.default_rng(5)
    s = 0.125
    w1, b1 = rng.integers(-7, 8, (40, 16)), rng.integers(-20, 21, 16)
    w2, b2 = rng.integers(-7, 8, (16, 5)), rng.integers(-7, 8, 5)
    w1[0, 0], w2[0, 0] = 7, 7
    model = nn.Sequential(set_linear(nn.Linear(40, 16), w1 * s, b1 * s), snn.Leaky(beta=1.0, threshold=9 * s),
                          set_linear(nn.Linear(16, 5), w2 * s, b2 * s), snn.Leaky(beta=1.0, threshold=9 * s))
    net = quantize.quantize(model, 4, 10, rule="max")
    assert net.layers[0].n_bias == 3 and net.layers[1].n_bias == 1   # 20 = 7 + 7 + 6 ; 7
    np.testing.assert_array_equal(net.layers[0].bias.sum(axis=0), b1)
    x = spikes(rng, 24, 10, 40)
    g = golden.run(net, x)
    with torch.no_grad():
        f = train.simulate(model, x)
    for i in range(2):
        np.testing.assert_array_equal(g.spikes[i], f.spikes[i].numpy().astype(bool))
        np.testing.assert_array_equal(g.membranes[i], np.rint(f.membranes[i].numpy() / s))
    assert g.spikes[1].any()


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_schmitt_module_exact_on_grid(reset):
    """The hysteresis neuron in PyTorch (float) == the chip's neuron (golden), on the grid."""
    rng = np.random.default_rng(7)
    s = 0.25
    w = rng.integers(-6, 8, (24, 12))
    w[0, 0] = 7
    neuron = Schmitt(beta=1.0, theta_high=10 * s, theta_low=4 * s, reset_mechanism=reset, reset_sub=6 * s)
    model = nn.Sequential(set_linear(nn.Linear(24, 12, bias=False), w * s), neuron)
    net = quantize.quantize(model, 4, 16, rule="max")
    ly = net.layers[0]
    assert (ly.theta_high, ly.theta_low, ly.reset_sub, ly.reset_zero) == (10, 4, 6, reset == "zero")
    x = spikes(rng, 32, 16, 24, 0.45)
    g = golden.run(net, x)
    with torch.no_grad():
        f = train.simulate(model, x)
    np.testing.assert_array_equal(g.spikes[0], f.spikes[0].numpy().astype(bool))
    np.testing.assert_array_equal(g.membranes[0], np.rint(f.membranes[0].numpy() / s))
    assert g.spikes[0].sum() > 20
    # the hysteresis acts: some neuron stays above theta_high without firing
    assert np.any(~g.spikes[0] & (g.membranes[0] >= 10))


@pytest.mark.parametrize("mods, message", [
    ([nn.Conv2d(1, 2, 3), snn.Leaky(beta=0.9)], r"\(Conv2d\).*convolutions"),
    ([nn.Linear(4, 3), snn.RLeaky(beta=0.9, linear_features=3)], r"\(RLeaky\).*recurrent"),
    ([nn.Linear(4, 3), nn.Linear(3, 2), snn.Leaky(beta=0.9)], "two Linear layers"),
    ([nn.Linear(4, 3), snn.Leaky(beta=0.9, reset_mechanism="none")], "reset_mechanism='none'"),
    ([nn.Linear(4, 3), snn.Leaky(beta=0.9, inhibition=True)], "inhibition"),
    ([nn.Linear(4, 3), snn.Leaky(beta=0.9), nn.Linear(5, 2), snn.Leaky(beta=0.9)], "do not chain"),
    ([nn.Linear(4, 3), snn.Leaky(beta=0.9, threshold=torch.tensor([1.0, -1.0, 1.0]))], "must all be > 0"),
])
def test_torch_rejections(mods, message):
    with pytest.raises(NetworkError, match=message):
        quantize.quantize(nn.Sequential(*mods), 4, 8)


def test_nan_and_too_large_networks_are_rejected():
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.bias[1] = float("inf")
    with pytest.raises(NetworkError, match=r"layer 0 \(Linear '0'\).*bias has NaN or infinite"):
        quantize.quantize(nn.Sequential(lin, snn.Leaky(beta=0.9)), 4, 8)
    big = nn.Sequential(nn.Linear(784, 512, bias=False), snn.Leaky(beta=0.9),
                        nn.Linear(512, 10, bias=False), snn.Leaky(beta=0.9))
    net = quantize.quantize(big, 8, 8)
    with pytest.raises(NetworkError, match=rf"layer 0: weights need \d+ words per bank.*{CFG.bank_depth}"):
        net.check(CFG)
    wide = nn.Sequential(nn.Linear(2000, 10, bias=False), snn.Leaky(beta=0.9))
    with pytest.raises(NetworkError, match="2000 inputs; the core takes at most 1024"):
        quantize.quantize(wide, 4, 8).check(CFG)


def test_float_network_is_a_model_source():
    model = per_neuron_model()
    fnet = from_torch(model)
    assert load_model(fnet) is fnet and isinstance(fnet, FloatNetwork)
    net = quantize.quantize(fnet, [4, 8], 6)
    assert [ly.bits for ly in net.layers] == [4, 8]
    with pytest.raises(NetworkError, match="bits has 3 entries for 2 layers"):
        quantize.quantize(fnet, [4, 4, 4], 6)


def test_activation_functions_are_not_called_recurrent():
    with pytest.raises(NetworkError, match=r"activation functions \(ReLU: not a spiking neuron\)"):
        from_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    with pytest.raises(NetworkError, match="recurrent layers"):
        from_torch(nn.Sequential(nn.Linear(4, 3), nn.RNN(3, 3)))


@pytest.mark.parametrize("field", ["beta", "theta_high", "theta_low", "reset_sub"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_schmitt_nan_and_inf_are_named(field, value):
    with pytest.raises(ValueError, match=f"{field}=(nan|inf) must be a finite number"):
        Schmitt(**{field: value})
    neuron = Schmitt()
    getattr(neuron, field if field in ("beta", "theta_high") else "low_offset").fill_(value)
    with pytest.raises(NetworkError, match=r"layer 0 \(Schmitt '1'\)"):
        from_torch(nn.Sequential(nn.Linear(4, 3), neuron))
