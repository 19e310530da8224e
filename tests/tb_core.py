"""cocotb: randomized whole-network regression of the generated core against the golden model.

Environment: CONFIG (core configuration name), N_CASES, SEED (printed; reuse it to replay),
BATCH (inferences per network).
"""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from skyspike import memmap as mm
from skyspike.config import get_config
from skyspike.golden import run as golden_run
from skyspike.image import build_image
from skyspike.testing import random_inputs, random_network
from skyspike.rtlsim.bus import UpdateTrace, WishboneMaster, compare, load_image, read_results, run_inference, start_clock


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

    failures, spikes_seen, total = [], 0, 0
    for case in range(n_cases):
        rng = np.random.default_rng([seed, case])
        net = random_network(rng, cfg, max_width=max_width)
        image = build_image(net, cfg)
        x = random_inputs(rng, net, batch)
        gold = golden_run(net, x, cfg)
        await load_image(bus, image)
        n_outs = [ly.n_out for ly in net.layers]
        for b in range(batch):
            trace.groups.clear()
            status, cycles = await run_inference(bus, image, x[b], max_cycles=2 * int(gold.cycles[b]) + 100)
            await ClockCycles(dut.clk, 1)
            label = f"seed {seed} case {case} sample {b}"
            if status >> 8 & 0xFF:
                failures.append(f"{label}: error code {status >> 8 & 0xFF} at layer {status >> 16 & 0xFF}")
                continue
            spikes, mems, seen = trace.rasters(n_outs, net.steps)
            counts, finals = await read_results(bus, n_outs, [lp.state_base for lp in image.placement.layers])
            failures += compare(gold, b, spikes, mems, seen, counts, finals, cycles, label)
            spikes_seen += int(sum(s.sum() for s in spikes))
            total += 1
    dut._log.info(f"{total} inferences of {n_cases} networks compared; {spikes_seen} spikes; "
                  f"{len(failures)} mismatches")
    assert not failures, "\n".join(failures[:20])
