"""Direct-input models (snnTorch's ``cur1 = fc1(x)``): quantized with ``input_bits`` they run on
the chip's integers as the float model runs on the image; trained with ``Recipe.input_bits``
they see the image rounded to the chip's value grid; compiled, they say so."""
from __future__ import annotations

import numpy as np
import snntorch as snn
import torch
from torch import nn
from typer.testing import CliRunner

from skyspike.apps.cli import app
from skyspike.chip import golden
from skyspike.compiler import encode, quantize, train


def grid_model(rng, s: float = 0.05, beta: float = 1.0) -> nn.Sequential:
    """20-12-4 with weights and biases on the grid of s, threshold 1.0, no leak by default (exact
    on the chip)."""
    mods = []
    for n_in, n_out in ((20, 12), (12, 4)):
        lin = nn.Linear(n_in, n_out, bias=True)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(rng.integers(-7, 8, (n_out, n_in)) * s, dtype=torch.float32))
            lin.weight[0, 0] = 7 * s     # max|W| = 7 s: the "max" scale rule picks s
            lin.bias.copy_(torch.as_tensor(rng.integers(-3, 4, n_out) * s, dtype=torch.float32))
        mods += [lin, snn.Leaky(beta=beta, threshold=1.0)]
    return nn.Sequential(*mods)


def test_direct_quantization_matches_the_float_model():
    rng = np.random.default_rng(5)
    model = grid_model(rng)
    net = quantize.quantize(model, 4, steps=6, input_bits=4, rule="max")
    assert (net.input_mode, net.input_bits) == ("direct", 4)
    # one float input unit is 15 integer units: layer 0's threshold is 1.0 / (0.05 / 15) + 1
    assert net.layers[0].theta_high == 301 and net.layers[1].theta_high == 21
    images = rng.random((300, 20))
    x = encode.values(images, 4)
    rep = quantize.quantization_report(model, net, x, np.zeros(300, int))
    assert rep.agreement >= 0.97, rep
    assert rep.count_mae < 0.05, rep


def test_values_encoding_and_training_inputs():
    img = np.array([[0.0, 0.5, 1.0, 0.04]])
    np.testing.assert_array_equal(encode.values(img, 4), [[0, 8, 15, 1]])
    r = train.Recipe(steps=3, input_bits=4)
    seen = train.model_inputs(torch.as_tensor(img, dtype=torch.float32), r)
    assert seen.shape == (1, 3, 4)
    np.testing.assert_allclose(seen[0, 2].numpy(), encode.values(img, 4)[0] / 15, rtol=1e-6)
    assert train.Recipe().key() != r.key()


def test_compile_values_says_direct_input(tmp_path):
    rng = np.random.default_rng(6)
    model = grid_model(rng)
    r = train.Recipe(hidden=12, steps=4, input_bits=4, bias=True, dataset="digits")
    torch_model = train.build_model(20, 4, r)
    torch_model.load_state_dict(model.state_dict(), strict=False)
    path = tmp_path / "m.pt"
    train.save(torch_model, path, r)
    res = CliRunner().invoke(app, ["compile", str(path), "-o", str(tmp_path / "n.npz"), "--encoding", "values",
                                   "--config", "small", "--validate", "0"])
    assert res.exit_code == 0, res.output
    assert "direct input (4-bit values" in " ".join(res.output.split())
    bad = CliRunner().invoke(app, ["compile", str(path), "-o", str(tmp_path / "m.npz"), "--encoding", "values",
                                   "--input-bits", "3", "--validate", "0"])
    assert bad.exit_code != 0 and "bits=3" in bad.output and "Traceback" not in bad.output


def test_rate_coded_on_the_chip():
    """A model trained on rate-coded spikes, its image sent as values and rate coded by the
    chip: thresholds as for spikes, the float model fed the very spikes the chip draws."""
    rng = np.random.default_rng(8)
    model = grid_model(rng)
    spikes_net = quantize.quantize(model, 4, steps=6, rule="max")
    net = quantize.quantize(model, 4, steps=6, rule="max", input_bits=8, input_mode="rate", seed=99)
    assert (net.input_mode, net.input_bits, net.seed) == ("rate", 8, 99)
    assert net.layers[0].theta_high == spikes_net.layers[0].theta_high
    x = encode.values(rng.random((200, 20)), 8)
    rep = quantize.quantization_report(model, net, x, np.zeros(200, int))
    assert rep.agreement >= 0.9 and rep.count_mae < 0.1, rep   # ties on the membranes round apart
    spikes = golden.rate_spikes(x, net)
    assert abs(spikes.mean() - (x / 256).mean()) < 0.01   # probability x / 2**bits


def test_nir_graph_says_direct_input(tmp_path):
    from skyspike.compiler.model import export_nir, load_model

    model = grid_model(np.random.default_rng(9), beta=0.9)   # NIR needs a finite tau
    export_nir(model, 20, tmp_path / "d.nir", input_bits=4)
    fnet = load_model(tmp_path / "d.nir", reset="subtract")
    assert (fnet.input_bits, fnet.input_mode) == (4, "direct")
    assert any("direct input of 4-bit values" in n for n in fnet.notes)
    net = quantize.quantize(tmp_path / "d.nir", 4, steps=4, reset="subtract")
    assert (net.input_mode, net.input_bits) == ("direct", 4)
    plain = quantize.quantize(export_nir(model, 20), 4, steps=4, reset="subtract")
    assert plain.input_mode == "spikes"
