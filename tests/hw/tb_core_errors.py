"""cocotb: the core's run-time descriptor checks (memmap.ERRORS) on the generated Verilog.

A valid three-layer network is loaded; then, one at a time, NET or one descriptor word is
made wrong, the core is started, and STATUS must show done with the expected error code
(bits 15:8) and layer (bits 23:16) within a few cycles. The table is restored after each
case, and the valid network must still run bit-exactly (golden model) at the end.

``random_tables``: N_TABLES random broken tables (NET and descriptor fields drawn across and
beyond their ranges); each must give the code, layer and CYCLES of the golden twin of the
checks (skyspike.chip.checks.run_check). Tables the twin finds valid are not started (they
would run an inference on whatever the memories hold). The error codes seen go to
COVERAGE_FILE (JSON) when it is set.

Environment: CONFIG (core configuration name; the cases are written for 'small'), SEED,
N_TABLES, COVERAGE_FILE.
"""
from __future__ import annotations

import os
from collections import Counter

import cocotb
import numpy as np

from skyspike.spec import memmap as mm
from skyspike.spec.config import get_config
from skyspike.spec.layouts import DESC_WORDS, DESCRIPTOR
from skyspike.chip.checks import run_check
from skyspike.chip.coverage import error_bin, save_hits
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image, image_writes
from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.chip.testing import random_weights
from wbhost import WishboneMaster, load_image, read_results, run_inference, start_clock

E = mm.ERROR_CODE
#: Coverage bins of the error codes seen, over both tests of a run (skyspike.chip.coverage).
ERROR_BINS: Counter = Counter()
POLLS = 40  # an error is reported after at most 1 + max_layers + 1 cycles; a poll takes two


def u16(v: int) -> int:
    return v & 0xFFFF


def desc_addr(layer: int, word: int) -> int:
    return mm.DESC_BASE + 4 * (layer * DESC_WORDS + word)


def base_network(rng: np.random.Generator) -> ChipNetwork:
    """100 -> 32 -> 24 -> 10, three precisions, hysteresis on layer 0, both reset modes, 3
    bias rows on layer 1 (a word of their own); excitatory-leaning weights, so that the
    output layer spikes."""
    def excitatory(n_in, n_out, bits):
        w = random_weights(rng, n_in, n_out, bits)
        return np.where(rng.random(w.shape) < 0.8, np.abs(w).clip(1, (1 << (bits - 1)) - 1 if bits > 1 else 1), w)

    return ChipNetwork([
        ChipLayer(excitatory(100, 32, 4), bits=4, beta=240, theta_high=40, theta_low=10),
        ChipLayer(excitatory(32, 24, 2), bits=2, beta=256, theta_high=8, reset_zero=True,
                  bias=excitatory(3, 24, 2)),
        ChipLayer(excitatory(24, 10, 1), bits=1, beta=200, theta_high=6),
    ], steps=6)


