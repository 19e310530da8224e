"""cocotb: randomized whole-network regression of the generated core against the golden model,
and directed bias-row cases (memory past a layer's real inputs holding garbage).

Environment: CONFIG (core configuration name), N_CASES, SEED (printed; reuse it to replay),
BATCH (inferences per network), COVERAGE_FILE (where to write the functional-coverage bins the
compared cases hit, skyspike.chip.coverage; JSON).
"""
from __future__ import annotations

import os
from collections import Counter

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from skyspike.spec import memmap as mm
from skyspike.spec.config import get_config
from skyspike.chip.coverage import case_bins, save_hits
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image
from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.chip.testing import closure_networks, random_inputs, random_network, random_weights
from skyspike.rtlsim.bus import (UpdateTrace, WishboneMaster, compare, load_image, read_results, run_inference,
                                 start_clock, write_all)


async def check_sample(dut, bus, trace, image, net, gold, x, b: int, label: str) -> tuple[list[str], int]:
    """Run sample ``b`` on the loaded image and compare it with the golden model: (mismatch
    messages, spikes seen in the update trace; -1 when the core reported an error)."""
    trace.groups.clear()
    status, cycles = await run_inference(bus, image, x[b], max_cycles=2 * int(gold.cycles[b]) + 100)
    await ClockCycles(dut.clk, 1)
    if mm.STATUS["error"].get(status):
        return [f"{label}: error code {mm.STATUS['error'].get(status)} at layer {mm.STATUS['error_layer'].get(status)}"], -1
    n_outs = [ly.n_out for ly in net.layers]
    spikes, mems, seen = trace.rasters(n_outs, net.steps)
    counts, finals = await read_results(bus, n_outs, [lp.state_base for lp in image.placement.layers])
    return (compare(gold, b, spikes, mems, seen, counts, finals, cycles, label),
            int(sum(sp.sum() for sp in spikes)))


@cocotb.test()
async def random_networks(dut):
    cfg = get_config(os.environ.get("CONFIG", "small"))
    n_cases = int(os.environ.get("N_CASES", "20"))
    seed = int(os.environ.get("SEED", "1"))
    batch = int(os.environ.get("BATCH", "2"))
    max_width = int(os.environ.get("MAX_WIDTH", "0")) or None
    dut._log.info(f"random_networks: CONFIG={os.environ.get('CONFIG', 'small')} SEED={seed} N_CASES={n_cases}")
    await start_clock(dut)
    bus = WishboneMaster(dut)
    assert await bus.read(mm.REG["ID"]) == mm.CORE_ID
    trace = UpdateTrace(dut, cfg.update_lanes)
    cocotb.start_soon(trace.run())

    failures, spikes_seen, total, bins = [], 0, 0, Counter()
    for case in range(n_cases):
        rng = np.random.default_rng([seed, case])
        net = random_network(rng, cfg, max_width=max_width)
        image = build_image(net, cfg)
        x = random_inputs(rng, net, batch)
        gold = golden_run(net, x, cfg)
        bins.update(case_bins(net, cfg, x, gold.membranes))
        await load_image(bus, image)
        for b in range(batch):
            errs, seen = await check_sample(dut, bus, trace, image, net, gold, x, b,
                                            f"seed {seed} case {case} sample {b}")
            failures += errs
            if seen >= 0:
                spikes_seen += seen
                total += 1
                bins["inferences compared"] += 1
        bins["networks compared"] += 1
    dut._log.info(f"{total} inferences of {n_cases} networks compared; {spikes_seen} spikes; "
                  f"{len(failures)} mismatches")
    write_coverage(bins)
    assert not failures, "\n".join(failures[:20])


def write_coverage(bins: Counter) -> None:
    save_hits(bins, os.environ.get("COVERAGE_FILE"))


