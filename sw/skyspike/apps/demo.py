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

CLOCK_HZ = 50e6
TEST_SEED = 1  # rate-coding seed of the test set (the same spikes for every backend)


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


def compare(rtl, gold, b: int, gb: int | None = None) -> list[str]:
    """Fields where RTL sample ``b`` differs from golden sample ``gb`` (default ``b``); empty
    when bit-exact: spikes and membranes of every layer, final membranes, counts, cycles, status."""
    gb = b if gb is None else gb
    bad = []
    if int(rtl.errors[b]):
        bad.append(f"error 0x{int(rtl.errors[b]):02x}")
    for i in range(len(gold.spikes)):
        if not np.array_equal(rtl.spikes[i][b], gold.spikes[i][gb]):
            bad.append(f"spikes L{i}")
        if not np.array_equal(rtl.membranes[i][b], gold.membranes[i][gb]):
            bad.append(f"membranes L{i}")
        if not np.array_equal(rtl.finals[i][b], gold.membranes[i][gb, -1]):
            bad.append(f"finals L{i}")
    if not np.array_equal(rtl.counts[b], gold.counts[gb]):
        bad.append("counts")
    if int(rtl.cycles[b]) != int(gold.cycles[gb]):
        bad.append(f"cycles {int(rtl.cycles[b])}!={int(gold.cycles[gb])}")
    return bad


def network_table(net, cfg, cycles_one: int, dense: int, scales):
    from rich.table import Table

    from skyspike.spec.config import config_name
    from skyspike.chip.network import place

    pl = place(net, cfg)
    t = Table(title=f"network: {net.steps} steps, on the '{config_name(cfg)}' core ({cfg.banks} weight banks x "
                    f"{cfg.bank_depth} words)", title_justify="left")
    for col in ("layer", "size", "bits", "beta/256", "fire, reset", "slots", "words/bank"):
        t.add_column(col, justify="left" if col in ("layer", "fire, reset", "words/bank") else "right",
                     no_wrap=True)
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        reset = "to 0" if ly.reset_zero else f"-{ly.reset_sub}"
        t.add_row(f"{i}" + (" out" if i == len(net.layers) - 1 else ""), f"{ly.n_in}->{ly.n_out}",
                  str(ly.bits), str(ly.beta), f">={ly.theta_high}, {reset}",
                  f"{lp.slots}x{lp.chunks}", f"{lp.bank_words} @ {lp.w_base}")
    used = pl.weight_words
    t.add_section()
    t.add_row("all", "", "", "", "", "", f"{used} of {cfg.bank_depth} ({100 * used / cfg.bank_depth:.0f}%)")
    lsb = ", ".join(f"{x:.4f}" for x in scales if x is not None)
    t.caption = (f"slots x chunks: events per cycle x neuron chunks; words/bank: used @ first word; "
                 f"one weight/membrane unit = {lsb} (float).\n"
                 f"predicted cycles for test sample 0: {cycles_one} (dense scan, every input spiking "
                 f"every step: {dense})")
    t.caption_justify = "left"
    return t


