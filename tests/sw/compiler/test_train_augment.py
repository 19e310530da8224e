"""Training augmentation and the later Recipe fields (skyspike.compiler.train): random
translations keep every image's pixels, are reproducible, and new fields hash only when set."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skyspike.compiler import datasets, encode, train


def test_translate_moves_pixels_with_zero_fill():
    x = torch.arange(1, 5 * 5 + 1, dtype=torch.float32).repeat(200, 1)
    y = train.translate(x, 2, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert torch.equal(train.translate(x, 0, torch.Generator()), x)
    assert torch.equal(y, train.translate(x, 2, torch.Generator().manual_seed(0)))   # reproducible
    img = x[0].reshape(5, 5)
    seen = set()
    for row in y.reshape(-1, 5, 5):
        # find the offset: the shifted image equals the original moved by (dy, dx), zeros elsewhere
        match = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(row, _shifted(img, dy, dx))]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) == 25   # every offset in -2..2 x -2..2 occurs
    with pytest.raises(ValueError, match="square"):
        train.translate(torch.zeros(2, 10), 1, torch.Generator())


def test_mirror_flips_about_half_the_images_left_right():
    x = torch.arange(16, dtype=torch.float32).repeat(400, 1)
    y = train.mirror(x, torch.Generator().manual_seed(0))
    img = x[0].reshape(4, 4)
    flipped = [bool(torch.equal(row.reshape(4, 4), img.flip(1))) for row in y]
    assert all(f or torch.equal(row, x[0]) for f, row in zip(flipped, y))
    assert 150 < sum(flipped) < 250
    assert torch.equal(y, train.mirror(x, torch.Generator().manual_seed(0)))   # reproducible
    with pytest.raises(ValueError, match="square"):
        train.mirror(torch.zeros(2, 10), torch.Generator())


def _shifted(img, dy, dx):
    out = torch.zeros_like(img)
    n = img.shape[0]
    for r in range(n):
        for c in range(n):
            if 0 <= r + dy < n and 0 <= c + dx < n:
                out[r, c] = img[r + dy, c + dx]
    return out


def test_new_fields_hash_only_when_set():
    base = train.Recipe()
    assert base.key() == train.Recipe(shift=0, label_smoothing=0.0, qat_lr=0.0, mem_loss=0.0, qat_distill=0.0).key()
    keys = {base.key(), train.Recipe(shift=2).key(), train.Recipe(label_smoothing=0.1).key(),
            train.Recipe(qat_lr=1e-3).key(), train.Recipe(mem_loss=0.5).key(), train.Recipe(qat_distill=0.5).key(),
            train.Recipe(flip=True).key(), train.Recipe(out_bits=8).key(), train.Recipe(cnn_distill=0.5).key()}
    assert len(keys) == 9


def test_fit_with_shift_is_reproducible():
    d = datasets.load_digits()
    r = train.Recipe(hidden=16, steps=4, epochs=1, shift=1, flip=True, label_smoothing=0.1, input_bits=4, bias=True,
                     qat_bits=2, qat_epochs=1, qat_lr=1e-3, mem_loss=0.5, qat_distill=0.5)
    a, log = train.train(d.x_train[:256], d.y_train[:256], r)
    b, _ = train.train(d.x_train[:256], d.y_train[:256], r)
    assert len(log.epochs) == 2 and np.isfinite(log.epochs[-1]["loss"])
    for (k, u), (_, v) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(u, v), k
    c, _ = train.train(d.x_train[:256], d.y_train[:256], train.Recipe(**{**r.__dict__, "shift": 0}))
    assert not torch.equal(a[0].weight, c[0].weight)


def test_a_network_of_the_most_varying_pixels_trains_saves_and_loads(tmp_path):
    d = datasets.load_digits()
    r = train.Recipe(hidden=16, steps=4, epochs=1, input_bits=4, bias=True, pixels=40, shift=1)
    model, _ = train.train(d.x_train[:256], d.y_train[:256], r)
    pixels = train.pixels_of(model)
    assert model[0].in_features == 40 and pixels == encode.most_varying(d.x_train[:256], 40).tolist()
    train.save(model, tmp_path / "m.pt", r)
    loaded, stored = train.load_file(tmp_path / "m.pt")
    assert stored == r and train.pixels_of(loaded) == pixels
    assert train.pixels_of(train.build_model(64, 10, train.Recipe())) is None
    assert r.key() != train.Recipe(hidden=16, steps=4, epochs=1, input_bits=4, bias=True, shift=1).key()
