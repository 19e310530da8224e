"""The driver's model import and quantization (no RTL): PyTorch / snnTorch / NIR -> float
network -> chip network, checked against snnTorch's own inference and the golden model;
every rejection path; quantization error bounds; quantization-aware fine-tuning; the
compiled file; reading a loaded chip back."""
from __future__ import annotations

import collections

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from skyspike.chip import golden
from skyspike.compiler import qat
from skyspike.compiler import quantize
from skyspike.compiler import train
from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS
from skyspike.chip.image import build_image
from skyspike.compiler.model import FloatNetwork, from_nir, from_torch, load_model
from skyspike.chip.netfile import load_compiled, save_compiled
from skyspike.chip.network import NetworkError
from skyspike.compiler.neurons import Schmitt
from skyspike.chip.readback import read_inputs, read_network
from skyspike.chip.testing import random_inputs, random_network

CFG = CONFIGS["chip"]


def _spikes(rng, batch, steps, n, p=0.3):
    return rng.random((batch, steps, n)) < p


def _set(lin: nn.Linear, w: np.ndarray, b: np.ndarray | None = None) -> nn.Linear:
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w.T, dtype=torch.float32))
        if b is not None:
            lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return lin


# -- import: the float network is snnTorch's own computation --------------------------------

def test_from_torch_matches_snntorch_with_bias_and_per_neuron_thresholds():
    """Per-neuron thresholds are folded into the weight columns: the same spikes as snnTorch."""
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Linear(30, 20), snn.Leaky(beta=0.85, threshold=torch.rand(20) + 0.5),
                          nn.Linear(20, 6), snn.Leaky(beta=0.9, threshold=0.7, reset_mechanism="zero"))
    fnet = from_torch(model)
    assert fnet.layers[0].bias is not None and fnet.layers[1].reset_zero
    x = _spikes(rng, 32, 12, 30, 0.4)
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
    model = nn.Sequential(_set(nn.Linear(40, 16), w1 * s, b1 * s), snn.Leaky(beta=1.0, threshold=9 * s),
                          _set(nn.Linear(16, 5), w2 * s, b2 * s), snn.Leaky(beta=1.0, threshold=9 * s))
    net = quantize.quantize(model, 4, 10, rule="max")
    assert net.layers[0].n_bias == 3 and net.layers[1].n_bias == 1   # 20 = 7 + 7 + 6 ; 7
    np.testing.assert_array_equal(net.layers[0].bias.sum(axis=0), b1)
    x = _spikes(rng, 24, 10, 40)
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
    model = nn.Sequential(_set(nn.Linear(24, 12, bias=False), w * s), neuron)
    net = quantize.quantize(model, 4, 16, rule="max")
    ly = net.layers[0]
    assert (ly.theta_high, ly.theta_low, ly.reset_sub, ly.reset_zero) == (10, 4, 6, reset == "zero")
    x = _spikes(rng, 32, 16, 24, 0.45)
    g = golden.run(net, x)
    with torch.no_grad():
        f = train.simulate(model, x)
    np.testing.assert_array_equal(g.spikes[0], f.spikes[0].numpy().astype(bool))
    np.testing.assert_array_equal(g.membranes[0], np.rint(f.membranes[0].numpy() / s))
    assert g.spikes[0].sum() > 20
    # the hysteresis acts: some neuron stays above theta_high without firing
    assert np.any(~g.spikes[0] & (g.membranes[0] >= 10))


def test_schmitt_trains_with_surrogate_gradient():
    m = Schmitt(beta=0.9, theta_high=1.0, theta_low=0.5, learn_threshold=True)
    cur = torch.randn(8, 5, requires_grad=True)
    spk, state = m(cur)
    spk2, _ = m(cur * 2, state)
    (spk.sum() + spk2.sum()).backward()
    assert cur.grad is not None and cur.grad.abs().sum() > 0 and m.theta_high.grad is not None
    with pytest.raises(ValueError, match="theta_low"):
        Schmitt(theta_high=1.0, theta_low=2.0)


# -- NIR ------------------------------------------------------------------------------------