def demo_network(cfg, out: Path = Path("build/demo"), bits: int = 4):
    """The demo's trained digits network (trained once, then cached), quantized for ``cfg``,
    with the rate-coded test set and labels: (ChipNetwork, spikes, labels)."""
    from skyspike.compiler import datasets
    from skyspike.compiler import encode
    from skyspike.compiler import quantize
    from skyspike.compiler import train

    data = datasets.load_digits()
    recipe = train.Recipe(hidden=min(128, cfg.max_neurons))
    model, _ = train.train_or_load(data.x_train, data.y_train, recipe, out)
    net = quantize.quantize_snntorch(model, bits=bits, steps=recipe.steps)
    return net, encode.rate(data.x_test, recipe.steps, gain=recipe.gain, rng=TEST_SEED), data.y_test


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m skyspike.apps.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=20, help="test samples to run on the RTL (default 20)")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default=None,
                    help="HDL simulator (default: $SIM, else icarus)")
    ap.add_argument("--config", default="chip", help="core configuration (default chip)")
    ap.add_argument("--out", type=Path, default=Path("build/demo"), help="output folder (model cache, raster)")
    ap.add_argument("--bits", type=int, default=4, choices=(1, 2, 4, 8), help="weight precision (default 4)")
    ap.add_argument("--retrain", action="store_true", help="ignore the cached model")
    ap.add_argument("--verbose", action="store_true", help="show the simulator's output")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    # The console writes to a copy of stdout, so that it keeps working while fds 1/2 are
    # redirected into the simulator's log.
    console = Console(file=os.fdopen(os.dup(1), "w", buffering=1), highlight=False)
    t_start = time.time()

    from skyspike.compiler import datasets
    from skyspike.compiler import encode
    from skyspike.chip import golden
    from skyspike.compiler import quantize
    from skyspike.compiler import train
    from skyspike.spec.config import get_config
    from skyspike.chip.network import NetworkError

    cfg = get_config(args.config)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    # -- data and model ------------------------------------------------------------------
    data = datasets.load_digits()
    recipe = train.Recipe(hidden=min(128, cfg.max_neurons))
    console.print(f"[bold]SkySpike demo[/]: digits 8x8 ({len(data.y_train)} train / {len(data.y_test)} test), "
                  f"MLP {data.n_in}-{recipe.hidden}-10, {recipe.steps} steps, rate coding, "
                  f"{args.bits}-bit weights on the '{args.config}' core")
    path = train.cache_path(out, recipe)
    if args.retrain and path.exists():
        path.unlink()
    t0 = time.time()
    with console.status("training (snnTorch, surrogate-gradient BPTT)...") as status:
        def progress(epoch, loss, acc):
            status.update(f"training: epoch {epoch}/{recipe.epochs}, loss {loss:.3f}, train acc {100 * acc:.1f}%")
        model, log = train.train_or_load(data.x_train, data.y_train, recipe, out, progress=progress)
    if log is None:
        console.print(f"model: loaded {path}")
    else:
        last = log.epochs[-1]
        console.print(f"model: trained {recipe.epochs} epochs in {time.time() - t0:.1f} s "
                      f"(loss {last['loss']:.3f}, train acc {100 * last['train_acc']:.1f}%), cached in {path}")

    try:
        net = quantize.quantize_snntorch(model, bits=args.bits, steps=recipe.steps)
        net.check(cfg)
    except NetworkError as exc:
        console.print(f"[red]cannot map the network onto the '{args.config}' core:[/] {exc}")
        return 2
    scales = [getattr(ly, "scale", None) for ly in net.layers]

    # -- the whole test set: float and golden on the same spikes ---------------------------
    x_test = encode.rate(data.x_test, recipe.steps, gain=recipe.gain, rng=TEST_SEED)
    rep = quantize.quantization_report(model, net, x_test, data.y_test)
    gold = golden.run(net, x_test, cfg)
    gold_pred = quantize.golden_prediction(gold)
    assert np.array_equal(gold_pred, gold.prediction)  # the shared rule is golden's rule
    console.print(network_table(net, cfg, int(gold.cycles[0]), golden.dense_cycles(net, cfg), scales))

    # -- RTL simulation ------------------------------------------------------------------
    n = max(1, min(args.samples, len(data.y_test)))
    from skyspike.rtlsim import run_rtl
    sim = (args.sim or os.environ.get("SIM") or "icarus").lower()
    log_path = out / f"rtl-{sim}.log"
    t0 = time.time()
    try:
        with console.status(f"running {n} samples on the RTL simulation ({sim}); log in {log_path}..."), \
                _fd_redirect(None if args.verbose else log_path):
            rtl = run_rtl(net, x_test[:n], cfg, sim=sim)
    except Exception as exc:  # noqa: BLE001 - report and fail
        console.print(f"[red]RTL simulation failed:[/] {type(exc).__name__}: {exc}")
        if not args.verbose and log_path.exists():
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            console.print("\n".join(tail), markup=False)
        return 2
    rtl_s = time.time() - t0

    rtl_pred = quantize.golden_prediction(rtl)
    table = Table(title=f"{n} test samples: RTL ({sim}) vs golden model", title_justify="left")
    for col in ("#", "label", "RTL", "golden", "float", "cycles (RTL)", "RTL == golden"):
        table.add_column(col, justify="right")
    float_pred = rep.float_prediction
    agree = 0
    mismatches = []
    for b in range(n):
        bad = compare(rtl, gold, b)
        agree += not bad
        if bad:
            mismatches.append((b, bad))
        mark = "[green]bit-exact[/]" if not bad else f"[red]{', '.join(bad)}[/]"
        def col(p, y=int(data.y_test[b])):
            return f"{p}" if p == y else f"[yellow]{p}[/]"
        table.add_row(str(b), str(data.y_test[b]), col(int(rtl_pred[b])), col(int(gold_pred[b])),
                      col(int(float_pred[b])), str(int(rtl.cycles[b])), mark)
    console.print(table)

    cyc = rtl.cycles.astype(np.int64)
    rtl_acc = float(np.mean(rtl_pred == data.y_test[:n]))
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("accuracy on these samples (RTL)", f"{100 * rtl_acc:.1f}%  ({int(np.sum(rtl_pred == data.y_test[:n]))}/{n})")
    summary.add_row(f"digits test set ({len(data.y_test)}), float", f"{100 * rep.float_accuracy:.1f}%")
    summary.add_row(f"digits test set ({len(data.y_test)}), golden {args.bits}-bit",
                    f"{100 * rep.golden_accuracy:.1f}%  (same prediction as float on {100 * rep.agreement:.1f}%)")
    summary.add_row("cycles per inference (RTL)",
                    f"mean {cyc.mean():.1f}, min {cyc.min()}, max {cyc.max()}  "
                    f"(golden, whole test set: mean {gold.cycles.mean():.1f})")
    summary.add_row(f"inferences/s at {CLOCK_HZ / 1e6:.0f} MHz", f"{CLOCK_HZ / cyc.mean():,.0f}  "
                    f"({cyc.mean() / CLOCK_HZ * 1e6:.1f} us each)")
    style = "green" if agree == n else "red"
    summary.add_row("RTL == golden (bit-exact)", f"[{style}]{agree}/{n}[/]")
    summary.add_row("RTL simulation", f"{rtl_s:.1f} s ({sim}, image load included)")

    raster = out / "raster.png"
    from skyspike.apps.plots import spike_raster
    spike_raster(rtl.spikes, 0, raster,
                 title=f"test sample 0 (label {data.y_test[0]}, RTL prediction {rtl_pred[0]}, "
                       f"{int(rtl.cycles[0])} cycles)", inputs=x_test[:n], highlight=int(rtl_pred[0]))
    summary.add_row("spike raster of sample 0", str(raster))
    summary.add_row("total run time", f"{time.time() - t_start:.1f} s")
    console.print(summary)
    if mismatches:
        console.print(f"[red]MISMATCH[/]: {len(mismatches)} of {n} samples differ between RTL and golden: "
                      + "; ".join(f"#{b}: {', '.join(bad)}" for b, bad in mismatches[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
