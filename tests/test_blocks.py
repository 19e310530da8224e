# amaranth: UnusedElaboratable=no
"""Block tests of the engine's pieces on Amaranth's own simulator, against the golden model
and the placement code, plus a whole-core test of the run-time descriptor checks (cocotb).

* NeuronLane       vs skyspike.chip.golden.run (its per-step loop body, and golden.run itself)
* DescriptorDecode vs skyspike.chip.network._derive/place, skyspike.chip.image.encode_descriptor and
                   the rules of skyspike.spec.memmap.ERRORS
* SpikeScanner     vs the bitmap layout (docs/semantics.md) and skyspike.chip.golden.scan_cycles
* run-time errors  through the generated 'small' core (tests/tb_blocks.py)

Every randomized test prints its seed; SEED=<n> replays it.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from simrun import run_cocotb
from skyspike.chip import golden
from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS, PRECISIONS, CoreConfig, log2
from skyspike.chip.image import encode_descriptor
from skyspike.spec.memmap import ERROR_CODE, ERRORS
from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipLayer, ChipNetwork, _derive, place
from skyspike.chip.testing import random_network
from skyspike_hw.descriptor import STORED_WORDS, DescriptorDecode
from skyspike_hw.gen import write as write_verilog
from skyspike_hw.neuron import NeuronLane
from skyspike_hw.scanner import SpikeScanner

BUILD = Path(__file__).resolve().parent.parent / "build" / "tests"


def pick_seed() -> int:
    """$SEED if set (to replay a failure), else a fresh random seed; printed either way."""
    seed = int(os.environ.get("SEED") or random.randrange(2**32))
    print(f"SEED={seed}")
    return seed


def simulate(top, bench, clock: bool = False) -> None:
    """Run one async testbench ``bench(ctx)`` on ``top`` (with a sync clock if asked)."""
    sim = Simulator(top)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def clamp16(x: int) -> int:
    return max(INT16_MIN, min(INT16_MAX, x))


# =========================================================================================
# 1. NeuronLane
# =========================================================================================

def ref_base(v: int, fired: bool, beta: int, reset_sub: int, reset_zero: bool) -> int:
    """Membrane before the current: golden.run's `lk`, `after_spike`, `base` lines."""
    lk = int(golden.leak(np.int64(v), beta))
    after_spike = 0 if reset_zero else lk - reset_sub
    return after_spike if fired else lk


def ref_step(first, v, armed, fired, current, beta, theta_high, theta_low, reset_sub, reset_zero):
    """One neuron, one step: the body of golden.run's layer loop on scalars.

    ``first`` replaces the stored state by the inference's initial one (golden.run's
    np.zeros / np.ones / np.zeros). golden.run never updates `armed` of a layer without
    hysteresis, so it stays at its initial True; docs/semantics.md writes that as armed = 1.
    """
    if first:
        v, armed, fired = 0, True, False
    v = clamp16(ref_base(v, fired, beta, reset_sub, reset_zero) + current)
    hysteresis = theta_low < theta_high
    fire = v >= theta_high and (armed or not hysteresis)
    armed = (not fire and (armed or v < theta_low)) if hysteresis else True
    return v, bool(armed), bool(fire)


LANE_INPUTS = ("first", "v_in", "armed_in", "fired_in", "current", "beta", "theta_high",
               "theta_low", "reset_sub", "reset_zero")


def run_lane(acc_bits: int, vectors: list[dict]) -> list[tuple[int, bool, bool]]:
    """(v_out, armed_out, spike) of a NeuronLane for each input vector, in one simulation."""
    dut = NeuronLane(acc_bits)
    out = []

    async def bench(ctx):
        for vec in vectors:
            for name in LANE_INPUTS:
                ctx.set(getattr(dut, name), int(vec[name]))
            out.append((ctx.get(dut.v_out), bool(ctx.get(dut.armed_out)), bool(ctx.get(dut.spike))))

    simulate(dut, bench)
    return out


def check_lane(acc_bits: int, vectors: list[dict], expected: list[tuple] | None = None) -> list[tuple]:
    """Compare the lane with ref_step (and with ``expected`` where given); returns the outputs."""
    got = run_lane(acc_bits, vectors)
    errors = []
    for i, (vec, g) in enumerate(zip(vectors, got)):
        want = ref_step(**{k: vec[k] for k in ("first", "current", "beta", "theta_high", "theta_low",
                                              "reset_sub", "reset_zero")},
                        v=vec["v_in"], armed=vec["armed_in"], fired=vec["fired_in"])
        if expected is not None:
            assert tuple(want) == tuple(expected[i]), f"reference disagrees with the hand value: {vec}"
        if tuple(g) != tuple(want):
            errors.append(f"vector {i} {vec}: (v_out, armed_out, spike) got {g} expected {want}")
    assert not errors, f"{len(errors)} of {len(vectors)} mismatches:\n" + "\n".join(errors[:15])
    return got


def lane_vector(**kw) -> dict:
    vec = dict(first=0, v_in=0, armed_in=1, fired_in=0, current=0, beta=256, theta_high=1000,
               theta_low=1000, reset_sub=1000, reset_zero=0)
    vec.update(kw)
    return vec


