"""What the ``skyspike`` commands share: the console, option types, loading data, network
files and backends, and the one way to fail (a one-line message and a non-zero exit)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console()

Config = Annotated[str, typer.Option(help="core configuration (see `skyspike info`)")]
Dataset = Annotated[str, typer.Option(help="digits (built in), mnist or fashion-mnist")]
DataDir = Annotated[Path | None, typer.Option("--data", help="folder holding <dataset>/*-idx*-ubyte[.gz] "
                                              "(default $SKYSPIKE_DATA)")]


def fail(msg: str, code: int = 2):
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(code)


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def load_data(dataset: str, data: Path | None, download: bool = False):
    from skyspike.compiler import datasets
    try:
        return datasets.load(dataset, data, download_missing=download)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))


def load_image(path: Path):
    from skyspike.chip.netfile import load_compiled
    from skyspike.chip.network import NetworkError
    try:
        return load_compiled(path)
    except (NetworkError, FileNotFoundError) as e:
        fail(str(e))


def encode_inputs(x, net, meta: dict, seed: int):
    from skyspike.compiler import encode
    enc = dict(meta.get("encoding") or {"method": "rate", "gain": 1.0})
    method = enc.pop("method", "rate")
    if method == "rate":
        return encode.rate(x, net.steps, gain=enc.get("gain", 1.0), rng=seed)
    return encode.direct(x, net.steps, threshold=enc.get("threshold", 0.5))


def make_backend(name: str, sim: str | None, via: str, port: str | None, baud: int):
    from skyspike.backends import get_backend

    options = {"golden": {}, "sim": {"simulator": sim, "via": via}, "serial": {"port": port, "baudrate": baud}}
    if name not in options:
        fail(f"unknown backend {name!r}; choose golden, sim or serial")
    if name == "serial" and not port:
        fail("the serial backend needs --port (a device such as /dev/ttyUSB0, or a pyserial URL)")
    return get_backend(name, **options[name])
