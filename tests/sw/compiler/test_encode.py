"""Spike encoders (skyspike.compiler.encode): reproducible rate coding, direct coding."""
from __future__ import annotations

import numpy as np
import pytest
from skyspike.compiler import encode




def test_rate_coding_reproducible_and_dense_as_intensity():
    x = np.linspace(0, 1, 11, dtype=np.float32)[None].repeat(3, 0)
    a = encode.rate(x, 2000, rng=7)
    assert a.dtype == bool and a.shape == (3, 2000, 11)
    np.testing.assert_array_equal(a, encode.rate(x, 2000, rng=np.random.default_rng(7)))
    assert not np.array_equal(a, encode.rate(x, 2000, rng=8))
    np.testing.assert_allclose(a.mean(axis=(0, 1)), x[0], atol=0.03)
    assert not a[:, :, 0].any() and a[:, :, -1].all()   # 0 never, 1 always
    g = encode.rate(x, 2000, gain=2.0, rng=7).mean(axis=(0, 1))
    np.testing.assert_allclose(g, np.minimum(1, 2 * x[0]), atol=0.03)
    assert encode.rate(x[0], 5, rng=0).shape == (1, 5, 11)  # one sample
    with pytest.raises(ValueError):
        encode.rate(x * 2, 5)


def test_direct_coding():
    x = np.array([[0.1, 0.5, 0.9, 0.49]])
    s = encode.direct(x, 6, threshold=0.5)
    assert s.shape == (1, 6, 4) and s.dtype == bool
    assert (s == np.array([False, True, True, False])).all()
    np.testing.assert_array_equal(encode.encode(x, 6, "direct", threshold=0.5), s)
    with pytest.raises(ValueError, match="unknown encoding"):
        encode.encode(x, 6, "latency")
