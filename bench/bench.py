"""SkySpike benchmark: prints the figures the project's speed goals are judged by, measured in
one run, and writes them to build/bench/results.json (a flat object of numbers with stable
keys). `make bench` (add `--quick` to skip the RTL simulators).

* the silicon figures of the chip configuration's core (pre-layout, from `make synth`'s report,
  synthesized first when it is missing): fmax_mhz, area_mm2, openframe_utilization;
* the MNIST network's cycles per inference and inferences/s at that fmax
  (mnist_cycles_per_inference, mnist_inferences_per_s), next to OpenSpike: the network of the
  best chip accuracy at <= 8 steps when the accuracy benchmark has run (mnist_accuracy,
  fmnist_accuracy, mnist_steps: bench/accuracy.py's results in build/accuracy*/), else the 4-bit
  rate-coded 784-64-10 network at 16 steps;
* cycles per inference of an MNIST-sized network (784-64-10, 4-bit, 8 steps) at input spike
  densities 5%, 20%, 50%, against the dense scan of the same engine and OpenSpike's RTL;
* cycles per inference of the digits demo network (when its trained model is cached);
* golden-model throughput (inferences/s);
* RTL simulation speed (clock cycles/s) on Icarus and on Verilator, and their ratio;
* end to end through the host link on the simulated SoC (the real firmware on PicoRV32): one
  digits inference through the command path (end_to_end_cycles...), and the digits network
  through the streaming path: its 80-byte images at 4.17 Mbaud (end_to_end_inferences_per_s,
  end_to_end_link_efficiency: inferences/s over the link's limit, link bytes/s over bytes per
  inference; link_baud, stream_input_bytes) and 392-byte images (MNIST's size) at 12.5 Mbaud
  (the same keys with the prefix fast_); MNIST's link bytes per inference through the same
  protocol (link_bytes_per_inference, link_input_bytes);
* energy (docs/energy.md): the calibrated energy models' worst held-out error against the
  activity-annotated gate level (energy_model_error); with a model of the chip configuration,
  the best MNIST network's energy per inference, pJ per synaptic operation and power at the
  model's clock (energy_uj_per_inference_mnist, pj_per_sop, power_mw_at_fmax), next to the
  published anchors; per calibrated configuration, its idle energy per cycle.

Cycle counts come from the golden model's cycle predictor; the regression asserts that the RTL
takes exactly that many cycles (tests/hw/test_core.py), and the RTL runs below check it again.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from skyspike.spec.config import CONFIGS
from skyspike_hw.flow.pdk import PDKNotFound
from skyspike.chip.golden import dense_cycles, run
from skyspike.chip.network import ChipLayer, ChipNetwork

OPENSPIKE_CYCLES = 140_877  # its published RTL, measured (../shared/docs/reference-figures.md)
OPENSPIKE_CLAIMED_PER_S = 48_262   # the paper's claim at 40 MHz
OPENSPIKE_POST_ROUTE_MHZ = 24.4
CLOCK_HZ = 100e6   # the chip's target clock; silicon() gives the synthesized fmax
RESULTS = Path("build/bench/results.json")
console = Console(width=130)


def mnist_sized(rng: np.random.Generator, hidden_rate: float = 0.15) -> ChipNetwork:
    """784-64-10 at 4 bits (the chip's largest at 4 bits) with thresholds set so that
    ~hidden_rate of hidden neurons fire."""
    w1 = rng.integers(-7, 8, (784, 64))  # symmetric, zero-mean
    w2 = rng.integers(-7, 8, (64, 10))
    # Threshold = the (1 - hidden_rate) quantile of one step's current at 20% input density.
    currents = (rng.random((256, 784)) < 0.2).astype(np.float32) @ w1.astype(np.float32)
    th1 = int(np.quantile(currents, 1 - hidden_rate))
    return ChipNetwork([ChipLayer(w1, bits=4, beta=243, theta_high=th1, theta_low=th1 // 2),
                        ChipLayer(w2, bits=4, beta=243, theta_high=20)], steps=8)


def cycles_table(cfg, rng, results):
    net = mnist_sized(rng)
    t = Table(title="Cycles per inference, MNIST-sized 784-64-10, 4-bit, 8 steps, chip config")
    for col in ("input density", "hidden rate", "cycles (mean)", "min..max", "inferences/s @100 MHz",
                "vs OpenSpike RTL"):
        t.add_column(col, justify="right")
    for density in (0.05, 0.20, 0.50):
        x = rng.random((200, 8, 784)) < density
        g = run(net, x, cfg)
        c = g.cycles
        results[f"mnist_sized_cycles_{round(density * 100)}pct"] = float(c.mean())
        t.add_row(f"{density:.0%}", f"{g.spikes[0].mean():.1%}", f"{c.mean():.0f}", f"{c.min()}..{c.max()}",
                  f"{CLOCK_HZ / c.mean():,.0f}", f"{OPENSPIKE_CYCLES / c.mean():.0f}x fewer")
    dense = dense_cycles(net, cfg)
    results["mnist_sized_dense_cycles"] = dense
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


def golden_throughput(cfg, net, rng, results):
    x = rng.random((2000, 8, 784)) < 0.2
    run(net, x[:10], cfg)  # warm up
    t0 = time.perf_counter()
    run(net, x, None)
    t1 = time.perf_counter()
    run(net, x, cfg)
    t2 = time.perf_counter()
    results["golden_inferences_per_s"] = len(x) / (t2 - t1)
    console.print(f"Golden model (784-64-10, 8 steps, batch 2000): {len(x) / (t1 - t0):,.0f} inferences/s "
                  f"functional, {len(x) / (t2 - t1):,.0f} inferences/s with cycle prediction")


def rtl_speed(net, x, config, results):
    from skyspike.rtlsim import run_rtl

    speeds = {}
    for sim in ("icarus", "verilator"):
        t0 = time.time()
        r = run_rtl(net, x, config, sim=sim)
        g = run(net, x, CONFIGS[config])
        same = np.array_equal(r.cycles, g.cycles) and np.array_equal(r.counts, g.counts)
        speeds[sim] = results[f"rtl_cycles_per_s_{sim}"] = r.cycles_per_second
        console.print(f"RTL simulation, {sim}, '{config}' config: {r.cycles_per_second:,.0f} cycles/s "
                      f"({r.sim_cycles} cycles in {r.wall_s:.1f} s; whole call incl. build {time.time() - t0:.0f} s); "
                      f"RTL == golden: {same}")
    if speeds.get("icarus"):
        console.print(f"Verilator / Icarus speed ratio: {speeds['verilator'] / speeds['icarus']:.1f}x")


def end_to_end(results):
    """One inference through the firmware and the UART vs the core alone (SoC on Verilator)."""
    from pathlib import Path

    from skyspike.rtlsim.system import run_system

    r = run_system(Path("build/bench/system"), fuzz=0, samples=2)
    core, total, uart = r["core_cycles"], r["end_to_end_cycles"], r["uart_cycles"]
    results.update(end_to_end_cycles=total, end_to_end_core_cycles=core, end_to_end_uart_cycles=uart)
    console.print(f"End to end through firmware + UART (SoC 'small' config, digits 64-48-10, UART {r['divisor']} "
                  f"clocks/bit): {total:,.0f} cycles per inference vs {core:,.0f} for the core alone "
                  f"({total / core:.0f}x): UART transfer {uart:,.0f} ({uart / total:.0%}, {r['uart_bytes']:.0f} bytes), "
                  f"core {core / total:.1%}, firmware and host turnaround {(total - uart - core) / total:.0%}")


def mnist_stream_bytes(images, samples: int = 64) -> tuple[float, float, int]:
    """(bytes to the chip, bytes back, input bytes) per MNIST inference through STREAM with
    4-bit direct input, counted on the firmware's Python model (the protocol's exact bytes)."""
    from skyspike.chip.image import build_image
    from skyspike.compiler import encode
    from skyspike.emu.core_model import CoreModel
    from skyspike.emu.firmware_model import FirmwareModel, ModelLink
    from skyspike.link.client import HostClient
    from skyspike.link.host import infer_stream, load_image, stream_bytes

    rng = np.random.default_rng(7)
    net = ChipNetwork([ChipLayer(rng.integers(-7, 8, (784, 64)), bits=4, beta=243, theta_high=4000),
                       ChipLayer(rng.integers(-7, 8, (64, 10)), bits=4, beta=243, theta_high=20)],
                      steps=8, input_mode="direct", input_bits=4)
    x = encode.values(images[:samples], 4)
    image = build_image(net, CONFIGS["chip"])
    link = ModelLink(FirmwareModel(CoreModel(CONFIGS["chip"])))
    client = HostClient(link, timeout=1.0)
    load_image(client, image)
    got = []
    read = link.read
    link.read = lambda n, timeout: got.append(read(n, timeout)) or got[-1]
    sent0 = link.written
    infer_stream(client, image, x, 10)
    return (link.written - sent0) / len(x), sum(map(len, got)) / len(x), len(stream_bytes(x[0], image))


def stream_end_to_end(results, images=None, samples: int = 12):
    """The streaming host path on the SoC ('small' configuration on Verilator, the real firmware
    on PicoRV32, the trained digits network): its own 80-byte images at
    rtlsim.system.STREAM_DIVISOR, and 392-byte images (49 spike steps, a 4-bit MNIST image's
    size) at FAST_STREAM_DIVISOR (12.5 Mbaud): inferences/s and their ratio to the link's own
    limit (tb_stream); and MNIST's link bytes per inference (4-bit direct input) on the
    firmware's model."""
    from skyspike.rtlsim.system import (FAST_STREAM_DIVISOR, FAST_STREAM_STEPS, STREAM_DIVISOR, run_stream,
                                        trained_small_network)

    for prefix, divisor, steps, n_img in (("", STREAM_DIVISOR, None, samples),
                                          ("fast_", FAST_STREAM_DIVISOR, FAST_STREAM_STEPS, 8)):
        build = Path(f"build/bench/stream{'-fast' if prefix else ''}")
        network, inputs = trained_small_network(build, samples=n_img, steps=steps)
        r = run_stream(build, network, np.load(inputs)["spikes"], config="small", divisor=divisor)
        n = r["samples"]
        per_s = CLOCK_HZ / r["cycles_per_inference"]
        results.update({f"{prefix}link_baud": CLOCK_HZ / r["divisor"], f"{prefix}end_to_end_inferences_per_s": per_s,
                        f"{prefix}end_to_end_link_limit_per_s": per_s / r["link_efficiency"],
                        f"{prefix}end_to_end_link_efficiency": r["link_efficiency"],
                        f"{prefix}stream_input_bytes": r["input_bytes"],
                        f"{prefix}stream_link_bytes_per_inference": (r["bytes_to_chip"] + r["bytes_from_chip"]) / n})
        console.print(f"Streaming end to end (SoC 'small' config on Verilator, real firmware, digits 64-48-10, {n} "
                      f"images of {r['input_bytes']} bytes ({steps or 10} spike steps), UART "
                      f"{CLOCK_HZ / r['divisor'] / 1e6:.2f} Mbaud = 100 MHz / {r['divisor']}): "
                      f"{r['bytes_to_chip'] / n:.1f} bytes to the chip and {r['bytes_from_chip'] / n:.1f} back per "
                      f"inference, {per_s:,.0f} inferences/s = {r['link_efficiency']:.1%} of the link's limit; the "
                      f"core's {r['core_cycles_mean']:.0f} cycles hide behind the next image's transfer")
    results["digits_link_bytes_per_inference"] = results["stream_link_bytes_per_inference"]   # the old key
    if images is not None:
        to_chip, back, raw = mnist_stream_bytes(images)
        results.update(link_bytes_per_inference=to_chip + back, link_input_bytes=raw)
        console.print(f"MNIST, 4-bit direct input, through STREAM: {to_chip:.1f} bytes to the chip per inference "
                      f"(the raw input: {raw}), {back:.1f} back")


