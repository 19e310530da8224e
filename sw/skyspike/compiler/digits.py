"""The project's example network: a spiking MLP trained on scikit-learn's 8x8 digits (built in,
no download), quantized to the chip. One definition for the demo (`make sim`), the bench, the
system test and the backends' tests, which differ only in size and precision."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyspike.chip.network import ChipNetwork
from skyspike.compiler import datasets, encode, quantize, train

#: Rate-coding seed of the test set (every backend sees the same spikes).
TEST_SEED = 1


@dataclass
class DigitsNetwork:
    recipe: train.Recipe
    model: object                 # the trained torch model
    net: ChipNetwork              # quantized
    data: datasets.Split
    x_test: np.ndarray            # rate-coded test set (n, steps, 64), bool
    log: train.TrainLog | None    # None when the model came from the cache

    @property
    def y_test(self) -> np.ndarray:
        return self.data.y_test


def digits_network(cache: str | Path, *, hidden: int = 128, bits: int = 4, epochs: int | None = None,
                   bias: bool = False, steps: int | None = None, samples: int | None = None,
                   seed: int = TEST_SEED, rule: str = "max", progress=None) -> DigitsNetwork:
    """Train (once; the model is cached in ``cache``) and quantize the digits network
    64-``hidden``-10 at ``bits``; ``samples`` test images (default all) rate-coded with ``seed``.
    ``rule`` is the quantizer's scale rule ("max": nothing clips, the demo's choice)."""
    data = datasets.load_digits()
    options = {"hidden": hidden, "bias": bias}
    if epochs is not None:
        options["epochs"] = epochs
    if steps is not None:
        options["steps"] = steps
    recipe = train.Recipe(**options)
    model, log = train.train_or_load(data.x_train, data.y_train, recipe, cache, progress=progress)
    net = quantize.quantize(model, bits, recipe.steps, rule=rule)
    x = data.x_test if samples is None else data.x_test[:samples]
    return DigitsNetwork(recipe, model, net, data, encode.rate(x, recipe.steps, gain=recipe.gain, rng=seed), log)


__all__ = ["DigitsNetwork", "digits_network", "TEST_SEED"]
