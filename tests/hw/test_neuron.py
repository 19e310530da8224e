# amaranth: UnusedElaboratable=no
"""NeuronLane (one neuron's update) and NeuronState (the lanes over the state memories)
against the golden model's twins: skyspike.chip.golden.neuron_step / neuron_init, and
golden.run itself for whole trajectories.

Every randomized test prints its seed; SEED=<n> replays it.
"""
from __future__ import annotations

import numpy as np
import pytest

from blocksim import pick_seed, simulate
from skyspike.chip import golden
from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipLayer, ChipNetwork
from skyspike.spec.config import CONFIGS
from skyspike.spec.layouts import DESCRIPTOR, STATE_ENTRY
from skyspike_hw.neuron import NeuronLane
from skyspike_hw.neuron_state import NeuronState

PARAMS = ("beta", "theta_high", "theta_low", "reset_sub", "reset_zero")


def twin_step(vectors: list[dict]) -> list[tuple[int, bool, bool]]:
    """golden.neuron_step on the lane's input vectors (``first``: golden.neuron_init's state)."""
    col = {k: np.array([vec[k] for vec in vectors], np.int64) for k in vectors[0]}
    first = col["first"].astype(bool)
    v0, armed0, fired0 = golden.neuron_init(len(vectors))
    v, armed, fired = golden.neuron_step(
        np.where(first, v0, col["v_in"]), np.where(first, armed0, col["armed_in"].astype(bool)),
        np.where(first, fired0, col["fired_in"].astype(bool)), col["current"],
        **{k: col[k] for k in PARAMS[:-1]}, reset_zero=col["reset_zero"].astype(bool))
    return [(int(a), bool(b), bool(c)) for a, b, c in zip(v, armed, fired)]


LANE_INPUTS = ("first", "v_in", "armed_in", "fired_in", "current", *PARAMS)


def run_lane(acc_bits: int, vectors: list[dict], split: bool = False) -> list[tuple[int, bool, bool]]:
    """(v_out, armed_out, spike) of a NeuronLane for each input vector, in one simulation
    (``split``: the registered lane, its outputs read a cycle after the inputs are set)."""
    dut = NeuronLane(acc_bits, split=split)
    out = []

    async def bench(ctx):
        for vec in vectors:
            for name in LANE_INPUTS:
                ctx.set(getattr(dut, name), int(vec[name]))
            if split:
                await ctx.tick()
            out.append((ctx.get(dut.v_out), bool(ctx.get(dut.armed_out)), bool(ctx.get(dut.spike))))

    simulate(dut, bench, clock=split)
    return out


def check_lane(acc_bits: int, vectors: list[dict], expected: list[tuple] | None = None) -> list[tuple]:
    """Compare the lane with golden.neuron_step (and with ``expected`` where given); returns
    the outputs."""
    got = run_lane(acc_bits, vectors)
    errors = []
    for i, (vec, g, want) in enumerate(zip(vectors, got, twin_step(vectors))):
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
            base = twin_step([dict(vec, current=0)])[0][0]   # V before the current (saturated)
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


def test_split_lane_equals_combinational():
    """The registered lane (NeuronState's) computes what the combinational one does."""
    rng = np.random.default_rng(pick_seed())
    acc_bits = CONFIGS["chip"].acc_bits
    vectors = random_lane_vectors(rng, acc_bits, 300)
    assert run_lane(acc_bits, vectors, split=True) == run_lane(acc_bits, vectors)


def test_split_lane_holds_without_load():
    """``load`` low: the leak stage's register keeps the last loaded group (its clock is
    gated then), so the outputs are still that group's, whatever the leak-stage inputs do."""
    acc_bits = CONFIGS["small"].acc_bits
    a, b = random_lane_vectors(np.random.default_rng(5), acc_bits, 2)
    dut = NeuronLane(acc_bits, split=True)
    out = []

    async def bench(ctx):
        for vec, load in ((a, 1), (b, 0)):
            for name in LANE_INPUTS:
                ctx.set(getattr(dut, name), int(vec[name]))
            ctx.set(dut.load, load)
            await ctx.tick()
            # the next cycle's current and thresholds are a's, with a's leak stage held or not
            for name in ("current", "theta_high", "theta_low"):
                ctx.set(getattr(dut, name), int(a[name]))
            out.append((ctx.get(dut.v_out), bool(ctx.get(dut.armed_out)), bool(ctx.get(dut.spike))))

    simulate(dut, bench, clock=True)
    assert out == twin_step([a, a])


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