def bias_networks(rng: np.random.Generator, cfg) -> list[tuple[str, ChipNetwork]]:
    """Networks (for 'small') whose bias rows make the scanners read memory past the real
    inputs: stale bits of an earlier, wider layer; other steps' input words; nothing at all."""
    def excitatory(n_in, n_out, bits):
        w = random_weights(rng, n_in, n_out, bits)
        return np.abs(w).clip(1, (1 << (bits - 1)) - 1 if bits > 1 else 1) if bits > 1 else np.ones_like(w)

    def mixed(n_in, n_out, bits):
        return random_weights(rng, n_in, n_out, bits)

    n = cfg.max_neurons
    return [
        # Layer 0 fires nearly all of its 64 neurons into bitmap 0; layer 2 overwrites only
        # bits 0..31 of it, so layer 3 (32 inputs + 3 bias rows, 1-bit) reads word 1 full of
        # layer 0's spikes: only the valid mask keeps them out.
        ("stale bitmap bits above n_in", ChipNetwork([
            ChipLayer(excitatory(40, n, 4), bits=4, theta_high=3),
            ChipLayer(mixed(n, 10, 2), bits=2, theta_high=2),
            ChipLayer(excitatory(10, 32, 4), bits=4, theta_high=4, bias=excitatory(2, 32, 4)),
            ChipLayer(mixed(32, 8, 1), bits=1, theta_high=2, bias=np.ones((3, 8), int)),
        ], steps=5)),
        # The same with the bias crossing into the stale word (30 inputs + 5 bias rows).
        ("stale bits, bias crossing a word", ChipNetwork([
            ChipLayer(excitatory(33, n, 4), bits=4, theta_high=5),
            ChipLayer(mixed(n, 10, 4), bits=4, theta_high=3, bias=mixed(5, 10, 4)),
            ChipLayer(excitatory(10, 30, 2), bits=2, theta_high=2, bias=mixed(2, 30, 2)),
            ChipLayer(mixed(30, 12, 1), bits=1, theta_high=1, bias=np.ones((5, 12), int)),
        ], steps=6)),
        # Layer 0 with bias-only words (4 input banks, one word per bank and step): 128 inputs +
        # 32 bias rows, 100 inputs + 30 bias rows. Word 4 is read at the next step's word 0, or
        # past the last step, where the input buffer was never written (all ones).
        ("input buffer: bias word over the next step", ChipNetwork([
            ChipLayer(mixed(cfg.max_inputs, 16, 4), bits=4, theta_high=20, bias=mixed(32, 16, 4)),
        ], steps=7)),
        ("input buffer: bias words crossing over the next step", ChipNetwork([
            ChipLayer(mixed(100, 20, 2), bits=2, theta_high=4, bias=(rng.random((30, 20)) < 0.1).astype(int),
                      slots=1),   # bias weights mostly 0, some +1: neither silent nor saturated
            ChipLayer(excitatory(20, 16, 1), bits=1, theta_high=3, bias=np.ones((1, 16), int)),
        ], steps=9)),
        # A full-width hidden layer plus 32 bias rows: word 2 lies past the bitmap.
        ("bias word past the bitmap", ChipNetwork([
            ChipLayer(excitatory(20, n, 2), bits=2, theta_high=2),
            ChipLayer(mixed(n, 16, 8), bits=8, theta_high=40, bias=mixed(32, 16, 8)),
        ], steps=4)),
    ]


@cocotb.test()
async def bias_directed(dut):
    cfg = get_config(os.environ.get("CONFIG", "small"))
    seed = int(os.environ.get("SEED", "1"))
    dut._log.info(f"bias_directed: SEED={seed}")
    rng = np.random.default_rng(seed)
    await start_clock(dut)
    bus = WishboneMaster(dut)
    trace = UpdateTrace(dut, cfg.update_lanes)
    cocotb.start_soon(trace.run())
    failures, failed = [], {}
    for name, net in bias_networks(rng, cfg):
        # Every input-buffer word all ones first: words the host does not write are garbage.
        await write_all(bus, [(mm.INPUT_BASE + 4 * (b * cfg.input_depth + a), 0xFFFF_FFFF)
                              for b in range(cfg.input_banks) for a in range(cfg.input_depth)])
        image = build_image(net, cfg)
        x = rng.random((3, net.steps, net.layers[0].n_in)) < np.array([0.0, 0.3, 0.8])[:, None, None]
        gold = golden_run(net, x, cfg)
        if name.startswith("stale"):
            stale = gold.spikes[0][:, :, net.layers[-1].n_in + net.layers[-1].n_bias:]
            assert stale.sum() > 20, f"{name}: the test network leaves hardly any stale bits"
        await load_image(bus, image)
        for b in range(len(x)):
            errs, _ = await check_sample(dut, bus, trace, image, net, gold, x, b, f"{name} (seed {seed}) sample {b}")
            failures += errs
            if errs:
                failed.setdefault(name, []).append(b)
        dut._log.info(f"{name}: {int(gold.counts.sum())} output spikes, cycles {gold.cycles.tolist()}")
    assert not failures, f"failing (network: samples) {failed}\n" + "\n".join(failures[:20])


@cocotb.test()
async def coverage_closure(dut):
    """Directed cases for every coverage bin random networks may miss (chip.testing.closure_networks):
    each compared with the golden model like the random ones."""
    cfg = get_config(os.environ.get("CONFIG", "small"))
    seed = int(os.environ.get("SEED", "1"))
    await start_clock(dut)
    bus = WishboneMaster(dut)
    trace = UpdateTrace(dut, cfg.update_lanes)
    cocotb.start_soon(trace.run())
    failures, bins = [], Counter()
    for i, (net, x) in enumerate(closure_networks(np.random.default_rng(seed), cfg)):
        image = build_image(net, cfg)
        gold = golden_run(net, x, cfg)
        bins.update(case_bins(net, cfg, x, gold.membranes))
        await load_image(bus, image)
        for b in range(len(x)):
            errs, _ = await check_sample(dut, bus, trace, image, net, gold, x, b, f"closure case {i} sample {b}")
            failures += errs
            bins["inferences compared"] += 1
        bins["networks compared"] += 1
    dut._log.info(f"coverage closure: {sum(bins.values())} bin hits, {len(failures)} mismatches")
    write_coverage(bins)
    assert not failures, "\n".join(failures[:20])