def random_lane_vectors(rng: np.random.Generator, acc_bits: int, n: int) -> list[dict]:
    amin, amax = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    rails = [INT16_MIN, INT16_MIN + 1, -1, 0, 1, INT16_MAX - 1, INT16_MAX]

    def pick(special, lo, hi, p=0.3):
        return int(rng.choice(special)) if rng.random() < p else int(rng.integers(lo, hi + 1))

    vectors = []
    for _ in range(n):
        th = pick(rails, INT16_MIN, INT16_MAX)
        if rng.random() < 0.4 or th == INT16_MIN:
            tl = th
        else:
            tl = pick([th - 1, INT16_MIN], INT16_MIN, th - 1)
        vec = dict(first=int(rng.random() < 0.2), v_in=pick(rails, INT16_MIN, INT16_MAX),
                   armed_in=int(rng.integers(2)), fired_in=int(rng.integers(2)),
                   beta=pick([0, 1, 127, 128, 129, 255, 256], 0, 256), theta_high=th, theta_low=tl,
                   reset_sub=pick(rails + [th], INT16_MIN, INT16_MAX), reset_zero=int(rng.integers(2)))
        r = rng.random()
        if r < 0.35:   # aim V exactly at (or next to) a rail or a threshold
            v0, f0 = (0, False) if vec["first"] else (vec["v_in"], bool(vec["fired_in"]))
            base = ref_base(v0, f0, vec["beta"], vec["reset_sub"], bool(vec["reset_zero"]))
            target = int(rng.choice([INT16_MAX, INT16_MIN, th, tl])) + int(rng.integers(-2, 3))
            vec["current"] = min(amax, max(amin, target - base))
        elif r < 0.5:
            vec["current"] = int(rng.choice([amin, amax, amin + 1, amax - 1, 0, 65535, -65535, 65536, -65536]))
            vec["current"] = min(amax, max(amin, vec["current"]))
        elif r < 0.75:
            vec["current"] = int(rng.integers(amin, amax + 1))
        else:
            vec["current"] = int(rng.integers(-300, 301))
        vectors.append(vec)
    return vectors


@pytest.mark.parametrize("config", ["small", "chip"])
def test_neuron_lane_random(config):
    acc_bits = CONFIGS[config].acc_bits
    seed = pick_seed()
    vectors = random_lane_vectors(np.random.default_rng(seed), acc_bits, 3000)
    got = check_lane(acc_bits, vectors)
    # The draw must have reached the interesting regions (else the test proves little).
    v_out = [g[0] for g in got]
    hyst_blocked = sum(1 for vec, g in zip(vectors, got) if vec["theta_low"] < vec["theta_high"]
                       and g[0] >= vec["theta_high"] and not g[2])
    assert v_out.count(INT16_MAX) > 20 and v_out.count(INT16_MIN) > 20, "rails not reached"
    assert sum(g[2] for g in got) > 100 and hyst_blocked > 20, "spikes / disarmed neurons not reached"
    assert sum(1 for vec, g in zip(vectors, got) if g[0] == vec["theta_low"]) > 20, "theta_low not hit"


def test_neuron_lane_directed():
    acc_bits = CONFIGS["small"].acc_bits
    amax = (1 << (acc_bits - 1)) - 1
    quiet = dict(theta_high=INT16_MAX, theta_low=INT16_MAX)
    cases = [
        # leak of -1: (-1 * beta + 128) >> 8
        (lane_vector(v_in=-1, beta=256, **quiet), (-1, True, False)),
        (lane_vector(v_in=-1, beta=255, **quiet), (-1, True, False)),
        (lane_vector(v_in=-1, beta=128, **quiet), (0, True, False)),
        (lane_vector(v_in=-1, beta=0, **quiet), (0, True, False)),
        (lane_vector(v_in=1, beta=128, **quiet), (1, True, False)),      # tie rounds up
        (lane_vector(v_in=1, beta=127, **quiet), (0, True, False)),
        (lane_vector(v_in=-3, beta=128, **quiet), (-1, True, False)),    # -1.5 -> -1 (ties up)
        (lane_vector(v_in=INT16_MIN, beta=256, **quiet), (INT16_MIN, True, False)),
        (lane_vector(v_in=INT16_MAX, beta=255, **quiet), (32639, True, False)),
        # saturation at both rails
        (lane_vector(v_in=INT16_MAX, current=1), (INT16_MAX, True, True)),
        (lane_vector(v_in=INT16_MAX, current=amax, **quiet), (INT16_MAX, True, True)),
        (lane_vector(v_in=INT16_MIN, current=-1), (INT16_MIN, True, False)),
        (lane_vector(v_in=INT16_MIN, current=-amax - 1), (INT16_MIN, True, False)),
        (lane_vector(v_in=INT16_MAX, fired_in=1, reset_sub=INT16_MIN, **quiet), (INT16_MAX, True, True)),
        (lane_vector(v_in=INT16_MIN, fired_in=1, reset_sub=INT16_MAX), (INT16_MIN, True, False)),
        (lane_vector(v_in=INT16_MIN, current=amax), (INT16_MAX, True, True)),
        (lane_vector(v_in=INT16_MAX, current=-amax - 1), (INT16_MIN, True, False)),
        # theta_low == theta_high: no hysteresis, a disarmed flag never blocks, armed_out = 1
        (lane_vector(v_in=1000, armed_in=0, theta_high=1000, theta_low=1000), (1000, True, True)),
        (lane_vector(v_in=999, armed_in=0, theta_high=1000, theta_low=1000), (999, True, False)),
        (lane_vector(v_in=INT16_MIN, armed_in=0, theta_high=INT16_MIN, theta_low=INT16_MIN),
         (INT16_MIN, True, True)),
        # hysteresis: disarmed above theta_high must not fire
        (lane_vector(v_in=1500, armed_in=0, theta_low=500), (1500, False, False)),
        (lane_vector(v_in=INT16_MAX, current=5, armed_in=0, theta_low=500), (INT16_MAX, False, False)),
        (lane_vector(v_in=1000, armed_in=1, theta_low=500), (1000, False, True)),
        # re-arm: V < theta_low re-arms (without firing), V == theta_low does not
        (lane_vector(v_in=500, armed_in=0, theta_low=500), (500, False, False)),
        (lane_vector(v_in=499, armed_in=0, theta_low=500), (499, True, False)),
        (lane_vector(v_in=600, current=-101, armed_in=0, theta_low=500), (499, True, False)),
        (lane_vector(v_in=INT16_MIN, armed_in=0, theta_high=INT16_MAX, theta_low=INT16_MIN + 1),
         (INT16_MIN, True, False)),
        # resets at the step after a spike
        (lane_vector(v_in=1200, fired_in=1, reset_sub=1000), (200, True, False)),
        (lane_vector(v_in=1200, fired_in=1, reset_zero=1, reset_sub=1000, current=7), (7, True, False)),
        (lane_vector(v_in=1200, fired_in=1, reset_zero=1, current=1000), (1000, True, True)),
        (lane_vector(v_in=100, fired_in=1, beta=128, reset_sub=-200, current=3), (253, True, False)),
        # first: stored state ignored (V=0, armed, not fired)
        (lane_vector(first=1, v_in=-20000, armed_in=0, fired_in=1, reset_zero=1, current=1000,
                     theta_low=500), (1000, False, True)),
        (lane_vector(first=1, v_in=INT16_MAX, fired_in=1, reset_sub=-5, current=0, beta=256,
                     theta_high=0, theta_low=0), (0, True, True)),
    ]
    check_lane(acc_bits, [c[0] for c in cases], [c[1] for c in cases])


