# amaranth: UnusedElaboratable=no
"""SpikeScanner (one slot's events) and InputRouter (the scanners with their input-buffer
and bitmap reads) against the bitmap layout of docs/semantics.md and the golden model's
twins skyspike.chip.golden.slot_events / slot_scan_cycles / scan_cycles.

Every randomized test prints its seed; SEED=<n> replays it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amaranth.hdl import Module

from blocksim import ceil_div, pick_seed, scan_masks, simulate
from skyspike.chip import golden
from skyspike.spec.config import CONFIGS, log2
from skyspike_hw.inputs import InputRouter
from skyspike_hw.scanner import SpikeScanner



WORD_BITS = 12      # as the engine instantiates it
SCANNERS = 4        # slots 0..3 side by side, sharing start / slots_log2 / in_words / the masks


@dataclass
class ScanCase:
    k: int
    n_in: int
    mem: list[int]  # the memory words: the real inputs' bits, garbage past n_in and past in_words
    n_bias: int = 0

    @property
    def in_words(self) -> int:
        return -(-(self.n_in + self.n_bias) // 32)

    def bits(self) -> np.ndarray:
        """The bitmap as golden.scan_cycles takes it, bool (1, n_in + n_bias): the real inputs
        from memory, then the bias inputs (always set)."""
        real = np.array([[self.mem[i // 32] >> (i % 32) & 1 for i in range(self.n_in)]], bool)
        return golden.with_bias(real, self.n_bias)

    def expected(self, slot: int) -> tuple[list[int], int]:
        """The slot's events (rows, in order) and active cycles: golden.slot_events and
        golden.slot_scan_cycles plus the cycle of the first word's read (a slot past k or
        past the bitmap has none)."""
        if slot >= self.k or slot >= self.in_words:
            return [], 0
        # One cycle more than the golden count: the first word is in flight.
        return (golden.slot_events(self.bits()[0], self.k, slot),
                1 + int(golden.slot_scan_cycles(self.bits(), self.k)[0, slot]))


def random_scan_case(rng: np.random.Generator) -> ScanCase:
    k = int(rng.choice([1, 2, 4]))
    real_words = int(rng.choice([1, 2, 3, 4, 5, int(rng.integers(1, 40)), int(rng.integers(40, 140))]))
    n_in = (real_words - 1) * 32 + int(rng.choice([32, 1, 31, int(rng.integers(1, 33))]))
    n_bias = int(rng.choice([0, 0, 1, 2, int(rng.integers(1, 7)), 31, 32, int(rng.integers(0, 33))]))
    density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1), rng.uniform(0, 0.1)]))
    in_words = -(-(n_in + n_bias) // 32)
    words = in_words + int(rng.integers(0, 3))
    # Real bits at the density; everything past n_in (bias positions included) garbage.
    flat = rng.random(words * 32) < density
    flat[n_in:] = rng.random(words * 32 - n_in) < float(rng.choice([0.7, 1.0]))
    mem = [int(sum(1 << b for b in range(32) if flat[32 * w + b])) for w in range(words)]
    return ScanCase(k, n_in, mem, n_bias)


def test_spike_scanner():
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    cases = [random_scan_case(rng) for _ in range(120)]
    cases += [ScanCase(k, 1, [1, 0xFFFF_FFFF]) for k in (1, 2, 4)]                    # single input
    cases += [ScanCase(4, 3 * 32 + 5, [0, 0xFFFF_FFFF, 0x8000_0001, 0xFFFF_FFE0])]    # last word masked empty
    ones = [0xFFFF_FFFF] * 6
    for k in (1, 2, 4):   # bias rows: a new word, a whole word, crossing words; garbage all ones past n_in
        cases += [ScanCase(k, n_in, [0] * (n_in // 32) + ones, n_bias)
                  for n_in, n_bias in [(32, 1), (64, 32), (31, 1), (31, 2), (30, 32), (1, 32), (33, 31), (5, 0)]]
    m = Module()
    dut = [SpikeScanner(s, WORD_BITS) for s in range(SCANNERS)]
    for s, sc in enumerate(dut):
        m.submodules[f"scan{s}"] = sc
    errors = []

    async def bench(ctx):
        for n, case in enumerate(cases):
            label = f"case {n} (k={case.k} n_in={case.n_in} n_bias={case.n_bias} in_words={case.in_words})"
            rows = [[] for _ in dut]
            cycles = [0] * SCANNERS
            for sc in dut:
                ctx.set(sc.slots_log2, log2(case.k))
                ctx.set(sc.in_words, case.in_words)
                for name, value in scan_masks(case.n_in, case.n_bias).items():
                    ctx.set(getattr(sc, name), value)
                ctx.set(sc.start, 1)
            # Two-cycle-latency memory (the read, then the dout register): requests of one and
            # two cycles ago per slot; garbage in cycles two after no request.
            pending = [[None, ctx.get(sc.req_word) if ctx.get(sc.req) else None] for sc in dut]
            await ctx.tick()
            for sc in dut:
                ctx.set(sc.start, 0)
            idle = 0
            for _ in range(40 * 32 * 4):
                for s, sc in enumerate(dut):
                    word = pending[s].pop(0)
                    ctx.set(sc.data, case.mem[word] if word is not None else int(rng.integers(0, 1 << 32)))
                for s, sc in enumerate(dut):
                    active, event, req = ctx.get(sc.active), ctx.get(sc.event), ctx.get(sc.req)
                    if active:
                        cycles[s] += 1
                        if idle:
                            errors.append(f"{label}: slot {s} active again after going idle")
                    if event:
                        if not active:
                            errors.append(f"{label}: slot {s} event while inactive")
                        rows[s].append(ctx.get(sc.event_row))
                    if req:
                        w = ctx.get(sc.req_word)
                        if w % case.k != s or w >= case.in_words:
                            errors.append(f"{label}: slot {s} requested word {w}")
                        pending[s].append(w)
                    else:
                        pending[s].append(None)
                if not any(ctx.get(sc.active) for sc in dut):
                    idle += 1
                    if idle > int(rng.integers(1, 4)):
                        break
                await ctx.tick()
            else:
                errors.append(f"{label}: scan did not end")
            slowest = 0
            for s in range(SCANNERS):
                want_rows, want_cycles = case.expected(s)
                if rows[s] != want_rows:
                    errors.append(f"{label}: slot {s} rows {rows[s][:12]}... expected {want_rows[:12]}... "
                                  f"({len(rows[s])} vs {len(want_rows)})")
                if cycles[s] != want_cycles:
                    errors.append(f"{label}: slot {s} active {cycles[s]} cycles, expected {want_cycles}")
                for r in rows[s]:
                    index = ((r >> 5) * case.k + s) * 32 + (r & 31)
                    if index >= case.n_in + case.n_bias:
                        errors.append(f"{label}: slot {s} reported row {r} = input {index} >= n_in + n_bias")
                slowest = max(slowest, cycles[s])
            want_slowest = 1 + int(golden.scan_cycles(case.bits(), case.k)[0])
            if slowest != want_slowest:
                errors.append(f"{label}: slowest slot {slowest} cycles, golden.scan_cycles {want_slowest}")

    simulate(m, bench, clock=True)
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors[:15])



# -- InputRouter: the scanners with their word sources --------------------------------------

def router_case(rng: np.random.Generator, cfg) -> dict:
    """A random layer: its source (input buffer or hidden bitmap), slots, n_in, n_bias, the
    memories full of garbage around the real inputs."""
    from_inputs = bool(rng.integers(2))
    n_in = int(rng.integers(1, (cfg.max_inputs if from_inputs else cfg.max_neurons) + 1))
    n_bias = int(rng.choice([0, 0, 1, int(rng.integers(1, 33)), 32]))
    words_per_bank = ceil_div(ceil_div(n_in, 32), cfg.input_banks)
    in_base = words_per_bank * int(rng.integers(0, 8))
    density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1)]))
    banks = rng.integers(0, 1 << 32, (cfg.input_banks, cfg.input_depth), dtype=np.uint64)
    hidden = rng.random(cfg.max_neurons) < 0.5
    real = rng.random(n_in) < density
    if from_inputs:   # word w of the step's bitmap: bank w mod input_banks, address in_base + w // banks
        for w in range(-(-n_in // 32)):
            bank, addr = w % cfg.input_banks, in_base + w // cfg.input_banks
            word = int(banks[bank, addr])
            for b in range(32):
                if 32 * w + b < n_in:
                    word = word & ~(1 << b) | int(real[32 * w + b]) << b
            banks[bank, addr] = word
    else:
        hidden[:n_in] = real
    k = int(rng.choice([1 << j for j in range(log2(cfg.max_slots) + 1)]))
    return dict(from_inputs=from_inputs, n_in=n_in, n_bias=n_bias, k=k, in_base=in_base, banks=banks,
                hidden=hidden, bits=golden.with_bias(real[None], n_bias))


def test_input_router():
    """Events of every slot (golden.slot_events), the scan's length (golden.scan_cycles) and
    the input-bank reads (only for layer 0, only the slot's own bank) over random layers."""
    cfg = CONFIGS["small"]
    seed = pick_seed()
    rng = np.random.default_rng(seed)
    cases = [router_case(rng, cfg) for _ in range(40)]
    dut = InputRouter(cfg)
    errors = []

    async def bench(ctx):
        for n, c in enumerate(cases):
            label = f"case {n} (from_inputs={c['from_inputs']} k={c['k']} n_in={c['n_in']} n_bias={c['n_bias']})"
            ctx.set(dut.from_inputs, c["from_inputs"])
            ctx.set(dut.slots_log2, log2(c["k"]))
            ctx.set(dut.in_base, c["in_base"])
            ctx.set(dut.hidden, sum(1 << i for i, b in enumerate(c["hidden"]) if b))
            ctx.set(dut.derived.in_words, -(-(c["n_in"] + c["n_bias"]) // 32))
            for name, value in scan_masks(c["n_in"], c["n_bias"]).items():
                ctx.set(dut.derived[name], value)
            await ctx.tick()   # the layer is loaded a cycle before its scan starts
            ctx.set(dut.start, 1)
            rows = [[] for _ in range(cfg.max_slots)]
            cycles = 0
            in_flight = [[]]   # the reads of the cycle before (each answers two cycles later)
            for _ in range(4000):
                reads = []
                for i, port in enumerate(dut.inp):
                    if ctx.get(port.en):
                        addr = ctx.get(port.addr)
                        if not c["from_inputs"]:
                            errors.append(f"{label}: input bank {i} read for a hidden layer")
                        reads.append((i, int(c["banks"][i, addr % cfg.input_depth])))
                await ctx.tick()
                ctx.set(dut.start, 0)
                for port in dut.inp:   # two-cycle latency (the core's dout registers); garbage when not read
                    ctx.set(port.data, int(rng.integers(0, 1 << 32)))
                for i, word in in_flight.pop(0):
                    ctx.set(dut.inp[i].data, word)
                in_flight.append(reads)
                if not ctx.get(dut.active):
                    break
                cycles += 1
                for s in range(cfg.max_slots):
                    if ctx.get(dut.event[s]):
                        rows[s].append(ctx.get(dut.event_row[s]))
            want = [golden.slot_events(c["bits"][0], c["k"], s) if s < c["k"] else [] for s in range(cfg.max_slots)]
            if rows != want:
                errors.append(f"{label}: events {rows}, golden {want}")
            if cycles != 1 + int(golden.scan_cycles(c["bits"], c["k"])[0]):   # + the first word's read
                errors.append(f"{label}: active {cycles} cycles, golden {golden.scan_cycles(c['bits'], c['k'])}")

    simulate(dut, bench, clock=True)
    assert not errors, f"{len(errors)} errors:\n" + "\n".join(errors[:10])
    assert {c["from_inputs"] for c in cases} == {True, False}
