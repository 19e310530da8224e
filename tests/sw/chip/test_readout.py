"""The readout rule (skyspike.chip.readout.predict) is the golden model's."""
from __future__ import annotations

from types import SimpleNamespace
import numpy as np
from skyspike.chip import golden, readout
from skyspike.compiler import quantize
from skyspike.spec.config import CONFIGS
from skyspike.chip.testing import random_inputs, random_network




def test_predict_matches_golden_rule():
    rng = np.random.default_rng(2024)
    cfg = CONFIGS["small"]
    for _ in range(40):
        net = random_network(rng, cfg, max_steps=6)
        g = golden.run(net, random_inputs(rng, net, batch=8), cfg)
        np.testing.assert_array_equal(readout.predict(g.counts, g.membranes[-1][:, -1]), g.prediction)
        np.testing.assert_array_equal(quantize.golden_prediction(g), g.prediction)
    # ties: counts, then membrane, then the lower index
    counts = np.array([[2, 3, 3, 1], [0, 0, 0, 0], [1, 1, 0, 0]])
    mem = np.array([[99, 4, 5, 0], [-3, 7, 7, -1], [-5, -5, 9, 9]])
    assert readout.predict(counts, mem).tolist() == [2, 1, 0]
    assert readout.predict(counts[0], mem[0]) == 2
    fake = SimpleNamespace(counts=counts, membranes=[mem[:, None]])
    np.testing.assert_array_equal(golden.GoldenResult([mem[:, None] > 0], [mem[:, None]], counts, None).prediction,
                                  quantize.golden_prediction(fake))