@pytest.mark.parametrize("config", ["small", "chip"])
def test_neuron_lane_trajectories_vs_golden_run(config):
    """Whole trajectories of one-layer networks through golden.run itself: the lane's outputs
    are fed back as its stored state at the next step, exactly as the engine does."""
    acc_bits = CONFIGS[config].acc_bits
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    steps, n_out = 24, 3
    want, nets = [], []
    # Two fixed kinds first (a Schmitt neuron that keeps firing; one pinned at the upper
    # rail with theta_high there too), then random ones.
    kinds = [dict(th=400, tl=100, beta=250, excitatory=True, density=0.5),
             dict(th=INT16_MAX, tl=INT16_MAX - 1000, beta=256, excitatory=True, density=1.0)]
    for k in range(14):
        n_in = int(rng.integers(100, 320)) if k < len(kinds) else int(rng.integers(1, 320))
        th = int(rng.choice([int(rng.integers(0, 3000)), int(rng.integers(0, 3000)),
                             int(rng.integers(INT16_MIN, INT16_MAX + 1)), INT16_MAX]))
        kind = kinds[k] if k < len(kinds) else dict(
            th=th, tl=th if rng.random() < 0.4 else int(rng.integers(INT16_MIN, th + 1)),
            beta=int(rng.choice([256, 255, 0, int(rng.integers(0, 257))])),
            excitatory=rng.random() < 0.7, density=rng.uniform(0, 1))
        weights = rng.integers(-128, 128, size=(n_in, n_out))
        if kind["excitatory"]:   # spikes, and membranes driven to the upper rail
            weights = np.abs(weights).clip(0, 127)
        ly = ChipLayer(weights, bits=8, beta=kind["beta"], theta_high=kind["th"], theta_low=kind["tl"],
                       reset_sub=int(rng.choice([kind["th"], int(rng.integers(-5000, 5000))])),
                       reset_zero=bool(rng.random() < 0.4))
        x = rng.random((steps, n_in)) < kind["density"]
        gold = golden.run(ChipNetwork([ly], steps), x)
        nets.append((ly, x @ ly.weights.astype(np.int64)))
        want.append((gold.membranes[0][0], gold.spikes[0][0]))
    dut = NeuronLane(acc_bits)
    errors = []

    async def bench(ctx):
        for k, (ly, current) in enumerate(nets):
            for n in range(n_out):
                v, armed, fired = 0, 1, 0
                for t in range(steps):
                    for name, value in (("first", t == 0), ("v_in", v), ("armed_in", armed),
                                        ("fired_in", fired), ("current", current[t, n]), ("beta", ly.beta),
                                        ("theta_high", ly.theta_high), ("theta_low", ly.theta_low),
                                        ("reset_sub", ly.reset_sub), ("reset_zero", ly.reset_zero)):
                        ctx.set(getattr(dut, name), int(value))
                    v, armed, fired = ctx.get(dut.v_out), ctx.get(dut.armed_out), ctx.get(dut.spike)
                    gv, gs = int(want[k][0][t, n]), bool(want[k][1][t, n])
                    if (v, bool(fired)) != (gv, gs):
                        errors.append(f"net {k} neuron {n} step {t}: (V, spike) got {(v, bool(fired))} "
                                      f"golden {(gv, gs)} [{ly.beta=} {ly.theta_high=} {ly.theta_low=} "
                                      f"{ly.reset_sub=} {ly.reset_zero=}]")
                        break
    simulate(dut, bench)
    assert not errors, "\n".join(errors[:10])
    assert sum(int(s.sum()) for _, s in want) > 20, "the drawn networks hardly spiked"
    assert any((m == INT16_MAX).any() for m, _ in want), "no membrane reached the rail"


