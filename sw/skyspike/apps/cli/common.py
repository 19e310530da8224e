"""What the ``skyspike`` commands share: the consoles, option types, loading data, network files
and backends, and the one way to fail: a one-line message on stderr and a non-zero exit (2 for
bad input, 1 for a failed run or device, 3 for a bug), never a traceback unless ``--debug``."""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from skyspike.errors import InputError, NetworkError, SkySpikeError
from skyspike.spec.config import CONFIGS, PRECISIONS

console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
#: Set by the ``--debug`` option: let exceptions through with their tracebacks.
STATE = {"debug": False}

ConfigName = Literal[tuple(CONFIGS)]
Config = Annotated[ConfigName, typer.Option(help="core configuration (see `skyspike info`)")]
Dataset = Annotated[str, typer.Option(help="digits (built in), mnist or fashion-mnist")]
DataDir = Annotated[Path | None, typer.Option("--data", help="folder holding <dataset>/*-idx*-ubyte[.gz] "
                                              "(default $SKYSPIKE_DATA)")]
Steps = Annotated[int | None, typer.Option(min=1, max=255, help="time steps per inference "
                                                                "(default: the recipe's, or 16)")]
NirReset = Annotated[Literal["zero", "subtract"], typer.Option(
    help="NIR LIF reset: zero (NIR's own) or subtract (snnTorch's)")]
NirDt = Annotated[float, typer.Option(min=1e-12, help="NIR time step (snnTorch exports with 1e-4)")]

#: Exit status by error kind: bad input or files 2, a run/link/device that failed 1.
USAGE_ERRORS = (NetworkError, InputError)


def fail(msg: str, code: int = 2):
    """Print ``error: msg`` as one line on stderr and exit with ``code``."""
    err_console.print(Text.assemble(("error: ", "red"), " ".join(str(msg).split())))
    raise typer.Exit(code)


def guarded(command):
    """Run a command, turning every error into one line and an exit status (see module doc)."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as e:
            if STATE["debug"]:
                raise
            if isinstance(e, SkySpikeError):
                fail(str(e), 2 if isinstance(e, USAGE_ERRORS) else 1)
            fail(f"internal error, please report it ({type(e).__name__}: {e}); --debug shows the traceback", 3)
    return run


def finite(name: str, value: float, lo: float | None = None, hi: float | None = None) -> float:
    """``value`` if it is finite and within [lo, hi], else a usage error naming ``--name``."""
    ok = math.isfinite(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
    if not ok:
        rng = f" in {lo:g}..{hi:g}" if lo is not None and hi is not None else f" >= {lo:g}" if lo is not None else ""
        fail(f"--{name.replace('_', '-')} {value} must be a finite number{rng}")
    return value


def parse_bits(text: str) -> int | list[int]:
    """``--bits``: one precision, or one per layer (``4,8``)."""
    try:
        values = [int(b) for b in str(text).split(",")]
    except ValueError:
        fail(f"--bits {text!r}: give a precision or one per layer, e.g. 4 or 4,8")
    for b in values:
        if b not in PRECISIONS:
            fail(f"--bits {text!r}: {b} is not one of {', '.join(map(str, PRECISIONS))}")
    return values[0] if len(values) == 1 else values


def output_path(path: Path, suffixes: tuple[str, ...] | None = None) -> Path:
    """An output file's folder exists (and its suffix is one of ``suffixes``), before any work."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        fail(f"{path}: the folder {folder} does not exist")
    if path.is_dir():
        fail(f"{path} is a folder, not a file")
    if suffixes and path.suffix.lower() not in suffixes:
        fail(f"{path}: use one of {', '.join(suffixes)}")
    return path


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

    return load_compiled(path)


def check_images(n_pixels: int, n_in: int, pixels, what: str, images: str) -> None:
    """One clear error unless ``images`` of ``n_pixels`` feed ``what``, a network of ``n_in``
    inputs: as they are, or narrowed to its ``pixels`` (Recipe.pixels) where it has them."""
    if pixels is None and n_pixels != n_in:
        fail(f"{what} takes {n_in} inputs but {images} have {n_pixels} pixels")
    if pixels is not None and (len(pixels) != n_in or pixels[-1] >= n_pixels):
        fail(f"{what} takes {n_in} pixels up to index {pixels[-1]} but {images} have {n_pixels} pixels")


def model_pixels(torch_model):
    """The image pixels a trained model takes (Recipe.pixels), or None: all (or not a torch model)."""
    if torch_model is None:
        return None
    from skyspike.compiler.train import pixels_of
    return pixels_of(torch_model)


def stored_pixels(meta: dict):
    """The image pixels a compiled network takes (its encoding's ``pixels``), or None: all."""
    return (meta.get("encoding") or {}).get("pixels")


def encode_inputs(x, net, meta: dict, seed: int):
    """Test images encoded as the network was compiled to expect (its stored encoding, the
    network's pixels picked first where it has them)."""
    from skyspike.compiler import encode

    enc = encode.check_encoding(meta.get("encoding") or {"method": "rate", "gain": 1.0})
    x = encode.pick(x, enc.get("pixels"))
    if net.graded:
        return encode.values(x, net.input_bits)
    if enc["method"] == "rate":
        return encode.rate(x, net.steps, gain=enc["gain"], rng=seed)
    return encode.direct(x, net.steps, threshold=enc["threshold"])


def make_backend(name: str, sim: str | None, via: str, port: str | None, baud: int):
    from skyspike.backends import get_backend

    options = {"golden": {}, "sim": {"simulator": sim, "via": via}, "serial": {"port": port, "baudrate": baud}}
    if name == "serial" and not port:
        fail("the serial backend needs --port (a device such as /dev/ttyUSB0, or a pyserial URL)")
    return get_backend(name, **options[name])
