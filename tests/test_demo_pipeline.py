"""Fast tests (seconds, no RTL) of the demo pipeline: data sets, spike encoders, the snnTorch
recipe's plumbing, the quantizer (bit-exact against the golden model where the float network
is already on the integer grid), the shared prediction rule and the demo's RTL/golden compare.
"""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from skyspike.compiler import datasets
from skyspike.compiler import encode
from skyspike.chip import golden, readout
from skyspike.compiler import quantize
from skyspike.compiler import train
from skyspike.spec.config import CONFIGS
from skyspike.chip.network import NetworkError
from skyspike.chip.testing import random_inputs, random_network

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SKYSPIKE_DATASETS", ROOT.parent / "shared" / "datasets"))
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# -- data sets --------------------------------------------------------------------------

def test_digits_split_is_fixed_and_scaled():
    a, b = datasets.load_digits(), datasets.load_digits()
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    assert a.y_train.shape == (1437,) and a.y_test.shape == (360,)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert 0.0 == min(a.x_train.min(), a.x_test.min()) and max(a.x_train.max(), a.x_test.max()) == 1.0
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    # stratified: every class is in the test set, in proportion
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    # values on the 1/16 grid of the original 0..16 pixels
    np.testing.assert_allclose(a.x_train * 16, np.round(a.x_train * 16), atol=1e-5)