# =========================================================================================
# 2. DescriptorDecode
# =========================================================================================

@dataclass(frozen=True)
class Desc:
    """One descriptor's fields (as a driver would mean them) and the decoder's context."""
    n_in: int
    n_out: int
    bits: int
    slots: int
    reset_zero: bool
    w_base: int
    state_base: int
    beta: int
    theta_high: int
    theta_low: int
    reset_sub: int
    first: bool
    last: bool
    prev_n_out: int
    steps: int
    n_bias: int = 0

    def words(self) -> list[int]:
        """Descriptor words 0..6, packed by the spec's own skyspike.chip.image.encode_descriptor."""
        ly = SimpleNamespace(n_in=self.n_in, n_out=self.n_out, bits=self.bits, reset_zero=self.reset_zero,
                             beta=self.beta, theta_high=self.theta_high, theta_low=self.theta_low,
                             reset_sub=self.reset_sub, n_bias=self.n_bias)
        lp = SimpleNamespace(slots=self.slots, w_base=self.w_base, state_base=self.state_base)
        return encode_descriptor(ly, lp)[:STORED_WORDS]


def network_descs(net: ChipNetwork, cfg: CoreConfig) -> list[tuple[Desc, object]]:
    """(Desc, LayerPlacement) of every layer of a network that fits ``cfg``."""
    pl = place(net, cfg)
    out = []
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        out.append((Desc(ly.n_in, ly.n_out, ly.bits, lp.slots, ly.reset_zero, lp.w_base, lp.state_base,
                         ly.beta, ly.theta_high, ly.theta_low, ly.reset_sub, first=i == 0,
                         last=i == len(net.layers) - 1, prev_n_out=net.layers[i - 1].n_out if i else 0,
                         steps=net.steps, n_bias=ly.n_bias), lp))
    return out


