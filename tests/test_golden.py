"""The golden model, placement and image packing, checked against independent scalar
implementations of docs/semantics.md, and every rejection path of the network checks."""
from __future__ import annotations

import os

import numpy as np
import pytest

from skyspike.config import CONFIGS, CoreConfig, lanes_per_bank, subwords
from skyspike.golden import dense_cycles, leak, run, scan_cycles
from skyspike.image import build_image, pack_inputs
from skyspike.network import ChipLayer, ChipNetwork, NetworkError, place
from skyspike.testing import random_inputs, random_network

SEED = int(os.environ.get("SEED", "20261122"))


def scalar_run(net: ChipNetwork, x: np.ndarray):
    """One sample, neuron by neuron, straight from docs/semantics.md."""
    state = [[(0, True, False) for _ in range(ly.n_out)] for ly in net.layers]
    spikes = [np.zeros((net.steps, ly.n_out), bool) for ly in net.layers]
    mems = [np.zeros((net.steps, ly.n_out), int) for ly in net.layers]
    for t in range(net.steps):
        s = list(x[t])
        for i, ly in enumerate(net.layers):
            out = []
            for n in range(ly.n_out):
                v, armed, fired = state[i][n]
                current = sum(int(ly.weights[j, n]) for j in range(ly.n_in) if s[j])
                lk = (v * ly.beta + 128) // 256
                base = (0 if ly.reset_zero else lk - ly.reset_sub) if fired else lk
                v = min(32767, max(-32768, base + current))
                hyst = ly.theta_low < ly.theta_high
                spike = v >= ly.theta_high and (armed or not hyst)
                armed = (not spike and (armed or v < ly.theta_low)) if hyst else True
                state[i][n] = (v, armed, spike)
                spikes[i][t, n], mems[i][t, n] = spike, v
                out.append(spike)
            s = out
    return spikes, mems


def test_golden_matches_scalar_reference():
    cfg = CONFIGS["small"]
    for case in range(25):
        rng = np.random.default_rng([SEED, case])
        net = random_network(rng, cfg, max_width=40)
        x = random_inputs(rng, net, batch=2)
        g = run(net, x, cfg)
        for b in range(2):
            spikes, mems = scalar_run(net, x[b])
            for ly in range(len(net.layers)):
                assert np.array_equal(g.spikes[ly][b], spikes[ly]), f"seed {SEED} case {case} layer {ly}"
                assert np.array_equal(g.membranes[ly][b], mems[ly]), f"seed {SEED} case {case} layer {ly}"
        assert np.array_equal(g.counts, g.spikes[-1].sum(axis=1))


def test_leak_rounding():
    v = np.array([-32768, -3, -2, -1, 0, 1, 2, 3, 32767])
    assert np.array_equal(leak(v, 256), v)
    assert np.array_equal(leak(v, 0), np.zeros_like(v))
    assert leak(np.array([-1]), 128)[0] == 0 and leak(np.array([1]), 128)[0] == 1  # ties round up
    assert leak(np.array([-3]), 128)[0] == -1 and leak(np.array([3]), 128)[0] == 2


def test_hysteresis_blocks_refiring_until_below_theta_low():
    # One input neuron spiking every step into one output neuron, weight 7, beta 1:
    # V climbs 7, 14 (fires at >= 10, subtract 10) -> 11 (disarmed: no spike) ...
    layer = ChipLayer(np.array([[7]]), bits=4, beta=256, theta_high=10, theta_low=5, reset_sub=10)
    g = run(ChipNetwork([layer], steps=6), np.ones((1, 6, 1)))
    lif = ChipLayer(np.array([[7]]), bits=4, beta=256, theta_high=10, theta_low=10, reset_sub=10)
    g_lif = run(ChipNetwork([lif], steps=6), np.ones((1, 6, 1)))
    # LIF: 7, 14*, 11*, 8, 15*, 12*  (every step at or above 10 fires)
    assert g_lif.membranes[0][0, :, 0].tolist() == [7, 14, 11, 8, 15, 12]
    assert g_lif.spikes[0][0, :, 0].tolist() == [False, True, True, False, True, True]
    # Schmitt: fires at 14, then stays disarmed while V >= 5: 7, 14*, 11, 18, 25, ... never again
    assert g.membranes[0][0, :, 0].tolist() == [7, 14, 11, 18, 25, 32]
    assert g.spikes[0][0, :, 0].tolist() == [False, True, False, False, False, False]


