"""Chip networks and their placement (skyspike.chip.network): capacity, bias rows, and every
rejection path of the checks, naming the layer and the limit."""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS
from skyspike.chip.golden import run
from skyspike.chip.image import pack_inputs
from skyspike.chip.network import ChipLayer, ChipNetwork, NetworkError, place

SEED = int(os.environ.get("SEED", "20261122"))


def test_bias_placement_and_capacity():
    cfg = CONFIGS["small"]

    def net(n_bias):   # two 8-bit layers that fill the 256 words per bank exactly
        return ChipNetwork([ChipLayer(np.ones((64, 48), int), bits=8, slots=1),
                            ChipLayer(np.ones((48, 16), int), bits=8, slots=1,
                                      bias=np.ones((n_bias, 16), int))], 4)

    # Bias rows in the unused bits of the last input word are free; a new word costs a row block.
    for n_bias in (0, 1, 16):
        pl = place(net(n_bias), cfg)
        assert pl.weight_words == 256 and pl.layers[1].in_words == 2
    with pytest.raises(NetworkError, match="layer 1: weights need 288 words per bank"):
        place(net(17), cfg)
    # The layer's bitmap counts the bias inputs; the host's input buffer does not.
    bias_net = ChipNetwork([ChipLayer(np.ones((96, 8), int), bias=np.ones((5, 8), int))], 6)
    pl = place(bias_net, cfg)
    assert (pl.layers[0].in_words, pl.input_words, pl.input_words_per_bank) == (4, 3, 1)
    x = np.random.default_rng(SEED).random((6, 96)) < 0.5
    plain = place(ChipNetwork([ChipLayer(np.ones((96, 8), int))], 6), cfg)
    assert np.array_equal(pack_inputs(x, cfg, pl), pack_inputs(x, cfg, plain))
    # Bias rows come on top of the input limits, and never count against the input buffer
    # (on the chip with 512-word banks: the 256-word ones cannot hold these rows).
    chip = replace(CONFIGS["chip"], bank_depth=512)
    full = ChipNetwork([ChipLayer(np.ones((chip.max_inputs, 16), int), bits=2, bias=np.ones((32, 16), int)),
                        ChipLayer(np.ones((16, chip.max_neurons), int), bits=1, bias=np.ones((32, chip.max_neurons), int)),
                        ChipLayer(np.ones((chip.max_neurons, 10), int), bits=1, bias=np.ones((32, 10), int))], 32)
    full.check(chip)
    assert [lp.in_words for lp in place(full, chip).layers] == [33, 2, 17]
    full.steps = 33
    with pytest.raises(NetworkError, match="at most 32 steps for 1024 inputs"):
        full.check(chip)


@pytest.mark.parametrize("bias, match", [
    (np.ones((2, 2), int), r"bias must be a \(n_bias, n_out=3\) array, got shape \(2, 2\)"),
    (np.ones(3, int), "bias must be a"),
    (np.ones((33, 3), int), "layer 0: 33 bias rows; the core takes at most 32"),
    (np.full((2, 3), 8), "bias spans 8..8, outside 4-bit range"),
    (np.full((2, 3), 0.5), "bias must be integers"),
])
def test_bias_rejections(bias, match):
    with pytest.raises(NetworkError, match=match):
        ChipNetwork([ChipLayer(np.ones((4, 3), int), bits=4, bias=bias)], 4).check()
    assert MAX_BIAS_ROWS == 32


def test_bias_rejections_1bit():
    with pytest.raises(NetworkError, match=r"layer 1: bias spans -1..1, outside 1-bit range \{-1,\+1\}"):
        ChipNetwork([ChipLayer(np.ones((4, 3), int)),
                     ChipLayer(np.ones((3, 2), int), bits=1, bias=np.array([[1, 0], [-1, 1]]))], 4).check()
    ok = ChipNetwork([ChipLayer(np.ones((4, 3), int), bias=np.zeros((0, 3), int))], 4)   # zero rows: no bias
    ok.check(CONFIGS["small"])
    assert ok.layers[0].n_bias == 0


