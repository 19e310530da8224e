"""Import of NIR graphs (skyspike.compiler.nirgraph) and export of snnTorch models to NIR."""
from __future__ import annotations

from models import per_neuron_model, spikes

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn
from skyspike.chip import golden
from skyspike.compiler import quantize
from skyspike.compiler.model import from_nir, load_model
from skyspike.chip.network import NetworkError




def test_nir_roundtrip_from_snntorch_export(tmp_path):
    """snnTorch's export_to_nir (per-neuron parameters, ignore_dims=[0]) -> NIR file ->
    the same chip network as importing the torch model directly."""
    from snntorch.export_nir import export_to_nir

    model = per_neuron_model()
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
    g = golden.run(net, spikes(np.random.default_rng(1), 16, 8, 6, 0.5))
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


@pytest.mark.parametrize("node, size", [("input", 5), ("output", 4)])
def test_input_and_output_sizes_must_match_the_layers(node, size):
    def resize(nodes, edges):
        nodes[node] = (nir.Input(input_type={"input": np.array([size])}) if node == "input"
                       else nir.Output(output_type={"output": np.array([size])}))
    with pytest.raises(NetworkError, match=rf"NIR node '{node}' \((In|Out)put\): size {size} does not match"):
        from_nir(_scalar_graph(extra=resize))
