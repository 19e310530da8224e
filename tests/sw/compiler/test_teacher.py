"""The convolutional teacher (skyspike.compiler.teacher) and distillation from it in the float
training (Recipe.cnn_distill)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from skyspike.compiler import datasets, teacher, train


def test_teacher_learns_digits_and_softens_its_targets():
    d = datasets.load_digits()
    net = teacher.train_teacher(d.x_train, d.y_train, epochs=3)
    with torch.no_grad():
        logits = net(torch.as_tensor(d.x_test, dtype=torch.float32))
    assert float((logits.argmax(1).numpy() == d.y_test).mean()) > 0.85
    soft = teacher.soft_targets(net, torch.as_tensor(d.x_test[:5], dtype=torch.float32))
    torch.testing.assert_close(soft.sum(1), torch.ones(5))
    assert float(soft.max()) < float(torch.softmax(logits[:5], 1).max())   # softened by the temperature


def test_distillation_loss_is_zero_on_the_students_own_targets():
    s = torch.randn(6, 10)
    same = torch.softmax(s / teacher.TEMPERATURE, 1)
    assert float(teacher.distillation_loss(s, same)) == pytest.approx(0, abs=1e-6)
    assert float(teacher.distillation_loss(s, torch.full((6, 10), 0.1))) > 0


def test_teacher_wants_square_images():
    with pytest.raises(ValueError, match="not square"):
        teacher.train_teacher(np.zeros((4, 10)), np.zeros(4, int))
    with pytest.raises(ValueError, match="multiple of 4"):
        teacher.ConvTeacher(side=6)


def test_float_training_distills_the_teacher():
    """Recipe.cnn_distill: the float epochs mix in the teacher's loss (a different model than
    without)."""
    d = datasets.load_digits()
    x, y = d.x_train[:256], d.y_train[:256]
    r = train.Recipe(hidden=16, steps=4, epochs=1, batch=128)
    plain, _ = train.train(x, y, r, threads=1)
    net = teacher.train_teacher(x, y, epochs=1)
    kd, log = train.train(x, y, replace(r, cnn_distill=0.5), threads=1, cnn_teacher=net)
    assert len(log.epochs) == 1
    assert not torch.equal(plain[0].weight, kd[0].weight)
