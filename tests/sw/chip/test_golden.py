"""The golden model (skyspike.chip.golden) against an independent scalar implementation of
docs/semantics.md: neuron, leak rounding, hysteresis, bias rows, the cycle formula."""
from __future__ import annotations

import os
import numpy as np
from skyspike.spec.config import CONFIGS
from skyspike.chip.golden import dense_cycles, leak, run, scan_cycles
from skyspike.chip.network import ChipLayer, ChipNetwork, place
from skyspike.chip.testing import random_inputs, random_network

SEED = int(os.environ.get("SEED", "20261122"))


def scalar_run(net: ChipNetwork, x: np.ndarray):
    """One sample, neuron by neuron, straight from docs/semantics.md ("Inputs": a direct
    input's values weight layer 0's rows, its bias inputs are worth 2**bits - 1)."""
    state = [[(0, True, False) for _ in range(ly.n_out)] for ly in net.layers]
    spikes = [np.zeros((net.steps, ly.n_out), bool) for ly in net.layers]
    mems = [np.zeros((net.steps, ly.n_out), int) for ly in net.layers]
    levels = scalar_rate_levels(net) if net.input_mode == "rate" else None
    for t in range(net.steps):
        if levels is not None:   # rate coded: spike where the step's random level is below the value
            s = [int(levels[t][i] < x[i]) for i in range(len(x))]
        else:
            s = [int(v) for v in x] if net.direct else list(x[t])
        for i, ly in enumerate(net.layers):
            out = []
            on = (1 << net.input_bits) - 1 if i == 0 and net.direct else 1
            for n in range(ly.n_out):
                v, armed, fired = state[i][n]
                current = sum(int(ly.weights[j, n]) * int(s[j]) for j in range(ly.n_in))
                current += sum(int(ly.bias[j, n]) * on for j in range(ly.n_bias))  # always-on inputs
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


def scalar_rate_levels(net: ChipNetwork) -> list[list[int]]:
    """r_i(t) of docs/semantics.md "Inputs", one generator step at a time."""
    m32 = 0xFFFF_FFFF

    def xorshift(s):
        s ^= (s << 13) & m32
        s ^= s >> 17
        return s ^ ((s << 5) & m32)

    gens = [(net.seed ^ ((0x9E3779B9 * (k + 1)) & m32)) or 1 for k in range(4)]
    n_in, b = net.layers[0].n_in, net.input_bits
    rows = -(-(-(-n_in // 32)) // 4)
    levels = []
    for _ in range(net.steps):
        r = [0] * (rows * 4 * 32)
        for j in range(rows):
            for p in range(b):
                gens = [xorshift(g) for g in gens]
                for k in range(4):
                    for c in range(32):
                        r[32 * (4 * j + k) + c] |= (gens[k] >> c & 1) << (b - 1 - p)
        levels.append(r[:n_in])
    return levels


def test_golden_matches_scalar_reference():
    cfg = CONFIGS["small"]
    with_bias = direct = rate = 0
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
        direct += net.direct
        rate += net.input_mode == "rate"
    assert with_bias >= 5, "random_network hardly drew bias rows"
    assert direct >= 3 and rate >= 3, "random_network hardly drew graded inputs"


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


def test_cycles_formula_pieces():
    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(SEED)
    net = ChipNetwork([ChipLayer(rng.integers(-7, 8, (784, 64)), bits=4, theta_high=10 ** 4),
                       ChipLayer(rng.integers(-7, 8, (64, 10)), bits=4)], steps=8)
    pl = place(net, cfg)
    assert [lp.slots for lp in pl.layers] == [4, 4]
    silent = run(net, np.zeros((1, 8, 784)), cfg).cycles[0]
    # start + 2 checks + 3 verdict + flush and done; per step: layer 0: load, 1 chunk x (6 + 7 zero words in slot 0
    # of 25), 4 updates; layer 1: load, 1 chunk x (6 + 1 word), 1 update.
    assert silent == 1 + 2 + 3 + 2 + 8 * ((1 + (6 + 7) + 4) + (1 + (6 + 1) + 1))
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
    # start + 2 checks + 3 verdict + flush and done; per step and layer: load + (6 + spikes incl. bias in the one
    # word) + 1 update
    assert g.cycles[0] == 8 + (11 + 12) + (12 + 13) + (13 + 13)


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


def test_bias_cycles_formula():
    """The chip's 784-64-10 with bias rows of zero weights: the bias inputs cost scan cycles
    exactly like spikes at inputs n_in.. (all input spikes off)."""
    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(SEED)
    net = ChipNetwork([ChipLayer(rng.integers(-7, 8, (784, 64)), bits=4, theta_high=10 ** 4,
                                 bias=np.zeros((16, 64), int)),
                       ChipLayer(rng.integers(-7, 8, (64, 10)), bits=4, bias=np.zeros((20, 10), int))], steps=8)
    assert [lp.slots for lp in place(net, cfg).layers] == [4, 4]
    silent = run(net, np.zeros((1, 8, 784)), cfg).cycles[0]
    # Layer 0: 25 words, bits 16..31 of word 24 are the bias: slot 0 scans words 0, 4, .., 24
    # (6 empty + 16 bias spikes), the other slots six empty words. Layer 1: 3 words, word 2
    # holds 20 bias spikes: slot 2 scans it alone.
    assert silent == 1 + 2 + 3 + 2 + 8 * ((1 + (6 + 6 + 16) + 4) + (1 + (6 + 20) + 1))