def error_cases(cfg, image):
    """(name, writes, code, layer): bus writes that break the table in one way."""
    net_reg = mm.REG["NET"]
    n, steps = image.n_layers, image.steps
    d = [[int(w) for w in words] for words in image.descriptors]
    pl = image.placement.layers
    th1 = d[1][5] & 0xFFFF
    return [
        ("n_layers 0", [(net_reg, 0 | steps << 8)], E["BAD_LAYER_COUNT"], 0),
        ("n_layers above max_layers", [(net_reg, cfg.max_layers + 1 | steps << 8)], E["BAD_LAYER_COUNT"], 0),
        ("n_layers 255", [(net_reg, 255 | steps << 8)], E["BAD_LAYER_COUNT"], 0),
        ("steps 0", [(net_reg, n)], E["BAD_STEPS"], 0),
        ("layer 0: n_in above max_inputs", [(desc_addr(0, 0), cfg.max_inputs + 1 | 32 << 16)], E["BAD_SIZE"], 0),
        ("layer 1: n_in above max_neurons (size before chain)",
         [(desc_addr(1, 0), cfg.max_neurons + 1 | 24 << 16)], E["BAD_SIZE"], 1),
        ("layer 2: n_out 0", [(desc_addr(2, 0), 24)], E["BAD_SIZE"], 2),
        ("layer 3 (table entry never written): n_in 0", [(net_reg, 4 | steps << 8)], E["BAD_SIZE"], 3),
        ("layer 2: chain mismatch", [(desc_addr(2, 0), 23 | 10 << 16)], E["BAD_CHAIN"], 2),
        ("layer 1: theta_low > theta_high", [(desc_addr(1, 5), th1 | u16(th1 + 1) << 16)], E["BAD_THRESHOLD"], 1),
        ("layer 2: beta 300", [(desc_addr(2, 4), 300)], E["BAD_BETA"], 2),
        ("layer 0: slots 8", [(desc_addr(0, 1), d[0][1] | 3 << 2)], E["BAD_SLOTS"], 0),
        ("layer 1: weights past bank_depth",
         [(desc_addr(1, 2), cfg.bank_depth - pl[1].bank_words + 1)], E["WEIGHT_OVERFLOW"], 1),
        ("layer 2: state_base misaligned", [(desc_addr(2, 3), pl[2].state_base + 2)], E["STATE_OVERFLOW"], 2),
        ("layer 1: state past state_neurons",
         [(desc_addr(1, 3), cfg.state_neurons - cfg.update_lanes)], E["STATE_OVERFLOW"], 1),
        ("layer 2 (last): n_out above max_outputs",
         [(desc_addr(2, 0), 24 | (cfg.max_outputs + 1) << 16)], E["BAD_OUTPUTS"], 2),
        ("n_layers 2: layer 1 becomes last, 24 > max_outputs", [(net_reg, 2 | steps << 8)], E["BAD_OUTPUTS"], 1),
        ("layer 1: 33 bias rows", [(desc_addr(1, 1), d[1][1] & ~0xFF00 | 33 << 8)], E["BAD_BIAS"], 1),
        ("layer 2 (last): 40 bias rows", [(desc_addr(2, 1), d[2][1] | 40 << 8)], E["BAD_BIAS"], 2),
        ("layer 0: input mode 3", [(desc_addr(0, 1), d[0][1] | 3 << 16)], E["BAD_INPUT"], 0),
        ("layer 1: an input mode on a hidden layer", [(desc_addr(1, 1), d[1][1] | 1 << 16)], E["BAD_INPUT"], 1),
        ("input_base: the frames past the input buffer", [(net_reg, n | steps << 8 | cfg.input_depth << 16)],
         E["BAD_STEPS"], 0),
        ("two bad layers: the first one is reported",
         [(desc_addr(0, 4), 300), (desc_addr(2, 0), 23 | 10 << 16)], E["BAD_BETA"], 0),
    ]


async def start_and_wait(bus: WishboneMaster) -> int:
    await bus.write(mm.REG["CTRL"], 1)
    for _ in range(POLLS):
        status = await bus.read(mm.REG["STATUS"])
        if status & 2:
            return status
    raise AssertionError(f"no done within {POLLS} polls (STATUS {status:#x})")


async def restore_table(bus: WishboneMaster, image) -> None:
    """NET and every descriptor word of the image, and zeros in the unused table entries."""
    for addr, word in image_writes(image):
        if addr < mm.COUNT_BASE:
            await bus.write(addr, word)
    for layer in range(image.n_layers, image.cfg.max_layers):
        for j in range(DESC_WORDS):
            await bus.write(desc_addr(layer, j), 0)


async def valid_run(dut, bus, net, image, rng, label: str) -> list[str]:
    x = rng.random((1, net.steps, net.layers[0].n_in)) < 0.4
    gold = golden_run(net, x, image.cfg)
    status, cycles = await run_inference(bus, image, x[0], max_cycles=2 * int(gold.cycles[0]) + 100)
    fails = []
    if status >> 8 & 0xFF or status & 3 != 2:
        return [f"{label}: valid network: STATUS {status:#x}"]
    counts, finals = await read_results(bus, [ly.n_out for ly in net.layers], [lp.state_base for lp in image.placement.layers])
    if not np.array_equal(counts, gold.counts[0]):
        fails.append(f"{label}: counts {counts.tolist()} golden {gold.counts[0].tolist()}")
    for ly, (f, g) in enumerate(zip(finals, gold.final_membranes)):
        if not np.array_equal(f, g[0]):
            fails.append(f"{label}: layer {ly} final membranes {f.tolist()} golden {g[0].tolist()}")
    if cycles != gold.cycles[0]:
        fails.append(f"{label}: cycles {cycles} golden {gold.cycles[0]}")
    if not gold.counts[0].any():
        fails.append(f"{label}: the test network did not spike at its output (a weak check): fix the test")
    dut._log.info(f"{label}: valid run ok={not fails}, {int(gold.counts[0].sum())} output spikes, {cycles} cycles")
    return fails


