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

import typer

from skyspike.apps.cli import build, runs

app = typer.Typer(help="SkySpike driver: train, compile, inspect and run spiking networks on the chip.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.command()(build.train)
app.command()(build.compile)
app.command()(runs.info)
app.command()(runs.run)
app.command("eval")(runs.evaluate)
app.command()(runs.sweep)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()
