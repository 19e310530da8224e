"""`skyspike train` and `skyspike compile`: from data to a model file, and from a model to a chip
network file. Every option is checked before the long work starts; files are written last."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from skyspike.apps.cli.common import (Config, DataDir, Dataset, NirDt, NirReset, Steps, check_images, console,
                                      encode_inputs, fail, finite, load_data, output_path, model_pixels, parse_bits,
                                      progress_bar)
from skyspike.spec.config import PRECISIONS

Neuron = Literal["lif", "schmitt"]


def train(
    output: Annotated[Path, typer.Option("-o", "--output", help="model file to write (.pt, tensors only)")],
    dataset: Dataset = "digits",
    data: DataDir = None,
    download: Annotated[bool, typer.Option(help="fetch missing MNIST/Fashion-MNIST files")] = False,
    hidden: Annotated[int, typer.Option(min=1, max=4096, help="neurons of the hidden layer")] = 128,
    hidden2: Annotated[int, typer.Option(min=0, max=4096, help="a second hidden layer (0: none)")] = 0,
    steps: Annotated[int, typer.Option(min=1, max=255, help="time steps per inference")] = 16,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    neuron: Annotated[Neuron, typer.Option(help="lif (snnTorch Leaky) or schmitt (hysteresis)")] = "lif",
    hysteresis: Annotated[float, typer.Option(help="schmitt: theta_low = threshold * (1 - h), 0 <= h < 1")] = 0.2,
    bias: bool = True,
    beta: Annotated[float, typer.Option(help="membrane decay per step, 0..1")] = 0.9,
    lr: Annotated[float, typer.Option(help="learning rate, > 0")] = 1e-2,
    batch: Annotated[int, typer.Option(min=1)] = 128,
    bits: Annotated[int, typer.Option(help="quantization-aware fine-tuning at 1, 2, 4 or 8 bits (0: none)")] = 0,
    input_bits: Annotated[int, typer.Option(help="direct input: the image itself at every step, rounded to 1, 2, "
                                                 "4 or 8 bits per pixel (0: rate-coded spikes)")] = 0,
    qat_epochs: Annotated[int, typer.Option(min=0)] = 3,
    pixels: Annotated[int, typer.Option(min=0, help="take only the training images' N most varying pixels "
                                                    "(0: all): a wider hidden layer fits the same memory")] = 0,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    device: Annotated[str | None, typer.Option(help="torch device, e.g. cuda")] = None,
    compile_to: Annotated[Path | None, typer.Option("--compile", help="also compile to this chip file")] = None,
    config: Config = "chip",
):
    """Train a spiking MLP (surrogate gradients, cosine LR) and save it."""
    from skyspike.compiler import train as T

    finite("hysteresis", hysteresis, 0.0, 0.99)
    finite("beta", beta, 0.0, 1.0)
    if not finite("lr", lr, 0.0) > 0:
        fail("--lr must be > 0")
    for name, value in (("--bits", bits), ("--input-bits", input_bits)):
        if value and value not in PRECISIONS:
            fail(f"{name} {value} is not 0 or one of {', '.join(map(str, PRECISIONS))}")
    output_path(output)
    if compile_to is not None:
        output_path(compile_to)
    d = load_data(dataset, data, download)
    if pixels > d.n_in:
        fail(f"--pixels {pixels}: {dataset} images have {d.n_in} pixels")
    recipe = T.Recipe(hidden=hidden, hidden2=hidden2, steps=steps, epochs=epochs, neuron=neuron,
                      hysteresis=hysteresis if neuron == "schmitt" else 0.0, bias=bias, beta=beta, lr=lr,
                      batch=batch, seed=seed, dataset=dataset, qat_bits=bits, qat_epochs=qat_epochs if bits else 0,
                      input_bits=input_bits, pixels=pixels)
    total = recipe.epochs + recipe.qat_epochs
    with progress_bar() as prog:
        task = prog.add_task(f"training {pixels or d.n_in}-{hidden}{f'-{hidden2}' if hidden2 else ''}-10 on {dataset}",
                             total=total)

        def progress(epoch, loss, acc):
            prog.update(task, completed=epoch)
            prog.console.print(f"epoch {epoch}/{total}: loss {loss:.4f}, train accuracy {100 * acc:.2f}%")

        model, log = T.train(d.x_train, d.y_train, recipe, device=device, progress=progress, threads=None)
    T.save(model, output, recipe)
    import torch

    from skyspike.compiler.encode import pick

    x_test = torch.as_tensor(pick(d.x_test, T.pixels_of(model)), dtype=torch.float32)
    x = T.model_inputs(x_test, recipe, torch.Generator().manual_seed(1))
    acc = T.evaluate(model, x, d.y_test)
    console.print(f"float test accuracy {100 * acc:.2f}% ({len(d.y_test)} images), {log.seconds:.0f} s; "
                  f"wrote {output}")
    if compile_to:
        enc = {"method": "values", "bits": input_bits} if input_bits else {"method": "rate", "gain": recipe.gain}
        compile_model(output, compile_to, bits=bits or 4, config=config, encoding=enc, dataset=dataset, data=data)


# -- compile --------------------------------------------------------------------------------

def load_source(model: Path, nir_reset: str = "zero", nir_dt: float = 1e-4):
    """(float network, torch model or None, recipe or None) of a model file."""
    from skyspike.compiler import model as M
    from skyspike.compiler import train as T
    from skyspike.errors import NetworkFileError

    if not model.is_file():
        fail(f"{model}: no such file")
    if model.suffix.lower() == ".pt":
        try:
            torch_model, recipe = T.load_file(model)
        except ValueError as e:
            raise NetworkFileError(str(e)) from e
        return M.from_torch(torch_model), torch_model, recipe
    return M.load_model(model, reset=nir_reset, dt=nir_dt), None, None


def compile(
    model: Annotated[Path, typer.Argument(help="a model file from `skyspike train` (.pt) or a NIR graph (.nir/.h5)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="chip network file to write (.npz)")],
    bits: Annotated[str, typer.Option(help="weight bits: one value, or one per layer (e.g. 4,8)")] = "4",
    steps: Steps = None,
    config: Config = "chip",
    rule: Annotated[Literal["mse", "max"], typer.Option(help="per-layer scale rule")] = "mse",
    align_threshold: Annotated[bool | None, typer.Option(
        help="put thresholds exactly on the grid (default: on for quantization-aware models)")] = None,
    nir_reset: NirReset = "zero",
    nir_dt: NirDt = 1e-4,
    encoding: Annotated[Literal["rate", "direct", "values", "chip-rate"], typer.Option(
        help="input encoding: rate / direct (threshold) spikes made on the host; values: the model's first Linear "
             "gets the image itself at every step (snnTorch's cur1 = fc1(x)), sent once as --input-bits values; "
             "chip-rate: a rate-coded model, its image sent once as --input-bits values and rate coded on the chip")] = "rate",
    gain: Annotated[float, typer.Option(help="rate encoding: spike probability = gain x intensity")] = 1.0,
    threshold: Annotated[float, typer.Option(help="direct encoding: spike where intensity >= this")] = 0.5,
    input_bits: Annotated[int | None, typer.Option(help="values encoding: bits per input value, 1, 2, 4 or 8 "
                                                        "(default: the model's recipe, else 4)")] = None,
    dataset: Annotated[str | None, typer.Option(help="validate on this data set's test images")] = None,
    data: DataDir = None,
    validate: Annotated[int, typer.Option(min=0, help="test images for the float-vs-chip report")] = 1000,
    calibrate: Annotated[str | None, typer.Option(
        help="calibrate each layer's scale, thresholds and biases on data with the golden model: a data set "
             "name (its training images) or an .npz file with x (N, n_in) intensities 0..1 and optional labels y")] = None,
    calibrate_samples: Annotated[int, typer.Option(min=1, help="calibration images to use")] = 1000,
    advise: Annotated[bool, typer.Option(help="with --calibrate and validation images: every precision's fit "
                                              "and calibrated accuracy, and whether to fine-tune")] = True,
):
    """Quantize a trained model into a chip network file, with a resource summary."""
    finite("gain", gain, 0.0)
    finite("threshold", threshold)
    enc = {"rate": {"method": "rate", "gain": gain}, "direct": {"method": "direct", "threshold": threshold},
           "values": {"method": "values", "bits": input_bits}, "chip-rate": {"method": "chip-rate", "bits": input_bits}}[encoding]
    compile_model(model, output, bits=parse_bits(bits), steps=steps, config=config, rule=rule,
                  align_threshold=align_threshold, nir_reset=nir_reset, nir_dt=nir_dt, encoding=enc,
                  dataset=dataset, data=data, validate=validate, calibrate=calibrate,
                  calibrate_samples=calibrate_samples, advise=advise)


def compile_model(model: Path, output: Path, *, bits, config: str, encoding: dict, steps: int | None = None,
                  rule: str = "mse", align_threshold: bool | None = None, nir_reset: str = "zero",
                  nir_dt: float = 1e-4, dataset: str | None = None, data: Path | None = None, validate: int = 1000,
                  calibrate: str | None = None, calibrate_samples: int = 1000, advise: bool = True):
    """Check everything, quantize (and calibrate), load the validation data, then write ``output``
    and report."""
    from skyspike.chip.netfile import save_compiled
    from skyspike.compiler import encode
    from skyspike.compiler import quantize as Q
    from skyspike.spec.config import get_config

    output_path(output)
    fnet, torch_model, recipe = load_source(model, nir_reset, nir_dt)
    pixels = model_pixels(torch_model)
    if pixels is not None:
        encoding = {**encoding, "pixels": pixels}
    if encoding.get("method") in ("values", "chip-rate") and encoding.get("bits") is None:
        encoding = {**encoding, "bits": (recipe.input_bits if recipe and recipe.input_bits else 4)}
    encoding = encode.check_encoding(encoding)
    cfg = get_config(config)
    steps = steps or (recipe.steps if recipe else 16)
    align = align_threshold if align_threshold is not None else bool(recipe and recipe.qat_bits)
    input_bits = encoding["bits"] if encoding["method"] in ("values", "chip-rate") else None
    options = {"rule": rule, "align_threshold": align, "input_bits": input_bits,
               "input_mode": "rate" if encoding["method"] == "chip-rate" else "direct"}
    net = Q.quantize(fnet, bits, steps, **options)
    net.check(cfg)
    ds = dataset or (recipe.dataset if recipe else None)
    meta = {"config": config, "encoding": encoding, "source": str(model), "scales": [ly.scale for ly in net.layers],
            "dataset": ds}
    x = d = None
    if ds and validate:
        d = load_data(ds, data)
        check_images(d.n_in, net.layers[0].n_in, pixels, "the network", f"{ds} images")
        x = encode_inputs(d.x_test[:validate], net, meta, seed=1)
    rule_net, cal = net, None
    if calibrate:
        xc, yc = calibration_set(calibrate, data, calibrate_samples, net.layers[0].n_in, pixels)
        calibration = (encode_inputs(xc, net, meta, seed=2), yc)
        cal = run_calibration(fnet, bits, steps, options, calibration)
        net = cal.net
        meta["scales"] = [ly.scale for ly in net.layers]
        meta["calibration"] = {"data": calibrate, "samples": cal.samples, "metric": cal.metric,
                               "before": cal.before, "after": cal.after,
                               "accuracy_before": cal.accuracy_before, "accuracy_after": cal.accuracy_after,
                               "layers": [c.describe() for c in cal.choices]}
    for note in fnet.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    save_compiled(output, net, cfg, meta)
    summary(net, cfg, inputs=x, what=f"on {len(x)} {ds} test images" if x is not None else None)
    for line in cal.lines() if cal else []:
        console.print(line)
    if x is not None:
        reference = torch_model if torch_model is not None else fnet
        rep = Q.quantization_report(reference, net, x, d.y_test[:validate])
        console.print(f"validation on {len(x)} {ds} test images: {rep}")
        if cal:
            before = Q.quantization_report(reference, rule_net, x, d.y_test[:validate]).golden_accuracy
            console.print(f"calibration gained {100 * (rep.golden_accuracy - before):+.1f} pt on them "
                          f"(uncalibrated {100 * before:.1f}%, calibrated {100 * rep.golden_accuracy:.1f}%)")
            if advise:
                advise_precisions(model, fnet, reference, steps, options, cfg, x, d.y_test[:validate], calibration,
                                  {bits: net} if isinstance(bits, int) else {}, ds, data, nir_reset, encoding)
    console.print(f"wrote {output}")


def advise_precisions(model, fnet, reference, steps, options, cfg, x, y, calibration, known, ds, data, nir_reset,
                      encoding):
    """The precisions table (:mod:`skyspike.apps.advice`) and what to do."""
    from skyspike.apps import advice
    from skyspike.spec.config import PRECISIONS

    with progress_bar() as prog:
        task = prog.add_task("other precisions", total=len(PRECISIONS))
        rows = advice.precision_rows(fnet, reference, steps, options, cfg, x, y, calibration, known=known,
                                     progress=lambda b: prog.update(task, completed=PRECISIONS.index(b)))
    console.print(advice.precision_table(rows, f"every precision on {len(x)} {ds} test images"))
    command = advice.finetune_command(model, ds, data, steps, nir_reset, encoding["method"], encoding.get("bits"),
                                      all(ly.strict and ly.spiking for ly in fnet.layers))
    for line in advice.advice_lines(rows, command):
        console.print(line, soft_wrap=True)   # its command must stay on one line


def calibration_set(source: str, data: Path | None, samples: int, n_in: int, pixels=None):
    """(intensities, labels or None) for ``--calibrate``: a data set's training images (the last
    ``samples``: the test images stay for validation) or an .npz file's ``x`` and optional ``y``;
    whole images for a network that takes ``pixels`` of them."""
    import numpy as np

    from skyspike.compiler.datasets import DATASETS

    if source in DATASETS:
        d = load_data(source, data)
        x, y = d.x_train[-samples:], d.y_train[-samples:]
    else:
        path = Path(source)
        if path.suffix.lower() != ".npz":
            fail(f"--calibrate {source}: give a data set ({', '.join(DATASETS)}) or an .npz file with x and y")
        if not path.is_file():
            fail(f"--calibrate {source}: no such file")
        try:
            with np.load(path, allow_pickle=False) as f:
                if "x" not in f.files:
                    fail(f"--calibrate {source}: the file has no array 'x' (calibration images, N x n_in, 0..1)")
                x = np.asarray(f["x"], np.float64)[:samples]
                y = np.asarray(f["y"])[:samples] if "y" in f.files else None
        except (OSError, ValueError) as e:
            fail(f"--calibrate {source}: not a readable .npz file ({e})")
    x = x.reshape(len(x), -1)
    check_images(x.shape[1], n_in, pixels, f"--calibrate {source}: the network", "the calibration images")
    if y is not None and (y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer)):
        fail(f"--calibrate {source}: y must hold one integer label per image")
    return x, y


def run_calibration(fnet, bits, steps, options: dict, calibrate):
    """:func:`skyspike.compiler.quantize.quantize_calibrated` with a progress bar."""
    from skyspike.compiler import calibrate as C
    from skyspike.compiler import quantize as Q

    with progress_bar() as prog:
        task = prog.add_task(f"calibrating on {len(calibrate[0])} samples",
                             total=C.planned_runs(len(fnet.layers)))
        return Q.quantize_calibrated(fnet, bits, steps, calibrate=calibrate, progress=lambda n: prog.advance(task, n),
                                     **options)


def summary(net, cfg, inputs=None, what: str | None = None):
    from skyspike.apps.summary import network_table, predicted_cycles, predicted_energy, resources

    console.print(network_table(net, cfg))
    console.print(resources(net, cfg))
    console.print(predicted_cycles(net, cfg, inputs, what))
    console.print(predicted_energy(net, cfg, inputs, what))