def unpack_weight(cfg: CoreConfig, banks: np.ndarray, lp, bits: int, i: int, n: int) -> int:
    """Read W[i][n] back from bank words with the formula of docs/semantics.md."""
    lanes, sub = lanes_per_bank(bits), subwords(bits)
    w = i // 32
    s, r = w % lp.slots, (w // lp.slots) * 32 + i % 32
    c, m = divmod(n, lp.chunk)
    g, p = divmod(m, lanes)
    word = int(banks[s * (cfg.banks // lp.slots) + g, lp.w_base + (c // sub) * lp.rows + r])
    field = (word >> (((c % sub) * lanes + p) * bits)) & ((1 << bits) - 1)
    if bits == 1:
        return 1 if field else -1
    return field - (1 << bits) if field >> (bits - 1) else field


@pytest.mark.parametrize("config", ["small", "chip"])
def test_weight_layout_round_trip(config):
    cfg = CONFIGS[config]
    rng = np.random.default_rng(SEED)
    for case in range(6):
        net = random_network(rng, cfg, max_width=300)
        img = build_image(net, cfg)
        banks = np.zeros((cfg.banks, cfg.bank_depth), np.uint32)
        banks[:, : img.weights.shape[1]] = img.weights
        for ly, lp in zip(net.layers, img.placement.layers):
            pairs = [(i, n) for i in range(ly.n_in) for n in range(ly.n_out)]
            for k in rng.choice(len(pairs), size=min(400, len(pairs)), replace=False):
                i, n = pairs[k]
                assert unpack_weight(cfg, banks, lp, ly.bits, i, n) == ly.weights[i, n], (case, i, n)


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


def test_cycles_formula_pieces():
    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(SEED)
    net = ChipNetwork([ChipLayer(rng.integers(-7, 8, (784, 128)), bits=4, theta_high=10 ** 4),
                       ChipLayer(rng.integers(-7, 8, (128, 10)), bits=4)], steps=8)
    pl = place(net, cfg)
    assert [lp.slots for lp in pl.layers] == [2, 4]
    silent = run(net, np.zeros((1, 8, 784)), cfg).cycles[0]
    # start + 2 checks + done; per step: layer 0: load, 1 chunk x (2 + 13 zero words), 8 updates;
    # layer 1: load, 1 chunk x (2 + 1 word), 1 update.
    assert silent == 1 + 2 + 1 + 8 * ((1 + (2 + 13) + 8) + (1 + (2 + 1) + 1))
    bits = np.zeros((1, 64), bool)
    bits[0, [0, 1, 2, 40]] = True  # word 0: 3 spikes, word 1: 1 spike
    assert scan_cycles(bits, 1)[0] == 4 and scan_cycles(bits, 2)[0] == 3
    x = rng.random((50, 8, 784)) < 0.2
    assert (run(net, x, cfg).cycles < dense_cycles(net, cfg)).all()


def test_bad_core_configs():
    base = CONFIGS["small"].as_dict()
    for field, bad in [("banks", 6), ("bank_depth", 1000), ("max_slots", 8), ("update_lanes", 3),
                       ("max_neurons", 40), ("max_layers", 0), ("input_banks", 2), ("state_neurons", 30)]:
        with pytest.raises(ValueError, match=str(bad)):
            CoreConfig(**{**base, field: bad})


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
    """The chip configuration holds MNIST 784-128-10 at 4 bits (the throughput target network)."""
    cfg = CONFIGS["chip"]
    net = ChipNetwork([ChipLayer(np.ones((784, 128), int)), ChipLayer(np.ones((128, 10), int))], 8)
    pl = place(net, cfg)
    assert pl.weight_words <= cfg.bank_depth
    for hidden, bits in [(256, 2), (384, 1)]:  # wider at lower precision
        wide = ChipNetwork([ChipLayer(np.ones((784, hidden), int), bits=bits),
                            ChipLayer(np.ones((hidden, 10), int), bits=bits)], 8)
        assert place(wide, cfg).weight_words <= cfg.bank_depth


def test_memory_map_doc_is_current():
    from pathlib import Path

    from skyspike.memmap import check_fits, markdown

    for cfg in CONFIGS.values():
        check_fits(cfg)
    doc = Path(__file__).resolve().parent.parent / "docs" / "memory-map.md"
    assert doc.read_text() == markdown(CONFIGS["chip"]), "regenerate: python -m skyspike.memmap > docs/memory-map.md"


def test_network_file_round_trip_and_rejections(tmp_path):
    from skyspike.netfile import load_network, save_network

    rng = np.random.default_rng(SEED)
    net = random_network(rng, CONFIGS["small"])
    save_network(tmp_path / "n.npz", net)
    back = load_network(tmp_path / "n.npz")
    assert back.steps == net.steps
    for a, b in zip(net.layers, back.layers):
        assert np.array_equal(a.weights, b.weights)
        assert (a.bits, a.beta, a.theta_high, a.theta_low, a.reset_sub, a.reset_zero) == \
            (b.bits, b.beta, b.theta_high, b.theta_low, b.reset_sub, b.reset_zero)
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(NetworkError, match="malformed"):
        load_network(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", manifest=np.array('{"format": "x"}'))
    with pytest.raises(NetworkError, match="not a skyspike-chip-network"):
        load_network(tmp_path / "other.npz")
