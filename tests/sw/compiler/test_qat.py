"""Quantization-aware fine-tuning (skyspike.compiler.qat): fake-quantized weights are exactly the
chip's integers times the scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from skyspike.compiler import qat
from skyspike.compiler import quantize
from skyspike.compiler import train




def test_qat_fake_quant_equals_chip_integers():
    """After fine-tuning, the fake-quantized weights are exactly s * the chip's integers."""
    from skyspike.compiler import datasets
    d = datasets.load_digits()
    r = train.Recipe(hidden=24, steps=4, epochs=1, bias=True, qat_bits=2, qat_epochs=1, batch=256)
    model, log = train.train(d.x_train[:512], d.y_train[:512], r)
    assert len(log.epochs) == 2
    net = quantize.quantize(model, 2, r.steps, align_threshold=True)
    qat.attach(model, 2)
    with torch.no_grad():
        for lin, ly in zip([m for m in model if isinstance(m, nn.Linear)], net.layers):
            np.testing.assert_allclose(lin.weight.double().numpy().T, ly.weights * ly.scale, rtol=0, atol=1e-6)
            # aligned: the threshold is a whole number of LSBs
            assert 1.0 / ly.scale == pytest.approx(ly.theta_high - 1)
    qat.detach(model)
    assert not any(hasattr(m, "parametrizations") for m in model)


def test_qat_per_layer_bits_match_the_chip_integers():
    """Recipe.out_bits: the output layer fine-tunes at its own precision, and quantize at the
    recipe's layer_bits gives exactly the fake-quantized weights, layer by layer."""
    from skyspike.compiler import datasets
    d = datasets.load_digits()
    r = train.Recipe(hidden=24, steps=4, epochs=1, bias=True, qat_bits=2, qat_epochs=1, batch=256, out_bits=8)
    assert r.layer_bits() == [2, 8] and r.layer_bits(4) == [4, 8]
    assert train.Recipe(qat_bits=2).layer_bits() == [2, 2]
    model, _ = train.train(d.x_train[:512], d.y_train[:512], r)
    net = quantize.quantize(model, r.layer_bits(), r.steps, align_threshold=True)
    assert [ly.bits for ly in net.layers] == [2, 8]
    qat.attach(model, r.layer_bits())
    with torch.no_grad():
        for lin, ly in zip([m for m in model if isinstance(m, nn.Linear)], net.layers):
            np.testing.assert_allclose(lin.weight.double().numpy().T, ly.weights * ly.scale, rtol=0, atol=1e-6)
    qat.detach(model)


def test_qat_attach_wants_one_precision_per_linear():
    model = train.build_model(16, 4, train.Recipe(hidden=8))
    with pytest.raises(ValueError, match=r"one precision per Linear layer.*has 2"):
        qat.attach(model, [2, 2, 2])
