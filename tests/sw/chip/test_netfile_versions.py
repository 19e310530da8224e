"""Chip network files round trip, and version-1 files (before bias rows) still load."""
from __future__ import annotations

import os
import numpy as np
import pytest
from skyspike.spec.config import CONFIGS
from skyspike.chip.network import NetworkError
from skyspike.chip.testing import random_network

SEED = int(os.environ.get("SEED", "20261122"))


def test_network_file_round_trip_and_rejections(tmp_path):
    from skyspike.chip.netfile import load_network, save_network

    rng = np.random.default_rng(SEED)
    net = random_network(rng, CONFIGS["small"], max_layers=3)
    net.layers[0].bias = np.ones((3, net.layers[0].n_out), int)
    net.layers[-1].bias = None
    save_network(tmp_path / "n.npz", net)
    back = load_network(tmp_path / "n.npz")
    assert back.steps == net.steps
    for a, b in zip(net.layers, back.layers):
        assert np.array_equal(a.weights, b.weights)
        assert (a.bits, a.beta, a.theta_high, a.theta_low, a.reset_sub, a.reset_zero) == \
            (b.bits, b.beta, b.theta_high, b.theta_low, b.reset_sub, b.reset_zero)
        assert (a.bias is None) == (b.bias is None) and (a.bias is None or np.array_equal(a.bias, b.bias))
    # A version-1 file (before bias rows) still loads, without bias.
    import json
    manifest = {"format": "skyspike-chip-network", "version": 1, "steps": 3,
                "layers": [dict(bits=4, beta=256, theta_high=5, theta_low=5, reset_sub=5, reset_zero=False, slots=None)]}
    np.savez(tmp_path / "v1.npz", manifest=np.array(json.dumps(manifest)), weights_0=np.ones((4, 2), np.int8))
    v1 = load_network(tmp_path / "v1.npz")
    assert v1.layers[0].bias is None and v1.layers[0].n_in == 4
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(NetworkError, match="malformed"):
        load_network(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", manifest=np.array('{"format": "x"}'))
    with pytest.raises(NetworkError, match="not a skyspike-chip-network"):
        load_network(tmp_path / "other.npz")