@pytest.mark.parametrize("change, match", [
    (dict(bits=3), "bits=3"),
    (dict(weights=np.full((4, 3), 9)), "outside 4-bit"),
    (dict(bits=1, weights=np.zeros((4, 3), int)), "1-bit"),
    (dict(beta=300), "beta=300"),
    (dict(theta_high=5, theta_low=6), "theta_low=6 > theta_high=5"),
    (dict(theta_high=40000), "signed 16-bit"),
    (dict(weights=np.ones((4, 3)) * 0.5), "integers"),
])
def test_layer_rejections(change, match):
    args = dict(weights=np.ones((4, 3), int), bits=4, theta_high=10)
    args.update(change)
    with pytest.raises(NetworkError, match=match):
        ChipNetwork([ChipLayer(**args)], steps=4).check()


def test_network_rejections_name_layer_and_limit():
    cfg = CONFIGS["small"]
    ok = np.ones((10, 10), int)
    with pytest.raises(NetworkError, match="layer 1: n_in=9 does not chain"):
        ChipNetwork([ChipLayer(ok), ChipLayer(np.ones((9, 3), int))], 4).check()
    with pytest.raises(NetworkError, match="layer 0: 200 inputs; the core takes at most 128"):
        ChipNetwork([ChipLayer(np.ones((200, 10), int))], 4).check(cfg)
    with pytest.raises(NetworkError, match="at most 4"):
        ChipNetwork([ChipLayer(ok)] * 5, 4).check(cfg)
    with pytest.raises(NetworkError, match="counts spikes of at most 16"):
        ChipNetwork([ChipLayer(np.ones((10, 20), int))], 4).check(cfg)
    with pytest.raises(NetworkError, match="words per bank"):
        ChipNetwork([ChipLayer(np.ones((128, 64), int), bits=8), ChipLayer(np.ones((64, 64), int), bits=8),
                     ChipLayer(np.ones((64, 16), int), bits=8)], 4).check(cfg)
    with pytest.raises(NetworkError, match="steps=0"):
        ChipNetwork([ChipLayer(ok)], 0).check(cfg)
    with pytest.raises(NetworkError, match="at most 32 steps for 1024 inputs"):
        ChipNetwork([ChipLayer(np.ones((1024, 10), int))], 40).check(CONFIGS["chip"])
    with pytest.raises(ValueError, match="shape"):
        run(ChipNetwork([ChipLayer(ok)], 4), np.zeros((1, 3, 10)))


def test_chip_capacity():
    """The chip configuration (32 x 1 KB banks, docs/memory-plan.md) holds MNIST 784-64-10 at
    4 bits and 784-128-10 at 2 bits, and no wider; at 1 bit 784-256-10 (the output layer is
    folded into 16 words a bank, docs/semantics.md "Weight layout across banks")."""
    cfg = CONFIGS["chip"]
    for hidden, bits in [(64, 4), (128, 2), (256, 1), (32, 8)]:
        net = ChipNetwork([ChipLayer(np.ones((784, hidden), int), bits=bits),
                           ChipLayer(np.ones((hidden, 10), int), bits=bits)], 8)
        assert place(net, cfg).weight_words <= cfg.bank_depth
        wider = ChipNetwork([ChipLayer(np.ones((784, hidden + 16), int), bits=bits),
                             ChipLayer(np.ones((hidden + 16, 10), int), bits=bits)], 8)
        with pytest.raises(NetworkError, match="words per bank"):
            place(wider, cfg)


