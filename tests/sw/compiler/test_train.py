"""Training (skyspike.compiler.train): the recipe cache round trip and the quantization report."""
from __future__ import annotations

import pytest
import torch
from skyspike.compiler import datasets
from skyspike.compiler import encode
from skyspike.compiler import quantize
from skyspike.compiler import train




def test_recipe_cache_roundtrip_and_report(tmp_path):
    r = train.Recipe(hidden=16, steps=4, epochs=1)
    d = datasets.load_digits()
    model, log = train.train(d.x_train[:128], d.y_train[:128], r)
    assert len(log.epochs) == 1
    train.save(model, train.cache_path(tmp_path, r), r)
    back, log2 = train.train_or_load(d.x_train, d.y_train, r, tmp_path)
    assert log2 is None   # loaded, not trained
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="another recipe"):
        train.load(train.cache_path(tmp_path, r), 64, 10, train.Recipe(hidden=16, steps=4, epochs=2))
    assert train.Recipe().key() != train.Recipe(seed=1).key()
    net = quantize.quantize_snntorch(model, bits=8, steps=r.steps)
    x = encode.rate(d.x_test[:50], r.steps, rng=0)
    rep = quantize.quantization_report(model, net, x, d.y_test[:50])
    assert 0 <= rep.golden_accuracy <= 1 and 0 <= rep.agreement <= 1 and "golden" in str(rep)
