"""`skyspike info`, `run`, `eval` and `sweep`: a chip network file on the core's capabilities and on a backend."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer
from rich.table import Table

from skyspike.apps.cli.build import load_source, summary
from skyspike.apps.cli.common import (Config, ConfigName, DataDir, NirDt, NirReset, Steps, check_images, console,
                                      encode_inputs, fail, load_data, load_image, make_backend, model_pixels, output_path,
                                      progress_bar, stored_pixels)
from skyspike.spec.config import PRECISIONS


# -- info -----------------------------------------------------------------------------------

def info(
    image: Annotated[Path | None, typer.Argument(help="a compiled chip network file")] = None,
    config: Annotated[ConfigName | None, typer.Option(help="core configuration (default: the file's, or chip)")] = None,
):
    """The core configuration's capabilities, and a compiled network's resource use."""
    from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS, get_config

    net, meta = load_image(image) if image else (None, {})
    name = config or meta.get("config") or "chip"
    if name not in CONFIGS:
        fail(f"{image}: compiled for an unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
    cfg = get_config(name)
    t = Table(title=f"core configuration '{name}'", title_justify="left", show_header=False)
    rows = [("weight memory", f"{cfg.banks} banks x {cfg.bank_depth} words x 32 bit = {cfg.weight_bits // 8192} KiB "
                              f"({cfg.bank_macro})"),
            ("weight precisions", ", ".join(f"{b}-bit" for b in PRECISIONS)),
            ("events per cycle", f"up to {cfg.max_slots} (synapse lanes {cfg.lanes})"),
            ("neuron updates per cycle", str(cfg.update_lanes)),
            ("layers", f"up to {cfg.max_layers}"),
            ("neurons per layer", f"up to {cfg.max_neurons} (state for {cfg.state_neurons} in all)"),
            ("inputs", f"up to {cfg.max_inputs}; input buffer {cfg.input_banks} x {cfg.input_depth} words"),
            ("outputs", f"up to {cfg.max_outputs} spike counters"),
            ("bias", f"up to {MAX_BIAS_ROWS} bias rows per layer (always-on inputs)"),
            ("membrane", "signed 16 bit, saturating; leak beta/256; Schmitt trigger theta_high/theta_low")]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if net is not None:
        try:
            net.check(cfg)
        except ValueError as e:
            fail(f"{image} does not fit the '{name}' core: {e}")
        summary(net, cfg)


# -- run / eval ------------------------------------------------------------------------------

def run_on(backend, net, x, cfg, label: str):
    """``backend.run`` with a progress bar; its errors become one line (exit 1)."""
    from skyspike.errors import SkySpikeError

    with progress_bar() as prog:
        task = prog.add_task(f"{label} on {backend.name}", total=len(x))
        try:
            return backend.run(net, x, cfg, progress=lambda n: prog.advance(task, n))
        except SkySpikeError:
            raise
        except Exception as e:  # a simulator or device failure: the backend's own message is the useful part
            fail(f"{backend.name} backend: {type(e).__name__}: {e}", 1)


Backend = Annotated[Literal["golden", "sim", "serial"], typer.Option(
    help="golden (bit-exact model), sim (RTL simulation), serial (hardware)")]
Sim = Annotated[Literal["icarus", "verilator"] | None, typer.Option(help="sim backend: the simulator")]
Via = Annotated[Literal["core", "soc"], typer.Option(help="sim backend: core (Wishbone) or soc (firmware over UART)")]
Port = Annotated[str | None, typer.Option(help="serial backend: device or pyserial URL")]
Baud = Annotated[int, typer.Option(min=1, help="serial backend: baud rate")]
ImageArg = Annotated[Path, typer.Argument(help="a compiled chip network file")]
TestSet = Annotated[str | None, typer.Option("--dataset", help="default: the one it was compiled for, or digits")]
Seed = Annotated[int, typer.Option(min=0, help="rate-coding seed")]
Limit = Annotated[int | None, typer.Option(min=1, help="only the first N test images")]


def _image_and_data(image: Path, dataset: str | None, data: Path | None):
    """(network, meta, core configuration, data split) for run / eval, or a clear error."""
    from skyspike.spec.config import get_config

    from skyspike.spec.config import CONFIGS

    net, meta = load_image(image)
    name = meta.get("config", "chip")
    if name not in CONFIGS:
        fail(f"{image}: compiled for an unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
    cfg = get_config(name)
    d = load_data(dataset or meta.get("dataset") or "digits", data)
    check_images(d.n_in, net.layers[0].n_in, stored_pixels(meta), str(image), f"{d.name} images")
    return net, meta, cfg, d


def run(
    image: ImageArg,
    dataset: TestSet = None,
    data: DataDir = None,
    samples: Annotated[int, typer.Option(min=1, help="test images to run")] = 4,
    start: Annotated[int, typer.Option(min=0, help="first test image")] = 0,
    backend: Backend = "golden",
    sim: Sim = None,
    via: Via = "core",
    port: Port = None,
    baud: Baud = 115200,
    seed: Seed = 1,
    raster: Annotated[Path | None, typer.Option(help="save a spike raster of the first sample (.png, .svg, .pdf)")] = None,
):
    """Run test images on a backend: prediction, spike counts and cycles per sample."""
    from skyspike.backends import GoldenBackend

    if raster is not None:
        output_path(raster, (".png", ".svg", ".pdf"))
    net, meta, cfg, d = _image_and_data(image, dataset, data)
    if start >= len(d.y_test):
        fail(f"--start {start}: {d.name} has {len(d.y_test)} test images")
    idx = np.arange(start, min(start + samples, len(d.y_test)))
    x = encode_inputs(d.x_test[idx], net, meta, seed)
    out = run_on(make_backend(backend, sim, via, port, baud), net, x, cfg, f"{len(x)} samples")
    t = Table(title=f"{image.name} on {backend}", title_justify="left")
    for c in ("image", "label", "prediction", "output spike counts", "cycles"):
        t.add_column(c, justify="right")
    for k, i in enumerate(idx):
        t.add_row(str(i), str(d.y_test[i]), str(out.prediction[k]), " ".join(map(str, out.counts[k])),
                  str(out.cycles[k]))
    console.print(t)
    if raster:
        from skyspike.apps.plots import spike_raster
        g = GoldenBackend(keep_spikes=True).run(net, x[:1], cfg)
        spikes = out.spikes if out.spikes is not None else g.spikes
        spike_raster(spikes, 0, raster, title=f"{d.name} test image {idx[0]} (label {d.y_test[idx[0]]})",
                     inputs=x, highlight=int(out.prediction[0]))
        console.print(f"wrote {raster}")


def evaluate(
    image: ImageArg,
    dataset: TestSet = None,
    data: DataDir = None,
    limit: Limit = None,
    backend: Backend = "golden",
    sim: Sim = None,
    via: Via = "core",
    port: Port = None,
    baud: Baud = 115200,
    seed: Seed = 1,
):
    """Accuracy on a test set; a non-golden backend is also checked against the golden model."""
    from skyspike.backends import GoldenBackend
    from skyspike.chip.readout import compare

    net, meta, cfg, d = _image_and_data(image, dataset, data)
    n = len(d.y_test) if limit is None else min(limit, len(d.y_test))
    x = encode_inputs(d.x_test[:n], net, meta, seed)
    y = d.y_test[:n]
    out = run_on(make_backend(backend, sim, via, port, baud), net, x, cfg, f"{n} test images")
    acc = float(np.mean(out.prediction == y))
    spikes = out.counts.sum(axis=1).mean()
    console.print(f"{d.name}: accuracy {100 * acc:.2f}% on {n} test images ({backend}); "
                  f"output spikes {spikes:.1f} per image; cycles mean {out.cycles.mean():.0f} "
                  f"(min {out.cycles.min()}, max {out.cycles.max()})")
    from skyspike.apps.summary import predicted_energy

    console.print(predicted_energy(net, cfg, x, f"on {n} test images"))
    if backend != "golden":
        bad = sorted({m.sample for m in compare(out, GoldenBackend().run(net, x, cfg))})
        if bad:
            fail(f"{len(bad)} of {n} samples differ from the golden model (first: {bad[:8]})", 1)
        console.print(f"{backend} == golden on all {n} samples (counts, final membranes, cycles)")


def sweep(
    model: Annotated[Path, typer.Argument(help="a model file (.pt) or a NIR graph")],
    dataset: Annotated[str | None, typer.Option(help="default: the model's")] = None,
    data: DataDir = None,
    steps: Steps = None,
    limit: Limit = None,
    config: Config = "chip",
    plot: Annotated[Path | None, typer.Option(help="save accuracy vs. precision (.png, .svg, .pdf)")] = None,
    nir_reset: NirReset = "zero",
    nir_dt: NirDt = 1e-4,
    calibrate_samples: Annotated[int, typer.Option(
        min=0, help="training images to calibrate each precision on (0: the rule alone)")] = 1000,
):
    """Accuracy vs. weight precision (1/2/4/8 bits; the rule and calibrated; golden model), what fits
    the core, and whether fine-tuning is advised."""
    from skyspike.apps import advice
    from skyspike.compiler import encode
    from skyspike.spec.config import get_config

    if plot is not None:
        output_path(plot, (".png", ".svg", ".pdf"))
    fnet, torch_model, recipe = load_source(model, nir_reset, nir_dt)
    ds = dataset or (recipe.dataset if recipe else "digits")
    d = load_data(ds, data)
    pixels = model_pixels(torch_model)
    check_images(d.n_in, fnet.layers[0].n_in, pixels, "the network", f"{ds} images")
    steps = steps or (recipe.steps if recipe else 16)
    n = len(d.y_test) if limit is None else min(limit, len(d.y_test))
    x = encode.rate(encode.pick(d.x_test[:n], pixels), steps, rng=1)
    cfg = get_config(config)
    cal = None
    if calibrate_samples:
        cal = (encode.rate(encode.pick(d.x_train[-calibrate_samples:], pixels), steps, rng=2),
               d.y_train[-calibrate_samples:])
    with progress_bar() as prog:
        task = prog.add_task("precisions", total=len(PRECISIONS))
        rows = advice.precision_rows(fnet, torch_model if torch_model is not None else fnet, steps, {}, cfg, x,
                                     d.y_test[:n], cal, progress=lambda b: prog.update(
                                         task, description=f"{b}-bit", completed=PRECISIONS.index(b)))
    console.print(advice.precision_table(rows, f"{model.name} on {n} {ds} test images"))
    command = advice.finetune_command(model, ds, data, steps, nir_reset, None, None,
                                      all(ly.strict and ly.spiking for ly in fnet.layers))
    for line in advice.advice_lines(rows, command):
        console.print(line, soft_wrap=True)   # its command must stay on one line
    if plot:
        from skyspike.apps.plots import accuracy_vs_precision
        points = [{"dataset": ds, "bits": r.bits, "chip": r.best, "float": r.float_acc, "chip_ptq": r.rule_acc}
                  for r in rows]
        accuracy_vs_precision(points, plot, f"{model.name}: accuracy vs. weight precision")
        console.print(f"wrote {plot}")
