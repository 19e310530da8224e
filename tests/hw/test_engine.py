# amaranth: UnusedElaboratable=no
"""The Engine (FSM + InputRouter + WeightFetch + NeuronState + OutputStage) on Amaranth's
simulator, its SRAMs modelled by the bench: every update group's spikes and membranes (the
dbg_* trace), the spike counters, the final neuron states and the cycle count against
skyspike.chip.golden.run. (tests/hw/test_core.py runs the same on the generated Verilog.)

Every randomized test prints its seed; SEED=<n> replays it.
"""
from __future__ import annotations

import numpy as np
import pytest

from blocksim import pick_seed, simulate
from skyspike.chip import golden
from skyspike.chip.image import build_image, input_page, pack_inputs
from skyspike.chip.network import ChipLayer, ChipNetwork, input_bitmaps
from skyspike.chip.testing import random_inputs, random_network, random_weights
from skyspike.spec.config import CONFIGS
from skyspike.spec.layouts import STATE_ENTRY
from skyspike.spec.memmap import ERROR_CODE
from skyspike_hw.descriptor import DescriptorDecode, derived_layout
from skyspike_hw.engine import Engine
from skyspike_hw.inputs import InputRouter
from skyspike_hw.neuron_state import NeuronState
from skyspike_hw.outputs import OutputStage
from skyspike_hw.ports import SRAMReadSignature
from skyspike_hw.synapse import SynapseArray
from skyspike_hw.weights import WeightFetch


def sram_cycle(ctx, ports, memory):
    """The reads of this cycle, as (port, word) to present after the clock edge."""
    return [(port, int(memory[j, ctx.get(port.addr)])) for j, port in enumerate(ports) if ctx.get(port.en)]


def present(ctx, ports, reads, rng):
    """SRAM data as the core's dout registers present it, two cycles after the read: the
    word read, else garbage."""
    for port in ports:
        ctx.set(port.data, int(rng.integers(0, 1 << 32)))
    for port, word in reads:
        ctx.set(port.data, word)


async def run_engine(ctx, dut, image, inputs, rng, max_cycles: int, input_base: int = 0):
    """One inference (its frames at ``input_base`` of ``inputs``): the update trace
    {(step, layer, neuron): (spike, v)} and the cycles."""
    cfg = image.cfg
    desc = [sum(int(w) << (32 * j) for j, w in enumerate(words)) for words in image.descriptors]
    desc += [0] * (cfg.max_layers - len(desc))
    ctx.set(dut.n_layers, image.n_layers)
    ctx.set(dut.steps, image.steps)
    ctx.set(dut.seed, image.seed)
    ctx.set(dut.input_base, input_base)
    ctx.set(dut.start, 1)
    banks = image_banks(image)
    trace = {}
    in_flight = [([], [])]   # the reads of the cycle before
    for _ in range(max_cycles):
        ctx.set(dut.desc.as_value(), desc[ctx.get(dut.desc_index)])
        if ctx.get(dut.dbg_valid):
            step, layer, n0 = ctx.get(dut.dbg_step), ctx.get(dut.dbg_layer), ctx.get(dut.dbg_neuron)
            lanes, spikes = ctx.get(dut.dbg_lanes), ctx.get(dut.dbg_spikes)
            for u in range(cfg.update_lanes):
                if lanes >> u & 1:
                    trace[step, layer, n0 + u] = (bool(spikes >> u & 1), ctx.get(dut.dbg_v[u]))
        in_flight.append((sram_cycle(ctx, dut.w, banks), sram_cycle(ctx, dut.inp, inputs)))
        await ctx.tick()
        ctx.set(dut.start, 0)
        w_reads, in_reads = in_flight.pop(0)
        present(ctx, dut.w, w_reads, rng)
        present(ctx, dut.inp, in_reads, rng)
        if ctx.get(dut.done):
            return trace, ctx.get(dut.cycles)
    raise AssertionError(f"no done within {max_cycles} cycles")


def image_banks(image) -> np.ndarray:
    banks = np.zeros((image.cfg.banks, image.cfg.bank_depth), np.uint32)
    banks[:, :image.weights.shape[1]] = image.weights
    return banks


