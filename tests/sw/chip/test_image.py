"""The memory image (skyspike.chip.image): weight and input layouts against scalar unpacking."""
from __future__ import annotations

import os
import numpy as np
import pytest
from skyspike.spec.config import CONFIGS, CoreConfig, lanes_per_bank, subwords
from skyspike.chip.image import build_image, pack_inputs
from skyspike.chip.network import ChipLayer, ChipNetwork, place
from skyspike.chip.testing import random_network

SEED = int(os.environ.get("SEED", "20261122"))


def unpack_weight(cfg: CoreConfig, banks: np.ndarray, lp, bits: int, i: int, n: int) -> int:
    """Read W[i][n] back from bank words with the formula of docs/semantics.md."""
    lanes, sub = lanes_per_bank(bits), subwords(bits)
    w = i // 32
    s, r = w % lp.slots, (w // lp.slots) * 32 + i % 32
    F = lp.fold
    G = cfg.banks // lp.slots
    c, m = divmod(n, lp.chunk)
    g, p = divmod(m, lanes)
    word = int(banks[s * G + (r % F) * (G // F) + g, lp.w_base + (c // sub) * (lp.rows // F) + r // F])
    field = (word >> (((c % sub) * lanes + p) * bits)) & ((1 << bits) - 1)
    if bits == 1:
        return 1 if field else -1
    return field - (1 << bits) if field >> (bits - 1) else field


@pytest.mark.parametrize("config", ["small", "chip"])
def test_weight_layout_round_trip(config):
    cfg = CONFIGS[config]
    rng = np.random.default_rng(SEED)
    folded = 0
    for case in range(6):
        net = random_network(rng, cfg, max_width=300)
        img = build_image(net, cfg)
        banks = np.zeros((cfg.banks, cfg.bank_depth), np.uint32)
        banks[:, : img.weights.shape[1]] = img.weights
        for ly, lp in zip(net.layers, img.placement.layers):
            full = ly.weights_with_bias   # bias row j is input n_in + j
            pairs = [(i, n) for i in range(ly.n_in + ly.n_bias) for n in range(ly.n_out)]
            picks = list(rng.choice(len(pairs), size=min(400, len(pairs)), replace=False))
            picks += [k for k in range(len(pairs)) if pairs[k][0] >= ly.n_in][:200]
            for k in picks:
                i, n = pairs[k]
                assert unpack_weight(cfg, banks, lp, ly.bits, i, n) == full[i, n], (case, i, n)
            folded += lp.fold > 1
    assert folded, "no folded layer among the random networks"


def test_input_layout():
    cfg = CONFIGS["small"]
    rng = np.random.default_rng(SEED)
    net = ChipNetwork([ChipLayer(rng.integers(-2, 2, (100, 4)), bits=2)], steps=5)
    pl = place(net, cfg)
    x = rng.random((5, 100)) < 0.3
    words = pack_inputs(x, cfg, pl)
    for t in range(5):
        for i in range(100):
            w = i // 32
            word = int(words[w % cfg.input_banks, t * pl.input_words_per_bank + w // cfg.input_banks])
            assert bool(word >> (i % 32) & 1) == x[t, i]
