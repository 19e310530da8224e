"""Direct (graded) input, docs/semantics.md "Inputs": checked values, their bit planes, the
file format, the cycle terms, and a clear error for every bad value."""
from __future__ import annotations

import numpy as np
import pytest

from skyspike.chip import golden
from skyspike.chip.netfile import load_network, save_network
from skyspike.chip.network import ChipLayer, ChipNetwork, as_inputs, input_bitmaps, place, value_planes
from skyspike.errors import InputError, NetworkError
from skyspike.spec.config import CONFIGS


def direct_net(bits: int = 4, steps: int = 5, n_in: int = 40, n_bias: int = 2) -> ChipNetwork:
    rng = np.random.default_rng(3)
    return ChipNetwork([ChipLayer(rng.integers(-8, 8, (n_in, 20)), bits=4, theta_high=200,
                                  bias=rng.integers(-8, 8, (n_bias, 20)) if n_bias else None),
                        ChipLayer(rng.integers(-8, 8, (20, 6)), bits=4, theta_high=10)],
                       steps=steps, input_mode="direct", input_bits=bits)


def test_bit_planes_most_significant_first():
    planes = value_planes(np.array([[0, 1, 6, 15]]), 4)
    assert planes.shape == (1, 4, 4)
    assert planes[0].astype(int).tolist() == [[0, 0, 0, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 0, 1]]
    net = direct_net(bits=2)
    x = as_inputs(np.arange(40) % 4, net)
    assert input_bitmaps(x, net).shape == (1, 2, 40)


def test_direct_current_is_the_weighted_sum_with_full_scale_bias():
    net = direct_net(bits=8)
    ly = net.layers[0]
    x = np.random.default_rng(0).integers(0, 256, (3, 40))
    want = x @ ly.weights + 255 * ly.bias.sum(axis=0)
    np.testing.assert_array_equal(golden.direct_current(x, ly, 8), want)
    # the same current at every step: with no leak and no spikes, V grows by it each step
    ly.beta, ly.theta_high, ly.theta_low = 256, 32767, 32767
    g = golden.run(net, x // 64)
    cur = golden.direct_current(x // 64, ly, 8)
    v = g.membranes[0]
    np.testing.assert_array_equal(v[:, 0], np.clip(cur, -32768, 32767))
    np.testing.assert_array_equal(v[:, 1], np.clip(v[:, 0] + cur, -32768, 32767))


def test_cycles_later_steps_skip_the_scan():
    cfg = CONFIGS["small"]
    x = np.random.default_rng(1).integers(0, 16, (4, 40))
    one, two = (golden.run(direct_net(steps=s), x, cfg).cycles for s in (1, 2))
    pl = place(direct_net(), cfg)
    per_step = sum(1 + lp.chunks * (golden.STORED_CHUNK_CYCLES if i == 0 else 0) + -(-ly.n_out // cfg.update_lanes)
                   for i, (ly, lp) in enumerate(zip(direct_net().layers, pl.layers)))
    hidden_scan = two - one - per_step    # layer 1's chunks: overhead and scan of its inputs
    assert np.all(hidden_scan >= golden.CHUNK_OVERHEAD * pl.layers[1].chunks)
    # zero values cost one cycle per word and plane; full-scale ones a cycle per bit
    zero, full = (golden.run(direct_net(steps=1), np.full((1, 40), v), cfg).cycles[0] for v in (0, 15))
    assert full > zero


@pytest.mark.parametrize("bad, message", [
    (np.full((1, 40), 16), "integers 0..15"),
    (np.full((1, 40), -1), "integers 0..15"),
    (np.full((1, 40), 0.5), "integers 0..15"),
    (np.full((1, 40), np.nan), "integers 0..15"),
    (np.ones((1, 40), bool), "got dtype bool"),
    (np.zeros((2, 39), int), r"shape \(batch, 40\)"),
    (np.zeros((2, 5, 40), int), r"shape \(batch, 40\)"),
    (np.zeros((0, 40), int), "the batch is empty"),
    ([[1, 2], [3]], "array of integers"),
])
def test_bad_values_one_clear_error(bad, message):
    with pytest.raises(InputError, match=message):
        golden.run(direct_net(), bad)


def test_network_checks_the_input_mode():
    net = direct_net()
    net.input_mode = "graded"
    with pytest.raises(NetworkError, match="input_mode='graded'"):
        net.check()
    net = direct_net()
    net.input_bits = 3
    with pytest.raises(NetworkError, match="direct input: bits=3"):
        net.check()
    net = direct_net()
    net.input_mode, net.input_bits = "spikes", 4
    with pytest.raises(NetworkError, match="spike inputs are 1 bit"):
        net.check()
    wide = direct_net(bits=8, n_in=CONFIGS["small"].max_inputs, n_bias=0)
    wide.check(CONFIGS["small"])   # 8 planes fit whatever the steps
    wide.steps = 255
    wide.check(CONFIGS["small"])


def test_netfile_keeps_the_input_mode(tmp_path):
    net = direct_net(bits=2)
    save_network(tmp_path / "d.npz", net)
    back = load_network(tmp_path / "d.npz")
    assert (back.input_mode, back.input_bits) == ("direct", 2)
    x = np.random.default_rng(2).integers(0, 4, (3, 40))
    np.testing.assert_array_equal(golden.run(back, x).counts, golden.run(net, x).counts)
