"""cocotb: the core's Wishbone slave, register by register (no CPU): identification and
capabilities, descriptor table and SRAM windows with byte selects, unmapped and read-only
accesses, writes refused while busy, soft reset, the interrupt, and inferences through the bus."""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from skyspike.spec import memmap as mm
from skyspike.spec.config import get_config
from skyspike.chip.golden import run as golden_run
from skyspike.chip.image import build_image, input_page, input_writes
from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.rtlsim.bus import (WishboneMaster, load_image, read_results, run_inference, start_and_wait,
                                 start_clock, write_all)

BUSY, DONE, BUS_ERROR, REFUSED = 1, 2, 4, 8


async def setup(dut):
    await start_clock(dut)
    return WishboneMaster(dut), get_config(os.environ.get("CONFIG", "small")), np.random.default_rng(int(os.environ.get("SEED", "5")))


def long_network(cfg, rng, steps=60):
    """A network that keeps the core busy long enough to poke at it while it runs."""
    w = rng.integers(-2, 2, (100, 40))
    return ChipNetwork([ChipLayer(w, bits=2, theta_high=3, theta_low=1),
                        ChipLayer(rng.integers(-2, 2, (40, 10)), bits=2, theta_high=2)], steps=steps)


async def expect_flags(bus, flags, addr=None):
    status = await bus.read(mm.REG["STATUS"])
    assert status & (BUS_ERROR | REFUSED) == flags, f"STATUS {status:#x}, expected flags {flags:#x}"
    if addr is not None:
        assert await bus.read(mm.REG["BUS_ADDR"]) == addr
    await bus.write(mm.REG["CTRL"], 8)  # clear the sticky flags
    assert await bus.read(mm.REG["STATUS"]) & (BUS_ERROR | REFUSED) == 0