def _per_neuron_model(n_in=20, h=16, n_out=5):
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(n_in, h), snn.Leaky(beta=torch.full((h,), 0.9), threshold=torch.ones(h), init_hidden=True),
        nn.Linear(h, n_out), snn.Leaky(beta=torch.full((n_out,), 0.9), threshold=torch.ones(n_out),
                                       init_hidden=True, output=True))


def test_nir_roundtrip_from_snntorch_export(tmp_path):
    """snnTorch's export_to_nir (per-neuron parameters, ignore_dims=[0]) -> NIR file ->
    the same chip network as importing the torch model directly."""
    from snntorch.export_nir import export_to_nir

    model = _per_neuron_model()
    graph = export_to_nir(model, torch.zeros(1, 20), ignore_dims=[0])
    path = tmp_path / "net.nir"
    nir.write(str(path), graph)
    via_nir = quantize.quantize(path, 4, 10, reset="subtract")
    direct = quantize.quantize(model, 4, 10)
    for a, b in zip(via_nir.layers, direct.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert (a.beta, a.theta_high, a.reset_sub, a.reset_zero) == (b.beta, b.theta_high, b.reset_sub, False)
    fz = from_nir(graph)           # NIR's own semantics: reset to v_reset = 0
    assert all(ly.reset_zero for ly in fz.layers) and "dt=0.0001" in fz.notes[0]


def _scalar_graph(v_reset=0.0, extra=None, last="LI"):
    """A hand-written NIR graph with 0-d / 1-element parameters: Affine -> LIF -> Linear -> LI/IF."""
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([6])}),
        "fc1": nir.Affine(weight=rng.normal(size=(4, 6)), bias=np.full(4, 0.1)),
        "lif": nir.LIF(tau=np.array(1e-3), r=np.array(10.0), v_leak=np.array(0.0), v_threshold=np.array(1.0),
                       v_reset=np.array(v_reset)),
        "fc2": nir.Linear(weight=rng.normal(size=(3, 4))),
        "out_neuron": (nir.LI(tau=np.array([2e-3]), r=np.array([20.0]), v_leak=np.array([0.0])) if last == "LI"
                       else nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.zeros(3))),
        "output": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "out_neuron"), ("out_neuron", "output")]
    if extra:
        extra(nodes, edges)
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)  # 0-d parameters fail NIR's type inference


def test_nir_scalar_parameters_and_readout():
    fnet = from_nir(_scalar_graph())
    lif, li = fnet.layers
    assert lif.beta == pytest.approx(0.9) and li.beta == pytest.approx(0.95)
    # input gain r * dt / tau: 10 * 1e-4 / 1e-3 = 1 and 20 * 1e-4 / 2e-3 = 1
    assert lif.bias is not None and np.allclose(lif.bias, 0.1) and not li.spiking
    net = quantize.quantize(fnet, 8, 8)
    assert net.layers[1].theta_high == 32767      # the readout never fires
    g = golden.run(net, _spikes(np.random.default_rng(1), 16, 8, 6, 0.5))
    assert g.counts.sum() == 0                     # classified by the final membrane
    if_net = from_nir(_scalar_graph(last="IF"))
    assert if_net.layers[1].beta == 1.0 and if_net.layers[1].spiking


def _cuba(nodes, edges):
    nodes["lif"] = nir.CubaLIF(tau_syn=np.array(1e-3), tau_mem=np.array(1e-3), r=np.array(10.0),
                               v_leak=np.array(0.0), v_threshold=np.array(1.0), v_reset=np.array(0.0),
                               w_in=np.array(1.0))


def _conv(nodes, edges):
    nodes["fc1"] = nir.Conv2d(input_shape=(8, 8), weight=np.ones((4, 1, 3, 3)), stride=1, padding=0,
                              dilation=1, groups=1, bias=np.zeros(4))


def _recurrent(nodes, edges):
    edges.append(("lif", "fc1"))


def _branch(nodes, edges):
    nodes["spare"] = nir.Linear(weight=np.ones((3, 4)))
    edges.append(("lif", "spare"))


def _per_neuron_tau(nodes, edges):
    nodes["lif"] = nir.LIF(tau=np.array([1e-3, 2e-3, 1e-3, 1e-3]), r=np.ones(4), v_leak=np.zeros(4),
                           v_threshold=np.ones(4), v_reset=np.zeros(4))


