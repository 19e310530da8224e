"""Spike encoders (skyspike.compiler.encode): reproducible rate coding, direct coding."""
from __future__ import annotations

import numpy as np
import pytest
from skyspike.compiler import encode
from skyspike.errors import InputError




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


def test_most_varying_pixels_ascending_ties_to_the_lower_index():
    x = np.zeros((4, 6))
    x[:, 4] = [0, 1, 0, 1]          # the most varying
    x[:, 1] = [0, 0.5, 0, 0.5]
    x[:, 3] = [0, 0.5, 0, 0.5]      # ties with pixel 1
    assert encode.most_varying(x, 1).tolist() == [4]
    assert encode.most_varying(x, 2).tolist() == [1, 4]
    assert encode.most_varying(x, 3).tolist() == [1, 3, 4]
    for k in (0, 7, 2.0, True):
        with pytest.raises(InputError, match="pixels must be an integer in 1..6"):
            encode.most_varying(x, k)


def test_pick_narrows_images_to_the_networks_pixels():
    x = np.arange(12.0).reshape(2, 6) / 12
    np.testing.assert_array_equal(encode.pick(x, [1, 4]), x[:, [1, 4]])
    assert encode.pick(x, None) is x
    with pytest.raises(InputError, match="pixels up to index 6, but the images have 6"):
        encode.pick(x, [0, 6])


@pytest.mark.parametrize("pixels", [[], [3, 1], [1, 1], [-1, 2], [0.5], "ab", [[1, 2]]])
def test_stored_pixels_are_checked(pixels):
    with pytest.raises(InputError, match="distinct pixel indices"):
        encode.check_encoding({"method": "values", "bits": 8, "pixels": pixels})


def test_an_encoding_may_carry_its_pixels():
    enc = encode.check_encoding({"method": "values", "bits": 8, "pixels": np.array([2, 5])})
    assert enc == {"method": "values", "bits": 8, "pixels": [2, 5]}
