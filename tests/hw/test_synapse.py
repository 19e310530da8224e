# amaranth: UnusedElaboratable=no
"""SynapseArray (weight unpacking, fold merging, slot reduction, accumulators) and WeightFetch (bank
addressing around it) against golden.synapse_current, with the weights packed into banks
by skyspike.chip.image.pack_weights and the events of golden.slot_events.

Every randomized test prints its seed; SEED=<n> replays it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from blocksim import pick_seed, simulate
from skyspike.chip import golden
from skyspike.chip.image import pack_weights
from skyspike.chip.network import ChipLayer
from skyspike.chip.testing import random_weights
from skyspike.spec.config import CONFIGS, PRECISIONS, CoreConfig, log2
from skyspike_hw.synapse import SynapseArray
from skyspike_hw.weights import WeightFetch


@dataclass
class ChunkCase:
    """One chunk of a random layer: its packed banks, its inputs and what it must sum to."""
    ly: ChipLayer
    lp: object               # golden.layer_placement
    chunk: int
    banks: np.ndarray        # uint32 (banks, depth)
    bits: np.ndarray         # bool (n_in + n_bias,): the layer's input bitmap, bias included

    @property
    def chunk_base(self) -> int:
        return self.lp.w_base + (self.chunk // self.lp.subwords) * self.lp.fold_rows

    @property
    def subword(self) -> int:
        return self.chunk % self.lp.subwords

    def events(self) -> list[list[int]]:
        """Per slot, its event rows in order (golden.slot_events)."""
        return [golden.slot_events(self.bits, self.lp.slots, s) for s in range(self.lp.slots)]

    def expected(self) -> dict[int, int]:
        """{chunk neuron: current} of the chunk's neurons of the layer (golden.synapse_current)."""
        current = golden.synapse_current(self.bits, golden.synapse_weights(self.ly))
        first = self.chunk * self.lp.chunk
        return {a: int(current[first + a]) for a in range(min(self.lp.chunk, self.ly.n_out - first))}


def chunk_case(rng: np.random.Generator, cfg: CoreConfig) -> ChunkCase:
    bits = int(rng.choice(PRECISIONS))
    slots = 1 << int(rng.integers(0, log2(cfg.max_slots) + 1))
    fold = 1 << int(rng.integers(0, log2(cfg.banks // slots) + 1))   # any the slot group allows
    n_in = int(rng.integers(1, cfg.max_inputs + 1))
    n_out = int(rng.integers(1, cfg.max_neurons + 1))
    n_bias = int(rng.choice([0, 0, 1, int(rng.integers(1, 33))]))
    bias = random_weights(rng, n_bias, n_out, bits) if n_bias else None
    ly = ChipLayer(random_weights(rng, n_in, n_out, bits), bits=bits, bias=bias)
    lp = golden.layer_placement(cfg, n_in, n_out, bits, slots, w_base=int(rng.integers(0, 8)), n_bias=n_bias,
                                fold=fold)
    banks = np.zeros((cfg.banks, cfg.bank_depth), np.uint32)
    if lp.w_base + lp.bank_words > cfg.bank_depth:
        return chunk_case(rng, cfg)
    pack_weights(ly, lp, cfg, banks)
    density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1)]))
    x = golden.with_bias((rng.random(n_in) < density)[None], n_bias)[0]
    return ChunkCase(ly, lp, int(rng.integers(0, lp.chunks)), banks, x)


def check_sums(label: str, case: ChunkCase, got: list[int], errors: list[str]) -> None:
    for a, want in case.expected().items():
        if got[a] != want:
            errors.append(f"{label}: chunk neuron {a} current {got[a]}, golden {want}")


