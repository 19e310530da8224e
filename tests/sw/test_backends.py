"""Backends and the command-line driver: a trained network gives the golden model's answer
bit for bit on the RTL simulation (core over Wishbone; the SoC with the firmware over the
UART) and through the serial backend (pyserial on a pseudo-terminal served by an emulated
chip that computes from what was loaded); the CLI from training to evaluation, and its
error messages."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from skyspike.compiler import datasets
from skyspike.compiler import encode
from skyspike.compiler import quantize
from skyspike.compiler import train
from skyspike.backends import GoldenBackend, SerialBackend, SimBackend, get_backend
from skyspike.chip.readout import compare
from skyspike.spec.config import CONFIGS
from skyspike.apps.cli import app
from skyspike.emu.fakechip import FakeChip
from skyspike.link.host import DeviceMismatch

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "tests"


@pytest.fixture(scope="module")
def digits_net():
    """A trained digits network with biases that the 'small' core holds (64-32-10, 4-bit)."""
    d = datasets.load_digits()
    r = train.Recipe(hidden=32, steps=8, epochs=3, bias=True)
    model, _ = train.train(d.x_train, d.y_train, r)
    net = quantize.quantize(model, 4, r.steps)
    assert any(ly.n_bias for ly in net.layers)
    return net, encode.rate(d.x_test[:6], r.steps, rng=1), d.y_test[:6]


def test_compare_reports_each_difference(digits_net):
    """One comparison for every pair of runs: Outcome against Outcome or GoldenResult."""
    from skyspike.chip import golden

    net, x, _ = digits_net
    gold = golden.run(net, x[:3], CONFIGS["small"])
    out = GoldenBackend(keep_spikes=True).run(net, x[:3], "small")
    assert compare(out, gold) == [] and compare(gold, out) == []
    out.spikes[1][1, 0, 3] ^= True
    out.finals[0][0, 5] += 1
    out.cycles[2] += 1
    found = compare(out, gold)
    assert [(m.sample, m.what) for m in found] == [(0, "finals L0"), (1, "spikes L1"), (2, "cycles")]
    assert found[1].detail.startswith("step 0 neuron 3: ") and str(found[0]).startswith("sample 0: finals L0: neuron 5")
    assert compare(out, gold, samples=[2], ref_samples=[2])[0].detail == f"{out.cycles[2]} != {gold.cycles[2]}"
    out.spikes = None                        # compared only where both have them
    assert [m.what for m in compare(out, gold)] == ["finals L0", "cycles"]
    with pytest.raises(ValueError, match="reference samples"):
        compare(out, gold, samples=[0, 1], ref_samples=[0])


@pytest.mark.parametrize("stream", [True, False])
def test_serial_backend_against_emulated_chip(digits_net, stream):
    net, x, _ = digits_net
    gold = GoldenBackend().run(net, x, "small")
    with FakeChip("small") as chip:
        out = SerialBackend(chip.port, timeout=5, stream=stream).run(net, x, "small")
        assert chip.runs == len(x)
    assert compare(out, gold) == []
    assert (out.finals[0] is None) == stream and out.finals[-1] is not None
    np.testing.assert_array_equal(out.prediction, gold.prediction)


def test_serial_backend_refuses_another_configuration(digits_net):
    net, x, _ = digits_net
    with FakeChip("chip") as chip, pytest.raises(DeviceMismatch, match="other capabilities"):
        SerialBackend(chip.port, timeout=5).run(net, x, "small")


def test_serial_backend_errors():
    import serial
    with pytest.raises(serial.SerialException):
        SerialBackend("/dev/nonexistent-skyspike").run(*_tiny())
    with pytest.raises(ValueError, match="needs a port"):
        SerialBackend()
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("fpga")


def _tiny():
    from skyspike.chip.network import ChipLayer, ChipNetwork
    net = ChipNetwork([ChipLayer(np.ones((4, 2), np.int64), theta_high=2)], steps=2)
    return net, np.ones((1, 2, 4), bool), "small"


def test_rtl_equals_golden_on_trained_network(digits_net, sim):
    net, x, _ = digits_net
    out = SimBackend(sim, build_dir=BUILD / "backend").run(net, x, "small")
    gold = GoldenBackend(keep_spikes=True).run(net, x, "small")
    assert compare(out, gold) == []      # spikes included: both backends keep them
    assert out.spikes is not None and gold.spikes is not None


def test_soc_backend_firmware_path(digits_net):
    """The firmware on PicoRV32 answers the host protocol over the simulated UART."""
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed")
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf (make setup)")
    net, x, _ = digits_net
    out = SimBackend(via="soc", build_dir=BUILD / "system").run(net, x[:2], "small")
    assert compare(out, GoldenBackend().run(net, x[:2], "small")) == []


# -- the CLI ------------------------------------------------------------------------------------

def _cli(*args, code=0):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output + repr(res.exception)
    return " ".join(res.output.split())   # rich wraps lines at the terminal width


def test_cli_train_compile_info_run_eval(tmp_path):
    model, net = tmp_path / "m.pt", tmp_path / "net.npz"
    out = _cli("train", "-o", model, "--hidden", 24, "--epochs", 2, "--steps", 6, "--bits", 4, "--qat-epochs", 1)
    assert "float test accuracy" in out and model.is_file()
    out = _cli("compile", model, "-o", net, "--config", "small", "--validate", 100)
    assert "weight memory" in out and "predicted cycles" in out and "validation on 100 digits" in out
    assert re.search(r"predicted energy per inference on 100 digits test images: mean [0-9.]+ uJ .* pJ per synaptic operation", out)
    out = _cli("info", net)
    assert "core configuration 'small'" in out and "64->24" in out and "predicted energy per inference" in out
    out = _cli("run", net, "--samples", 3, "--raster", tmp_path / "r.png")
    assert "prediction" in out and (tmp_path / "r.png").stat().st_size > 1000
    out = _cli("eval", net, "--limit", 50)
    assert "accuracy" in out and "on 50 test images" in out and "predicted energy per inference on 50 test images" in out
    out = _cli("info", net, "--config", "chip")
    assert "energy per inference: not predicted (no energy model for configuration 'chip'" in out or \
        "predicted energy per inference" in out
    with FakeChip("small") as chip:
        out = _cli("eval", net, "--limit", 5, "--backend", "serial", "--port", chip.port)
    assert "serial == golden on all 5 samples" in out
    out = _cli("sweep", model, "--limit", 60, "--plot", tmp_path / "s.png")
    assert (tmp_path / "s.png").is_file() and "8" in out


def test_cli_compiles_nir(tmp_path):
    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from torch import nn

    h = 16
    model = nn.Sequential(nn.Linear(64, h), snn.Leaky(beta=torch.full((h,), 0.9), threshold=torch.ones(h),
                                                      init_hidden=True),
                          nn.Linear(h, 10), snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10),
                                                      init_hidden=True, output=True))
    nir.write(str(tmp_path / "g.nir"), export_to_nir(model, torch.zeros(1, 64), ignore_dims=[0]))
    out = _cli("compile", tmp_path / "g.nir", "-o", tmp_path / "n.npz", "--nir-reset", "subtract",
               "--dataset", "digits", "--validate", 50)
    assert "NIR has no time step" in out and "reset='subtract'" in out and (tmp_path / "n.npz").is_file()


def test_cli_errors(tmp_path):
    (tmp_path / "junk.nir").write_bytes(b"nope")
    out = _cli("compile", tmp_path / "junk.nir", "-o", tmp_path / "x.npz", code=2)
    assert "not a readable NIR file" in out
    out = _cli("compile", tmp_path / "missing.pt", "-o", tmp_path / "x.npz", code=2)
    assert "no such file" in out
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert "malformed network file" in _cli("run", tmp_path / "bad.npz", code=2)
    assert "unknown data set" in _cli("train", "-o", tmp_path / "m.pt", "--dataset", "cifar", code=2)
    out = _cli("train", "-o", tmp_path / "m.pt", "--dataset", "mnist", "--data", tmp_path, code=2)
    assert "train-images-idx3-ubyte" in out and "--download" in out


def test_cli_network_of_the_most_varying_pixels(tmp_path):
    """--pixels: the network takes 40 of the 64 pixels; compile, calibrate and eval pick them."""
    from skyspike.chip.netfile import load_compiled

    model, net = tmp_path / "m.pt", tmp_path / "net.npz"
    assert "float test accuracy" in _cli("train", "-o", model, "--hidden", 16, "--epochs", 2, "--steps", 4,
                                         "--input-bits", 4, "--pixels", 40)
    out = _cli("compile", model, "-o", net, "--validate", 100, "--calibrate", "digits", "--calibrate-samples", 100,
               "--no-advise")
    assert "validation on 100 digits" in out and "calibration on 100 samples" in out
    chip, meta = load_compiled(net)
    assert chip.layers[0].n_in == 40 and len(meta["encoding"]["pixels"]) == 40
    assert "on 50 test images" in _cli("eval", net, "--limit", 50)
    assert "--pixels 65: digits images have 64 pixels" in _cli("train", "-o", model, "--pixels", 65, code=2)


@pytest.mark.skipif(not (ROOT.parent / "shared" / "datasets" / "mnist").is_dir() and not os.environ.get("SKYSPIKE_DATA"),
                    reason="MNIST IDX files not found (../shared/datasets or $SKYSPIKE_DATA)")
def test_cli_eval_mnist_shape_mismatch(tmp_path):
    model, net = tmp_path / "m.pt", tmp_path / "net.npz"
    _cli("train", "-o", model, "--hidden", 16, "--epochs", 1, "--steps", 4)
    _cli("compile", model, "-o", net, "--validate", 0)
    data = os.environ.get("SKYSPIKE_DATA") or ROOT.parent / "shared" / "datasets"
    assert "takes 64 inputs but mnist images have 784" in _cli("eval", net, "--dataset", "mnist", "--data", data,
                                                                code=2)


def test_sim_backend_board_needs_the_soc():
    with pytest.raises(ValueError, match="board='ulx3s-85f' needs via='soc'"):
        SimBackend(board="ulx3s-85f")
