"""The run-time checks' golden twin (skyspike.chip.checks): every valid image passes, and each
kind of broken table gives the code and layer the RTL gives (the RTL itself is checked against
this twin on random tables in tests/hw/tb_core_errors.py)."""
from __future__ import annotations

import numpy as np
import pytest

from skyspike.chip.checks import run_check
from skyspike.chip.image import build_image
from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.chip.testing import random_network
from skyspike.spec.config import CONFIGS
from skyspike.spec.layouts import DESCRIPTOR
from skyspike.spec.memmap import NET, RunError

CFG = CONFIGS["small"]


def image3():
    rng = np.random.default_rng(0)
    net = ChipNetwork([ChipLayer(rng.integers(-8, 8, (40, 24)), bits=4, theta_high=9),
                       ChipLayer(rng.integers(-2, 2, (24, 24)), bits=2, theta_high=3, bias=np.ones((2, 24), int)),
                       ChipLayer(rng.choice([-1, 1], (24, 10)), bits=1, theta_high=6)], steps=6)
    return build_image(net, CFG)


def table_with(image, layer, **fields):
    table = [list(map(int, w)) for w in image.descriptors]
    f = DESCRIPTOR.unpack(DESCRIPTOR.from_words(table[layer]))
    f.update(fields)
    table[layer] = DESCRIPTOR.words(DESCRIPTOR.pack(**{k: v for k, v in f.items()}))
    return table


@pytest.mark.parametrize("seed", range(40))
def test_valid_images_pass(seed):
    img = build_image(random_network(np.random.default_rng(seed), CFG), CFG)
    check = run_check(NET.pack(n_layers=img.n_layers, steps=img.steps), img.descriptors, CFG)
    assert check.ok, check


def input_span(img) -> int:
    return img.steps * img.placement.input_words_per_bank


def cases(img):
    net = NET.pack(n_layers=3, steps=img.steps)
    pl = img.placement.layers
    return [
        (NET.pack(n_layers=0, steps=6), None, RunError.BAD_LAYER_COUNT, 0),
        (NET.pack(n_layers=CFG.max_layers + 1, steps=6), None, RunError.BAD_LAYER_COUNT, 0),
        (NET.pack(n_layers=3, steps=0), None, RunError.BAD_STEPS, 0),
        (net, (0, {"n_in": CFG.max_inputs + 1}), RunError.BAD_SIZE, 0),
        (net, (2, {"n_out": 0}), RunError.BAD_SIZE, 2),
        (NET.pack(n_layers=4, steps=img.steps), None, RunError.BAD_SIZE, 3),
        (net, (2, {"n_in": 23}), RunError.BAD_CHAIN, 2),
        (net, (1, {"theta_low": 10, "theta_high": 9}), RunError.BAD_THRESHOLD, 1),
        (net, (2, {"beta": 300}), RunError.BAD_BETA, 2),
        (net, (0, {"slots_log2": 3}), RunError.BAD_SLOTS, 0),
        (net, (2, {"slots_log2": 1, "fold_log2": 2}), RunError.BAD_SLOTS, 2),   # 2 slots x 4 folds > 4 banks
        (net, (0, {"slots_log2": 0, "fold_log2": 7}), RunError.BAD_SLOTS, 0),
        # 2 folds of 1 bank: rows 32 -> 16 words a bank
        (net, (2, {"fold_log2": 1, "w_base": CFG.bank_depth - 16 + 1}), RunError.WEIGHT_OVERFLOW, 2),
        (net, (1, {"w_base": CFG.bank_depth - pl[1].bank_words + 1}), RunError.WEIGHT_OVERFLOW, 1),
        (net, (2, {"state_base": pl[2].state_base + 2}), RunError.STATE_OVERFLOW, 2),
        (net, (2, {"n_out": CFG.max_outputs + 1}), RunError.BAD_OUTPUTS, 2),
        (NET.pack(n_layers=2, steps=img.steps), None, RunError.BAD_OUTPUTS, 1),
        (net, (1, {"n_bias": 33}), RunError.BAD_BIAS, 1),
        (net, (0, {"in_mode": 3}), RunError.BAD_INPUT, 0),
        # the frames from NET.input_base past the input buffer's end; at its end: valid
        (NET.pack(n_layers=3, steps=img.steps, input_base=CFG.input_depth - input_span(img) + 1), None,
         RunError.BAD_STEPS, 0),
        (NET.pack(n_layers=3, steps=img.steps, input_base=CFG.input_depth - input_span(img)), None, 0, 0),
        (net, (0, {"in_mode": 2, "in_bits_code": 0}), 0, 0),   # rate-coded 1-bit input: valid
        (net, (1, {"in_mode": 1}), RunError.BAD_INPUT, 1),
        (net, (0, {"in_mode": 1, "in_bits_code": 3}), 0, 0),   # direct 8-bit input: valid
    ]


def test_each_error_code_and_layer():
    img = image3()
    seen = set()
    for net_word, change, code, layer in cases(img):
        table = table_with(img, change[0], **change[1]) if change else img.descriptors
        check = run_check(net_word, table, CFG)
        assert (check.code, check.layer) == (code, layer), (code, change, check)
        if code:
            assert check.cycles == (3 if code == RunError.BAD_LAYER_COUNT else layer + 6)
            seen.add(code)
    assert seen == set(RunError)


def test_folded_words_fit():
    """The weight-overflow check counts the folded rows: a 2-fold last layer ends at the bank's end."""
    img = image3()
    assert (img.placement.layers[2].slots, img.placement.layers[2].rows) == (2, 32)
    table = table_with(img, 2, fold_log2=1, w_base=CFG.bank_depth - 16)
    assert run_check(NET.pack(n_layers=3, steps=img.steps), table, CFG).ok