def test_engine_vs_golden():
    cfg = CONFIGS["small"]
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(8):
        net = random_network(rng, cfg, max_steps=4)
        x = random_inputs(rng, net)
        cases.append((net, x, build_image(net, cfg), golden.run(net, x, cfg)))
    # Folded layers for sure: explicit folds that split a layer into chunks of one bank, an
    # automatic fold, and 2 slots x 2 folds.
    w = lambda n_in, n_out, bits: random_weights(rng, n_in, n_out, bits)  # noqa: E731
    net = ChipNetwork([ChipLayer(w(40, 24, 4), bits=4, theta_high=6, slots=1, folds=4, bias=w(3, 24, 4)),
                       ChipLayer(w(24, 10, 2), bits=2, theta_high=2, slots=1),
                       ChipLayer(w(10, 6, 1), bits=1, theta_high=1, slots=2, folds=2)], steps=3)
    x = random_inputs(rng, net, density=0.4)
    cases.append((net, x, build_image(net, cfg), golden.run(net, x, cfg)))
    assert [lp.fold for lp in cases[-1][2].placement.layers] == [4, 2, 2]
    # Direct input for sure: 8-bit values into a layer of several chunks with bias rows.
    net = ChipNetwork([ChipLayer(w(70, 40, 4), bits=4, theta_high=300, theta_low=100, bias=w(5, 40, 4)),
                       ChipLayer(w(40, 6, 8), bits=8, theta_high=40)], steps=4, input_mode="direct", input_bits=8)
    x = random_inputs(rng, net, density=0.5)
    cases.append((net, x, build_image(net, cfg), golden.run(net, x, cfg)))
    assert cases[-1][2].placement.layers[0].chunks > 1
    # Rate-coded input for sure: 2-bit values, a seed of 0 (its generators start from the mix alone).
    net = ChipNetwork([ChipLayer(w(100, 12, 2), bits=2, theta_high=3, theta_low=1),
                       ChipLayer(w(12, 5, 4), bits=4, theta_high=6)], steps=3, input_mode="rate", input_bits=2, seed=0)
    x = random_inputs(rng, net, density=0.7)
    cases.append((net, x, build_image(net, cfg), golden.run(net, x, cfg)))
    dut = Engine(cfg)
    errors = []

    async def bench(ctx):
        for k, (net, x, image, gold) in enumerate(cases):
            # the frames somewhere in the input buffer (NET.input_base), garbage around them
            packed = pack_inputs(input_bitmaps(x, net)[0], cfg, image.placement)
            base = int(rng.integers(0, cfg.input_depth - input_page(image) + 1)) if k % 2 else 0
            inputs = rng.integers(0, 1 << 32, packed.shape, dtype=np.uint64).astype(np.uint32)
            inputs[:, base:base + input_page(image)] = packed[:, :input_page(image)]
            trace, cycles = await run_engine(ctx, dut, image, inputs, rng, 2 * int(gold.cycles[0]) + 50, base)
            label = f"case {k} ({[ly.n_out for ly in net.layers]}, {net.steps} steps, {net.input_mode} input)"
            if ctx.get(dut.error):
                errors.append(f"{label}: error {ctx.get(dut.error)}")
            if cycles != gold.cycles[0]:
                errors.append(f"{label}: {cycles} cycles, golden {gold.cycles[0]}")
            want = {(t, i, n): (bool(gold.spikes[i][0, t, n]), int(gold.membranes[i][0, t, n]))
                    for i, ly in enumerate(net.layers) for t in range(net.steps) for n in range(ly.n_out)}
            if trace != want:
                diff = sorted(key for key in want.keys() | trace.keys() if trace.get(key) != want.get(key))
                errors.append(f"{label}: trace differs at (step, layer, neuron) {diff[:5]}: "
                              f"{[trace.get(d) for d in diff[:5]]} golden {[want.get(d) for d in diff[:5]]}")
            counts = []
            for n in range(net.layers[-1].n_out):
                ctx.set(dut.count_index, n)
                counts.append(ctx.get(dut.count_data))
            if counts != gold.counts[0].tolist():
                errors.append(f"{label}: counts {counts} golden {gold.counts[0].tolist()}")
            for i, lp in enumerate(image.placement.layers):
                finals = []
                for n in range(net.layers[i].n_out):
                    ctx.set(dut.state_index, lp.state_base + n)
                    finals.append(STATE_ENTRY.unpack(ctx.get(dut.state_data.as_value()))["v"])
                if finals != gold.final_membranes[i][0].tolist():
                    errors.append(f"{label}: layer {i} final membranes {finals} golden {gold.final_membranes[i][0]}")

    simulate(dut, bench, clock=True)
    assert not errors, "\n".join(errors)
    assert sum(int(gold.counts.sum()) for *_, gold in cases) > 0, "no output spikes: a weak check"


def test_verdict_latency_is_the_golden_models():
    assert Engine.VERDICT_CYCLES == golden.VERDICT_CYCLES


def test_engine_abort_and_errors():
    """A bad layer count is reported after the start strobe and VALIDATE (2 cycles); abort in
    the middle of a run leaves the engine idle with done and error clear."""
    cfg = CONFIGS["small"]
    rng = np.random.default_rng(pick_seed())
    net = random_network(rng, cfg, max_steps=2, max_width=32)
    image = build_image(net, cfg)
    dut = Engine(cfg)
    errors = []

    async def bench(ctx):
        ctx.set(dut.n_layers, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().repeat(2)
        if (ctx.get(dut.done), ctx.get(dut.error), ctx.get(dut.busy)) != (1, ERROR_CODE["BAD_LAYER_COUNT"], 0):
            errors.append("bad layer count not reported")
        desc = [sum(int(w) << (32 * j) for j, w in enumerate(words)) for words in image.descriptors]
        ctx.set(dut.desc.as_value(), desc[0])
        ctx.set(dut.n_layers, image.n_layers)
        ctx.set(dut.steps, image.steps)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(10):
            ctx.set(dut.desc.as_value(), desc[ctx.get(dut.desc_index) % len(desc)])
            await ctx.tick()
        ctx.set(dut.abort, 1)
        await ctx.tick()
        ctx.set(dut.abort, 0)
        await ctx.tick()
        if (ctx.get(dut.busy), ctx.get(dut.done), ctx.get(dut.error)) != (0, 0, 0):
            errors.append("abort did not leave the engine idle")

    simulate(dut, bench, clock=True)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("block", [Engine, InputRouter, WeightFetch, NeuronState, OutputStage, DescriptorDecode,
                                   SynapseArray, derived_layout])
def test_blocks_reject_a_config_name(block):
    with pytest.raises(TypeError, match="'small'"):
        block("small")


def test_engine_ports_are_per_bank_arrays():
    cfg = CONFIGS["small"]
    eng = Engine(cfg)
    assert len(eng.w) == cfg.banks and len(eng.inp) == cfg.input_banks
    assert eng.signature.members["w"].dimensions == (cfg.banks,)
    assert eng.signature.members["w"].signature == SRAMReadSignature(8)   # log2(bank_depth)
    assert eng.signature.members["inp"].signature == SRAMReadSignature(8)   # log2(input_depth)
