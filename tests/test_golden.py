"""The golden model, placement and image packing, checked against independent scalar
implementations of docs/semantics.md, and every rejection path of the network checks."""
from __future__ import annotations

import os

import numpy as np
import pytest

from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS, CoreConfig, lanes_per_bank, subwords
from skyspike.chip.golden import dense_cycles, leak, run, scan_cycles
from skyspike.chip.image import build_image, pack_inputs
from skyspike.chip.network import ChipLayer, ChipNetwork, NetworkError, place
from skyspike.chip.testing import random_inputs, random_network

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
                current += sum(int(ly.bias[j, n]) for j in range(ly.n_bias))  # always-on inputs
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
    with_bias = 0
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
        with_bias += any(ly.n_bias for ly in net.layers)
    assert with_bias >= 5, "random_network hardly drew bias rows"


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
            full = ly.weights_with_bias   # bias row j is input n_in + j
            pairs = [(i, n) for i in range(ly.n_in + ly.n_bias) for n in range(ly.n_out)]
            picks = list(rng.choice(len(pairs), size=min(400, len(pairs)), replace=False))
            picks += [k for k in range(len(pairs)) if pairs[k][0] >= ly.n_in][:200]
            for k in picks:
                i, n = pairs[k]
                assert unpack_weight(cfg, banks, lp, ly.bits, i, n) == full[i, n], (case, i, n)


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


def test_bias_hand_computed():
    """Bias rows by hand: 2 inputs + 3 bias rows (sums 6, -4) -> 2 neurons, then a 1-bit layer
    2 + 4 bias rows (sum +2) -> 1 neuron; cycles with the bias inputs scanned as spikes."""
    l0 = ChipLayer(np.array([[3, -2], [1, 4]]), bits=4, theta_high=10,
                   bias=np.array([[2, -1], [5, -3], [-1, 0]]))
    l1 = ChipLayer(np.array([[1], [-1]]), bits=1, theta_high=3, bias=np.array([[1], [1], [1], [-1]]))
    x = np.array([[0, 0], [1, 0], [1, 1]])
    g = run(ChipNetwork([l0, l1], 3), x, CONFIGS["small"])
    # neuron 0: 0+6 = 6; 6+3+6 = 15*; (15-10)+3+1+6 = 15*.  neuron 1: -4; -4-2-4 = -10; -10-2+4-4 = -12
    assert g.membranes[0][0].T.tolist() == [[6, 15, 15], [-4, -10, -12]]
    assert g.spikes[0][0].T.tolist() == [[False, True, True], [False, False, False]]
    # layer 1 sees (0,0), (1,0), (1,0): 0+2 = 2; 2+1+2 = 5*; (5-3)+1+2 = 5*
    assert g.membranes[1][0].T.tolist() == [[2, 5, 5]] and g.counts[0].tolist() == [2]
    # start + 2 checks + done; per step and layer: load + (2 + spikes incl. bias in the one word) + 1 update
    assert g.cycles[0] == 4 + (7 + 8) + (8 + 9) + (9 + 9)


def test_bias_equals_always_on_inputs():
    """A layer with bias rows computes what the same layer computes with those rows as real
    inputs that spike at every step: spikes, membranes and cycles."""
    cfg = CONFIGS["small"]
    rng = np.random.default_rng(SEED)
    for case in range(20):
        n_bias = int(rng.choice([1, 5, 31, 32]))
        n_in = int(rng.integers(1, cfg.max_inputs - n_bias + 1))
        net = random_network(rng, cfg, max_layers=1)
        ly = net.layers[0]
        bits = ly.bits
        w = np.where(rng.random((n_in, ly.n_out)) < 0.5, 1, -1) if bits == 1 else \
            rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (n_in, ly.n_out))
        b = np.where(rng.random((n_bias, ly.n_out)) < 0.5, 1, -1) if bits == 1 else \
            rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (n_bias, ly.n_out))
        args = dict(bits=bits, beta=ly.beta, theta_high=ly.theta_high, theta_low=ly.theta_low,
                    reset_sub=ly.reset_sub, reset_zero=ly.reset_zero, slots=ly.slots)
        biased = ChipNetwork([ChipLayer(w, bias=b, **args)], net.steps)
        explicit = ChipNetwork([ChipLayer(np.concatenate([w, b]), **args)], net.steps)
        x = rng.random((3, net.steps, n_in)) < rng.uniform(0, 0.5)
        g = run(biased, x, cfg)
        e = run(explicit, np.concatenate([x, np.ones((3, net.steps, n_bias), bool)], axis=2), cfg)
        assert np.array_equal(g.membranes[0], e.membranes[0]), case
        assert np.array_equal(g.spikes[0], e.spikes[0]), case
        assert np.array_equal(g.cycles, e.cycles), case


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
    # Bias rows come on top of the input limits, and never count against the input buffer.
    chip = CONFIGS["chip"]
    full = ChipNetwork([ChipLayer(np.ones((chip.max_inputs, 16), int), bits=2, bias=np.ones((32, 16), int)),
                        ChipLayer(np.ones((16, chip.max_neurons), int), bits=1, bias=np.ones((32, chip.max_neurons), int)),
                        ChipLayer(np.ones((chip.max_neurons, 10), int), bits=1, bias=np.ones((32, 10), int))], 32)
    full.check(chip)
    assert [lp.in_words for lp in place(full, chip).layers] == [33, 2, 17]
    full.steps = 33
    with pytest.raises(NetworkError, match="at most 32 steps for 1024 inputs"):
        full.check(chip)


