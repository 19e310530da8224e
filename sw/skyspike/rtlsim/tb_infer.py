"""cocotb module of the RTL backend: runs a batch of inferences described by a job file.

Job (npz, path in $SKYSPIKE_JOB): image_writes (n, 2) of (byte address, word); input_addr (m,)
and input_words (batch, m); n_outs, state_bases, steps, lanes, max_cycles (batch,); backdoor
(load the SRAMs directly instead of over the bus), bank_depth, input_depth.
Progress (optional, path in $SKYSPIKE_PROGRESS): event lines "started", "loaded <seconds>" and
"sample <index> <cycles> <count,count,...>" (skyspike.rtlsim.RTLEvent).
Results (npz, path in $SKYSPIKE_RESULT): status, cycles, counts, finals_<l>, spikes_<l>,
membranes_<l> (the update trace of every layer, (batch, steps, n_out)).
"""
from __future__ import annotations

import os
import time

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from skyspike.spec import memmap as mm
from skyspike.rtlsim.bus import (CLOCK_NS, UpdateTrace, WishboneMaster, read_results, start_and_wait, start_clock,
                                 write_all, write_backdoor)


@cocotb.test()
async def infer(dut):
    job = np.load(os.environ["SKYSPIKE_JOB"])
    n_outs = [int(n) for n in job["n_outs"]]
    state_bases = [int(b) for b in job["state_bases"]]
    steps = int(job["steps"])
    batch = job["input_words"].shape[0]
    await start_clock(dut)
    bus = WishboneMaster(dut)
    if await bus.read(mm.REG["ID"]) != mm.CORE_ID:
        raise AssertionError("no SkySpike core answers at ID")
    trace = UpdateTrace(dut, int(job["lanes"]))
    cocotb.start_soon(trace.run())
    backdoor = bool(job["backdoor"])
    depths = int(job["bank_depth"]), int(job["input_depth"])

    async def load(writes):
        if backdoor:
            await write_backdoor(bus, writes, *depths)
        else:
            await write_all(bus, writes)

    progress = open(os.environ["SKYSPIKE_PROGRESS"], "a", buffering=1) if os.environ.get("SKYSPIKE_PROGRESS") else None
    if progress:
        progress.write("started\n")
    t0 = time.time()
    await load(job["image_writes"])
    dut._log.info(f"image loaded: {len(job['image_writes'])} words in {time.time() - t0:.1f} s "
                  f"({'SRAM backdoor' if backdoor else 'bus'})")
    if progress:
        progress.write(f"loaded {time.time() - t0:.3f}\n")

    out = {"status": np.zeros(batch, np.int64), "cycles": np.zeros(batch, np.int64),
           "counts": np.zeros((batch, n_outs[-1]), np.int64)}
    for ly, n in enumerate(n_outs):
        out[f"finals_{ly}"] = np.zeros((batch, n), np.int64)
        out[f"spikes_{ly}"] = np.zeros((batch, steps, n), bool)
        out[f"membranes_{ly}"] = np.zeros((batch, steps, n), np.int64)
    wall0, sim0 = time.time(), get_sim_time("ns")
    for b in range(batch):
        trace.groups.clear()
        await load(zip(job["input_addr"], job["input_words"][b]))
        status, cycles = await start_and_wait(bus, int(job["max_cycles"][b]), irq=backdoor)
        out["status"][b], out["cycles"][b] = status, cycles
        spikes, mems, _ = trace.rasters(n_outs, steps)
        counts, finals = await read_results(bus, n_outs, state_bases)
        out["counts"][b] = counts
        for ly in range(len(n_outs)):
            out[f"finals_{ly}"][b] = finals[ly]
            out[f"spikes_{ly}"][b] = spikes[ly]
            out[f"membranes_{ly}"][b] = mems[ly]
        dut._log.info(f"sample {b + 1}/{batch}: {cycles} cycles, counts {counts.tolist()}")
        if progress:
            progress.write(f"sample {b} {cycles} {','.join(map(str, counts.tolist()))}\n")
    # Simulation speed over the inference loop (inputs, runs, read-back): clock cycles per second.
    out["sim_cycles"] = np.array((get_sim_time("ns") - sim0) / CLOCK_NS)
    out["wall_s"] = np.array(time.time() - wall0)
    np.savez(os.environ["SKYSPIKE_RESULT"], **out)
