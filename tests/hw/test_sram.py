# amaranth: UnusedElaboratable=no
"""Tests of the OpenRAM sky130 SRAM macro model (hw/skyspike_hw/sram.py)."""

import os
import random
from pathlib import Path

import pytest
from amaranth.hdl import ClockDomain, Elaboratable, Module, Shape
from amaranth.lib.wiring import In
from amaranth.sim import Simulator
from tb_sram import IDLE, INPUTS, OUTPUTS, Checker, SRAMRef, init_word, traffic

from skyspike.spec.config import SRAM_MACROS
from skyspike_hw.gen import verilog_text, write_if_changed
from skyspike_hw.ports import SRAMReadSignature, SRAMReadWriteSignature
from skyspike_hw.sram import SRAMMacro

DEPTHS = list(SRAM_MACROS)
BUILD = Path(__file__).resolve().parents[2] / "build" / "test_sram"


def flat_ports(dut):
    """The DUT's signals by their top-level Verilog names (``p0.en`` -> ``p0_en``)."""
    return {"_".join(map(str, path)): value for path, _, value in dut.signature.flatten(dut)}


def simulate(dut, bench):
    """Run `bench(ctx, step, rst)`: `await step(inputs)` drives the inputs for one rising edge and
    returns the outputs as seen in the cycle after it."""
    m = Module()
    m.domains.sync = cd = ClockDomain()
    m.submodules.dut = dut
    port = flat_ports(dut)

    async def step(ctx, c):
        for k in INPUTS:
            ctx.set(port[k], c.get(k, IDLE[k]))
        await ctx.tick()
        return {k: ctx.get(port[k]) for k in OUTPUTS}

    async def testbench(ctx):
        await bench(ctx, lambda c: step(ctx, c), cd.rst)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def pick_seed():
    """$SEED if set (to reproduce a failure), else a fresh random seed; printed either way."""
    seed = int(os.environ.get("SEED") or random.randrange(2**32))
    print(f"SEED={seed}")
    return seed


def new_sram(depth):
    return SRAMMacro(depth, sim_model=True, init=[init_word(i) for i in range(depth)])


@pytest.mark.parametrize("depth", DEPTHS)
def test_random_traffic(depth):
    seed = pick_seed()
    ref, dut = SRAMRef([init_word(i) for i in range(depth)]), new_sram(depth)
    chk = Checker(ref)

    async def bench(ctx, step, rst):
        for i, c in enumerate(traffic(random.Random(seed), depth, 2000, collide=False)):
            chk.check(i, c, ref.edge(c), await step(c))

    simulate(dut, bench)
    chk.assert_ok(seed)
    assert chk.garbage > 1000 and not ref.collision


def test_read_latency_and_window():
    dut, a, b, word = new_sram(256), 0x42, 0x43, 0xCAFEF00D

    async def bench(ctx, step, rst):
        await step(dict(p0_en=1, p0_we=1, p0_wmask=0xF, p0_addr=a, p0_wdata=word))
        o = await step(dict(p0_addr=a, p1_addr=a))  # cycle after the write: nothing read
        assert word not in (o["p0_rdata"], o["p1_data"]) and not o["p0_valid"]
        o = await step(dict(p0_en=1, p0_addr=a, p1_en=1, p1_addr=a))  # read issued at this edge
        assert (o["p0_rdata"], o["p1_data"], o["p0_valid"], o["p1_valid"]) == (word, word, 1, 1)
        o = await step(dict(p0_addr=a, p1_addr=a))  # one cycle later the word is gone
        assert word not in (o["p0_rdata"], o["p1_data"]) and not o["p1_valid"]
        # Back-to-back reads stream one word per cycle.
        o = await step(dict(p1_en=1, p1_addr=a))
        assert o["p1_data"] == word
        o = await step(dict(p1_en=1, p1_addr=b))
        assert o["p1_data"] == init_word(b)

    simulate(dut, bench)


def test_garbage_when_not_selected():
    dut, a, word = new_sram(512), 0x1A5, 0x0BADBEEF

    async def bench(ctx, step, rst):
        await step(dict(p0_en=1, p0_we=1, p0_wmask=0xF, p0_addr=a, p0_wdata=word))
        seen = [[], []]
        for _ in range(64):  # addresses held at `a`, ports deselected
            o = await step(dict(p0_addr=a, p1_addr=a))
            seen[0].append(o["p0_rdata"])
            seen[1].append(o["p1_data"])
        for s in seen:
            assert s.count(word) <= 1  # never (odds 2^-32) the stored word ...
            assert len(set(s)) > 60    # ... nor a held value: it changes every cycle
        assert seen[0] != seen[1]      # and each port has its own pattern

    simulate(dut, bench)