# -- NeuronState: the lanes over the state memories, step after step ---------------------

def test_neuron_state_vs_twin():
    """A layer of NeuronState's lanes for several steps, its update groups in order with idle
    cycles between them: every lane's output and, at the end, every state entry read over the
    control port (layout skyspike.spec.layouts.STATE_ENTRY) equal golden.neuron_step's."""
    cfg = CONFIGS["small"]
    U = cfg.update_lanes
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    dut = NeuronState(cfg)
    layers = []
    for _ in range(6):
        n_out = int(rng.integers(1, cfg.max_neurons + 1))
        th = int(rng.integers(-50, 400))
        layers.append(dict(n_out=n_out, state_base=U * int(rng.integers(0, (cfg.state_neurons - n_out) // U + 1)),
                           beta=int(rng.choice([0, 128, 240, 256])), theta_high=th,
                           theta_low=th - int(rng.choice([0, 0, 50, 300])), reset_sub=int(rng.integers(-100, 400)),
                           reset_zero=int(rng.integers(2)), steps=int(rng.integers(1, 5))))
    # The model: every state entry (V, armed, fired), as the memories start (all zero).
    model = [np.zeros(cfg.state_neurons, np.int64), np.zeros(cfg.state_neurons, bool),
             np.zeros(cfg.state_neurons, bool)]
    errors, spikes_seen = [], 0

    async def bench(ctx):
        nonlocal spikes_seen
        for ly in layers:
            fields = {k: ly[k] for k in ("n_out", "state_base", "beta", "theta_high", "theta_low", "reset_sub",
                                         "reset_zero")}
            ctx.set(dut.desc.as_value(), DESCRIPTOR.pack(**fields))
            params = {k: ly[k] for k in PARAMS}
            for t in range(ly["steps"]):
                for g in range(-(-ly["n_out"] // U)):
                    n0 = g * U
                    entries = ly["state_base"] + n0 + np.arange(U)
                    current = rng.integers(-300, 400, U)
                    state = [np.where(t == 0, init, x[entries]) for init, x in zip(golden.neuron_init(U), model)]
                    want = golden.neuron_step(*state, current, **params)
                    valid = n0 + np.arange(U) < ly["n_out"]
                    for name, value in (("update", 1), ("first", t == 0), ("neuron0", n0),
                                        ("state_addr", entries[0] // U)):
                        ctx.set(getattr(dut, name), int(value))
                    for u in range(U):
                        ctx.set(dut.current[u], int(current[u]))
                    await ctx.tick()   # the group's result comes NeuronState.LATENCY cycles later
                    ctx.set(dut.update, 0)   # idle cycles: a random address, nothing written
                    for _ in range(NeuronState.LATENCY - 1):
                        ctx.set(dut.state_addr, int(rng.integers(0, cfg.state_neurons // U)))
                        await ctx.tick()
                    got = ([ctx.get(dut.v[u]) for u in range(U)], ctx.get(dut.valid), ctx.get(dut.spikes))
                    want_valid = sum(1 << u for u in range(U) if valid[u])
                    want_spikes = sum(1 << u for u in range(U) if valid[u] and want[2][u])
                    if got[1:] != (want_valid, want_spikes) or any(
                            got[0][u] != want[0][u] for u in range(U) if valid[u]):
                        errors.append(f"{ly} step {t} group {g}: (v, valid, spikes) {got}, "
                                      f"twin {(want[0].tolist(), want_valid, want_spikes)}")
                    for x, new in zip(model, want):
                        x[entries[valid]] = new[valid]
                    spikes_seen += int(want[2][valid].sum())
                    ctx.set(dut.state_addr, int(rng.integers(0, cfg.state_neurons // U)))
                    await ctx.tick()
        for e in range(cfg.state_neurons):
            ctx.set(dut.state_index, e)
            got = STATE_ENTRY.unpack(ctx.get(dut.state_data.as_value()))
            want = dict(v=int(model[0][e]), armed=int(model[1][e]), fired=int(model[2][e]))
            if got != want:
                errors.append(f"state entry {e}: {got}, model {want}")

    simulate(dut, bench, clock=True)
    assert not errors, f"{len(errors)} mismatches:\n" + "\n".join(errors[:10])
    assert spikes_seen > 20, "the drawn layers hardly spiked"