async def read_accumulators(ctx, dut, cfg: CoreConfig, read) -> list[int]:
    """All accumulators through ``read_index`` / ``read`` (update group j, lane u)."""
    U = cfg.update_lanes
    out = []
    for j in range(8 * cfg.banks // U):
        ctx.set(dut.read_index, j)
        out += [ctx.get(read[u]) for u in range(U)]
    return out


@pytest.mark.parametrize("config", ["small", "chip"])
def test_synapse_array(config):
    """Events fed straight to the array: the banks of the fold of each slot's event row hold
    its word, the others garbage; bank_valid in the same cycle."""
    cfg = CONFIGS[config]
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    cases = [chunk_case(rng, cfg) for _ in range(25 if config == "small" else 4)]
    dut = SynapseArray(cfg)
    errors = []

    async def bench(ctx):
        for n, c in enumerate(cases):
            lp = c.lp
            ctx.set(dut.bits_code, PRECISIONS.index(c.ly.bits))
            ctx.set(dut.slots_log2, log2(lp.slots))
            ctx.set(dut.fold_log2, log2(lp.fold))
            ctx.set(dut.subword, c.subword)
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            events = c.events()
            for i in range(max(map(len, events), default=0)):
                valid = 0
                for j in range(cfg.banks):
                    s, f = j // lp.group_banks, (j % lp.group_banks) // lp.fold_banks
                    if i < len(events[s]) and events[s][i] % lp.fold == f:
                        valid |= 1 << j
                        ctx.set(dut.bank_data[j], int(c.banks[j, c.chunk_base + events[s][i] // lp.fold]))
                    else:
                        ctx.set(dut.bank_data[j], int(rng.integers(0, 1 << 32)))
                ctx.set(dut.bank_valid, valid)
                await ctx.tick()
            ctx.set(dut.bank_valid, 0)
            await ctx.tick().repeat(SynapseArray.LATENCY)   # the merge register
            check_sums(f"case {n} ({c.ly.bits}-bit k={lp.slots} F={lp.fold} chunk {c.chunk})", c,
                       await read_accumulators(ctx, dut, cfg, dut.read_data), errors)

    simulate(dut, bench, clock=True)
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors[:10])
    assert any(c.lp.fold > 1 for c in cases)


def test_weight_fetch():
    """Events as the input router gives them; the banks as two-cycle-latency memories (the
    read, then the core's dout register) that return garbage when not read: the accumulated
    currents are golden.synapse_current (WeightFetch.LATENCY cycles after the last event)."""
    cfg = CONFIGS["small"]
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    cases = [chunk_case(rng, cfg) for _ in range(30)]
    dut = WeightFetch(cfg)
    errors = []

    async def bench(ctx):
        for n, c in enumerate(cases):
            lp = c.lp
            ctx.set(dut.bits_code, PRECISIONS.index(c.ly.bits))
            ctx.set(dut.slots_log2, log2(lp.slots))
            ctx.set(dut.fold_log2, log2(lp.fold))
            ctx.set(dut.subword, c.subword)
            ctx.set(dut.chunk_base, c.chunk_base)
            ctx.set(dut.clear, 1)
            events = c.events()
            # One cycle per event, then the drain cycles (the last weights arrive).
            in_flight = [[]]   # the reads of the cycle before
            for i in range(max(map(len, events), default=0) + WeightFetch.LATENCY):
                for s in range(cfg.max_slots):
                    has = s < lp.slots and i < len(events[s])
                    ctx.set(dut.event[s], has)
                    ctx.set(dut.event_row[s], events[s][i] if has else int(rng.integers(0, 1 << 12)))
                in_flight.append([(j, ctx.get(port.addr)) for j, port in enumerate(dut.w) if ctx.get(port.en)])
                await ctx.tick()
                ctx.set(dut.clear, 0)
                for port in dut.w:
                    ctx.set(port.data, int(rng.integers(0, 1 << 32)))
                for j, addr in in_flight.pop(0):
                    ctx.set(dut.w[j].data, int(c.banks[j, addr]))
            await ctx.tick()
            check_sums(f"case {n} ({c.ly.bits}-bit k={lp.slots} F={lp.fold} chunk {c.chunk})", c,
                       await read_accumulators(ctx, dut, cfg, dut.current), errors)

    simulate(dut, bench, clock=True)
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors[:10])
    assert {c.lp.slots for c in cases} == {1, 2, 4} and {c.ly.bits for c in cases} == set(PRECISIONS)
    assert {c.lp.fold for c in cases} == {1, 2, 4}
