"""`skyspike finetune`: any imported model (a `skyspike train` file or a NIR graph) trained a few
epochs on the chip's grid (:mod:`skyspike.compiler.finetune`) and written as a NIR graph that
`skyspike compile` maps onto the chip exactly."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import typer

from skyspike.apps.cli.build import load_source
from skyspike.apps.cli.common import (DataDir, Dataset, NirDt, NirReset, Steps, console, fail, finite, load_data,
                                      output_path, parse_bits, progress_bar)


def finetune(
    model: Annotated[Path, typer.Argument(help="a model file from `skyspike train` (.pt) or a NIR graph (.nir/.h5)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="fine-tuned NIR graph to write (.nir)")],
    bits: Annotated[str, typer.Option(help="weight bits: one value, or one per layer (e.g. 2,4)")] = "2",
    dataset: Dataset = "digits",
    data: DataDir = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="epochs on the grid (default: enough for 400 batches)")] = None,
    lr: Annotated[float, typer.Option(help="learning rate, > 0")] = 3e-3,
    batch: Annotated[int, typer.Option(min=1)] = 128,
    steps: Steps = None,
    encoding: Annotated[Literal["rate", "values", "chip-rate"], typer.Option(
        help="input encoding, as for compile: rate-coded spikes, values (direct input) or chip-rate")] = "rate",
    input_bits: Annotated[int, typer.Option(help="values / chip-rate: bits per input value")] = 4,
    calibrate_samples: Annotated[int, typer.Option(min=0, help="training images to calibrate on first (0: none)")] = 1000,
    distill: Annotated[float, typer.Option(min=0.0, max=1.0, help="weight of the float model's answers in the loss "
                                          "(0: the labels alone)")] = 0.9,
    hold_out: Annotated[float, typer.Option(min=0.0, max=0.9, help="fraction of the training images held out "
                                            "to keep the best epoch (or the calibrated start)")] = 0.0,
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N training images")] = None,
    validate: Annotated[int, typer.Option(min=0, help="test images for the before/after report")] = 1000,
    nir_reset: NirReset = "zero",
    nir_dt: NirDt = 1e-4,
    seed: Annotated[int, typer.Option(min=0)] = 0,
):
    """Fine-tune a model on the chip's grid (fake-quantized, the chip's leak and reset) and write it."""
    from skyspike.compiler import finetune as F

    if not finite("lr", lr, 0.0) > 0:
        fail("--lr must be > 0")
    output_path(output, (".nir",))
    bits_text, bits = bits, parse_bits(bits)
    fnet, torch_model, recipe = load_source(model, nir_reset, nir_dt)
    if not all(ly.strict and ly.spiking for ly in fnet.layers):
        fail(f"{model}: fine-tuning writes NIR, which holds snn.Leaky layers only (this model has Schmitt or "
             f"readout layers); use skyspike.compiler.finetune.finetune in Python")
    steps = steps or (recipe.steps if recipe else 16)
    graded = encoding != "rate"
    options = {"input_bits": input_bits if graded else None, "input_mode": "rate" if encoding == "chip-rate" else "direct"}
    d = load_data(dataset, data)
    if d.n_in != fnet.layers[0].n_in:
        fail(f"the network takes {fnet.layers[0].n_in} inputs but {dataset} images have {d.n_in} pixels")
    x, y = d.x_train[:limit], d.y_train[:limit]
    epochs = epochs or F.default_epochs(len(x), batch)
    with progress_bar() as prog:
        task = prog.add_task(f"fine-tuning at {bits} bits on {len(x)} {dataset} images", total=epochs)

        def progress(epoch, loss, acc):
            prog.update(task, completed=epoch)
            prog.console.print(f"epoch {epoch}/{epochs}: loss {loss:.4f}, train accuracy {100 * acc:.2f}%")

        ft = F.finetune(fnet, x, y, bits, steps, epochs=epochs, lr=lr, batch=batch, calibrate=calibrate_samples,
                        distill=distill, hold_out=hold_out, seed=seed, progress=progress, **options)
    if hold_out:
        kept = f"epoch {ft.log.best_epoch}" if ft.log.best_epoch else "the calibrated start (no epoch did better)"
        best = ft.log.epochs[ft.log.best_epoch - 1]["val_acc"] if ft.log.best_epoch else ft.log.start_val_acc
        console.print(f"kept {kept}: {100 * best:.2f}% agreement with the float model on the {hold_out:.0%} "
                      f"of the images held out")
    ft.to_nir(output)
    # soft_wrap: a path or a command must not be broken across lines (copy and paste)
    console.print(f"wrote {output} ({ft.log.seconds:.0f} s of training)", soft_wrap=True)
    if validate:
        report(torch_model if torch_model is not None else fnet, ft, fnet, bits, steps, options,
               d.x_test[:validate], d.y_test[:validate], dataset)
    flags = f" --encoding {encoding} --input-bits {input_bits}" if graded else ""
    console.print(f"compile it with: skyspike compile {output} -o net.npz --bits {bits_text}"
                  f" --steps {steps}{flags} --dataset {dataset}", soft_wrap=True)


def report(reference, ft, fnet, bits, steps, options, x_test, y_test, dataset: str):
    """Float, uncalibrated, calibrated and fine-tuned chip accuracy on the test images."""
    from skyspike.compiler import encode
    from skyspike.compiler import quantize as Q

    net = ft.net
    x = encode.values(x_test, net.input_bits) if net.graded else encode.rate(x_test, steps, rng=1)
    rule = Q.quantization_report(reference, Q.quantize(fnet, bits, steps, **options), x, y_test)
    rows = [("float", rule.float_accuracy), ("chip, rule", rule.golden_accuracy)]
    if ft.calibration is not None:
        rows.append(("chip, calibrated", Q.quantization_report(reference, ft.calibration.net, x, y_test).golden_accuracy))
    rows.append(("chip, fine-tuned", float(np.mean(Q.golden_prediction(_golden(net, x)) == y_test))))
    console.print(f"on {len(x)} {dataset} test images: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in rows))


def _golden(net, x):
    from skyspike.chip import golden

    return golden.run(net, x)