@cocotb.test()
async def identification_and_capabilities(dut):
    bus, cfg, _ = await setup(dut)
    assert await bus.read(mm.REG["ID"]) == mm.CORE_ID
    assert await bus.read(mm.REG["VERSION"]) == mm.CORE_VERSION
    caps = [await bus.read(mm.REG[f"CAPS{i}"]) for i in range(4)]
    assert caps[0] == cfg.banks | cfg.max_slots << 8 | cfg.update_lanes << 16 | cfg.max_layers << 24
    assert caps[1] == cfg.max_neurons | cfg.max_inputs << 16
    assert caps[2] == cfg.state_neurons | cfg.max_outputs << 16
    assert caps[3] == cfg.bank_depth | cfg.input_banks << 16 | (cfg.input_depth // 256) << 24
    assert await bus.read(mm.REG["STATUS"]) == 0
    await bus.write(mm.REG["NET"], 0x0803)
    assert await bus.read(mm.REG["NET"]) == 0x0803
    await bus.write(mm.REG["CTRL"], 4)
    assert await bus.read(mm.REG["CTRL"]) == 4
    await expect_flags(bus, 0)


@cocotb.test()
async def tables_and_sram_windows(dut):
    bus, cfg, rng = await setup(dut)
    regions = [(mm.DESC_BASE, cfg.max_layers * 8, lambda i: i % 8 == 7),  # word 7 reserved: reads 0
               (mm.INPUT_BASE, cfg.input_banks * cfg.input_depth, lambda i: False),
               (mm.WEIGHT_BASE, cfg.banks * cfg.bank_depth, lambda i: False)]
    for base, words, reserved in regions:
        picks = rng.choice(words, size=min(words, 48), replace=False)
        shadow = {}
        for i in picks:
            value = int(rng.integers(0, 1 << 32))
            await bus.write(base + 4 * int(i), value)
            shadow[int(i)] = value
        for i in picks[:16]:  # byte selects
            value = int(rng.integers(0, 1 << 32))
            sel = int(rng.integers(1, 16))
            await bus.write(base + 4 * int(i), value, sel=sel)
            mask = sum(0xFF << (8 * b) for b in range(4) if sel >> b & 1)
            shadow[int(i)] = (shadow[int(i)] & ~mask) | (value & mask)
        for i, value in shadow.items():
            got = await bus.read(base + 4 * i)
            assert got == (0 if reserved(i) else value), f"{base:#x}+{4 * i:#x}: {got:#x} != {value:#x}"
    await expect_flags(bus, 0)


@cocotb.test()
async def unmapped_and_read_only(dut):
    bus, cfg, _ = await setup(dut)
    sizes = mm.region_sizes(cfg)
    holes = [0x18, 0x3C, 0x40, sizes["descriptors"][0] + sizes["descriptors"][1], 0x0C00,
             sizes["state"][0] + sizes["state"][1], mm.INPUT_BASE + sizes["inputs"][1],
             mm.WEIGHT_BASE + sizes["weights"][1], 0x3FFFC]
    for addr in holes:
        assert await bus.read(addr) == 0
        await expect_flags(bus, BUS_ERROR, addr)
        await bus.write(addr, 0x12345678)
        await expect_flags(bus, BUS_ERROR, addr)
    for name in ("ID", "VERSION", "CAPS0", "STATUS", "CYCLES", "BUS_ADDR"):
        before = await bus.read(mm.REG[name])
        await bus.write(mm.REG[name], 0xFFFFFFFF)
        after = await bus.read(mm.REG[name])
        if name == "STATUS":  # the refused write itself raises the bus-error flag
            after &= ~BUS_ERROR
        if name != "BUS_ADDR":
            assert after == before, f"{name} changed by a write: {before:#x} -> {after:#x}"
        await expect_flags(bus, BUS_ERROR, mm.REG[name])
    for addr in (mm.COUNT_BASE, mm.STATE_BASE + 4):
        await bus.write(addr, 1)
        await expect_flags(bus, BUS_ERROR, addr)


@cocotb.test()
async def refused_while_busy_and_soft_reset(dut):
    bus, cfg, rng = await setup(dut)
    net = long_network(cfg, rng)
    image = build_image(net, cfg)
    x = rng.random((2, net.steps, net.layers[0].n_in)) < 0.5
    gold = golden_run(net, x, cfg)
    await load_image(bus, image)
    w_addr = mm.WEIGHT_BASE + 4
    w_before = await bus.read(w_addr)
    d_before = await bus.read(mm.DESC_BASE)
    # Start, then try to disturb the run.
    for addr, word in input_writes(x[0], image):
        await bus.write(addr, word)
    await bus.write(mm.REG["CTRL"], 1)
    assert await bus.read(mm.REG["STATUS"]) & BUSY
    for addr in (w_addr, mm.DESC_BASE, mm.INPUT_BASE, mm.REG["NET"]):
        await bus.write(addr, 0xDEADBEEF)
        await expect_flags(bus, REFUSED, addr)
    for _ in range(int(gold.cycles[0])):
        if await bus.read(mm.REG["STATUS"]) & DONE:
            break
    assert await bus.read(mm.REG["CYCLES"]) == gold.cycles[0]
    assert await bus.read(w_addr) == w_before and await bus.read(mm.DESC_BASE) == d_before
    counts, _ = await read_results(bus, [ly.n_out for ly in net.layers],
                                   [lp.state_base for lp in image.placement.layers])
    assert np.array_equal(counts, gold.counts[0])

    # Soft reset in the middle of a run: back to idle at once, done and error cleared; runs still work.
    await bus.write(mm.REG["CTRL"], 1)
    await ClockCycles(dut.clk, 50)
    assert await bus.read(mm.REG["STATUS"]) & BUSY
    await bus.write(mm.REG["CTRL"], 2)
    assert await bus.read(mm.REG["STATUS"]) & (BUSY | DONE) == 0
    status, cycles = await run_inference(bus, image, x[1], max_cycles=2 * int(gold.cycles[1]) + 100)
    assert status & 0xFF0F == DONE and cycles == gold.cycles[1]
    counts, _ = await read_results(bus, [ly.n_out for ly in net.layers],
                                   [lp.state_base for lp in image.placement.layers])
    assert np.array_equal(counts, gold.counts[1])


@cocotb.test()
async def double_buffered_inputs(dut):
    """NET.input_base: while one inference runs from page 0 of the input buffer, the next one's
    input is written to page 1 (accepted: only the running frames are locked), then run from
    there; both equal the golden model. A write into the running frames is refused."""
    bus, cfg, rng = await setup(dut)
    net = long_network(cfg, rng, steps=6)
    image = build_image(net, cfg)
    x = rng.random((2, net.steps, net.layers[0].n_in)) < 0.5
    gold = golden_run(net, x, cfg)
    page = input_page(image)
    assert 2 * page <= cfg.input_depth
    await load_image(bus, image)
    await write_all(bus, input_writes(x[0], image))
    await bus.write(mm.REG["CTRL"], 1)
    await ClockCycles(dut.clk, 5)           # the run knows its span from its third cycle
    assert await bus.read(mm.REG["STATUS"]) & BUSY
    await write_all(bus, input_writes(x[1], image, base=page))
    await expect_flags(bus, 0)
    await bus.write(mm.INPUT_BASE + 4 * (page - 1), 0xDEADBEEF)   # the running page's last word
    await expect_flags(bus, REFUSED, mm.INPUT_BASE + 4 * (page - 1))
    for b, base in enumerate((0, page)):
        if b:   # the second inference, from page 1
            await bus.write(mm.REG["NET"], mm.NET.pack(n_layers=len(net.layers), steps=net.steps, input_base=base))
            status, cycles = await start_and_wait(bus, 2 * int(gold.cycles[b]) + 100)
        else:   # the first one, still running
            while not (status := await bus.read(mm.REG["STATUS"])) & DONE:
                pass
            cycles = await bus.read(mm.REG["CYCLES"])
        assert status & 0xFF0F == DONE and cycles == gold.cycles[b], (b, status, cycles)
        counts, _ = await read_results(bus, [ly.n_out for ly in net.layers],
                                       [lp.state_base for lp in image.placement.layers])
        assert np.array_equal(counts, gold.counts[b]), b


@cocotb.test()
async def interrupt(dut):
    bus, cfg, rng = await setup(dut)
    net = long_network(cfg, rng, steps=3)
    image = build_image(net, cfg)
    x = rng.random((1, 3, net.layers[0].n_in)) < 0.5
    await load_image(bus, image)
    await write_all(bus, input_writes(x[0], image))
    await ReadOnly()
    assert dut.irq.value == 0
    await RisingEdge(dut.clk)
    await start_and_wait(bus, 10000, irq=True)
    await ReadOnly()
    assert dut.irq.value == 1
    await RisingEdge(dut.clk)
    await bus.write(mm.REG["CTRL"], 0)  # disable: the line drops
    await ReadOnly()
    assert dut.irq.value == 0