def _write_idx(path: Path, magic: int, dims: tuple[int, ...], payload: bytes, compress=True):
    raw = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (7, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    d = tmp_path / "mnist"
    d.mkdir()
    _write_idx(d / "t10k-images-idx3-ubyte.gz", 2051, images.shape, images.tobytes())
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", 2049, labels.shape, labels.tobytes())
    return tmp_path, images, labels


def test_idx_loader_reads_synthetic_files(idx_dir):
    root, images, labels = idx_dir
    for where in (root, root / "mnist"):  # the data-set root or the data set's own folder
        x, y = datasets.load_idx(where, "mnist", "test")
        assert x.shape == (7, 12) and x.dtype == np.float32
        np.testing.assert_allclose(x, images.reshape(7, -1) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(root, "mnist", "train")
    with pytest.raises(ValueError, match="split"):
        datasets.load_idx(root, "mnist", "validation")


@pytest.mark.parametrize("damage, message", [
    ("magic", "bad IDX magic number 2049"),
    ("short", "truncated"),
    ("long", "trailing bytes"),
    ("gzip", "not a readable gzip"),
    ("count", "labels"),
])
def test_idx_loader_rejects_malformed_files(idx_dir, damage, message):
    root, images, labels = idx_dir
    img = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    lbl = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    target = img
    if damage == "magic":       # a labels header on the images file
        _write_idx(img, 2049, (images.size,), images.tobytes())
    elif damage == "short":     # payload shorter than the header says
        _write_idx(img, 2051, images.shape, images.tobytes()[:-5])
    elif damage == "long":
        _write_idx(img, 2051, images.shape, images.tobytes() + b"\0")
    elif damage == "gzip":      # the gzip stream itself cut off
        data = img.read_bytes()
        img.write_bytes(data[: len(data) // 2])
    elif damage == "count":     # 6 labels for 7 images
        _write_idx(lbl, 2049, (6,), labels[:6].tobytes())
        target = lbl
    with pytest.raises(ValueError, match=message) as exc:
        datasets.load_idx(root, "mnist", "test")
    assert target.name in str(exc.value), "the error must name the file"


def test_read_idx_uncompressed(tmp_path):
    p = tmp_path / "labels-idx1-ubyte"
    _write_idx(p, 2049, (3,), bytes([1, 2, 3]), compress=False)
    np.testing.assert_array_equal(datasets.read_idx(p, 2049), [1, 2, 3])


def test_idx_real_mnist_test_set():
    folder = SHARED / "mnist"
    if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"MNIST IDX files not found in {folder} (set SKYSPIKE_DATASETS to the datasets folder)")
    labels = datasets.read_idx(folder / "t10k-labels-idx1-ubyte.gz", datasets.IDX_LABELS_MAGIC)
    assert labels.shape == (10000,)
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_LABEL_COUNTS
    x, y = datasets.load_idx(SHARED, "mnist", "test")
    assert x.shape == (10000, 784) and 0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(y, labels)


# -- encoders ---------------------------------------------------------------------------

def test_rate_coding_reproducible_and_dense_as_intensity():
    x = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(3, 0)
    a = encode.rate(x, 2000, rng=7)
    assert a.dtype == bool and a.shape == (3, 2000, 11)
    np.testing.assert_array_equal(a, encode.rate(x, 2000, rng=np.random.default_rng(7)))
    assert not np.array_equal(a, encode.rate(x, 2000, rng=8))
    np.testing.assert_allclose(a.mean(axis=(0, 1)), x[0], atol=0.03)
    assert not a[:, :, 0].any() and a[:, :, -1].all()   # 0 never, 1 always
    g = encode.rate(x, 2000, gain=2.0, rng=7).mean(axis=(0, 1))
    np.testing.assert_allclose(g, np.minimum(1, 2 * x[0]), atol=0.03)
    assert encode.rate(x[0], 5, rng=0).shape == (1, 5, 11)  # one sample
    with pytest.raises(ValueError):
        encode.rate(x * 2, 5)


def test_direct_coding():
    x = np.array([[0.1, 0.5, 0.9, 0.49]])
    s = encode.direct(x, 6, threshold=0.5)
    assert s.shape == (1, 6, 4) and s.dtype == bool
    assert (s == np.array([False, True, True, False])).all()
    np.testing.assert_array_equal(encode.encode(x, 6, "direct", threshold=0.5), s)
    with pytest.raises(ValueError, match="unknown encoding"):
        encode.encode(x, 6, "latency")


# -- quantizer: exact where the float network is on the integer grid ----------------------

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


# -- prediction rule, quantization report, demo compare ------------------------------------

def test_predict_matches_golden_rule():
    rng = np.random.default_rng(2024)
    cfg = CONFIGS["small"]
    for _ in range(40):
        net = random_network(rng, cfg, max_steps=6)
        g = golden.run(net, random_inputs(rng, net, batch=8), cfg)
        np.testing.assert_array_equal(readout.predict(g.counts, g.membranes[-1][:, -1]), g.prediction)
        np.testing.assert_array_equal(quantize.golden_prediction(g), g.prediction)
    # ties: counts, then membrane, then the lower index
    counts = np.array([[2, 3, 3, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    mem = np.array([[99, 4, 5, 0], [-3, 7, 7, -1], [-5, -5, 9, 9]])
    assert readout.predict(counts, mem).tolist() == [2, 1, 0]
    assert readout.predict(counts[0], mem[0]) == 2
    fake = SimpleNamespace(counts=counts, membranes=[mem[:, None]])
    np.testing.assert_array_equal(golden.GoldenResult([mem[:, None] > 0], [mem[:, None]], counts, None).prediction,
                                  quantize.golden_prediction(fake))


def test_recipe_cache_roundtrip_and_report(tmp_path):
    r = train.Recipe(hidden=16, steps=4, epochs=1)
    d = datasets.load_digits()
    model, log = train.train(d.x_train[:128], d.y_train[:128], r)
    assert len(log.epochs) == 1
    train.save(model, train.cache_path(tmp_path, r), r)
    back, log2 = train.train_or_load(d.x_train, d.y_train, r, tmp_path)
    assert log2 is None   # loaded, not trained
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="another recipe"):
        train.load(train.cache_path(tmp_path, r), 64, 10, train.Recipe(hidden=16, steps=4, epochs=2))
    assert train.Recipe().key() != train.Recipe(seed=1).key()
    net = quantize.quantize_snntorch(model, bits=8, steps=r.steps)
    x = encode.rate(d.x_test[:50], r.steps, rng=0)
    rep = quantize.quantization_report(model, net, x, d.y_test[:50])
    assert 0 <= rep.golden_accuracy <= 1 and 0 <= rep.agreement <= 1 and "golden" in str(rep)


def test_demo_compare_and_raster(tmp_path):
    from skyspike.apps.plots import spike_raster
    from skyspike.chip.readout import compare

    def what(rtl, g, b):
        return [m.what for m in compare(rtl, g, samples=[b])]

    rng = np.random.default_rng(9)
    cfg = CONFIGS["small"]
    net = random_network(rng, cfg, max_steps=6)
    x = random_inputs(rng, net, batch=3, density=0.4)
    g = golden.run(net, x, cfg)

    def as_rtl():
        return SimpleNamespace(errors=np.zeros(3, int), cycles=g.cycles.copy(), counts=g.counts.copy(),
                               spikes=[s.copy() for s in g.spikes], membranes=[m.copy() for m in g.membranes],
                               finals=[m[:, -1].copy() for m in g.membranes])
    assert all(what(as_rtl(), g, b) == [] for b in range(3))
    rtl = as_rtl()
    rtl.spikes[0][1, 0, 0] ^= True
    rtl.cycles[2] += 1
    assert what(rtl, g, 0) == [] and what(rtl, g, 1) == ["spikes L0"]
    assert what(rtl, g, 2)[0].startswith("cycles")
    png = spike_raster(g.spikes, 0, tmp_path / "r.png", "t", inputs=x)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
