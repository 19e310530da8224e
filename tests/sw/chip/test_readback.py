"""Compiled files and read-back (skyspike.chip.readback): what a loaded chip holds decodes to
the network and inputs that were sent."""
from __future__ import annotations

import collections
import numpy as np
import pytest
from skyspike.spec.config import CONFIGS
from skyspike.chip.image import build_image
from skyspike.chip.netfile import load_compiled, save_compiled
from skyspike.chip.network import NetworkError
from skyspike.chip.readback import read_inputs, read_network
from skyspike.chip.testing import random_inputs, random_network




def test_compiled_file_roundtrip_and_tamper(tmp_path):
    rng = np.random.default_rng(9)
    net = random_network(rng, CONFIGS["small"])
    path = tmp_path / "net.npz"
    meta = {"config": "small", "encoding": {"method": "rate", "gain": 1.0}}
    save_compiled(path, net, CONFIGS["small"], meta)
    back, meta2 = load_compiled(path)
    assert meta2 == meta
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.n_bias == b.n_bias
    with np.load(path) as z:
        arrays = dict(z)
    arrays["image_weights"] = arrays["image_weights"] ^ np.uint32(1)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(NetworkError, match="does not match the network"):
        load_compiled(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NetworkError, match="malformed network file"):
        load_compiled(tmp_path / "junk.npz")


def test_readback_inverts_the_image():
    from skyspike.spec import memmap as mm
    from skyspike.chip.image import image_writes, input_writes
    rng = np.random.default_rng(12)
    for name in ("small", "chip"):
        cfg = CONFIGS[name]
        for _ in range(15):
            net = random_network(rng, cfg, max_width=200)
            image = build_image(net, cfg)
            x = random_inputs(rng, net, batch=1)[0]
            mem = collections.defaultdict(int)
            for addr, word in image_writes(image) + input_writes(x, image):
                mem[addr] = word
            read = lambda a, n, mem=mem: [mem[a + 4 * i] for i in range(n)]  # noqa: E731
            back, pl = read_network(read, cfg)
            assert back.steps == net.steps and mem[mm.REG["NET"]] & 0xFF == len(net.layers)
            assert (back.input_mode, back.input_bits) == (net.input_mode, net.input_bits)
            for a, b in zip(net.layers, back.layers):
                np.testing.assert_array_equal(a.weights_with_bias, b.weights_with_bias)
                assert (a.bits, a.beta, a.theta_high, a.theta_low, a.reset_sub, a.reset_zero) == \
                    (b.bits, b.beta, b.theta_high, b.theta_low, b.reset_sub, b.reset_zero)
            np.testing.assert_array_equal(read_inputs(read, back, pl, cfg), x)