def broken_rules(cfg: CoreConfig, d: Desc) -> list[int]:
    """Every rule of memmap.ERRORS (codes 2..11, in order) that ``d`` breaks, written from the
    ERRORS texts with the limits of network.place() and the sizes of network._derive()."""
    codes = []
    in_words = -(-d.n_in // 32)   # the input buffer holds the real inputs only
    if d.first and (d.steps == 0 or d.steps * -(-in_words // cfg.input_banks) > cfg.input_depth):
        codes.append(ERROR_CODE["BAD_STEPS"])
    max_in = cfg.max_inputs if d.first else cfg.max_neurons
    if d.n_in == 0 or d.n_out == 0 or d.n_in > max_in or d.n_out > cfg.max_neurons:
        codes.append(ERROR_CODE["BAD_SIZE"])
    if not d.first and d.n_in != d.prev_n_out:
        codes.append(ERROR_CODE["BAD_CHAIN"])
    if d.theta_low > d.theta_high:
        codes.append(ERROR_CODE["BAD_THRESHOLD"])
    if d.beta > 256:
        codes.append(ERROR_CODE["BAD_BETA"])
    if d.slots > cfg.max_slots:
        codes.append(ERROR_CODE["BAD_SLOTS"])
    elif d.w_base + _derive(cfg, d.n_in, d.n_out, d.bits, d.slots, d.w_base, d.state_base, d.n_bias).bank_words \
            > cfg.bank_depth:
        codes.append(ERROR_CODE["WEIGHT_OVERFLOW"])
    lanes = cfg.update_lanes
    if d.state_base % lanes or d.state_base + -(-d.n_out // lanes) * lanes > cfg.state_neurons:
        codes.append(ERROR_CODE["STATE_OVERFLOW"])
    if d.last and d.n_out > cfg.max_outputs:
        codes.append(ERROR_CODE["BAD_OUTPUTS"])
    if d.n_bias > MAX_BIAS_ROWS:
        codes.append(ERROR_CODE["BAD_BIAS"])
    return codes


DECODE_RAW = ("n_in", "n_out", "bits_code", "slots_log2", "reset_zero", "n_bias", "w_base", "state_base",
              "beta", "theta_high", "theta_low", "reset_sub")
DECODE_DERIVED = ("chunks", "rows", "in_words", "in_words_per_bank", "chunk_log2", "sub_log2", "lanes_log2",
                  "group_log2", "tail_word", "tail_mask", "tail_bias", "next_bias")


def scan_masks(n_in: int, n_bias: int) -> dict:
    """tail_word/tail_mask/tail_bias/next_bias from their definition (DescriptorDecode's
    docstring): word n_in // 32 keeps the bits of inputs < n_in and gets those of the bias
    inputs n_in .. n_in + n_bias - 1 that it holds; the next word gets the rest."""
    tail = n_in // 32
    words = [0, 0]
    for i in range(n_in, n_in + n_bias):
        words[i // 32 - tail] |= 1 << (i % 32)
    mask = sum(1 << b for b in range(32) if 32 * tail + b < n_in)
    return dict(tail_word=tail, tail_mask=mask, tail_bias=words[0], next_bias=words[1])


def run_decode(cfg: CoreConfig, descs: list[Desc]) -> list[dict]:
    """All outputs of a DescriptorDecode for each descriptor, in one simulation."""
    dut = DescriptorDecode(cfg)
    out = []

    async def bench(ctx):
        for d in descs:
            ctx.set(dut.words, sum(w << (32 * j) for j, w in enumerate(d.words())))
            ctx.set(dut.first, d.first)
            ctx.set(dut.last, d.last)
            ctx.set(dut.prev_n_out, d.prev_n_out)
            ctx.set(dut.steps, d.steps)
            out.append({name: ctx.get(getattr(dut, name)) for name in DECODE_RAW + DECODE_DERIVED + ("error",)})

    simulate(dut, bench)
    return out


def expected_decode(cfg: CoreConfig, d: Desc) -> dict:
    """Raw fields and the placement of network._derive for a valid descriptor."""
    lp = _derive(cfg, d.n_in, d.n_out, d.bits, d.slots, d.w_base, d.state_base, d.n_bias)
    return dict(n_in=d.n_in, n_out=d.n_out, bits_code=PRECISIONS.index(d.bits), slots_log2=log2(d.slots),
                reset_zero=int(d.reset_zero), n_bias=d.n_bias, w_base=d.w_base, state_base=d.state_base,
                beta=d.beta, theta_high=d.theta_high, theta_low=d.theta_low, reset_sub=d.reset_sub,
                chunks=lp.chunks, rows=lp.rows, in_words=lp.in_words,
                in_words_per_bank=-(-ceil_div(d.n_in, 32) // cfg.input_banks), chunk_log2=log2(lp.chunk),
                sub_log2=log2(lp.subwords), lanes_log2=log2(lp.lanes), group_log2=log2(lp.group_banks),
                **scan_masks(d.n_in, d.n_bias), error=0)


def random_valid_network(rng: np.random.Generator, cfg: CoreConfig) -> ChipNetwork:
    """skyspike.chip.testing.random_network, with the step count sometimes at the input buffer's limit."""
    net = random_network(rng, cfg)
    per_bank = place(net, cfg).input_words_per_bank
    net.steps = int(rng.choice([net.steps, 1, min(255, cfg.input_depth // per_bank)]))
    return net


@pytest.mark.parametrize("config", ["small", "chip"])
def test_descriptor_decode_valid_layers(config):
    cfg = CONFIGS[config]
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    descs = list(base_descs(cfg))   # n_in a multiple of 32
    for _ in range(120):
        net = random_valid_network(rng, cfg)
        pl = place(net, cfg)
        for d, lp in network_descs(net, cfg):
            assert broken_rules(cfg, d) == [], f"place() accepted a layer that breaks a rule: {d}"
            if d.first:
                assert ceil_div(ceil_div(d.n_in, 32), cfg.input_banks) == pl.input_words_per_bank
            assert lp.in_words == ceil_div(d.n_in + d.n_bias, 32)
            descs.append(d)
    # Bias rows at every offset in the word, up to the limit: filling the word, starting a new
    # one, crossing into the next.
    for n_in, n_bias in [(32, 1), (32, 32), (64, 31), (31, 1), (31, 2), (30, 32), (1, 32), (33, 31), (63, 32),
                         (cfg.max_inputs, 32), (cfg.max_inputs - 1, 32), (100, 28), (100, 29)]:
        descs.append(replace(descs[0], n_in=n_in, n_bias=n_bias))
    got = run_decode(cfg, descs)
    errors = []
    for d, g in zip(descs, got):
        want = expected_decode(cfg, d)
        diff = {k: (g[k], want[k]) for k in want if g[k] != want[k]}
        if diff:
            errors.append(f"{d}: (got, expected) {diff}")
    assert not errors, f"{len(errors)} of {len(descs)} layers decoded wrongly:\n" + "\n".join(errors[:10])
    # Coverage: every precision, slot count and a partial last word appeared.
    assert {d.bits for d in descs} == set(PRECISIONS)
    assert {d.slots for d in descs} == {1 << j for j in range(log2(cfg.max_slots) + 1)}
    assert any(d.n_in % 32 for d in descs) and any(d.n_in % 32 == 0 for d in descs)
    assert sum(d.n_bias > 0 for d in descs) > 50 and any(d.n_bias == 0 for d in descs)
    assert any(d.n_in % 32 == 0 and d.n_bias for d in descs), "bias never started a new word"
    assert any(d.n_in // 32 != (d.n_in + d.n_bias - 1) // 32 and d.n_in % 32 for d in descs), \
        "bias never crossed a word boundary"


def base_descs(cfg: CoreConfig) -> tuple[Desc, Desc]:
    """Layers 0 and 1 of a valid two-layer network (64 -> 32 -> 10, 4-bit) on ``cfg``."""
    rng = np.random.default_rng(7)
    net = ChipNetwork([ChipLayer(rng.integers(-8, 8, (64, 32)), bits=4, beta=240, theta_high=50, theta_low=20),
                       ChipLayer(rng.integers(-8, 8, (32, 10)), bits=4, beta=200, theta_high=40)], steps=10)
    (d0, _), (d1, _) = network_descs(net, cfg)
    return d0, d1


def single_rule_cases(cfg: CoreConfig) -> list[tuple[str, Desc, int]]:
    """(name, descriptor, code): descriptors that break exactly the one rule of ``code``
    (code 0: on the boundary, breaking nothing)."""
    d0, d1 = base_descs(cfg)
    lanes = cfg.update_lanes
    bank_words0 = _derive(cfg, d0.n_in, d0.n_out, d0.bits, d0.slots, 0, 0).bank_words
    bank_words0_b = _derive(cfg, d0.n_in, d0.n_out, d0.bits, d0.slots, 0, 0, 1).bank_words  # bias: one more word
    c = ERROR_CODE
    cases = [
        ("steps 0", replace(d0, steps=0), c["BAD_STEPS"]),
        ("n_in 0 (layer 0)", replace(d0, n_in=0), c["BAD_SIZE"]),
        ("n_out 0", replace(d0, n_out=0), c["BAD_SIZE"]),
        ("n_in 0 (hidden)", replace(d1, n_in=0, prev_n_out=0), c["BAD_SIZE"]),
        ("n_in > max_inputs", replace(d0, n_in=cfg.max_inputs + 1), c["BAD_SIZE"]),
        ("n_in == max_inputs", replace(d0, n_in=cfg.max_inputs), 0),
        ("hidden n_in > max_neurons", replace(d1, n_in=cfg.max_neurons + 1, prev_n_out=cfg.max_neurons + 1),
         c["BAD_SIZE"]),
        ("n_out > max_neurons", replace(d0, n_out=cfg.max_neurons + 1), c["BAD_SIZE"]),
        ("n_out 0xFFFF", replace(d0, n_out=0xFFFF), None),     # breaks several; BAD_SIZE first
        ("chain", replace(d1, n_in=d1.n_in + 1), c["BAD_CHAIN"]),
        ("chain ignored on layer 0", replace(d0, prev_n_out=5), 0),
        ("theta_low > theta_high", replace(d1, theta_low=d1.theta_high + 1), c["BAD_THRESHOLD"]),
        ("theta signed -32768 < 32767", replace(d1, theta_high=INT16_MIN, theta_low=INT16_MAX), c["BAD_THRESHOLD"]),
        ("theta signed ok", replace(d1, theta_high=INT16_MAX, theta_low=INT16_MIN), 0),
        ("beta 256", replace(d0, beta=256), 0),
        ("beta 257", replace(d0, beta=257), c["BAD_BETA"]),
        ("beta 300", replace(d1, beta=300), c["BAD_BETA"]),
        ("beta 511", replace(d1, beta=511), c["BAD_BETA"]),
        ("slots 8", replace(d1, slots=8), c["BAD_SLOTS"]),
        ("w_base at the end", replace(d0, w_base=cfg.bank_depth - bank_words0), 0),
        ("w_base one past", replace(d0, w_base=cfg.bank_depth - bank_words0 + 1), c["WEIGHT_OVERFLOW"]),
        ("w_base 0xFFFF", replace(d0, w_base=0xFFFF), c["WEIGHT_OVERFLOW"]),
        ("state_base misaligned", replace(d1, state_base=d1.state_base + lanes // 2), c["STATE_OVERFLOW"]),
        ("state_base 1", replace(d0, state_base=1), c["STATE_OVERFLOW"]),
        ("state at the end", replace(d1, state_base=cfg.state_neurons - ceil_div(d1.n_out, lanes) * lanes), 0),
        ("state one group past", replace(d1, state_base=cfg.state_neurons - ceil_div(d1.n_out, lanes) * lanes + lanes),
         c["STATE_OVERFLOW"]),
        ("state_base 0xFFF0", replace(d1, state_base=0xFFF0), c["STATE_OVERFLOW"]),
        ("last n_out > max_outputs", replace(d1, n_out=cfg.max_outputs + 1), c["BAD_OUTPUTS"]),
        ("last n_out == max_outputs", replace(d1, n_out=cfg.max_outputs), 0),
        ("hidden n_out > max_outputs", replace(d1, last=False, n_out=cfg.max_outputs + 1), 0),
        ("32 bias rows", replace(d1, n_bias=MAX_BIAS_ROWS), 0),
        ("33 bias rows", replace(d1, n_bias=MAX_BIAS_ROWS + 1), c["BAD_BIAS"]),
        ("63 bias rows", replace(d0, n_bias=63), c["BAD_BIAS"]),
        ("bias on top of max_inputs", replace(d0, n_in=cfg.max_inputs, n_bias=MAX_BIAS_ROWS), 0),
        ("bias on top of max_neurons", replace(d1, n_in=cfg.max_neurons, prev_n_out=cfg.max_neurons,
                                               n_bias=MAX_BIAS_ROWS), 0),
        ("bias word at the end of the bank", replace(d0, n_bias=1, w_base=cfg.bank_depth - bank_words0_b), 0),
        ("bias word past the end of the bank", replace(d0, n_bias=1, w_base=cfg.bank_depth - bank_words0_b + 1),
         c["WEIGHT_OVERFLOW"]),
    ]
    # steps x input words per bank above the input buffer: only reachable with a legal n_in
    # where max_inputs needs more than one word per bank at depth/steps (not on 'small').
    per_bank = ceil_div(ceil_div(cfg.max_inputs, 32), cfg.input_banks)
    if cfg.input_depth // per_bank < 255:
        wide = replace(d0, n_in=cfg.max_inputs, steps=cfg.input_depth // per_bank)
        cases += [("steps at the input buffer's end", wide, 0),
                  ("steps at the input buffer's end, bias not in it", replace(wide, n_bias=MAX_BIAS_ROWS), 0),
                  ("steps past the input buffer", replace(wide, steps=wide.steps + 1), c["BAD_STEPS"])]
    return cases


@pytest.mark.parametrize("config", ["small", "chip"])
def test_descriptor_errors_one_rule(config):
    cfg = CONFIGS[config]
    cases = single_rule_cases(cfg)
    for name, d, code in cases:   # the cases themselves: exactly the named rule is broken
        broken = broken_rules(cfg, d)
        if code is None:
            assert len(broken) > 1 and broken[0] == ERROR_CODE["BAD_SIZE"], (name, broken)
        else:
            assert broken == ([code] if code else []), f"case {name!r} breaks {broken}, meant {code}"
    got = run_decode(cfg, [d for _, d, _ in cases])
    wrong = [f"{name}: error {g['error']}, expected {code if code is not None else ERROR_CODE['BAD_SIZE']}"
             for (name, d, code), g in zip(cases, got) if g["error"] != (code if code is not None else 3)]
    assert not wrong, "\n".join(wrong)
    codes = {code for _, _, code in cases}
    assert codes >= set(ERRORS) - {ERROR_CODE["BAD_LAYER_COUNT"]}, "an error code has no case"


def mutate(rng: np.random.Generator, cfg: CoreConfig, d: Desc) -> Desc:
    """1..3 fields of ``d`` moved to values at or past the limits (or to random ones)."""
    u = cfg.update_lanes
    choices = {
        "n_in": [0, 1, 31, 32, 33, cfg.max_inputs, cfg.max_inputs + 1, cfg.max_neurons, cfg.max_neurons + 1, 0xFFFF],
        "n_out": [0, 1, cfg.max_outputs, cfg.max_outputs + 1, cfg.max_neurons, cfg.max_neurons + 1, 0xFFFF],
        "bits": list(PRECISIONS),
        "slots": [1, 2, 4, 8],
        "w_base": [0, cfg.bank_depth - 1, cfg.bank_depth, cfg.bank_depth // 2, 0xFFFF],
        "state_base": [0, 1, u, cfg.state_neurons - u, cfg.state_neurons, cfg.state_neurons - 2 * u, 0xFFFF],
        "beta": [0, 255, 256, 257, 300, 511],
        "theta_high": [INT16_MIN, -1, 0, INT16_MAX, max(INT16_MIN, d.theta_low - 1)],
        "theta_low": [INT16_MIN, 0, INT16_MAX, d.theta_high + 1 if d.theta_high < INT16_MAX else 0],
        "prev_n_out": [0, d.n_in, d.n_in + 1, 0xFFFF],
        "steps": [0, 1, 255, int(rng.integers(1, 256))],
        "first": [True, False],
        "last": [True, False],
        "n_bias": [0, 1, 31, 32, 33, 63, 255],
    }
    fields = rng.choice(list(choices), size=int(rng.integers(1, 4)), replace=False)
    return replace(d, **{f: type(getattr(d, f))(rng.choice(choices[f])) for f in fields})


@pytest.mark.parametrize("config", ["small", "chip"])
def test_descriptor_errors_first_wins(config):
    """Random mutations of valid layers: the code is that of the first broken rule in
    memmap.ERRORS order, or 0 and the placement of _derive when none is broken."""
    cfg = CONFIGS[config]
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    descs = []
    for _ in range(150):
        for d, _ in network_descs(random_valid_network(rng, cfg), cfg):
            descs += [mutate(rng, cfg, d) for _ in range(3)]
    got = run_decode(cfg, descs)
    errors, seen = [], set()
    for d, g in zip(descs, got):
        broken = broken_rules(cfg, d)
        seen.update(broken[:1])
        if g["error"] != (broken[0] if broken else 0):
            errors.append(f"{d}: error {g['error']}, expected {broken[0] if broken else 0} (breaks {broken})")
        elif not broken:
            want = expected_decode(cfg, d)
            diff = {k: (g[k], want[k]) for k in want if g[k] != want[k]}
            if diff:
                errors.append(f"{d}: (got, expected) {diff}")
    assert not errors, f"{len(errors)} of {len(descs)} wrong:\n" + "\n".join(errors[:10])
    assert seen >= set(ERRORS) - {ERROR_CODE["BAD_LAYER_COUNT"]}, f"codes never first: {set(ERRORS) - seen}"


# =========================================================================================
# 3. SpikeScanner
# =========================================================================================

WORD_BITS = 12      # as the engine instantiates it
SCANNERS = 4        # slots 0..3 side by side, sharing start / slots_log2 / in_words / the masks


@dataclass
class ScanCase:
    k: int
    n_in: int
    mem: list[int]  # the memory words: the real inputs' bits, garbage past n_in and past in_words
    n_bias: int = 0

    @property
    def in_words(self) -> int:
        return -(-(self.n_in + self.n_bias) // 32)

    def bits(self) -> np.ndarray:
        """The bitmap as golden.scan_cycles takes it, bool (1, n_in + n_bias): the real inputs
        from memory, then the bias inputs (always set)."""
        real = np.array([[self.mem[i // 32] >> (i % 32) & 1 for i in range(self.n_in)]], bool)
        return golden.with_bias(real, self.n_bias)

    def expected(self, slot: int) -> tuple[list[int], int]:
        """Rows of the slot's set bits in order (docs/semantics.md: word w of slot w mod k,
        row (w // k) * 32 + bit) and its cycles: sum over its words of max(1, set bits)."""
        rows, cycles = [], 0
        if slot >= self.k:
            return rows, cycles
        bits = self.bits()[0]
        for w in range(slot, self.in_words, self.k):
            set_bits = [b for b in range(32) if 32 * w + b < len(bits) and bits[32 * w + b]]
            rows += [(w // self.k) * 32 + b for b in set_bits]
            cycles += max(1, len(set_bits))
        return rows, cycles


def random_scan_case(rng: np.random.Generator) -> ScanCase:
    k = int(rng.choice([1, 2, 4]))
    real_words = int(rng.choice([1, 2, 3, 4, 5, int(rng.integers(1, 40)), int(rng.integers(40, 140))]))
    n_in = (real_words - 1) * 32 + int(rng.choice([32, 1, 31, int(rng.integers(1, 33))]))
    n_bias = int(rng.choice([0, 0, 1, 2, int(rng.integers(1, 7)), 31, 32, int(rng.integers(0, 33))]))
    density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1), rng.uniform(0, 0.1)]))
    in_words = -(-(n_in + n_bias) // 32)
    words = in_words + int(rng.integers(0, 3))
    # Real bits at the density; everything past n_in (bias positions included) garbage.
    flat = rng.random(words * 32) < density
    flat[n_in:] = rng.random(words * 32 - n_in) < float(rng.choice([0.7, 1.0]))
    mem = [int(sum(1 << b for b in range(32) if flat[32 * w + b])) for w in range(words)]
    return ScanCase(k, n_in, mem, n_bias)


def test_spike_scanner():
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    cases = [random_scan_case(rng) for _ in range(120)]
    cases += [ScanCase(k, 1, [1, 0xFFFF_FFFF]) for k in (1, 2, 4)]                    # single input
    cases += [ScanCase(4, 3 * 32 + 5, [0, 0xFFFF_FFFF, 0x8000_0001, 0xFFFF_FFE0])]    # last word masked empty
    ones = [0xFFFF_FFFF] * 6
    for k in (1, 2, 4):   # bias rows: a new word, a whole word, crossing words; garbage all ones past n_in
        cases += [ScanCase(k, n_in, [0] * (n_in // 32) + ones, n_bias)
                  for n_in, n_bias in [(32, 1), (64, 32), (31, 1), (31, 2), (30, 32), (1, 32), (33, 31), (5, 0)]]
    m = Module()
    dut = [SpikeScanner(s, WORD_BITS) for s in range(SCANNERS)]
    for s, sc in enumerate(dut):
        m.submodules[f"scan{s}"] = sc
    errors = []

    async def bench(ctx):
        for n, case in enumerate(cases):
            label = f"case {n} (k={case.k} n_in={case.n_in} n_bias={case.n_bias} in_words={case.in_words})"
            rows = [[] for _ in dut]
            cycles = [0] * SCANNERS
            for sc in dut:
                ctx.set(sc.slots_log2, log2(case.k))
                ctx.set(sc.in_words, case.in_words)
                for name, value in scan_masks(case.n_in, case.n_bias).items():
                    ctx.set(getattr(sc, name), value)
                ctx.set(sc.start, 1)
            pending = [ctx.get(sc.req_word) if ctx.get(sc.req) else None for sc in dut]
            await ctx.tick()
            for sc in dut:
                ctx.set(sc.start, 0)
            idle = 0
            for _ in range(40 * 32 * 4):
                for s, sc in enumerate(dut):
                    # One-cycle-latency memory; garbage in cycles after no request.
                    ctx.set(sc.data, case.mem[pending[s]] if pending[s] is not None
                            else int(rng.integers(0, 1 << 32)))
                for s, sc in enumerate(dut):
                    active, event, req = ctx.get(sc.active), ctx.get(sc.event), ctx.get(sc.req)
                    if active:
                        cycles[s] += 1
                        if idle:
                            errors.append(f"{label}: slot {s} active again after going idle")
                    if event:
                        if not active:
                            errors.append(f"{label}: slot {s} event while inactive")
                        rows[s].append(ctx.get(sc.event_row))
                    if req:
                        w = ctx.get(sc.req_word)
                        if w % case.k != s or w >= case.in_words:
                            errors.append(f"{label}: slot {s} requested word {w}")
                        pending[s] = w
                    else:
                        pending[s] = None
                if not any(ctx.get(sc.active) for sc in dut):
                    idle += 1
                    if idle > int(rng.integers(1, 4)):
                        break
                await ctx.tick()
            else:
                errors.append(f"{label}: scan did not end")
            slowest = 0
            for s in range(SCANNERS):
                want_rows, want_cycles = case.expected(s)
                if rows[s] != want_rows:
                    errors.append(f"{label}: slot {s} rows {rows[s][:12]}... expected {want_rows[:12]}... "
                                  f"({len(rows[s])} vs {len(want_rows)})")
                if cycles[s] != want_cycles:
                    errors.append(f"{label}: slot {s} active {cycles[s]} cycles, expected {want_cycles}")
                for r in rows[s]:
                    index = ((r >> 5) * case.k + s) * 32 + (r & 31)
                    if index >= case.n_in + case.n_bias:
                        errors.append(f"{label}: slot {s} reported row {r} = input {index} >= n_in + n_bias")
                slowest = max(slowest, cycles[s])
            want_slowest = int(golden.scan_cycles(case.bits(), case.k)[0])
            if slowest != want_slowest:
                errors.append(f"{label}: slowest slot {slowest} cycles, golden.scan_cycles {want_slowest}")

    simulate(m, bench, clock=True)
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors[:15])


# =========================================================================================
# 4. Run-time errors through the whole core (cocotb, generated Verilog)
# =========================================================================================

def test_runtime_errors_small(sim):
    src = write_verilog("small", BUILD / "verilog" / "small")
    run_cocotb([src], "skyspike_core", "tb_blocks", build_dir=BUILD / "core_small",
               extra_env={"CONFIG": "small", "SEED": str(pick_seed())}, sim=sim)
