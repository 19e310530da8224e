"""bench/accuracy.py derives its networks from the core configuration: the largest 784-H-10
(64-H-10 for digits) that fits at each precision, with the most bias rows quantization makes."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from skyspike.chip.network import ChipLayer, ChipNetwork, place
from skyspike.errors import NetworkError
from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def accuracy():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import accuracy
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return accuracy


def _net(n_in, h, bits, n_bias):
    return ChipNetwork([ChipLayer(np.ones((a, b), np.int64), bits, bias=np.ones((n_bias, b), np.int64))
                        for a, b in ((n_in, h), (h, 10))], 16)


# The output layer is folded (docs/semantics.md); before folding 1 and 2 bits took 96 (256 words)
# and 352, 256 (512 words).
@pytest.mark.parametrize("depth, sizes", [(256, {1: 256, 2: 128, 4: 64, 8: 32}),
                                          (512, {1: 512, 2: 256, 4: 128, 8: 64})])
def test_hidden_is_the_largest_that_fits(accuracy, depth, sizes):
    cfg = replace(CONFIGS["chip"], bank_depth=depth)
    assert {b: accuracy.hidden("mnist", b, cfg) for b in sizes} == sizes
    for b, h in sizes.items():
        place(_net(784, h, b, MAX_BIAS_ROWS), cfg)
        with pytest.raises(NetworkError):
            place(_net(784, h + 16, b, MAX_BIAS_ROWS), cfg)


def test_recipe_and_options(accuracy):
    r = accuracy.recipe("fashion-mnist", 2, epochs=3, qat_epochs=0)
    assert (r.hidden, r.qat_bits, r.epochs, r.qat_epochs) == (128, 2, 3, 0)
    assert accuracy.recipe("mnist", 4) == replace(accuracy.BASE, hidden=64, dataset="mnist", qat_bits=4)
    assert accuracy.recipe("fashion-mnist", 2, out_bits=8).layer_bits() == [2, 8]
    assert accuracy.hidden("mnist", [2, 8], CONFIGS["chip"]) == 128   # the output layer is small
    args = type("A", (), {"config": "chip", "bank_depth": 512})()
    assert accuracy.core_config(args) == replace(CONFIGS["chip"], bank_depth=512)
