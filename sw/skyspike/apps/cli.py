"""``skyspike``: the command-line driver.

    skyspike train   [--dataset digits|mnist|fashion-mnist] [--data DIR] -o model.pt
    skyspike compile model.pt|graph.nir -o net.npz [--bits 4] [--config chip]
    skyspike info    [net.npz] [--config chip]
    skyspike run     net.npz [--backend golden|sim|serial] [--samples 4] [--raster r.png]
    skyspike eval    net.npz [--backend ...] [--limit N]
    skyspike sweep   model.pt [--plot acc.png]        accuracy vs. weight precision

The compiled file (``net.npz``) is a chip network file (:mod:`skyspike.chip.netfile`): integer
weights, bias rows and per-layer parameters, plus the core configuration, the input
encoding and the packed memory image it was compiled to. Every backend runs the same
encoded inputs; ``eval`` with a non-golden backend also checks it against the golden model.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(help="SkySpike driver: train, compile, inspect and run spiking networks on the chip.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console()

Config = Annotated[str, typer.Option(help="core configuration (see `skyspike info`)")]
Dataset = Annotated[str, typer.Option(help="digits (built in), mnist or fashion-mnist")]
DataDir = Annotated[Path | None, typer.Option("--data", help="folder holding <dataset>/*-idx*-ubyte[.gz] "
                                              "(default $SKYSPIKE_DATA)")]


def _fail(msg: str, code: int = 2):
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def _load_data(dataset: str, data: Path | None, download: bool = False):
    from skyspike.compiler import datasets
    try:
        return datasets.load(dataset, data, download_missing=download)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))


def _load_image(path: Path):
    from skyspike.chip.netfile import load_compiled
    from skyspike.chip.network import NetworkError
    try:
        return load_compiled(path)
    except (NetworkError, FileNotFoundError) as e:
        _fail(str(e))


def _encode(x, net, meta: dict, seed: int):
    from skyspike.compiler import encode
    enc = dict(meta.get("encoding") or {"method": "rate", "gain": 1.0})
    method = enc.pop("method", "rate")
    if method == "rate":
        return encode.rate(x, net.steps, gain=enc.get("gain", 1.0), rng=seed)
    return encode.direct(x, net.steps, threshold=enc.get("threshold", 0.5))


def _backend(name: str, sim: str | None, via: str, port: str | None, baud: int):
    from skyspike.backends import get_backend
    options = {"golden": {}, "sim": {"simulator": sim, "via": via}, "serial": {"port": port, "baudrate": baud}}
    if name not in options:
        _fail(f"unknown backend {name!r}; choose golden, sim or serial")
    if name == "serial" and not port:
        _fail("the serial backend needs --port (a device such as /dev/ttyUSB0, or a pyserial URL)")
    return get_backend(name, **options[name])


# -- train ----------------------------------------------------------------------------------

@app.command()
def train(
    output: Annotated[Path, typer.Option("-o", "--output", help="model file to write (.pt, tensors only)")],
    dataset: Dataset = "digits",
    data: DataDir = None,
    download: Annotated[bool, typer.Option(help="fetch missing MNIST/Fashion-MNIST files")] = False,
    hidden: int = 128,
    hidden2: Annotated[int, typer.Option(help="a second hidden layer (0: none)")] = 0,
    steps: int = 16,
    epochs: int = 10,
    neuron: Annotated[str, typer.Option(help="lif (snnTorch Leaky) or schmitt (hysteresis)")] = "lif",
    hysteresis: Annotated[float, typer.Option(help="schmitt: theta_low = threshold * (1 - h)")] = 0.2,
    bias: bool = True,
    beta: float = 0.9,
    lr: float = 1e-2,
    batch: int = 128,
    bits: Annotated[int, typer.Option(help="quantization-aware fine-tuning at this precision (0: none)")] = 0,
    qat_epochs: int = 3,
    seed: int = 0,
    device: Annotated[str | None, typer.Option(help="torch device, e.g. cuda")] = None,
    compile_to: Annotated[Path | None, typer.Option("--compile", help="also compile to this chip file")] = None,
    config: Config = "chip",
):
    """Train a spiking MLP (surrogate gradients, cosine LR) and save it."""
    from skyspike.compiler import train as T
    from skyspike.compiler.train import Recipe

    d = _load_data(dataset, data, download)
    try:
        recipe = Recipe(hidden=hidden, hidden2=hidden2, steps=steps, epochs=epochs, neuron=neuron,
                        hysteresis=hysteresis if neuron == "schmitt" else 0.0, bias=bias, beta=beta, lr=lr,
                        batch=batch, seed=seed, dataset=dataset, qat_bits=bits, qat_epochs=qat_epochs if bits else 0)
        T._neuron(recipe)
    except ValueError as e:
        _fail(str(e))
    total = recipe.epochs + recipe.qat_epochs
    with _progress() as prog:
        task = prog.add_task(f"training {d.n_in}-{hidden}{f'-{hidden2}' if hidden2 else ''}-10 on {dataset}",
                             total=total)

        def progress(epoch, loss, acc):
            prog.update(task, completed=epoch)
            prog.console.print(f"epoch {epoch}/{total}: loss {loss:.4f}, train accuracy {100 * acc:.2f}%")

        model, log = T.train(d.x_train, d.y_train, recipe, device=device, progress=progress, threads=None)
    T.save(model, output, recipe)
    from skyspike.compiler import encode
    x = encode.rate(d.x_test, recipe.steps, gain=recipe.gain, rng=1)
    acc = T.evaluate(model, x, d.y_test)
    console.print(f"float test accuracy {100 * acc:.2f}% ({len(d.y_test)} images), {log.seconds:.0f} s; "
                  f"wrote {output}")
    if compile_to:
        compile(output, compile_to, bits=bits or 4, steps=None, config=config, rule="mse",
                align_threshold=None, nir_reset="zero", nir_dt=1e-4, encoding="rate", gain=recipe.gain,
                threshold=0.5, dataset=dataset, data=data, validate=1000)


# -- compile --------------------------------------------------------------------------------

def _load_source(model: Path, nir_reset: str, nir_dt: float):
    """(float network, torch model or None, recipe or None) of a model file."""
    from skyspike.compiler import model as M
    from skyspike.compiler import train as T
    from skyspike.chip.network import NetworkError
    if not model.is_file():
        _fail(f"{model}: no such file")
    try:
        if model.suffix.lower() == ".pt":
            torch_model, recipe = T.load_file(model)
            return M.from_torch(torch_model), torch_model, recipe
        return M.load_model(model, reset=nir_reset, dt=nir_dt), None, None
    except (NetworkError, ValueError) as e:
        _fail(str(e))


@app.command()
def compile(
    model: Annotated[Path, typer.Argument(help="a model file from `skyspike train` (.pt) or a NIR graph (.nir/.h5)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="chip network file to write (.npz)")],
    bits: Annotated[str, typer.Option(help="weight bits: one value, or one per layer (e.g. 4,8)")] = "4",
    steps: Annotated[int | None, typer.Option(help="time steps per inference (default: the recipe's, or 16)")] = None,
    config: Config = "chip",
    rule: Annotated[str, typer.Option(help="per-layer scale rule: mse or max")] = "mse",
    align_threshold: Annotated[bool | None, typer.Option(
        help="put thresholds exactly on the grid (default: on for quantization-aware models)")] = None,
    nir_reset: Annotated[str, typer.Option(help="NIR LIF reset: zero (NIR's own) or subtract (snnTorch's)")] = "zero",
    nir_dt: Annotated[float, typer.Option(help="NIR time step (snnTorch exports with 1e-4)")] = 1e-4,
    encoding: Annotated[str, typer.Option(help="input encoding: rate or direct")] = "rate",
    gain: float = 1.0,
    threshold: Annotated[float, typer.Option(help="direct encoding: spike where intensity >= this")] = 0.5,
    dataset: Annotated[str | None, typer.Option(help="validate on this data set's test images")] = None,
    data: DataDir = None,
    validate: Annotated[int, typer.Option(help="test images for the float-vs-chip report")] = 1000,
):
    """Quantize a trained model into a chip network file, with a resource summary."""
    from skyspike.compiler import quantize as Q
    from skyspike.spec.config import get_config
    from skyspike.chip.netfile import save_compiled
    from skyspike.chip.network import NetworkError

    fnet, torch_model, recipe = _load_source(model, nir_reset, nir_dt)
    try:
        cfg = get_config(config)
        per_layer = [int(b) for b in bits.split(",")]
        bits_arg = per_layer[0] if len(per_layer) == 1 else per_layer
        steps = steps or (recipe.steps if recipe else 16)
        align = align_threshold if align_threshold is not None else bool(recipe and recipe.qat_bits)
        if encoding not in ("rate", "direct"):
            raise ValueError(f"encoding {encoding!r}: use rate or direct")
        net = Q.quantize(fnet, bits_arg, steps, rule=rule, align_threshold=align)
        net.check(cfg)
    except (NetworkError, ValueError, KeyError) as e:
        _fail(str(e))
    for note in fnet.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    enc = {"method": "rate", "gain": gain} if encoding == "rate" else {"method": "direct", "threshold": threshold}
    meta = {"config": config, "encoding": enc, "source": str(model), "scales": [ly.scale for ly in net.layers],
            "dataset": dataset or (recipe.dataset if recipe else None)}
    save_compiled(output, net, cfg, meta)
    ds = dataset or (recipe.dataset if recipe else None)
    x = None
    if ds and validate:
        d = _load_data(ds, data)
        if d.n_in != net.layers[0].n_in:
            _fail(f"the network takes {net.layers[0].n_in} inputs but {ds} images have {d.n_in} pixels")
        x = _encode(d.x_test[:validate], net, meta, seed=1)
    _summary(net, cfg, meta, inputs=x, what=f"on {len(x)} {ds} test images" if x is not None else None)
    if x is not None:
        rep = Q.quantization_report(torch_model if torch_model is not None else fnet, net, x, d.y_test[:validate])
        console.print(f"validation on {len(x)} {ds} test images: {rep}")
    console.print(f"wrote {output}")


def _summary(net, cfg, meta: dict | None = None, inputs=None, what: str | None = None):
    from skyspike.chip import golden
    from skyspike.chip.network import place

    pl = place(net, cfg)
    t = Table(title=f"{len(net.layers)} layers, {net.steps} steps, on the '{(meta or {}).get('config', '?')}' core",
              title_justify="left")
    for c in ("layer", "size", "bits", "bias rows", "beta/256", "theta hi/lo", "reset", "slots", "words/bank"):
        t.add_column(c, justify="right")
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        reset = "zero" if ly.reset_zero else f"-{ly.reset_sub}"
        t.add_row(str(i), f"{ly.n_in}->{ly.n_out}", str(ly.bits), str(ly.n_bias), str(ly.beta),
                  f"{ly.theta_high}/{ly.theta_low}", reset, str(lp.slots), str(lp.bank_words))
    console.print(t)
    used, avail = pl.weight_words, cfg.bank_depth
    state = sum(-(-ly.n_out // cfg.update_lanes) * cfg.update_lanes for ly in net.layers)
    console.print(f"weight memory: {used}/{avail} words per bank ({100 * used / avail:.0f}%, "
                  f"{used * cfg.banks * 4 / 1024:.1f} of {cfg.weight_bits / 8192:.0f} KiB); neuron state "
                  f"{state}/{cfg.state_neurons}; input buffer {net.steps * pl.input_words_per_bank}/"
                  f"{cfg.input_depth} words per bank")
    if inputs is None:  # a stand-in: 20% input density
        inputs = np.random.default_rng(0).random((64, net.steps, net.layers[0].n_in)) < 0.2
        what = "at 20% random input density"
    g = golden.run(net, inputs, cfg)
    console.print(f"predicted cycles per inference {what}: mean {g.cycles.mean():.0f} "
                  f"(min {g.cycles.min()}, max {g.cycles.max()}); dense scan {golden.dense_cycles(net, cfg)}")


# -- info -----------------------------------------------------------------------------------

@app.command()
def info(
    image: Annotated[Path | None, typer.Argument(help="a compiled chip network file")] = None,
    config: Annotated[str | None, typer.Option(help="core configuration (default: the file's, or chip)")] = None,
):
    """The core configuration's capabilities, and a compiled network's resource use."""
    from skyspike.spec.config import CONFIGS, MAX_BIAS_ROWS, PRECISIONS, get_config

    net, meta = _load_image(image) if image else (None, {})
    name = config or meta.get("config") or "chip"
    try:
        cfg = get_config(name)
    except (KeyError, ValueError):
        _fail(f"unknown configuration {name!r}; known: {', '.join(CONFIGS)}")
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
        _summary(net, cfg, {**meta, "config": name})


# -- run / eval ------------------------------------------------------------------------------

def _run_backend(backend, net, x, cfg, label: str):
    with _progress() as prog:
        task = prog.add_task(f"{label} on {backend.name}", total=len(x))
        try:
            return backend.run(net, x, cfg, progress=lambda n: prog.advance(task, n))
        except Exception as e:  # the backend's own message is the useful part
            _fail(f"{backend.name} backend: {type(e).__name__}: {e}", 1)


def _compare(out, ref) -> list[int]:
    """Samples where ``out`` differs from the golden ``ref``: counts, final membranes, cycles."""
    bad = []
    for i in range(len(ref)):
        same = np.array_equal(out.counts[i], ref.counts[i]) and int(out.cycles[i]) == int(ref.cycles[i]) and \
            all(np.array_equal(a[i], b[i]) for a, b in zip(out.finals, ref.finals))
        if not same:
            bad.append(i)
    return bad


Backend = Annotated[str, typer.Option(help="golden (bit-exact model), sim (RTL simulation), serial (hardware)")]
Sim = Annotated[str | None, typer.Option(help="sim backend: icarus or verilator")]
Via = Annotated[str, typer.Option(help="sim backend: core (Wishbone) or soc (firmware over UART)")]
Port = Annotated[str | None, typer.Option(help="serial backend: device or pyserial URL")]
Baud = Annotated[int, typer.Option(help="serial backend: baud rate")]
ImageArg = Annotated[Path, typer.Argument(help="a compiled chip network file")]
TestSet = Annotated[str | None, typer.Option("--dataset", help="default: the one it was compiled for, or digits")]
Seed = Annotated[int, typer.Option(help="rate-coding seed")]


def _image_and_data(image: Path, dataset: str | None, data: Path | None):
    """(network, meta, core configuration, data split) for run / eval, or a clear error."""
    from skyspike.spec.config import get_config

    net, meta = _load_image(image)
    cfg = get_config(meta.get("config", "chip"))
    d = _load_data(dataset or meta.get("dataset") or "digits", data)
    if d.n_in != net.layers[0].n_in:
        _fail(f"{image} takes {net.layers[0].n_in} inputs but {d.name} images have {d.n_in} pixels")
    return net, meta, cfg, d


@app.command()
def run(
    image: ImageArg,
    dataset: TestSet = None,
    data: DataDir = None,
    samples: int = 4,
    start: Annotated[int, typer.Option(help="first test image")] = 0,
    backend: Backend = "golden",
    sim: Sim = None,
    via: Via = "core",
    port: Port = None,
    baud: Baud = 115200,
    seed: Seed = 1,
    raster: Annotated[Path | None, typer.Option(help="save a spike raster of the first sample (PNG)")] = None,
):
    """Run test images on a backend: prediction, spike counts and cycles per sample."""
    from skyspike.backends import GoldenBackend

    net, meta, cfg, d = _image_and_data(image, dataset, data)
    idx = np.arange(start, min(start + samples, len(d.y_test)))
    x = _encode(d.x_test[idx], net, meta, seed)
    out = _run_backend(_backend(backend, sim, via, port, baud), net, x, cfg, f"{len(x)} samples")
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


@app.command("eval")
def evaluate(
    image: ImageArg,
    dataset: TestSet = None,
    data: DataDir = None,
    limit: Annotated[int | None, typer.Option(help="only the first N test images")] = None,
    backend: Backend = "golden",
    sim: Sim = None,
    via: Via = "core",
    port: Port = None,
    baud: Baud = 115200,
    seed: Seed = 1,
):
    """Accuracy on a test set; a non-golden backend is also checked against the golden model."""
    from skyspike.backends import GoldenBackend

    net, meta, cfg, d = _image_and_data(image, dataset, data)
    n = len(d.y_test) if limit is None else min(limit, len(d.y_test))
    x = _encode(d.x_test[:n], net, meta, seed)
    y = d.y_test[:n]
    out = _run_backend(_backend(backend, sim, via, port, baud), net, x, cfg, f"{n} test images")
    acc = float(np.mean(out.prediction == y))
    spikes = out.counts.sum(axis=1).mean()
    console.print(f"{d.name}: accuracy {100 * acc:.2f}% on {n} test images ({backend}); "
                  f"output spikes {spikes:.1f} per image; cycles mean {out.cycles.mean():.0f} "
                  f"(min {out.cycles.min()}, max {out.cycles.max()})")
    if backend != "golden":
        bad = _compare(out, GoldenBackend().run(net, x, cfg))
        if bad:
            _fail(f"{len(bad)} of {n} samples differ from the golden model (first: {bad[:8]})", 1)
        console.print(f"{backend} == golden on all {n} samples (counts, final membranes, cycles)")


@app.command()
def sweep(
    model: Annotated[Path, typer.Argument(help="a model file (.pt) or a NIR graph")],
    dataset: Annotated[str | None, typer.Option(help="default: the model's")] = None,
    data: DataDir = None,
    steps: Annotated[int | None, typer.Option(help="default: the recipe's, or 16")] = None,
    limit: Annotated[int | None, typer.Option(help="only the first N test images")] = None,
    config: Config = "chip",
    plot: Annotated[Path | None, typer.Option(help="save accuracy vs. precision (PNG)")] = None,
    nir_reset: str = "zero",
    nir_dt: float = 1e-4,
):
    """Accuracy vs. weight precision (1/2/4/8 bits, post-training quantization, golden model)."""
    from skyspike.compiler import encode
    from skyspike.compiler import quantize as Q
    from skyspike.spec.config import get_config
    from skyspike.chip.network import NetworkError

    fnet, torch_model, recipe = _load_source(model, nir_reset, nir_dt)
    ds = dataset or (recipe.dataset if recipe else "digits")
    d = _load_data(ds, data)
    steps = steps or (recipe.steps if recipe else 16)
    n = len(d.y_test) if limit is None else limit
    x = encode.rate(d.x_test[:n], steps, rng=1)
    cfg = get_config(config)
    t = Table(title=f"{model.name} on {n} {ds} test images", title_justify="left")
    for c in ("bits", "float", "chip", "same answer", "fits"):
        t.add_column(c, justify="right")
    rows = []
    for bits in (1, 2, 4, 8):
        net = Q.quantize(fnet, bits, steps)
        try:
            net.check(cfg)
            fits = "yes"
        except NetworkError as e:
            fits = f"no: {e}"[:60]
        rep = Q.quantization_report(torch_model if torch_model is not None else fnet, net, x, d.y_test[:n])
        rows.append({"dataset": ds, "bits": bits, "chip": rep.golden_accuracy, "float": rep.float_accuracy})
        t.add_row(str(bits), f"{100 * rep.float_accuracy:.2f}%", f"{100 * rep.golden_accuracy:.2f}%",
                  f"{100 * rep.agreement:.1f}%", fits)
    console.print(t)
    if plot:
        from skyspike.apps.plots import accuracy_vs_precision
        accuracy_vs_precision(rows, plot, f"{model.name}: accuracy vs. weight precision")
        console.print(f"wrote {plot}")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()
