"""Shared helpers of the hardware block tests (Amaranth's own simulator)."""
from __future__ import annotations

import os
import random

from amaranth.sim import Simulator


def pick_seed() -> int:
    """$SEED if set (to replay a failure), else a fresh random seed; printed either way."""
    seed = int(os.environ.get("SEED") or random.randrange(2**32))
    print(f"SEED={seed}")
    return seed


def simulate(top, bench, clock: bool = False) -> None:
    """Run one async testbench ``bench(ctx)`` on ``top`` (with a sync clock if asked)."""
    sim = Simulator(top)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def scan_masks(n_in: int, n_bias: int) -> dict:
    """tail_word/tail_mask/tail_bias/next_bias from their definition (DescriptorDecode's
    docstring): word n_in // 32 keeps the bits of inputs < n_in and gets those of the bias
    inputs n_in .. n_in + n_bias - 1 that it holds; the next word gets the rest."""
    tail = n_in // 32
    words = [0, 0]
    for i in range(n_in, n_in + n_bias):
        words[i // 32 - tail] |= 1 << (i % 32)
    mask = sum(1 << b for b in range(32) if 32 * tail + b < n_in)
    return dict(tail_word=tail, tail_mask=mask, tail_bias=words[0], next_bias=words[1])
