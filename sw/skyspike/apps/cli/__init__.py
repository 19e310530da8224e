"""``skyspike``: the command-line driver.

    skyspike train   [--dataset digits|mnist|fashion-mnist] [--data DIR] -o model.pt
    skyspike compile model.pt|graph.nir -o net.npz [--bits 4] [--config chip] [--calibrate digits]
    skyspike info    [net.npz] [--config chip]
    skyspike run     net.npz [--backend golden|sim|serial] [--samples 4] [--raster r.png]
    skyspike eval    net.npz [--backend ...] [--limit N]
    skyspike sweep   model.pt [--plot acc.png]        accuracy vs. weight precision
    skyspike finetune model.pt|graph.nir -o tuned.nir --bits 2   train on the chip's grid

The compiled file (``net.npz``) is a chip network file (:mod:`skyspike.chip.netfile`): integer
weights, bias rows and per-layer parameters, plus the core configuration, the input
encoding and the packed memory image it was compiled to. Every backend runs the same
encoded inputs; ``eval`` with a non-golden backend also checks it against the golden model.
"""
from __future__ import annotations

import sys

import typer

from skyspike.apps.cli import build, runs, tune
from skyspike.apps.cli.common import STATE, guarded

app = typer.Typer(help="SkySpike driver: train, compile, inspect and run spiking networks on the chip.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
for name, command in (("train", build.train), ("compile", build.compile), ("info", runs.info), ("run", runs.run),
                      ("eval", runs.evaluate), ("sweep", runs.sweep), ("finetune", tune.finetune)):
    app.command(name)(guarded(command))


@app.callback()
def options(debug: bool = typer.Option(False, "--debug", help="show the traceback of an error")):
    """Errors print one line on stderr and exit non-zero (2: bad input, 1: a failed run or device)."""
    STATE["debug"] = debug


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()
