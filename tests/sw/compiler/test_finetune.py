"""Fine-tuning on the chip's grid (skyspike.compiler.finetune): the grid model computes what the
golden model computes, bit for bit, and what it writes (torch or NIR) compiles to exactly it."""
from __future__ import annotations

import numpy as np
import pytest
import snntorch as snn
import torch
from stock_snntorch import train_stock
from torch import nn

from skyspike.chip import golden
from skyspike.compiler import datasets, encode
from skyspike.compiler import finetune as F
from skyspike.compiler import quantize as Q
from skyspike.compiler.model import load_model
from skyspike.compiler.neurons import Schmitt
from skyspike.errors import InputError, NetworkError

STEPS = 8


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits()


def same_network(a, b):
    assert (a.steps, a.input_mode, a.input_bits) == (b.steps, b.input_mode, b.input_bits)
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weights, lb.weights)
        np.testing.assert_array_equal(*(np.zeros(1) if ly.bias is None else ly.bias.sum(axis=0) for ly in (la, lb)))
        assert (la.bits, la.beta, la.theta_high, la.theta_low, la.reset_sub, la.reset_zero) == \
               (lb.bits, lb.beta, lb.theta_high, lb.theta_low, lb.reset_sub, lb.reset_zero)


def grid_equals_golden(grid, net, x):
    counts, last = grid(x)
    g = golden.run(net, x)
    np.testing.assert_array_equal(counts.detach().numpy(), g.counts)
    np.testing.assert_array_equal(last.detach().numpy(), g.membranes[-1][:, -1])


def random_model(reset, neuron, seed):
    torch.manual_seed(seed)
    if neuron == "schmitt":
        cell = lambda: Schmitt(0.85, 1.0, 0.6, reset_mechanism=reset)   # noqa: E731
    else:
        cell = lambda: snn.Leaky(beta=0.87, reset_mechanism=reset)   # noqa: E731
    return nn.Sequential(nn.Linear(20, 12), cell(), nn.Linear(12, 5), cell())


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("reset, neuron, input_bits, mode", [
    ("subtract", "lif", None, "direct"), ("zero", "lif", None, "direct"), ("subtract", "schmitt", None, "direct"),
    ("zero", "lif", 4, "direct"), ("subtract", "lif", 2, "rate")])
def test_the_grid_computes_what_the_golden_model_computes(bits, reset, neuron, input_bits, mode):
    """Leak rounding, both resets, hysteresis, saturation, bias rows (1-bit parity), graded input."""
    model = random_model(reset, neuron, bits)
    with torch.no_grad():   # large biases: several bias rows, some clipped
        model[0].bias.mul_(6.0)
    net = Q.quantize(model, bits, STEPS, input_bits=input_bits, input_mode=mode)
    rng = np.random.default_rng(bits)
    x = rng.integers(0, 1 << input_bits, (64, 20)) if input_bits else rng.random((64, STEPS, 20)) < 0.4
    grid = F.GridNet(load_model(model), net)
    same_network(grid.chip(), net)
    grid_equals_golden(grid, net, x)


def test_finetuning_a_stock_torch_model_ends_on_the_exact_grid(digits):
    model = train_stock(digits.x_train, digits.y_train, (64, 16, 10), steps=STEPS, epochs=4, seed=2)
    ft = F.finetune(model, digits.x_train[:400], digits.y_train[:400], 2, STEPS, epochs=1, calibrate=200,
                    hold_out=0.1)
    assert len(ft.log.epochs) == 1 and ft.calibration is not None
    assert ft.log.best_epoch in (0, 1) and "val_acc" in ft.log.epochs[0]   # 40 images held out
    # fine-tuning starts from the calibrated network, learned rounding included
    same_network(F.GridNet(load_model(model), ft.calibration.net).chip(), ft.calibration.net)
    same_network(Q.quantize(ft.model, 2, STEPS), ft.net)   # the written model compiles to the grid
    x = encode.rate(digits.x_test[:100], STEPS, rng=1)
    grid_equals_golden(ft.grid, ft.net, x)
    lin = ft.model[0]
    w = lin.weight.detach().double().numpy() / ft.net.layers[0].scale
    np.testing.assert_allclose(w, np.rint(w), atol=1e-5)    # integers times the scale


def test_finetuning_a_nir_graph_writes_nir_on_the_grid(digits, tmp_path):
    """A zero-reset stock model exported to NIR, direct input: NIR in, NIR out, compiled exactly."""
    from skyspike.compiler.model import export_nir

    model = train_stock(digits.x_train, digits.y_train, (64, 16, 10), reset="zero", steps=STEPS, epochs=3,
                        direct=True, seed=3)
    export_nir(model, 64, tmp_path / "in.nir", input_bits=4)
    ft = F.finetune(str(tmp_path / "in.nir"), digits.x_train[:300], digits.y_train[:300], 4, STEPS, epochs=1,
                    calibrate=0, distill=0.5)   # the float model's answers in the loss too
    assert ft.calibration is None and ft.net.direct
    ft.to_nir(tmp_path / "out.nir")
    back = Q.quantize(str(tmp_path / "out.nir"), 4, STEPS)   # the graph says its input, reset and grid
    same_network(back, ft.net)
    grid_equals_golden(ft.grid, back, encode.values(digits.x_test[:100], 4))


def test_bad_fine_tuning_input_is_one_clear_error(digits):
    model = random_model("subtract", "schmitt", 0)
    with pytest.raises(InputError, match="one label each"):
        F.finetune(model, np.zeros((3, 20)), np.zeros(2, int), 2, STEPS)
    with pytest.raises(ValueError, match="distill must be within 0..1, got 1.5"):
        F.finetune(model, np.zeros((3, 20)), np.zeros(3, int), 2, STEPS, distill=1.5)
    with pytest.raises(ValueError, match="hold_out must be a fraction"):
        F.finetune(model, np.zeros((3, 20)), np.zeros(3, int), 2, STEPS, hold_out=1.0)
    with pytest.raises(InputError, match="images left to train on"):
        F.finetune(model, np.zeros((1, 20)), np.zeros(1, int), 2, STEPS, hold_out=0.6)
    ft = F.finetune(model, np.random.default_rng(0).random((20, 20)), np.arange(20) % 5, 2, STEPS, epochs=1,
                    calibrate=0)
    with pytest.raises(NetworkError, match="no NIR form"):
        ft.to_nir()


def test_default_length_is_400_batches_whatever_the_data_set():
    assert F.default_epochs(1137) == 45          # digits: 9 batches an epoch
    assert F.default_epochs(20000) == 3          # 157 batches an epoch
    assert F.default_epochs(60000) == 1          # MNIST: 469
    assert F.default_epochs(10, batch=128) == F.BATCHES