def silicon(results, images, best: dict | None = None):
    """The chip top's pre-layout figures (``make synth``'s report; synthesized when missing)
    and the MNIST network's cycles and inferences/s at its fmax, next to OpenSpike: ``best``
    (the accuracy benchmark's best MNIST row at <= 8 steps, :func:`best_accuracy`) when there
    is one, else the 4-bit rate-coded 784-64-10 at 16 steps."""
    from skyspike.apps import memplan
    from skyspike_hw.flow import synth

    report_path = synth.REPO / "build" / "synth" / "top_chip" / "report.json"
    if not report_path.exists():
        console.print("[bold]no synthesis report of the chip top: running make synth's flow "
                      "(~30 minutes on 2 cores)[/bold]")
        synth.run("chip", top="chip")
    rep = json.loads(report_path.read_text())
    fmax, area = rep["timing"]["fmax_mhz"], rep["area"]["total_mm2"]
    results.update(fmax_mhz=fmax, area_mm2=area, openframe_utilization=area / memplan.OPENFRAME_MM2)
    n_in = 784
    if best is not None:
        hidden, bits, cycles, trained = best["hidden"], best["bits"], best["cycles_mean"], True
        n_in = best.get("n_in") or n_in
        what = f"{best['steps']} steps, {best.get('input', 'rate')} input"
    else:
        bits, what = 4, "16 steps, rate-coded input"
        hidden, cycles = trained_mnist_cycles(images)
        trained = cycles is not None
        if not trained:   # no trained network: the memory plan's cycle model of the same size
            hidden = memplan.largest_hidden(CONFIGS["chip"], bits)
            cycles = memplan.mnist_cycles(CONFIGS["chip"], hidden, bits, images)
    results.update(mnist_cycles_per_inference=cycles, mnist_inferences_per_s=fmax * 1e6 / cycles,
                   mnist_cycles_from_trained_network=float(trained))
    t = Table(title="The chip top (pre-layout, tt) and MNIST throughput, next to OpenSpike")
    for col in ("", "SkySpike", "OpenSpike"):
        t.add_column(col, justify="right")
    t.add_row("clock", f"{fmax:.1f} MHz (fmax, pre-layout)", f"40 MHz claimed, {OPENSPIKE_POST_ROUTE_MHZ} MHz post-route")
    t.add_row("area", f"{area:.2f} mm^2 cells + macros ({area / memplan.OPENFRAME_MM2:.0%} of OpenFrame)", "33.3 mm^2 chip")
    t.add_row(f"MNIST cycles/inference ({n_in}-{hidden}-10, {bits}-bit, {what})", f"{cycles:,.0f}", f"{OPENSPIKE_CYCLES:,} (RTL)")
    t.add_row("MNIST inferences/s", f"{fmax * 1e6 / cycles:,.0f}",
              f"{OPENSPIKE_CLAIMED_PER_S:,} claimed; {OPENSPIKE_POST_ROUTE_MHZ * 1e6 / OPENSPIKE_CYCLES:,.0f} (RTL at post-route clock)")
    console.print(t)


