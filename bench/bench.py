"""SkySpike benchmark: prints the figures the project's speed goals are judged by, measured in
one run. `make bench` (add `--quick` to skip the RTL simulators).

* cycles per inference of an MNIST-sized network (784-128-10, 4-bit, 8 steps) at input spike
  densities 5%, 20%, 50%, against the dense scan of the same engine and OpenSpike's RTL;
* cycles per inference of the digits demo network (when its trained model is cached);
* golden-model throughput (inferences/s);
* RTL simulation speed (clock cycles/s) on Icarus and on Verilator, and their ratio.

Cycle counts come from the golden model's cycle predictor; the regression asserts that the RTL
takes exactly that many cycles (tests/hw/test_core.py), and the RTL runs below check it again.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from skyspike.spec.config import CONFIGS
from skyspike.chip.golden import dense_cycles, run
from skyspike.chip.network import ChipLayer, ChipNetwork

OPENSPIKE_CYCLES = 140_877  # its published RTL, measured (../shared/docs/reference-figures.md)
CLOCK_HZ = 50e6
console = Console(width=130)


def mnist_sized(rng: np.random.Generator, hidden_rate: float = 0.15) -> ChipNetwork:
    """784-128-10 at 4 bits with thresholds set so that ~hidden_rate of hidden neurons fire."""
    w1 = rng.integers(-7, 8, (784, 128))  # symmetric, zero-mean
    w2 = rng.integers(-7, 8, (128, 10))
    # Threshold = the (1 - hidden_rate) quantile of one step's current at 20% input density.
    currents = (rng.random((256, 784)) < 0.2).astype(np.float32) @ w1.astype(np.float32)
    th1 = int(np.quantile(currents, 1 - hidden_rate))
    return ChipNetwork([ChipLayer(w1, bits=4, beta=243, theta_high=th1, theta_low=th1 // 2),
                        ChipLayer(w2, bits=4, beta=243, theta_high=20)], steps=8)


def cycles_table(cfg, rng):
    net = mnist_sized(rng)
    t = Table(title="Cycles per inference, MNIST-sized 784-128-10, 4-bit, 8 steps, chip config")
    for col in ("input density", "hidden rate", "cycles (mean)", "min..max", "inferences/s @50 MHz",
                "vs OpenSpike RTL"):
        t.add_column(col, justify="right")
    for density in (0.05, 0.20, 0.50):
        x = rng.random((200, 8, 784)) < density
        g = run(net, x, cfg)
        c = g.cycles
        t.add_row(f"{density:.0%}", f"{g.spikes[0].mean():.1%}", f"{c.mean():.0f}", f"{c.min()}..{c.max()}",
                  f"{CLOCK_HZ / c.mean():,.0f}", f"{OPENSPIKE_CYCLES / c.mean():.0f}x fewer")
    dense = dense_cycles(net, cfg)
    t.add_row("dense scan (every input, every step)", "", f"{dense}", "", f"{CLOCK_HZ / dense:,.0f}",
              f"{OPENSPIKE_CYCLES / dense:.0f}x fewer")
    t.add_row("OpenSpike RTL (measured, dense, binary)", "", f"{OPENSPIKE_CYCLES}", "",
              f"{CLOCK_HZ / OPENSPIKE_CYCLES:,.0f}", "1x")
    console.print(t)
    return net


def digits_cycles(cfg):
    from skyspike.compiler.digits import digits_network  # the trained, quantized demo network

    demo = digits_network("build/demo", hidden=min(128, cfg.max_neurons))
    net, x, labels = demo.net, demo.x_test, demo.y_test
    g = run(net, x, cfg)
    acc = (g.prediction == labels).mean()
    console.print(f"Digits demo network {'-'.join(str(n) for n in [net.layers[0].n_in] + [ly.n_out for ly in net.layers])}"
                  f" ({net.layers[0].bits}-bit, {net.steps} steps, chip config): {g.cycles.mean():.0f} cycles per "
                  f"inference (min {g.cycles.min()}, max {g.cycles.max()}), dense scan {dense_cycles(net, cfg)}; "
                  f"golden accuracy {acc:.1%} on {len(labels)} test images")
    return net, x


def golden_throughput(cfg, net, rng):
    x = rng.random((2000, 8, 784)) < 0.2
    run(net, x[:10], cfg)  # warm up
    t0 = time.perf_counter()
    run(net, x, None)
    t1 = time.perf_counter()
    run(net, x, cfg)
    t2 = time.perf_counter()
    console.print(f"Golden model (784-128-10, 8 steps, batch 2000): {len(x) / (t1 - t0):,.0f} inferences/s "
                  f"functional, {len(x) / (t2 - t1):,.0f} inferences/s with cycle prediction")


def rtl_speed(net, x, config):
    from skyspike.rtlsim import run_rtl

    speeds = {}
    for sim in ("icarus", "verilator"):
        t0 = time.time()
        r = run_rtl(net, x, config, sim=sim)
        g = run(net, x, CONFIGS[config])
        same = np.array_equal(r.cycles, g.cycles) and np.array_equal(r.counts, g.counts)
        speeds[sim] = r.cycles_per_second
        console.print(f"RTL simulation, {sim}, '{config}' config: {r.cycles_per_second:,.0f} cycles/s "
                      f"({r.sim_cycles} cycles in {r.wall_s:.1f} s; whole call incl. build {time.time() - t0:.0f} s); "
                      f"RTL == golden: {same}")
    if speeds.get("icarus"):
        console.print(f"Verilator / Icarus speed ratio: {speeds['verilator'] / speeds['icarus']:.1f}x")


def end_to_end():
    """One inference through the firmware and the UART vs the core alone (SoC on Verilator)."""
    from pathlib import Path

    from skyspike.rtlsim.system import run_system

    r = run_system(Path("build/bench/system"), fuzz=0, samples=2)
    core, total, uart = r["core_cycles"], r["end_to_end_cycles"], r["uart_cycles"]
    console.print(f"End to end through firmware + UART (SoC 'small' config, digits 64-48-10, UART {r['divisor']} "
                  f"clocks/bit): {total:,.0f} cycles per inference vs {core:,.0f} for the core alone "
                  f"({total / core:.0f}x): UART transfer {uart:,.0f} ({uart / total:.0%}, {r['uart_bytes']:.0f} bytes), "
                  f"core {core / total:.1%}, firmware and host turnaround {(total - uart - core) / total:.0%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the RTL simulator runs")
    ap.add_argument("--samples", type=int, default=4, help="inferences per RTL speed run")
    args = ap.parse_args(argv)
    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(2026)
    net = cycles_table(cfg, rng)
    digits = digits_cycles(cfg)
    golden_throughput(cfg, net, rng)
    if not args.quick:
        if digits is not None:
            dnet, dx = digits
            rtl_speed(dnet, dx[: args.samples], "chip")
        else:
            rtl_speed(net, rng.random((args.samples, 8, 784)) < 0.2, "chip")
        end_to_end()


if __name__ == "__main__":
    main()
