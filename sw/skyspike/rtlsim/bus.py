"""cocotb-side helpers: a Wishbone master for the core's bus, a monitor of the engine's
update trace, and the load/run/read sequence of one inference."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge

from skyspike.spec import memmap as mm
from skyspike.spec.layouts import STATE_ENTRY
from skyspike.chip.golden import GoldenResult
from skyspike.chip.image import ChipImage, image_writes, input_writes
from skyspike.chip.readback import state_membranes
from skyspike.chip.readout import compare as compare_runs

CLOCK_NS = 10  # simulated clock period


class WishboneMaster:
    """Single accesses, Wishbone B4 classic: strobe until ack (two cycles each here)."""

    def __init__(self, dut, timeout: int = 16):
        self.dut = dut
        self.timeout = timeout
        dut.wb_cyc.value = 0
        dut.wb_stb.value = 0
        dut.wb_we.value = 0
        dut.wb_sel.value = 0
        dut.wb_adr.value = 0
        dut.wb_dat_w.value = 0

    async def _access(self, addr: int, we: bool, data: int = 0, sel: int = 0xF) -> int:
        d = self.dut
        d.wb_cyc.value = 1
        d.wb_stb.value = 1
        d.wb_we.value = int(we)
        d.wb_sel.value = sel
        d.wb_adr.value = addr >> 2
        d.wb_dat_w.value = data
        for _ in range(self.timeout):
            await RisingEdge(d.clk)
            await ReadOnly()
            if d.wb_ack.value == 1:
                value = int(d.wb_dat_r.value) if not we else 0
                await RisingEdge(d.clk)
                d.wb_cyc.value = 0
                d.wb_stb.value = 0
                return value
        raise AssertionError(f"no Wishbone ack for {'write' if we else 'read'} at {addr:#x}")

    async def write(self, addr: int, data: int, sel: int = 0xF) -> None:
        await self._access(addr, True, data, sel)

    async def read(self, addr: int) -> int:
        return await self._access(addr, False)


class UpdateTrace:
    """Collects the engine's per-update-group trace into spike and membrane rasters."""

    def __init__(self, dut, lanes: int):
        self.dut = dut
        self.lanes = lanes
        self.groups: list[tuple[int, int, int, int, int, int]] = []

    async def run(self):
        d = self.dut
        await RisingEdge(d.clk)
        while True:
            await ReadOnly()
            if d.dbg_valid.value == 1:
                # Lanes past n_out carry undefined state: keep the raw bit string, judge valid lanes only.
                self.groups.append((int(d.dbg_step.value), int(d.dbg_layer.value), int(d.dbg_neuron.value),
                                    int(d.dbg_lanes.value), str(d.dbg_spikes.value), str(d.dbg_v.value)))
                await RisingEdge(d.clk)
            else:
                # Sleep through the cycles without an update group (most of them): waking the
                # monitor at every clock made the simulation several times slower.
                await RisingEdge(d.dbg_valid)

    def rasters(self, n_outs: list[int], steps: int):
        spikes = [np.zeros((steps, n), bool) for n in n_outs]
        mems = [np.full((steps, n), -99999, np.int64) for n in n_outs]
        seen = [np.zeros((steps, n), int) for n in n_outs]
        v_field = STATE_ENTRY["v"]     # dbg_v: one membrane per lane, as in a state entry
        width = v_field.width
        for t, ly, n0, lanes, spk, vs in self.groups:
            for u in range(self.lanes):
                if lanes >> u & 1:
                    n = n0 + u
                    vbits = vs[len(vs) - width * (u + 1): len(vs) - width * u]
                    sbit = spk[len(spk) - 1 - u]
                    if set(vbits) <= {"0", "1"}:
                        mems[ly][t, n] = v_field.get(int(vbits, 2))
                    else:
                        mems[ly][t, n] = -99998  # undefined: never equals a golden value
                    spikes[ly][t, n] = sbit == "1"
                    seen[ly][t, n] += 1 if sbit in "01" else 100
        return spikes, mems, seen


async def start_clock(dut):
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    # A real 0 -> 1 edge on rst: Icarus evaluates the generated `always @*` blocks only on
    # events, so a reset that is high from time 0 would leave registers X.
    for name in ("wb_cyc", "wb_stb", "wb_we", "wb_sel", "wb_adr", "wb_dat_w"):
        getattr(dut, name).value = 0
    dut.rst.value = 0
    await ClockCycles(dut.clk, 1)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def write_all(bus: WishboneMaster, writes) -> None:
    """Perform (byte address, word) writes in order."""
    for addr, word in writes:
        await bus.write(int(addr), int(word))


