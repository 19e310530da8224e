"""A convolutional teacher for the float training of an SNN (knowledge distillation).

A small CNN sees the whole image's structure, which a one-hidden-layer network cannot, and its
softened outputs (``softmax(logits / TEMPERATURE)``) tell the SNN how alike the classes are
(shirt vs T-shirt) where a label says only which one it is. :func:`skyspike.compiler.train.fit`
mixes the KL divergence from them into its loss (``Recipe.cnn_distill``). The teacher is never
on the chip: it only shapes the float weights that the chip's network is quantized from.

Written here rather than taken from a library: it is 30 lines of torch, and torchvision's
models are built for 224-pixel colour images.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["ConvTeacher", "train_teacher", "soft_targets", "distillation_loss", "TEMPERATURE"]

#: Distillation temperature: the teacher's logits are divided by it before the softmax.
TEMPERATURE = 2.0


class ConvTeacher(nn.Module):
    """Square images (batch, side * side) in 0..1 -> class logits: two 3x3 convolution blocks
    (32 and 64 channels, batch norm, ReLU, 2x2 max pooling), dropout, a 256-unit ReLU layer."""

    def __init__(self, side: int = 28, n_out: int = 10):
        super().__init__()
        if side % 4:
            raise ValueError(f"side={side}: the teacher pools twice by 2, so it wants a multiple of 4")
        self.side = side
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * (side // 4) ** 2, 256), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(256, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.reshape(-1, 1, self.side, self.side)))


def train_teacher(x: np.ndarray, y: np.ndarray, *, epochs: int = 8, lr: float = 2e-3, batch: int = 128,
                  seed: int = 0, device: str | None = None, progress=None) -> ConvTeacher:
    """A :class:`ConvTeacher` trained on intensities ``x`` (N, side * side) in 0..1 with labels
    ``y``: Adam, cosine-annealed ``lr``, cross-entropy. ``progress(epoch, loss, acc)`` after each
    epoch. ValueError for images that are not square."""
    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise ValueError(f"teacher: inputs of {x.shape[1]} values are not square images")
    torch.manual_seed(seed)
    dev = torch.device(device or "cpu")
    net = ConvTeacher(side, int(np.max(y)) + 1).to(dev)
    xs = torch.as_tensor(np.asarray(x, np.float32), device=dev)
    ys = torch.as_tensor(y, dtype=torch.long, device=dev)
    per_epoch = math.ceil(len(xs) / batch)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * per_epoch)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xs), generator=gen).to(dev)
        total, correct = 0.0, 0
        for b in range(per_epoch):
            idx = perm[b * batch:(b + 1) * batch]
            logits = net(xs[idx])
            loss = nn.functional.cross_entropy(logits, ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == ys[idx]).sum())
        if progress:
            progress(epoch + 1, total / len(xs), correct / len(xs))
    return net.eval().to("cpu")


@torch.no_grad()
def soft_targets(teacher: ConvTeacher, images: torch.Tensor) -> torch.Tensor:
    """The teacher's softened class probabilities for ``images`` (batch, side * side)."""
    return torch.softmax(teacher(images) / TEMPERATURE, 1)


def distillation_loss(student_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Hinton's: T^2 * KL(``targets`` || softmax(student_logits / T)), T = TEMPERATURE (the T^2
    keeps its gradient the size of the cross-entropy's)."""
    log_p = torch.log_softmax(student_logits / TEMPERATURE, 1)
    return TEMPERATURE ** 2 * nn.functional.kl_div(log_p, targets, reduction="batchmean")