@pytest.mark.parametrize("extra, message", [
    (_cuba, r"'lif' \(CubaLIF\).*synaptic current"),
    (_conv, r"'fc1' \(Conv2d\).*convolutions"),
    (_recurrent, r"recurren"),
    (_branch, r"'lif' has 2 successors"),
    (_per_neuron_tau, r"'lif' \(LIF\).*per-neuron tau"),
])
def test_nir_rejections(extra, message):
    with pytest.raises(NetworkError, match=message):
        from_nir(_scalar_graph(extra=extra))


def test_nir_rejects_reset_value_and_bad_files(tmp_path):
    with pytest.raises(NetworkError, match=r"v_reset=.*not supported"):
        from_nir(_scalar_graph(v_reset=0.5))
    bad = tmp_path / "broken.nir"
    bad.write_bytes(b"\x89HDF\r\n garbage")
    with pytest.raises(NetworkError, match="not a readable NIR file"):
        load_model(bad)
    with pytest.raises(NetworkError, match="no such NIR file"):
        load_model(tmp_path / "missing.nir")
    with pytest.raises(NetworkError, match="unknown model file type"):
        load_model(tmp_path / "model.onnx")


# -- torch rejections ----------------------------------------------------------------------

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
    with pytest.raises(NetworkError, match=r"layer 0: weights need \d+ words per bank.*512"):
        net.check(CFG)
    wide = nn.Sequential(nn.Linear(2000, 10, bias=False), snn.Leaky(beta=0.9))
    with pytest.raises(NetworkError, match="2000 inputs; the core takes at most 1024"):
        quantize.quantize(wide, 4, 8).check(CFG)


# -- quantization error bounds ----------------------------------------------------------------

@pytest.mark.parametrize("bits", [2, 4, 8])
def test_quantization_error_bounds(bits):
    torch.manual_seed(bits)
    model = nn.Sequential(nn.Linear(50, 30), snn.Leaky(beta=0.8, threshold=1.3))
    w = model[0].weight.detach().double().numpy().T
    b = model[0].bias.detach().double().numpy()
    for rule in ("max", "mse"):
        ly = quantize.quantize(model, bits, 8, rule=rule).layers[0]
        s = ly.scale
        err = np.abs(w - ly.weights * s)
        inside = np.abs(w) <= (2 ** (bits - 1) - 1) * s
        assert np.all(err[inside] <= s / 2 + 1e-12)            # rounding: half an LSB
        np.testing.assert_array_equal(ly.bias.sum(axis=0), np.rint(b / s))
        assert ly.theta_high == int(np.rint(1.3 / s)) + 1 and ly.beta == 205
    mse = quantize.quantize(model, bits, 8, rule="mse").layers[0]
    mx = quantize.quantize(model, bits, 8, rule="max").layers[0]
    assert np.sum((w - mse.weights * mse.scale) ** 2) <= np.sum((w - mx.weights * mx.scale) ** 2) + 1e-12


def test_one_bit_bias_rows_and_limits():
    rows, clipped = quantize._bias_rows(np.array([3, -2, 0, 1]), 1, "t")
    assert rows.shape == (3, 4) and set(np.unique(rows)) <= {-1, 1} and clipped == 0
    # sums keep k's parity: 3 -> 3, -2 -> -1, 0 -> +1, 1 -> 1
    np.testing.assert_array_equal(rows.sum(axis=0), [3, -1, 1, 1])
    with pytest.warns(UserWarning, match="clipped"):
        rows, clipped = quantize._bias_rows(np.array([7 * MAX_BIAS_ROWS + 50, 3]), 4, "t")
    assert rows.shape[0] == MAX_BIAS_ROWS and clipped == 1


