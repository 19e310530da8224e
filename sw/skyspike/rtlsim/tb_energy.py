"""cocotb module of the energy measurement: inferences on the gate-level core, each one's
window of simulated time recorded for the activity (skyspike.rtlsim.energy).

Plan (JSON, path in $SKYSPIKE_PLAN): {"config": name, "idle_cycles": n, "cases": [{"network":
netfile, "inputs": npz with "x"}]}. Windows (JSON, path in $SKYSPIKE_WINDOWS): a list of
{"kind": "idle" | "inference", "case", "sample", "start_ns", "end_ns", "cycles"}: an idle
window (clock running, core waiting) first, then one per inference, from the start strobe's
cycle to the rising edge of ``irq`` (done). Each inference's cycles must equal the golden
model's prediction.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, First, RisingEdge
from cocotb.utils import get_sim_time

from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image, image_writes, input_writes
from skyspike.chip.netfile import load_network
from skyspike.spec import memmap as mm
from skyspike.spec.config import get_config
from skyspike.rtlsim.bus import WishboneMaster, start_clock, write_all, write_backdoor


@cocotb.test()
async def energy_windows(dut):
    plan = json.loads(Path(os.environ["SKYSPIKE_PLAN"]).read_text())
    cfg = get_config(plan["config"])
    await start_clock(dut)
    bus = WishboneMaster(dut)
    windows = []
    idle = int(plan.get("idle_cycles", 0))
    if idle:
        await RisingEdge(dut.clk)
        t0 = get_sim_time("ns")
        await ClockCycles(dut.clk, idle)
        windows.append({"kind": "idle", "case": -1, "sample": -1, "start_ns": t0, "end_ns": get_sim_time("ns"),
                        "cycles": idle})
    for c, case in enumerate(plan["cases"]):
        net = load_network(case["network"])
        x = np.load(case["inputs"])["x"]
        image = build_image(net, cfg)
        gold = golden_run(net, x, cfg)
        # The image straight into the SRAM models (descriptors over the bus): the bus cycles
        # of a load are not what is measured, and cost most of the simulation time.
        await write_backdoor(bus, image_writes(image), cfg.bank_depth, cfg.input_depth, gate_level=True)
        for b in range(len(x)):
            await write_all(bus, input_writes(x[b], image))
            t0 = get_sim_time("ns")
            await bus.write(mm.REG["CTRL"], mm.CTRL.pack(start=1, irq_en=1))
            limit = 2 * int(gold.cycles[b]) + 100
            await First(RisingEdge(dut.irq), ClockCycles(dut.clk, limit))
            t1 = get_sim_time("ns")
            status = await bus.read(mm.REG["STATUS"])
            cycles = await bus.read(mm.REG["CYCLES"])
            if not status & mm.STATUS.mask("done") or cycles != int(gold.cycles[b]):
                raise AssertionError(f"case {c} sample {b}: status {status:#x}, {cycles} cycles "
                                     f"(golden: {int(gold.cycles[b])})")
            windows.append({"kind": "inference", "case": c, "sample": b, "start_ns": t0, "end_ns": t1,
                            "cycles": cycles})
            dut._log.info(f"case {c} sample {b}: {cycles} cycles")
    with open(os.environ["SKYSPIKE_WINDOWS"], "w") as f:
        json.dump(windows, f)