def test_byte_masks():
    dut, ref = new_sram(256), SRAMRef([init_word(i) for i in range(256)])

    async def bench(ctx, step, rst):
        for mask in range(16):
            wr = dict(IDLE, p0_en=1, p0_we=1, p0_wmask=mask, p0_addr=mask, p0_wdata=0x22446688)
            ref.edge(wr)
            await step(wr)
        for mask in range(16):
            o = await step(dict(p0_en=1, p0_addr=mask, p1_en=1, p1_addr=mask))
            assert o["p0_rdata"] == o["p1_data"] == ref.mem[mask]
        old = init_word(5)  # mask 0b0101: bytes 0 and 2 new, 1 and 3 old
        assert ref.mem[5] == (0x22446688 & 0x00FF00FF) | (old & 0xFF00FF00)

    simulate(dut, bench)


def test_port0_write_gives_no_read_data():
    dut = new_sram(256)

    async def bench(ctx, step, rst):
        for _ in range(20):
            o = await step(dict(p0_en=1, p0_we=1, p0_wmask=0, p0_addr=7))
            assert not o["p0_valid"] and o["p0_rdata"] != init_word(7)

    simulate(dut, bench)


def test_collision_directed():
    dut = new_sram(256)
    write = dict(p0_en=1, p0_we=1, p0_wmask=0xF, p0_addr=9, p0_wdata=1)

    async def bench(ctx, step, rst):
        harmless = [dict(write, p1_en=1, p1_addr=10),          # different address
                    dict(write, p1_en=0, p1_addr=9),           # port 1 not reading
                    dict(write, p0_we=0, p1_en=1, p1_addr=9),  # port 0 reads, no write
                    dict(write, p0_en=0, p1_en=1, p1_addr=9)]  # port 0 idle
        for c in harmless:
            o = await step(c)
            assert not o["collision"], c
        o = await step(dict(write, p1_en=1, p1_addr=9))
        assert o["collision"] and not o["p1_valid"] and o["p1_data"] != 1
        for _ in range(5):  # sticky ...
            assert (await step({}))["collision"]
        ctx.set(rst, 1)     # ... until reset
        await step({})
        ctx.set(rst, 0)
        assert not (await step({}))["collision"]

    simulate(dut, bench)


@pytest.mark.parametrize("depth", DEPTHS)
def test_collision_random(depth):
    """Short random episodes between resets: the flag rises exactly at the first collision."""
    seed = pick_seed()
    ref, dut = SRAMRef([init_word(i) for i in range(depth)]), new_sram(depth)
    chk, raised = Checker(ref), []

    async def bench(ctx, step, rst):
        rng = random.Random(seed)
        for episode in range(60):
            ctx.set(rst, 1)
            await step({})
            ctx.set(rst, 0)
            ref.collision = False
            for i, c in enumerate(traffic(rng, depth, 30, collide=True)):
                chk.check(f"{episode}.{i}", c, ref.edge(c), await step(c))
            raised.append(ref.collision)

    simulate(dut, bench)
    chk.assert_ok(seed)
    assert 0 < sum(raised) < len(raised)


@pytest.mark.parametrize("depth", [0, 128, 1024, "256", None])
def test_bad_depth(depth):
    with pytest.raises(ValueError, match=repr(depth)):
        SRAMMacro(depth, sim_model=True)


def test_init_needs_sim_model():
    with pytest.raises(ValueError):
        SRAMMacro(256, sim_model=False, init=[1, 2, 3])


def test_default_contents_are_not_zero():
    dut = SRAMMacro(256, sim_model=True)
    assert len(dut.init) == 256 and dut.init.count(0) < 3


