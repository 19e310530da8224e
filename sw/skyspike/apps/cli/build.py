"""`skyspike train` and `skyspike compile`: from data to a model file, and from a model to a chip network file."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from skyspike.apps.cli.common import (Config, DataDir, Dataset, console, encode_inputs, fail, load_data,
                                      progress_bar)


# -- train ----------------------------------------------------------------------------------

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

    d = load_data(dataset, data, download)
    try:
        recipe = Recipe(hidden=hidden, hidden2=hidden2, steps=steps, epochs=epochs, neuron=neuron,
                        hysteresis=hysteresis if neuron == "schmitt" else 0.0, bias=bias, beta=beta, lr=lr,
                        batch=batch, seed=seed, dataset=dataset, qat_bits=bits, qat_epochs=qat_epochs if bits else 0)
        T._neuron(recipe)
    except ValueError as e:
        fail(str(e))
    total = recipe.epochs + recipe.qat_epochs
    with progress_bar() as prog:
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

def load_source(model: Path, nir_reset: str, nir_dt: float):
    """(float network, torch model or None, recipe or None) of a model file."""
    from skyspike.compiler import model as M
    from skyspike.compiler import train as T
    from skyspike.chip.network import NetworkError
    if not model.is_file():
        fail(f"{model}: no such file")
    try:
        if model.suffix.lower() == ".pt":
            torch_model, recipe = T.load_file(model)
            return M.from_torch(torch_model), torch_model, recipe
        return M.load_model(model, reset=nir_reset, dt=nir_dt), None, None
    except (NetworkError, ValueError) as e:
        fail(str(e))


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

    fnet, torch_model, recipe = load_source(model, nir_reset, nir_dt)
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
        fail(str(e))
    for note in fnet.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    enc = {"method": "rate", "gain": gain} if encoding == "rate" else {"method": "direct", "threshold": threshold}
    meta = {"config": config, "encoding": enc, "source": str(model), "scales": [ly.scale for ly in net.layers],
            "dataset": dataset or (recipe.dataset if recipe else None)}
    save_compiled(output, net, cfg, meta)
    ds = dataset or (recipe.dataset if recipe else None)
    x = None
    if ds and validate:
        d = load_data(ds, data)
        if d.n_in != net.layers[0].n_in:
            fail(f"the network takes {net.layers[0].n_in} inputs but {ds} images have {d.n_in} pixels")
        x = encode_inputs(d.x_test[:validate], net, meta, seed=1)
    summary(net, cfg, inputs=x, what=f"on {len(x)} {ds} test images" if x is not None else None)
    if x is not None:
        rep = Q.quantization_report(torch_model if torch_model is not None else fnet, net, x, d.y_test[:validate])
        console.print(f"validation on {len(x)} {ds} test images: {rep}")
    console.print(f"wrote {output}")


def summary(net, cfg, inputs=None, what: str | None = None):
    from skyspike.apps.summary import network_table, predicted_cycles, resources

    console.print(network_table(net, cfg))
    console.print(resources(net, cfg))
    console.print(predicted_cycles(net, cfg, inputs, what))