def weight_bits(row: dict) -> str:
    """An accuracy row's weight precision in words: "2-bit", or "2-bit (output layer 8-bit)"."""
    bits = row.get("layer_bits") or [row["bits"]]
    return f"{bits[0]}-bit" + (f" (output layer {bits[-1]}-bit)" if bits[-1] != bits[0] else "")


def best_accuracy(results, max_steps: int = 8) -> dict | None:
    """The best chip accuracy on MNIST and Fashion-MNIST at <= ``max_steps`` time steps among the
    accuracy benchmark's results in build/accuracy*/ (``bench/accuracy.py eval`` writes them; any
    input: direct, rate coded): mnist_accuracy, fmnist_accuracy (percent), mnist_steps. Returns
    the best MNIST row (its cycles: the golden model's mean over 500 test images), or None."""
    best_mnist = None
    rows = [dict(r, run=str(p.parent)) for p in sorted(Path("build").glob("accuracy*/**/accuracy.json"))
            for r in json.loads(p.read_text()).get("rows", [])]
    for dataset, key in (("mnist", "mnist_accuracy"), ("fashion-mnist", "fmnist_accuracy")):
        rows_ds = [r for r in rows if r["dataset"] == dataset and r["steps"] <= max_steps]
        if not rows_ds:
            console.print(f"no {dataset} accuracy at <= {max_steps} steps in build/accuracy*/ (bench/accuracy.py)")
            continue
        best = max(rows_ds, key=lambda r: r["chip"])
        results[key] = 100 * best["chip"]
        if dataset == "mnist":
            results["mnist_steps"] = best["steps"]
            best_mnist = best
        console.print(f"best {dataset} on the chip at <= {max_steps} steps: {100 * best['chip']:.2f}% "
                      f"({best.get('input', 'rate')} input, {best.get('n_in', 784)}-{best['hidden']}-10, {weight_bits(best)} weights, "
                      f"{best['steps']} steps, {best['cycles_mean']:.0f} cycles; {best['run']})")
    return best_mnist


