"""Input spikes are 0/1 only (skyspike.chip.network.as_spikes), in the golden model and in every
backend: other values are refused, never turned into spikes (issue: reliability, defect 3)."""
from __future__ import annotations

import numpy as np
import pytest

from skyspike.backends import GoldenBackend
from skyspike.chip import golden
from skyspike.chip.network import as_spikes
from skyspike.chip.testing import random_network
from skyspike.errors import InputError
from skyspike.spec.config import CONFIGS

CFG = CONFIGS["small"]


@pytest.fixture(scope="module")
def net():
    """A spike-input network (these tests are about spikes; values: test_direct_input.py)."""
    net = random_network(np.random.default_rng(3), CFG, max_layers=2)
    net.input_mode, net.input_bits = "spikes", 1
    return net


def shaped(net, value, dtype=None):
    return np.full((2, net.steps, net.layers[0].n_in), value, dtype=dtype)


@pytest.mark.parametrize("value, dtype, match", [
    (0.5, None, "must be 0 or 1"),
    (2, None, "must be 0 or 1"),
    (-1, None, "must be 0 or 1"),
    (np.nan, None, "must be 0 or 1"),
    ("0", None, "bool or 0/1 numbers"),
    (1, object, "bool or 0/1 numbers"),
])
def test_values_that_are_not_spikes_are_refused(net, value, dtype, match):
    x = shaped(net, value, dtype)
    for run in (lambda: golden.run(net, x, CFG), lambda: GoldenBackend().run(net, x, CFG)):
        with pytest.raises(InputError, match=match):
            run()


def test_shape_and_empty_batch(net):
    with pytest.raises(InputError, match="must have shape"):
        as_spikes(np.zeros((2, net.steps + 1, net.layers[0].n_in)), net)
    with pytest.raises(InputError, match="the batch is empty"):
        GoldenBackend().run(net, np.zeros((0, net.steps, net.layers[0].n_in), bool), CFG)
    with pytest.raises(InputError, match="must have shape"):
        as_spikes(None, net)


def test_zeros_and_ones_of_any_number_type_are_spikes(net):
    for dtype in (bool, np.int8, np.int64, np.float32, np.float64):
        x = (np.arange(net.steps * net.layers[0].n_in).reshape(1, net.steps, -1) % 3 == 0).astype(dtype)
        assert np.array_equal(as_spikes(x, net), x.astype(bool))