@pytest.mark.parametrize("field, value, match", [
    ("reset_zero", 2, "reset_zero=2 must be a bool"),
    ("theta_high", 5.5, "theta_high=5.5 must be an integer"),
    ("beta", 200.0, "beta=200.0 must be an integer"),
    ("reset_sub", True, "reset_sub=True must be an integer"),
    ("bits", np.int64(4), None),
])
def test_field_types(field, value, match):
    """Types the golden model and the descriptor would read differently are refused
    (reset_zero=2 zero-resets in the golden model but sets another descriptor bit)."""
    ly = ChipLayer(np.ones((4, 3), int), bits=4, theta_high=5)
    setattr(ly, field, value)
    if match is None:
        ChipNetwork([ly], 4).check()
        return
    with pytest.raises(NetworkError, match=match):
        ChipNetwork([ly], 4).check()


def test_narrow_layers_fold():
    """64-128-10 at 4 bits on the chip: the 10-neuron layer (4 slots of 8 banks = 64 lanes) is
    folded 4 times (2 banks = 16 lanes a fold) and uses 8 words a bank instead of 32, with the
    same chunks; one weight's place by hand (docs/semantics.md, "Weight layout across banks")."""
    from skyspike.chip.image import build_image
    cfg = CONFIGS["chip"]
    w1 = np.zeros((128, 10), int)
    w1[77, 9] = 5
    net = ChipNetwork([ChipLayer(np.ones((64, 128), int), bits=4), ChipLayer(w1, bits=4)], 8)
    unfolded = ChipNetwork([ChipLayer(np.ones((64, 128), int), bits=4), ChipLayer(w1, bits=4, folds=1)], 8)
    pl, pl1 = place(net, cfg), place(unfolded, cfg)
    lp = pl.layers[1]
    assert (lp.slots, lp.fold, lp.chunks, lp.rows, lp.bank_words) == (4, 4, 1, 32, 8)
    assert (pl1.layers[1].fold, pl1.layers[1].chunks, pl1.layers[1].bank_words) == (1, 1, 32)
    assert (pl.weight_words, pl1.weight_words) == (40, 64)
    # Input 77: word 2 -> slot 2, row 0 * 32 + 13 = 13 -> fold 1, fold row 3; neuron 9: bank-in-fold 1, lane 1.
    # bank = 2 * 8 + 1 * 2 + 1 = 19; address = w_base 32 + 0 * 8 + 3 = 35; bits 4..7.
    img = build_image(net, cfg)
    assert lp.w_base == 32
    assert (int(img.weights[19, 35]) >> 4) & 0xF == 5
    assert np.count_nonzero(img.weights[:, 32:]) == 1
    # Folds too many for the slot group (4 slots x 16 folds > 32 banks), or not a power of two.
    with pytest.raises(NetworkError, match="folds=16 exceed"):
        place(ChipNetwork([ChipLayer(w1, bits=4, slots=4, folds=16)], 8), cfg)
    with pytest.raises(NetworkError, match="folds=3 must be None or a power of two"):
        ChipNetwork([ChipLayer(w1, bits=4, folds=3)], 8).check()


def test_folds_may_not_leave_chunks_narrower_than_the_update_lanes():
    """A layer of several chunks needs chunks of >= update_lanes neurons: 64 -> 19 at 1 bit on
    the chip (2 slots of 16 banks, 8 lanes a bank) folded 16 times has 3 chunks of 8 neurons,
    fewer than its 16 update lanes (the engine computed wrong spikes and cycles there, found by
    the gate-level energy runs); 8 folds (chunks of 16) are fine, and one chunk of 8 too."""
    cfg = CONFIGS["chip"]
    w = np.ones((64, 19), int)
    with pytest.raises(NetworkError, match="folds=16 leave chunks of 8 neurons, fewer than the core's 16 update "
                                           "lanes, and the layer needs 3 chunks: use at most 8 folds with 2 slots"):
        place(ChipNetwork([ChipLayer(w, bits=1, slots=2, folds=16)], 2), cfg)
    assert place(ChipNetwork([ChipLayer(w, bits=1, slots=2, folds=8)], 2), cfg).layers[0].chunks == 2
    assert place(ChipNetwork([ChipLayer(w[:, :8], bits=1, slots=2, folds=16)], 2), cfg).layers[0].chunks == 1