#: Published energy figures to compare with (issue 13): (what, pJ per operation or None, uJ per MNIST image or None).
ENERGY_ANCHORS = [("OpenSpike (sky130, claimed 56.8 GOPS/W)", 17.6, None),
                  ("130 nm synthesized 2-layer snnTorch SNN (95%)", None, 0.51),
                  ("ODIN (28 nm)", 12.7, None), ("TrueNorth (92.7%)", None, 0.27)]


def energy(results, best: dict | None, images) -> None:
    """Energy figures from the calibrated models (skyspike.chip.energy): energy_model_error;
    per model, its idle pJ per cycle; with a chip model and the best MNIST network, its
    energy per inference on ``images``, pJ per SOP and power at the model's clock."""
    from skyspike.chip.energy import CALIBRATION_DIR, EnergyModel, count_events

    models = {m.config: m for m in (EnergyModel.from_json(p.read_text())
                                    for p in sorted(CALIBRATION_DIR.glob("energy-*.json")))}
    if not models:
        console.print("no calibrated energy model (python -m skyspike.apps.energycal): energy figures skipped")
        return
    results["energy_model_error"] = max(m.fit["worst_held_out_error"] for m in models.values())
    for name, m in models.items():
        results[f"energy_idle_pj_per_cycle_{name}"] = m.fit["idle_pj_per_cycle"]
    chip = models.get("chip")
    t = Table(title="Energy (pre-layout, tt; docs/energy.md), next to published figures")
    for col in ("", "pJ per synaptic op", "uJ per MNIST inference"):
        t.add_column(col, justify="right")
    if chip is not None and best is not None and images is not None:
        net, x = best_mnist_network(best, images)
        ev = count_events(net, x, "chip")
        pj = chip.predict_pj(ev)
        results["energy_uj_per_inference_mnist"] = float(pj.mean() * 1e-6)
        results["pj_per_sop"] = float(pj.sum() / ev.counts["sops"].sum())
        results["power_mw_at_fmax"] = float(pj.sum() / (ev.counts["cycles"].sum() * chip.period_ns))  # pJ/ns = mW
        t.add_row(f"SkySpike ({net.layers[0].n_in}-{best['hidden']}-10, {100 * best['chip']:.2f}%, {1000 / chip.period_ns:.0f} MHz)",
                  f"{results['pj_per_sop']:.1f}", f"{results['energy_uj_per_inference_mnist']:.3f}")
    else:
        console.print("no energy model of the chip configuration (or no MNIST network): MNIST energy not predicted")
    for what, pj_op, uj in ENERGY_ANCHORS:
        t.add_row(what, f"{pj_op}" if pj_op else "", f"{uj}" if uj else "")
    console.print(t)