@cocotb.test()
async def runtime_errors(dut):
    cfg = get_config(os.environ.get("CONFIG", "small"))
    seed = int(os.environ.get("SEED", "1"))
    dut._log.info(f"runtime_errors: SEED={seed}")
    rng = np.random.default_rng(seed)
    await start_clock(dut)
    bus = WishboneMaster(dut)
    net = base_network(rng)
    image = build_image(net, cfg)
    await load_image(bus, image)
    await restore_table(bus, image)

    fails = await valid_run(dut, bus, net, image, rng, "before the error cases")
    for name, writes, code, layer in error_cases(cfg, image):
        for addr, word in writes:
            await bus.write(addr, word)
        status = await start_and_wait(bus)
        got = (status & 3, status >> 8 & 0xFF, status >> 16 & 0xFF)
        if got != (2, code, layer):
            fails.append(f"{name}: (busy|done, error, layer) = {got}, expected {(2, code, layer)} "
                         f"[{mm.ERRORS[code][0]}]")
        ERROR_BINS[error_bin(code)] += 1
        twin = run_check(await bus.read(mm.REG["NET"]), await read_table(bus, cfg), cfg)
        if (twin.code, twin.layer) != (code, layer):
            fails.append(f"{name}: the golden twin says {(twin.code, twin.layer)}, expected {(code, layer)}")
        await restore_table(bus, image)
    fails += await valid_run(dut, bus, net, image, rng, "after the error cases")
    write_error_coverage()
    assert not fails, "\n".join(fails)


async def read_table(bus: WishboneMaster, cfg) -> list[list[int]]:
    return [[await bus.read(desc_addr(ly, j)) for j in range(DESC_WORDS)] for ly in range(cfg.max_layers)]


def random_field(rng: np.random.Generator, name: str, cfg) -> int:
    """A value of descriptor field ``name``: mostly near the core's limits, sometimes anywhere."""
    f = DESCRIPTOR[name]
    near = {"n_in": cfg.max_inputs, "n_out": cfg.max_neurons, "w_base": cfg.bank_depth, "beta": 256,
            "state_base": cfg.state_neurons, "n_bias": 32, "slots_log2": 2}.get(name)
    if near is not None and rng.random() < 0.6:
        return int(np.clip(near + rng.integers(-3, 4), f.lo, f.hi))
    return int(rng.integers(f.lo, f.hi + 1))


def broken_table(rng: np.random.Generator, image, cfg) -> tuple[int, list[list[int]]]:
    """NET and the descriptor table of ``image`` with one to three fields changed at random."""
    table = [[int(w) for w in words] for words in image.descriptors]
    table += [[0] * DESC_WORDS for _ in range(cfg.max_layers - len(table))]
    net = {"n_layers": image.n_layers, "steps": image.steps}
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.15:
            key = str(rng.choice(["n_layers", "steps"]))
            net[key] = int(rng.choice([0, 1, cfg.max_layers, cfg.max_layers + 1, rng.integers(0, 256)]))
            continue
        if rng.random() < 0.05:
            net["input_base"] = int(rng.choice([1, cfg.input_depth - 1, cfg.input_depth, rng.integers(0, 1 << 16)]))
            continue
        layer = int(rng.integers(0, cfg.max_layers))
        name = str(rng.choice([f.name for f in DESCRIPTOR]))
        fields = DESCRIPTOR.unpack(DESCRIPTOR.from_words(table[layer]))
        fields[name] = random_field(rng, name, cfg)
        table[layer] = DESCRIPTOR.words(DESCRIPTOR.pack(**fields))
    return mm.NET.pack(**net), table


async def write_table(bus: WishboneMaster, net_word: int, table) -> None:
    await bus.write(mm.REG["NET"], net_word)
    for ly, words in enumerate(table):
        for j, w in enumerate(words):
            await bus.write(desc_addr(ly, j), w)


@cocotb.test()
async def random_tables(dut):
    cfg = get_config(os.environ.get("CONFIG", "small"))
    seed = int(os.environ.get("SEED", "1"))
    n_tables = int(os.environ.get("N_TABLES", "150"))
    dut._log.info(f"random_tables: SEED={seed} N_TABLES={n_tables}")
    rng = np.random.default_rng([seed, 7])
    await start_clock(dut)
    bus = WishboneMaster(dut)
    image = build_image(base_network(rng), cfg)
    await load_image(bus, image)
    fails, started = [], 0
    for case in range(n_tables):
        net_word, table = broken_table(rng, image, cfg)
        twin = run_check(net_word, table, cfg)
        if twin.ok:
            continue
        await write_table(bus, net_word, table)
        status = await start_and_wait(bus)
        cycles = await bus.read(mm.REG["CYCLES"])
        got = (status >> 8 & 0xFF, status >> 16 & 0xFF, cycles)
        started += 1
        ERROR_BINS[error_bin(twin.code)] += 1
        if got != (twin.code, twin.layer, twin.cycles):
            fails.append(f"table {case} (seed {seed}): RTL (code, layer, cycles) = {got}, "
                         f"twin {(twin.code, twin.layer, twin.cycles)}")
    dut._log.info(f"{started} broken tables started; {len(fails)} mismatches; codes so far {dict(ERROR_BINS)}")
    write_error_coverage()
    assert not fails, "\n".join(fails[:20])


def write_error_coverage() -> None:
    save_hits(ERROR_BINS, os.environ.get("COVERAGE_FILE"))
