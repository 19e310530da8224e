"""Learned rounding (skyspike.compiler.adaround): each weight only ever rounds down or up, per
layer the input-current error falls below rounding to nearest, and the network-level version
learns on the chip's own arithmetic."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from stock_snntorch import train_stock

from skyspike.chip import golden
from skyspike.chip.network import ChipNetwork, weight_range
from skyspike.compiler import datasets, encode
from skyspike.compiler import quantize as Q
from skyspike.compiler.adaround import gram, learn_rounding, refine_rounding
from skyspike.compiler.model import load_model

STEPS = 8


def current_error(w, scale, w_int, g):
    d = w / scale - w_int
    return float(np.sum(d * (g @ d)))


def assert_down_or_up(w_int, w, scale, bits):
    lo, hi = weight_range(bits)
    floor = np.floor(w / scale)
    assert np.all((w_int == np.clip(floor, lo, hi)) | (w_int == np.clip(floor + 1, lo, hi)))


@pytest.mark.parametrize("bits, gain", [(2, 0.5), (4, 1.0), (8, 0.6)])
def test_layer_rounding_beats_nearest_on_the_input_current(bits, gain):
    """Measured: 0.37 and 0.44 of nearest's error at 2 and 8 bits; at 4 bits this case's relaxation
    ends no better, and nearest is kept."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (48, 12))
    # correlated inputs: rounding errors of neighbouring weights can cancel
    x = (rng.random((400, 48)) < np.linspace(0.05, 0.6, 48)) | (rng.random((400, 1)) < 0.2)
    g = gram(x)
    scale = np.abs(w).max() / ((1 << (bits - 1)) - 1)
    w_int = learn_rounding(w, scale, bits, g)
    lo, hi = weight_range(bits)
    nearest = np.clip(np.rint(w / scale), lo, hi)
    assert_down_or_up(w_int, w, scale, bits)
    assert current_error(w, scale, w_int, g) <= gain * current_error(w, scale, nearest, g)
    np.testing.assert_array_equal(w_int, learn_rounding(w, scale, bits, g))   # deterministic


def test_one_bit_has_nothing_to_round():
    with pytest.raises(ValueError, match="not 1"):
        learn_rounding(np.ones((2, 2)), 1.0, 1, np.eye(2))


@pytest.fixture(scope="module")
def small():
    d = datasets.load_digits()
    model = train_stock(d.x_train[:400], d.y_train[:400], (64, 16, 10), epochs=3, steps=STEPS, seed=1)
    return model, encode.rate(d.x_train[400:600], STEPS, rng=2), d.y_train[400:600]


def test_network_rounding_stays_on_the_grid_and_learns_the_float_models_answers(small):
    model, x, _ = small
    net = Q.quantize(model, 2, STEPS)
    fnet = load_model(model)
    ref = fnet.simulate(x.astype(np.float32), record=False)
    weights = refine_rounding(fnet, net, x, ref.counts.numpy(), iterations=200)
    for w_int, fl, cl in zip(weights, fnet.layers, net.layers):
        assert_down_or_up(w_int, fl.weight, cl.scale, 2)
    new = ChipNetwork([dataclasses.replace(cl, weights=w) for cl, w in zip(net.layers, weights)], STEPS)
    agree = [np.mean(golden.run(n, x).prediction == ref.prediction) for n in (net, new)]
    assert agree[1] > agree[0] + 0.1, agree   # measured: 0.50 -> 0.67


@pytest.mark.parametrize("bits", [1, 8])
def test_network_rounding_learns_2_and_4_bit_layers_only(small, bits):
    model, x, _ = small
    net = Q.quantize(model, bits, STEPS)
    assert refine_rounding(load_model(model), net, x, golden.run(net, x).counts) is None
