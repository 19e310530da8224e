"""Property-based tests (hypothesis) of the public entry points that take user data: the spike
encoders, ChipNetwork.check and quantize. Whatever they are given, they return a valid result
or raise the documented error (InputError / NetworkError, both ValueErrors), nothing else."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.compiler import encode
from skyspike.compiler.floatnet import FloatLayer, FloatNetwork
from skyspike.compiler.quantize import quantize
from skyspike.errors import InputError, NetworkError

anything = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=3),
                     st.lists(st.floats(), max_size=3))
arrays = hnp.arrays(st.sampled_from([np.float64, np.float32, np.int64, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))


@settings(max_examples=300, deadline=None)
@given(x=st.one_of(anything, arrays), steps=st.one_of(st.integers(-3, 300), anything),
       gain=st.one_of(st.floats(), anything), threshold=st.one_of(st.floats(), anything))
def test_encoders_return_spikes_or_input_error(x, steps, gain, threshold):
    for fn, kw in ((encode.rate, {"gain": gain, "rng": 1}), (encode.direct, {"threshold": threshold})):
        try:
            out = fn(x, steps, **kw)
        except InputError:
            continue
        a = np.asarray(x, np.float64)
        assert out.dtype == bool and out.shape[1] == steps and out.ndim == 3
        assert out.shape[0] == (1 if a.ndim == 1 else a.shape[0])
        assert 1 <= steps <= encode.MAX_STEPS and np.all((a >= 0) & (a <= 1))


def test_encoder_refusals_name_the_problem():
    with pytest.raises(InputError, match="must be an array"):
        encode.rate(None, 4)
    with pytest.raises(InputError, match="must be an array"):
        encode.rate(0.5, 4)
    with pytest.raises(InputError, match="steps must be an integer in 1..65535"):
        encode.rate(np.ones(3) / 2, 10**7)
    with pytest.raises(InputError, match="encode in batches"):
        encode.direct(np.ones((10**4, 784)) / 2, 1000)
    with pytest.raises(InputError, match="no intensities"):
        encode.rate(np.zeros((0, 4)), 4)
    with pytest.raises(InputError, match="unknown input encoding"):
        encode.check_encoding({"method": "morse"})


layer_fields = st.fixed_dictionaries({
    "bits": anything | st.sampled_from([1, 2, 4, 8]),
    "beta": anything | st.integers(0, 256),
    "theta_high": anything | st.integers(-40000, 40000),
    "theta_low": anything | st.integers(-40000, 40000),
    "reset_sub": anything | st.integers(-40000, 40000),
    "reset_zero": anything,
    "slots": st.none() | anything,
})


@settings(max_examples=400, deadline=None)
@given(fields=layer_fields, steps=st.integers(-2, 300) | anything,
       w=hnp.arrays(st.sampled_from([np.int64, np.int8, np.float64]), st.tuples(st.integers(1, 4), st.integers(1, 4)),
                    elements=st.integers(-128, 127)))
def test_check_accepts_only_what_the_chip_takes(fields, steps, w):
    net = ChipNetwork([ChipLayer(w, **fields)], steps)
    try:
        net.check()
    except NetworkError:
        return
    ly = net.layers[0]
    ints = [ly.bits, ly.beta, ly.theta_high, ly.theta_low, ly.reset_sub, steps]
    assert all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in ints)
    assert ly.bits in (1, 2, 4, 8) and 0 <= ly.beta <= 256 and 1 <= steps <= 255
    assert isinstance(ly.reset_zero, (bool, np.bool_)) or ly.reset_zero in (0, 1)
    assert np.issubdtype(w.dtype, np.integer)


@settings(max_examples=150, deadline=None)
@given(w=hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)),
                    elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       bias=st.none() | hnp.arrays(np.float64, 5, elements=st.floats(-1e30, 1e30)),
       beta=st.floats(-1, 2), thr=st.floats(-10, 1e6), bits=st.sampled_from([1, 2, 4, 8]))
def test_quantize_gives_a_valid_network_or_network_error(w, bias, beta, thr, bits):
    b = None if bias is None else bias[: w.shape[1]]
    if b is not None and b.size != w.shape[1]:
        b = None
    layer = FloatLayer(w, b, beta, thr, thr, thr, reset_zero=False, strict=True, name="x")
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")   # clipped biases warn; that is allowed here
            net = quantize(FloatNetwork([layer]), bits, 4)
    except NetworkError:
        return
    net.check()
    assert np.all(np.isfinite(w)) and math.isfinite(thr)


def test_huge_biases_clip_with_a_warning():
    layer = FloatLayer(np.ones((3, 2)), np.array([1e30, -1e300]), 0.9, 1.0, 1.0, 1.0, strict=True, name="x")
    with pytest.warns(UserWarning, match="clipped"):
        net = quantize(FloatNetwork([layer]), 4, 4)
    ly = net.layers[0]
    assert ly.n_bias == 32 and ly.bias.sum(axis=0).tolist() == [32 * 7, -32 * 7]


def test_quantize_refuses_unknown_keywords_and_bool_bits():
    layer = FloatLayer(np.ones((3, 2)), None, 0.9, 1.0, 1.0, 1.0, strict=True, name="x")
    with pytest.raises(TypeError, match="align_treshold"):
        quantize(FloatNetwork([layer]), 4, 4, align_treshold=True)
    with pytest.raises(NetworkError, match="bits=True"):
        quantize(FloatNetwork([layer]), True, 4)
