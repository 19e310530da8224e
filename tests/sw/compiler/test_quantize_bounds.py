"""Quantization error bounds and 1-bit bias rows (skyspike.compiler.quantize)."""
from __future__ import annotations

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn
from skyspike.compiler import quantize
from skyspike.spec.config import MAX_BIAS_ROWS




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
    rows, clipped = quantize.bias_rows(np.array([3, -2, 0, 1]), 1, "t")
    assert rows.shape == (3, 4) and set(np.unique(rows)) <= {-1, 1} and clipped == 0
    # sums keep k's parity: 3 -> 3, -2 -> -1, 0 -> +1, 1 -> 1
    np.testing.assert_array_equal(rows.sum(axis=0), [3, -1, 1, 1])
    with pytest.warns(UserWarning, match="clipped"):
        rows, clipped = quantize.bias_rows(np.array([7 * MAX_BIAS_ROWS + 50, 3]), 4, "t")
    assert rows.shape[0] == MAX_BIAS_ROWS and clipped == 1
