# amaranth: UnusedElaboratable=no
"""DescriptorDecode against the placement of the golden model (skyspike.chip.golden.
layer_placement, network.place), the spec's descriptor packing (skyspike.chip.image.
encode_descriptor) and the rules of skyspike.spec.memmap.ERRORS, rewritten here from their texts.

Every randomized test prints its seed; SEED=<n> replays it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import pytest

from blocksim import ceil_div, pick_seed, scan_masks, simulate
from skyspike.chip import golden
from skyspike.chip.image import encode_descriptor
from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipLayer, ChipNetwork, place
from skyspike.chip.testing import random_network
from skyspike.spec.config import CONFIGS, INPUT_MODES, MAX_BIAS_ROWS, PRECISIONS, CoreConfig, log2
from skyspike.spec.layouts import STORED_WORDS, descriptor_fields, descriptor_words
from skyspike.spec.memmap import ERROR_CODE, ERRORS
from skyspike_hw.descriptor import DescriptorDecode


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
    fold: int = 1
    in_mode: int = 0      # raw descriptor code (0 spikes, 1 direct, 2 rate; 3 invalid)
    in_bits: int = 1      # direct input: bits per value
    input_base: int = 0   # NET.input_base

    def words(self) -> list[int]:
        """Descriptor words 0..6, packed by the spec's own skyspike.chip.image.encode_descriptor
        (the input mode's raw code put in by the spec's layout: invalid codes too)."""
        ly = SimpleNamespace(n_in=self.n_in, n_out=self.n_out, bits=self.bits, reset_zero=self.reset_zero,
                             beta=self.beta, theta_high=self.theta_high, theta_low=self.theta_low,
                             reset_sub=self.reset_sub, n_bias=self.n_bias)
        lp = SimpleNamespace(slots=self.slots, fold=self.fold, w_base=self.w_base, state_base=self.state_base)
        fields = {**descriptor_fields(encode_descriptor(ly, lp)), "in_mode": self.in_mode,
                  "in_bits_code": PRECISIONS.index(self.in_bits)}
        return descriptor_words(**fields)[:STORED_WORDS]


def network_descs(net: ChipNetwork, cfg: CoreConfig) -> list[tuple[Desc, object]]:
    """(Desc, LayerPlacement) of every layer of a network that fits ``cfg``."""
    pl = place(net, cfg)
    out = []
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        out.append((Desc(ly.n_in, ly.n_out, ly.bits, lp.slots, ly.reset_zero, lp.w_base, lp.state_base,
                         ly.beta, ly.theta_high, ly.theta_low, ly.reset_sub, first=i == 0,
                         last=i == len(net.layers) - 1, prev_n_out=net.layers[i - 1].n_out if i else 0,
                         steps=net.steps, n_bias=ly.n_bias, fold=lp.fold,
                         in_mode=INPUT_MODES.index(net.input_mode) if i == 0 else 0,
                         in_bits=net.input_bits if i == 0 else 1), lp))
    return out


def broken_rules(cfg: CoreConfig, d: Desc) -> list[int]:
    """Every rule of memmap.ERRORS (codes 2..12, in order) that ``d`` breaks, written from the
    ERRORS texts with the limits of network.place() and the sizes of network.golden.layer_placement()."""
    codes = []
    in_words = -(-d.n_in // 32)   # the input buffer holds the real inputs only
    frames = d.in_bits if d.in_mode in (1, 2) else d.steps   # steps, or graded input's bit planes
    if d.first and (d.steps == 0 or d.input_base + frames * -(-in_words // cfg.input_banks) > cfg.input_depth):
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
    if d.slots > cfg.max_slots or d.slots * d.fold > cfg.banks:
        codes.append(ERROR_CODE["BAD_SLOTS"])
    elif d.w_base + golden.layer_placement(cfg, d.n_in, d.n_out, d.bits, d.slots, d.w_base, d.state_base, d.n_bias,
                                           d.fold).bank_words > cfg.bank_depth:
        codes.append(ERROR_CODE["WEIGHT_OVERFLOW"])
    lanes = cfg.update_lanes
    if d.state_base % lanes or d.state_base + -(-d.n_out // lanes) * lanes > cfg.state_neurons:
        codes.append(ERROR_CODE["STATE_OVERFLOW"])
    if d.last and d.n_out > cfg.max_outputs:
        codes.append(ERROR_CODE["BAD_OUTPUTS"])
    if d.n_bias > MAX_BIAS_ROWS:
        codes.append(ERROR_CODE["BAD_BIAS"])
    if d.in_mode > 2 or (not d.first and d.in_mode):
        codes.append(ERROR_CODE["BAD_INPUT"])
    return codes


DECODE_RAW = ("n_in", "n_out", "bits_code", "slots_log2", "fold_log2", "reset_zero", "n_bias", "in_mode",
              "in_bits_code", "w_base", "state_base", "beta", "theta_high", "theta_low", "reset_sub")
DECODE_DERIVED = ("chunks", "rows", "in_words", "in_words_per_bank", "chunk_log2", "sub_log2", "lanes_log2",
                  "group_log2", "tail_word", "tail_mask", "tail_bias", "next_bias")


def run_decode(cfg: CoreConfig, descs: list[Desc]) -> list[dict]:
    """All outputs of a DescriptorDecode for each descriptor, in one simulation."""
    dut = DescriptorDecode(cfg)
    out = []

    async def bench(ctx):
        for d in descs:
            ctx.set(dut.desc.as_value(), sum(w << (32 * j) for j, w in enumerate(d.words())))
            ctx.set(dut.first, d.first)
            ctx.set(dut.last, d.last)
            ctx.set(dut.prev_n_out, d.prev_n_out)
            ctx.set(dut.steps, d.steps)
            ctx.set(dut.input_base, d.input_base)
            out.append({**{name: ctx.get(dut.desc[name]) for name in DECODE_RAW},
                        **{name: ctx.get(dut.derived[name]) for name in DECODE_DERIVED},
                        "error": ctx.get(dut.error)})

    simulate(dut, bench)
    return out


def expected_decode(cfg: CoreConfig, d: Desc) -> dict:
    """Raw fields and the placement of golden.layer_placement for a valid descriptor."""
    lp = golden.layer_placement(cfg, d.n_in, d.n_out, d.bits, d.slots, d.w_base, d.state_base, d.n_bias, d.fold)
    return dict(n_in=d.n_in, n_out=d.n_out, bits_code=PRECISIONS.index(d.bits), slots_log2=log2(d.slots),
                fold_log2=log2(d.fold),
                reset_zero=int(d.reset_zero), n_bias=d.n_bias, in_mode=d.in_mode, in_bits_code=PRECISIONS.index(d.in_bits),
                w_base=d.w_base, state_base=d.state_base,
                beta=d.beta, theta_high=d.theta_high, theta_low=d.theta_low, reset_sub=d.reset_sub,
                chunks=lp.chunks, rows=lp.fold_rows, in_words=lp.in_words,
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
        d = replace(descs[0], n_in=n_in, n_bias=n_bias)
        if not broken_rules(cfg, d):   # the widest ones overflow the chip's 256-word banks
            descs.append(d)
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
    assert any(d.fold > 1 for d in descs), "no folded layer"
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
    (code 0: on the boundary, breaking nothing; None: BAD_SIZE first, maybe among others)."""
    d0, d1 = base_descs(cfg)
    lanes = cfg.update_lanes
    bank_words0 = golden.layer_placement(cfg, d0.n_in, d0.n_out, d0.bits, d0.slots, 0, 0, 0, d0.fold).bank_words
    bank_words1_f2 = golden.layer_placement(cfg, d1.n_in, d1.n_out, d1.bits, d1.slots, 0, 0, 0, 2).bank_words
    bank_words0_b = golden.layer_placement(cfg, d0.n_in, d0.n_out, d0.bits, d0.slots, 0, 0, 1, d0.fold).bank_words  # bias: one more word
    c = ERROR_CODE
    cases = [
        ("steps 0", replace(d0, steps=0), c["BAD_STEPS"]),
        ("n_in 0 (layer 0)", replace(d0, n_in=0), c["BAD_SIZE"]),
        ("n_out 0", replace(d0, n_out=0), c["BAD_SIZE"]),
        ("n_in 0 (hidden)", replace(d1, n_in=0, prev_n_out=0), c["BAD_SIZE"]),
        # BAD_SIZE first; on the chip its rows overflow the 256-word banks too
        ("n_in > max_inputs", replace(d0, n_in=cfg.max_inputs + 1), None),
        ("n_in == max_inputs", replace(d0, n_in=cfg.max_inputs), 0),
        ("hidden n_in > max_neurons", replace(d1, n_in=cfg.max_neurons + 1, prev_n_out=cfg.max_neurons + 1),
         c["BAD_SIZE"]),
        ("n_out > max_neurons", replace(d0, n_out=cfg.max_neurons + 1, bits=1), c["BAD_SIZE"]),  # 1 bit: fits the banks
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
        ("slots x folds == banks", replace(d1, slots=cfg.max_slots, fold=cfg.banks // cfg.max_slots), 0),
        ("slots x folds > banks", replace(d1, slots=cfg.max_slots, fold=2 * cfg.banks // cfg.max_slots),
         c["BAD_SLOTS"]),
        ("folds 128", replace(d1, slots=1, fold=128), c["BAD_SLOTS"]),
        ("folded w_base at the end", replace(d1, fold=2, w_base=cfg.bank_depth - bank_words1_f2), 0),
        ("folded w_base one past", replace(d1, fold=2, w_base=cfg.bank_depth - bank_words1_f2 + 1),
         c["WEIGHT_OVERFLOW"]),
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
        # no BAD_SIZE; the chip's 256-word banks cannot hold the rows
        ("bias on top of max_inputs", replace(d0, n_in=cfg.max_inputs, n_bias=MAX_BIAS_ROWS),
         0 if golden.layer_placement(cfg, cfg.max_inputs, d0.n_out, d0.bits, d0.slots, 0, 0, MAX_BIAS_ROWS,
                                       d0.fold).bank_words
         <= cfg.bank_depth else c["WEIGHT_OVERFLOW"]),
        ("bias on top of max_neurons", replace(d1, n_in=cfg.max_neurons, prev_n_out=cfg.max_neurons,
                                               n_bias=MAX_BIAS_ROWS), 0),
        ("bias word at the end of the bank", replace(d0, n_bias=1, w_base=cfg.bank_depth - bank_words0_b), 0),
        ("bias word past the end of the bank", replace(d0, n_bias=1, w_base=cfg.bank_depth - bank_words0_b + 1),
         c["WEIGHT_OVERFLOW"]),
        ("direct input, 8 bits", replace(d0, in_mode=1, in_bits=8), 0),
        ("direct input, 255 steps: its 8 planes fit", replace(d0, in_mode=1, in_bits=8, steps=255), 0),
        ("rate-coded input, 2 bits", replace(d0, in_mode=2, in_bits=2), 0),
        ("rate-coded input on a hidden layer", replace(d1, in_mode=2), c["BAD_INPUT"]),
        ("input mode 3", replace(d0, in_mode=3, in_bits=4), c["BAD_INPUT"]),
        ("frames end at the input buffer's end",
         replace(d0, input_base=cfg.input_depth - d0.steps * ceil_div(ceil_div(d0.n_in, 32), cfg.input_banks)), 0),
        ("frames one word past it",
         replace(d0, input_base=cfg.input_depth - d0.steps * ceil_div(ceil_div(d0.n_in, 32), cfg.input_banks) + 1),
         c["BAD_STEPS"]),
        ("input_base ignored on a hidden layer", replace(d1, input_base=0xFFFF), 0),
        ("direct input on a hidden layer", replace(d1, in_mode=1, in_bits=2), c["BAD_INPUT"]),
    ]
    # steps x input words per bank above the input buffer: only reachable with a legal n_in
    # where max_inputs needs more than one word per bank at depth/steps (not on 'small').
    per_bank = ceil_div(ceil_div(cfg.max_inputs, 32), cfg.input_banks)
    if cfg.input_depth // per_bank < 255:
        wide = replace(d0, n_in=cfg.max_inputs, steps=cfg.input_depth // per_bank)
        cases += [("steps at the input buffer's end", wide, 0),
                  ("steps at the input buffer's end, bias not in it",
                   replace(wide, n_in=cfg.max_inputs - MAX_BIAS_ROWS, n_bias=MAX_BIAS_ROWS), 0),
                  ("steps past the input buffer", replace(wide, steps=wide.steps + 1), c["BAD_STEPS"])]
    # a direct input's bit planes past the input buffer (steps no longer count)
    planes_limit = cfg.input_depth // per_bank
    if planes_limit < 8:
        wide = replace(d0, n_in=cfg.max_inputs, in_mode=1, in_bits=8, steps=255)
        cases += [("8 planes past the input buffer", wide, c["BAD_STEPS"])]
    return cases


@pytest.mark.parametrize("config", ["small", "chip"])
def test_descriptor_errors_one_rule(config):
    cfg = CONFIGS[config]
    cases = single_rule_cases(cfg)
    for name, d, code in cases:   # the cases themselves: exactly the named rule is broken
        broken = broken_rules(cfg, d)
        if code is None:   # BAD_SIZE, maybe among others
            assert broken[0] == ERROR_CODE["BAD_SIZE"], (name, broken)
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
        "fold": [1, 2, 4, 8, 16, 32, 128],
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
        "in_mode": [0, 1, 1, 2, 3],
        "in_bits": list(PRECISIONS),
        "input_base": [0, 1, cfg.input_depth // 2, cfg.input_depth - 1, cfg.input_depth, 0xFFFF],
    }
    fields = rng.choice(list(choices), size=int(rng.integers(1, 4)), replace=False)
    return replace(d, **{f: type(getattr(d, f))(rng.choice(choices[f])) for f in fields})


@pytest.mark.parametrize("config", ["small", "chip"])
def test_descriptor_errors_first_wins(config):
    """Random mutations of valid layers: the code is that of the first broken rule in
    memmap.ERRORS order, or 0 and the placement of golden.layer_placement when none is broken."""
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