def test_qat_fake_quant_equals_chip_integers():
    """After fine-tuning, the fake-quantized weights are exactly s * the chip's integers."""
    from skyspike.compiler import datasets
    d = datasets.load_digits()
    r = train.Recipe(hidden=24, steps=4, epochs=1, bias=True, qat_bits=2, qat_epochs=1, batch=256)
    model, log = train.train(d.x_train[:512], d.y_train[:512], r)
    assert len(log.epochs) == 2
    net = quantize.quantize(model, 2, r.steps, align_threshold=True)
    qat.attach(model, 2)
    with torch.no_grad():
        for lin, ly in zip([m for m in model if isinstance(m, nn.Linear)], net.layers):
            np.testing.assert_allclose(lin.weight.double().numpy().T, ly.weights * ly.scale, rtol=0, atol=1e-6)
            # aligned: the threshold is a whole number of LSBs
            assert 1.0 / ly.scale == pytest.approx(ly.theta_high - 1)
    qat.detach(model)
    assert not any(hasattr(m, "parametrizations") for m in model)


def test_float_network_is_a_model_source():
    model = _per_neuron_model()
    fnet = from_torch(model)
    assert load_model(fnet) is fnet and isinstance(fnet, FloatNetwork)
    net = quantize.quantize(fnet, [4, 8], 6)
    assert [ly.bits for ly in net.layers] == [4, 8]
    with pytest.raises(NetworkError, match="bits has 3 entries for 2 layers"):
        quantize.quantize(fnet, [4, 4, 4], 6)


# -- compiled file and read-back ------------------------------------------------------------------

def test_compiled_file_roundtrip_and_tamper(tmp_path):
    rng = np.random.default_rng(9)
    net = random_network(rng, CONFIGS["small"])
    path = tmp_path / "net.npz"
    meta = {"config": "small", "encoding": {"method": "rate", "gain": 1.0}}
    save_compiled(path, net, CONFIGS["small"], meta)
    back, meta2 = load_compiled(path)
    assert meta2 == meta
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.n_bias == b.n_bias
    with np.load(path) as z:
        arrays = dict(z)
    arrays["image_weights"] = arrays["image_weights"] ^ np.uint32(1)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(NetworkError, match="does not match the network"):
        load_compiled(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NetworkError, match="malformed network file"):
        load_compiled(tmp_path / "junk.npz")


def test_readback_inverts_the_image():
    from skyspike.spec import memmap as mm
    from skyspike.chip.image import image_writes, input_writes
    rng = np.random.default_rng(12)
    for name in ("small", "chip"):
        cfg = CONFIGS[name]
        for _ in range(15):
            net = random_network(rng, cfg, max_width=200)
            image = build_image(net, cfg)
            x = random_inputs(rng, net, batch=1)[0]
            mem = collections.defaultdict(int)
            for addr, word in image_writes(image) + input_writes(x, image):
                mem[addr] = word
            read = lambda a, n, mem=mem: [mem[a + 4 * i] for i in range(n)]  # noqa: E731
            back, pl = read_network(read, cfg)
            assert back.steps == net.steps and mem[mm.REG["NET"]] & 0xFF == len(net.layers)
            for a, b in zip(net.layers, back.layers):
                np.testing.assert_array_equal(a.weights_with_bias, b.weights_with_bias)
                assert (a.bits, a.beta, a.theta_high, a.theta_low, a.reset_sub, a.reset_zero) == \
                    (b.bits, b.beta, b.theta_high, b.theta_low, b.reset_sub, b.reset_zero)
            np.testing.assert_array_equal(read_inputs(read, back, pl, cfg), x)


def test_export_nir_helper_handles_scalar_parameters(tmp_path):
    """snnTorch's exporter fails on scalar beta/threshold; skyspike.compiler.model.export_nir does not,
    and the NIR file compiles to the same chip network as the torch model."""
    from skyspike.compiler.model import export_nir
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(20, 12), snn.Leaky(beta=0.9), nn.Linear(12, 4), snn.Leaky(beta=0.8, threshold=0.7))
    export_nir(model, 20, tmp_path / "m.nir")
    a, b = quantize.quantize(tmp_path / "m.nir", 4, 8, reset="subtract"), quantize.quantize(model, 4, 8)
    for x, y in zip(a.layers, b.layers):
        np.testing.assert_array_equal(x.weights_with_bias, y.weights_with_bias)
        assert (x.beta, x.theta_high, x.reset_sub) == (y.beta, y.theta_high, y.reset_sub)
    assert float(model[1].beta) == pytest.approx(0.9) and not model[1].init_hidden   # the model is untouched