def test_bias_cycles_formula():
    """The chip's 784-128-10 with bias rows of zero weights: the bias inputs cost scan cycles
    exactly like spikes at inputs n_in.. (all input spikes off)."""
    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(SEED)
    net = ChipNetwork([ChipLayer(rng.integers(-7, 8, (784, 128)), bits=4, theta_high=10 ** 4,
                                 bias=np.zeros((16, 128), int)),
                       ChipLayer(rng.integers(-7, 8, (128, 10)), bits=4, bias=np.zeros((20, 10), int))], steps=8)
    assert [lp.slots for lp in place(net, cfg).layers] == [2, 4]
    silent = run(net, np.zeros((1, 8, 784)), cfg).cycles[0]
    # Layer 0: 25 words, bits 16..31 of word 24 are the bias: slot 0 scans words 0, 2, .., 24
    # (12 empty + 16 bias spikes), slot 1 twelve empty words. Layer 1: 5 words, word 4 holds
    # 20 bias spikes: slot 0 scans word 0 (empty) and word 4.
    assert silent == 1 + 2 + 1 + 8 * ((1 + (2 + 12 + 16) + 8) + (1 + (2 + 1 + 20) + 1))


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

    from skyspike.apps.docgen import markdown
    from skyspike.spec.memmap import check_fits

    for cfg in CONFIGS.values():
        check_fits(cfg)
    doc = Path(__file__).resolve().parent.parent / "docs" / "memory-map.md"
    assert doc.read_text() == markdown(CONFIGS["chip"]), "regenerate: python -m skyspike.apps.docgen > docs/memory-map.md"


def test_network_file_round_trip_and_rejections(tmp_path):
    from skyspike.chip.netfile import load_network, save_network

    rng = np.random.default_rng(SEED)
    net = random_network(rng, CONFIGS["small"], max_layers=3)
    net.layers[0].bias = np.ones((3, net.layers[0].n_out), int)
    net.layers[-1].bias = None
    save_network(tmp_path / "n.npz", net)
    back = load_network(tmp_path / "n.npz")
    assert back.steps == net.steps
    for a, b in zip(net.layers, back.layers):
        assert np.array_equal(a.weights, b.weights)
        assert (a.bits, a.beta, a.theta_high, a.theta_low, a.reset_sub, a.reset_zero) == \
            (b.bits, b.beta, b.theta_high, b.theta_low, b.reset_sub, b.reset_zero)
        assert (a.bias is None) == (b.bias is None) and (a.bias is None or np.array_equal(a.bias, b.bias))
    # A version-1 file (before bias rows) still loads, without bias.
    import json
    manifest = {"format": "skyspike-chip-network", "version": 1, "steps": 3,
                "layers": [dict(bits=4, beta=256, theta_high=5, theta_low=5, reset_sub=5, reset_zero=False, slots=None)]}
    np.savez(tmp_path / "v1.npz", manifest=np.array(json.dumps(manifest)), weights_0=np.ones((4, 2), np.int8))
    v1 = load_network(tmp_path / "v1.npz")
    assert v1.layers[0].bias is None and v1.layers[0].n_in == 4
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(NetworkError, match="malformed"):
        load_network(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", manifest=np.array('{"format": "x"}'))
    with pytest.raises(NetworkError, match="not a skyspike-chip-network"):
        load_network(tmp_path / "other.npz")