async def load_image(bus: WishboneMaster, image: ChipImage) -> None:
    await write_all(bus, image_writes(image))


def sram_words(dut, bank: str, gate_level: bool = False):
    """The word array of SRAM model ``bank`` (e.g. "wbank3", "ibank0") in the generated Verilog:
    the ``mem`` memory of :class:`skyspike_hw.sram.SRAMMacro`'s simulation model, under the flat
    (escaped) name the Verilog generator gives it; ``gate_level``: in the macro model
    (:class:`skyspike_hw.flow.gls.MacroModel`) of the netlist's instance ``<bank>_macro``."""
    if gate_level:
        return dut._id(f"{bank}_macro", extended=False)._id("\\sram.mem ", extended=False)
    return dut._id(f"\\{bank}.mem ", extended=False)


async def write_backdoor(bus: WishboneMaster, writes, bank_depth: int, input_depth: int,
                         gate_level: bool = False) -> None:
    """(byte address, word) writes, those into the weight and input SRAMs straight into the
    SRAM models, the rest (NET, descriptors) over the bus: a simulation shortcut (the bus path
    is what the regression and a host use) that loads the chip configuration's 2,000 weight
    words in milliseconds instead of a minute of simulated bus cycles."""
    bus_writes = []
    for addr, word in writes:
        addr = int(addr)
        if addr >= mm.WEIGHT_BASE:
            bank, a = divmod((addr - mm.WEIGHT_BASE) >> 2, bank_depth)
            sram_words(bus.dut, f"wbank{bank}", gate_level)[a].value = int(word)
        elif addr >= mm.INPUT_BASE:
            bank, a = divmod((addr - mm.INPUT_BASE) >> 2, input_depth)
            sram_words(bus.dut, f"ibank{bank}", gate_level)[a].value = int(word)
        else:
            bus_writes.append((addr, word))
    await write_all(bus, bus_writes)
    await RisingEdge(bus.dut.clk)


async def start_and_wait(bus: WishboneMaster, max_cycles: int, irq: bool = False) -> tuple[int, int]:
    """Start an inference and wait until done; returns (status, cycles). ``irq``: sleep until the
    core's interrupt (one wake-up), else poll STATUS over the bus as a host without one would."""
    await bus.write(mm.REG["CTRL"], mm.CTRL.pack(start=1, irq_en=irq))
    if irq:
        await First(RisingEdge(bus.dut.irq), ClockCycles(bus.dut.clk, max_cycles + 10))
    for _ in range(max_cycles // 2 + 10):  # a poll takes two cycles
        status = await bus.read(mm.REG["STATUS"])
        if status & mm.STATUS.mask("done"):
            return status, await bus.read(mm.REG["CYCLES"])
    raise AssertionError(f"inference did not finish within {max_cycles} cycles")


async def run_inference(bus: WishboneMaster, image: ChipImage, spikes: np.ndarray, max_cycles: int = 1_000_000):
    """Load one inference's inputs, start, wait for done; returns (status, cycles)."""
    await write_all(bus, input_writes(spikes, image))
    return await start_and_wait(bus, max_cycles)


async def read_results(bus: WishboneMaster, n_outs: list[int], state_bases: list[int]):
    """Output spike counts and every layer's final membranes, read over the bus."""
    counts = [await bus.read(mm.COUNT_BASE + 4 * n) for n in range(n_outs[-1])]
    finals = []
    for base, n_out in zip(state_bases, n_outs):
        finals.append(state_membranes([await bus.read(mm.STATE_BASE + 4 * (base + n)) for n in range(n_out)]))
    return np.array(counts), finals


def compare(gold: GoldenResult, b: int, spikes, mems, seen, counts, finals, cycles, label: str) -> list[str]:
    """Every mismatch between one RTL run (its update-trace rasters, counts and final membranes
    read over the bus, cycles) and golden sample ``b``, as text (empty = equal);
    :func:`skyspike.chip.readout.compare` decides, plus the trace's own check that every
    neuron was updated once per step."""
    errs = [f"{label}: layer {ly}: neurons updated {s.min()}..{s.max()} times per step"
            for ly, s in enumerate(seen) if not np.all(s == 1)]
    rtl = SimpleNamespace(spikes=[s[None] for s in spikes], membranes=[m[None] for m in mems],
                          finals=[np.asarray(f)[None] for f in finals], counts=np.asarray(counts)[None],
                          cycles=np.array([cycles]))
    return errs + [f"{label}: {m.what} differ (rtl != golden): {m.detail}"
                   for m in compare_runs(rtl, gold, ref_samples=[b])]