@pytest.mark.parametrize("depth", DEPTHS)
def test_signature_and_table(depth):
    macro = SRAM_MACROS[depth]
    abits = macro.addr_bits
    dut = SRAMMacro(depth, sim_model=False)
    assert dut.signature.members["p0"] == In(SRAMReadWriteSignature(abits))
    assert dut.signature.members["p1"] == In(SRAMReadSignature(abits))
    widths = {"_".join(path): (m.flow.value, Shape.cast(m.shape).width)
              for path, m, _ in dut.signature.flatten(dut)}
    assert widths == {
        "p0_en": ("In", 1), "p0_we": ("In", 1), "p0_wmask": ("In", 4), "p0_addr": ("In", abits),
        "p0_wdata": ("In", 32), "p0_rdata": ("Out", 32), "p1_en": ("In", 1),
        "p1_addr": ("In", abits), "p1_data": ("Out", 32), "p0_valid": ("Out", 1),
        "p1_valid": ("Out", 1), "collision": ("Out", 1)}
    assert 1 << abits == depth and dut.macro_name == macro.name
    assert macro.area_um2 == pytest.approx({256: 190712.55, 512: 284538.47}[depth])


@pytest.mark.parametrize("depth", DEPTHS)
def test_macro_instance_verilog(depth):
    text = verilog_text(SRAMMacro(depth, sim_model=False), "sram_top")
    assert f"{SRAM_MACROS[depth].name} " in text
    for pin in ("clk0", "csb0", "web0", "wmask0", "addr0", "din0", "dout0",
                "clk1", "csb1", "addr1", "dout1"):
        assert f".{pin}(" in text
    assert "vccd1" not in text and "reg " not in text  # a pure black box, no model inside


# --- cocotb on the generated Verilog -------------------------------------------------------------

@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.verilator)])
@pytest.mark.parametrize("depth", DEPTHS)
def test_cocotb_sram(sim, depth):
    """tb_sram.py on the Verilog of the model; SEED=<n> reproduces a run."""
    from simrun import run_cocotb

    seed = str(pick_seed())
    build = BUILD / f"sram{depth}_{sim}"  # one folder per configuration: simrun caches builds
    src = write_if_changed(build / "sram_sim.v", verilog_text(new_sram(depth), "sram_sim"))
    run_cocotb([src], "sram_sim", "tb_sram", build_dir=build, sim=sim,
               extra_env={"SEED": seed})


class _OnPlatform(Elaboratable):
    """Elaborate ``inner`` for ``platform`` (the simulator elaborates with none)."""

    def __init__(self, inner, platform):
        self.inner, self.platform = inner, platform

    def elaborate(self, _):
        from amaranth.hdl import Fragment
        return Fragment.get(self.inner, self.platform)


def bare_ecp5():
    """An ECP5 build platform without a board (any build platform means an FPGA)."""
    from amaranth.vendor import LatticeECP5Platform

    class Bare(LatticeECP5Platform):
        device, package, speed, resources, connectors = "LFE5U-85F", "BG381", "6", [], []
    return Bare()


def test_kind_is_the_platforms_choice():
    from skyspike_hw.sram import sram_kind
    assert sram_kind(None, True) == "model" and sram_kind(None, False) == "macro"
    fpga = bare_ecp5()
    assert sram_kind(fpga, True) == sram_kind(fpga, False) == "bram"


@pytest.mark.parametrize("depth", DEPTHS)
def test_bram_reads_like_the_macro(depth):
    """On an FPGA platform the macro is block RAM with its cycle behaviour: every read the
    model answers (one cycle after the edge that issued it) gets the same word."""
    seed = pick_seed()
    sram = SRAMMacro(depth, sim_model=True, init=[init_word(i) for i in range(depth)])
    ref, dut = SRAMRef([init_word(i) for i in range(depth)]), sram
    errors = []
    wrapper = _OnPlatform(sram, bare_ecp5())

    m = Module()
    m.domains.sync = ClockDomain()
    m.submodules.dut = wrapper
    port = flat_ports(dut)

    async def testbench(ctx):
        for i, c in enumerate(traffic(random.Random(seed), depth, 1000, collide=False)):
            for k in INPUTS:
                ctx.set(port[k], c.get(k, IDLE[k]))
            exp = ref.edge(c)
            await ctx.tick()
            for p, name in ((0, "p0_rdata"), (1, "p1_data")):
                if exp[p] is not None and ctx.get(port[name]) != exp[p]:
                    errors.append(f"cycle {i}: p{p} got {ctx.get(port[name]):#x}, want {exp[p]:#x}")
            assert ctx.get(port["collision"]) == 0

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert not errors, f"seed {seed}:\n" + "\n".join(errors[:10])
