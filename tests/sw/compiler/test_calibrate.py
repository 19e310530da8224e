"""Data-calibrated quantization (skyspike.compiler.calibrate): on a stock snnTorch model (trained
with snnTorch alone, not the project's recipe) at 2 bits, calibration recovers accuracy on
held-out data, and it is never worse than the rule on its calibration data."""
from __future__ import annotations

import numpy as np
import pytest
from stock_snntorch import train_stock

from skyspike.chip import golden
from skyspike.compiler import datasets, encode
from skyspike.compiler import quantize as Q
from skyspike.compiler.model import export_nir
from skyspike.errors import InputError

STEPS = 16
#: Held-out accuracy points calibration must add to the hard 2-bit case, and how close to float
#: it must come (measured: 83.3% -> 92.5%, float 93.3%; the issue's goal is 3 points).
MARGIN_2BIT = 5.0
WITHIN_FLOAT = 3.0


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits()


@pytest.fixture(scope="module")
def stock(digits):
    """64-32-10, subtract reset, rate coded: 2 bits lose ~12 pt with the rule alone."""
    return train_stock(digits.x_train, digits.y_train, (64, 32, 10), epochs=12, seed=0)


def held_out(model, net, digits):
    x = encode.rate(digits.x_test, STEPS, rng=1)
    return Q.quantization_report(model, net, x, digits.y_test)


def test_calibration_recovers_a_hard_2bit_case_on_held_out_data(stock, digits):
    xc = encode.rate(digits.x_train[-600:], STEPS, rng=2)
    cal = Q.quantize_calibrated(stock, 2, STEPS, calibrate=(xc, digits.y_train[-600:]))
    rule = Q.quantize(stock, 2, STEPS)
    before, after = held_out(stock, rule, digits), held_out(stock, cal.net, digits)
    gained = 100 * (after.golden_accuracy - before.golden_accuracy)
    assert gained >= MARGIN_2BIT, f"{before} -> {after}"
    assert 100 * (after.float_accuracy - after.golden_accuracy) <= WITHIN_FLOAT, str(after)
    # The report's "before" is the rule's own accuracy on the calibration data; neither agreement
    # nor accuracy is lower after.
    rule_acc = np.mean(golden.run(rule, xc).prediction == digits.y_train[-600:])
    assert cal.accuracy_before == pytest.approx(rule_acc)
    assert cal.accuracy_after >= cal.accuracy_before and cal.after >= cal.before and cal.metric == "agreement"
    assert "calibration on 600 samples" in str(cal) and len(cal.choices) == 2


def test_without_labels_it_agrees_with_the_float_model_no_worse_than_the_rule(stock, digits):
    xc = encode.rate(digits.x_train[:200], STEPS, rng=3)
    cal = Q.quantize_calibrated(stock, 4, STEPS, calibrate=(xc, None))
    assert cal.metric == "agreement" and cal.after >= cal.before and cal.accuracy_after is None
    net = Q.quantize(stock, 4, STEPS, calibrate=(xc, None))   # the plain API returns the same network
    assert [ly.theta_high for ly in net.layers] == [ly.theta_high for ly in cal.net.layers]
    for a, b in zip(net.layers, cal.net.layers):
        np.testing.assert_array_equal(a.weights_with_bias, b.weights_with_bias)


def test_calibrates_direct_input_and_nir_graphs(stock, digits, tmp_path):
    """A NIR file of the stock model (snnTorch's export), compiled as a direct-input network."""
    path = tmp_path / "stock.nir"
    export_nir(stock, 64, path)
    xc = encode.values(digits.x_train[:150], 4)
    cal = Q.quantize_calibrated(str(path), 2, 8, calibrate=(xc, digits.y_train[:150]), input_bits=4,
                                reset="subtract")
    assert cal.net.direct and cal.net.input_bits == 4 and cal.after >= cal.before


@pytest.mark.parametrize("calibrate, message", [
    ("inputs", "must be a pair"),
    ((np.zeros((5, 16, 63), bool), None), "shape"),
    ((np.zeros((5, 16, 64), bool), np.zeros(4, int)), "one per sample"),
    ((np.zeros((5, 16, 64), bool), np.full(5, 10)), "classes 0..9"),
    ((np.zeros((5, 16, 64), bool), np.zeros(5)), "must be integers"),
])
def test_bad_calibration_data_is_one_clear_error(stock, calibrate, message):
    with pytest.raises(InputError, match=message):
        Q.quantize(stock, 2, STEPS, calibrate=calibrate)