def best_mnist_network(best: dict, images):
    """The accuracy benchmark's best MNIST network (``best``: its row, from
    :func:`best_accuracy`) compiled as the benchmark compiled it, and ``images`` as it takes them."""
    from skyspike.compiler import encode, quantize, train

    model, r = train.load_file(Path(best["run"]) / f"mnist-{best['bits']}bit.pt")
    r = replace(r, input_bits=best.get("input_bits", r.input_bits))   # as evaluated (eval --input-bits)
    net = quantize.quantize(model, best["bits"], r.steps, input_bits=r.input_bits or None, align_threshold=True)
    images = encode.pick(images, train.pixels_of(model))
    x = encode.values(images, r.input_bits) if r.input_bits else encode.rate(images, r.steps, gain=r.gain, rng=1)
    return net, x


#: Where the accuracy benchmark leaves its 4-bit MNIST network (make accuracy; the memory plan's run).
TRAINED_MNIST = [Path("build/accuracy/mnist-4bit.pt"), Path("build/accuracy-plan/mnist-4bit/mnist-4bit.pt")]


def trained_mnist_cycles(images):
    """(hidden, mean cycles) of the accuracy benchmark's 4-bit MNIST network on ``images``,
    rate-coded as it was trained (exact: the golden model's cycle predictor), or (None, None)."""
    from skyspike.compiler import encode, quantize, train

    path = next((p for p in TRAINED_MNIST if p.is_file()), None)
    if path is None:
        return None, None
    model, r = train.load_file(path)
    net = quantize.quantize(model, 4, r.steps, align_threshold=True)
    x = encode.rate(images, r.steps, gain=r.gain, rng=1)
    return r.hidden, float(run(net, x, CONFIGS["chip"]).cycles.mean())


