"""The demo's RTL-vs-golden comparison and its spike raster."""
from __future__ import annotations

from types import SimpleNamespace
import numpy as np
from skyspike.chip import golden
from skyspike.spec.config import CONFIGS
from skyspike.chip.testing import random_inputs, random_network




def test_demo_compare_and_raster(tmp_path):
    from skyspike.apps.plots import spike_raster
    from skyspike.chip.readout import compare

    def what(rtl, g, b):
        return [m.what for m in compare(rtl, g, samples=[b])]

    rng = np.random.default_rng(9)
    cfg = CONFIGS["small"]
    net = random_network(rng, cfg, max_steps=6)
    x = random_inputs(rng, net, batch=3, density=0.4)
    g = golden.run(net, x, cfg)

    def as_rtl():
        return SimpleNamespace(errors=np.zeros(3, int), cycles=g.cycles.copy(), counts=g.counts.copy(),
                               spikes=[s.copy() for s in g.spikes], membranes=[m.copy() for m in g.membranes],
                               finals=[m[:, -1].copy() for m in g.membranes])
    assert all(what(as_rtl(), g, b) == [] for b in range(3))
    rtl = as_rtl()
    rtl.spikes[0][1, 0, 0] ^= True
    rtl.cycles[2] += 1
    assert what(rtl, g, 0) == [] and what(rtl, g, 1) == ["spikes L0"]
    assert what(rtl, g, 2)[0].startswith("cycles")
    png = spike_raster(g.spikes, 0, tmp_path / "r.png", "t", inputs=x)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