def mnist_images(n: int = 256):
    """MNIST test images (N, 784) in 0..1 from ../shared/datasets, or None (with a message)."""
    from skyspike.compiler import datasets

    try:
        return np.asarray(datasets.load("mnist", Path("../shared/datasets")).x_test[:n], float).reshape(-1, 784)
    except Exception as exc:  # noqa: BLE001 - any reason the data set is unavailable: skip, say why
        console.print(f"MNIST not available ({exc}): MNIST throughput figures skipped")
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the RTL simulator runs")
    ap.add_argument("--samples", type=int, default=4, help="inferences per RTL speed run")
    args = ap.parse_args(argv)
    cfg = CONFIGS["chip"]
    rng = np.random.default_rng(2026)
    results: dict[str, float] = {}
    images = mnist_images()
    best = best_accuracy(results)
    if images is not None:
        try:
            silicon(results, images, best)
        except PDKNotFound as e:   # no sky130 to synthesize with: the other figures still come
            console.print(f"[bold]silicon figures skipped:[/bold] {str(e).splitlines()[0]} (set PDK_ROOT)")
    net = cycles_table(cfg, rng, results)
    digits = digits_cycles(cfg)
    golden_throughput(cfg, net, rng, results)
    energy(results, best, images)
    if not args.quick:
        if digits is not None:
            dnet, dx = digits
            rtl_speed(dnet, dx[: args.samples], "chip", results)
        else:
            rtl_speed(net, rng.random((args.samples, 8, 784)) < 0.2, "chip", results)
        end_to_end(results)
        stream_end_to_end(results, images)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({k: float(v) for k, v in results.items()}, indent=1, sort_keys=True) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
