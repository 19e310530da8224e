"""A small, fast training recipe: a bias-free spiking MLP in snnTorch, trained with surrogate
gradients (BPTT) on rate-coded input.

The model is an ``nn.Sequential`` of ``Linear(bias=False)`` and ``snn.Leaky`` (subtract reset,
default ``reset_delay``) layers, exactly the shape :func:`skyspike.quantize.quantize_snntorch`
maps onto the chip. :func:`simulate` runs any such Sequential over encoded spikes
(batch, steps, n_in) and returns every layer's spikes and membranes, the float counterpart of
:func:`skyspike.golden.run`.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from . import encode
from .quantize import predict


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters; their hash keys the cache of trained weights."""

    hidden: int = 128
    steps: int = 10
    beta: float = 0.9
    threshold: float = 1.0
    reset: str = "subtract"
    gain: float = 1.0             # rate-coding gain
    epochs: int = 10
    batch: int = 128
    lr: float = 1e-2
    weight_decay: float = 0.0
    slope: float = 25.0           # fast-sigmoid surrogate slope
    seed: int = 0
    dataset: str = "digits"

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def build_model(n_in: int, n_out: int, recipe: Recipe) -> nn.Sequential:
    """Linear(n_in, H) -> Leaky -> Linear(H, n_out) -> Leaky, no biases."""
    torch.manual_seed(recipe.seed)
    grad = surrogate.fast_sigmoid(slope=recipe.slope)
    return nn.Sequential(
        nn.Linear(n_in, recipe.hidden, bias=False),
        snn.Leaky(beta=recipe.beta, threshold=recipe.threshold, spike_grad=grad,
                  reset_mechanism=recipe.reset),
        nn.Linear(recipe.hidden, n_out, bias=False),
        snn.Leaky(beta=recipe.beta, threshold=recipe.threshold, spike_grad=grad,
                  reset_mechanism=recipe.reset),
    )


@dataclass
class FloatResult:
    spikes: list[torch.Tensor]      # per Leaky layer: (batch, steps, n_out)
    membranes: list[torch.Tensor]   # per Leaky layer: (batch, steps, n_out)

    @property
    def counts(self) -> torch.Tensor:
        return self.spikes[-1].sum(dim=1)

    @property
    def prediction(self) -> np.ndarray:
        """The chip's rule (:func:`skyspike.quantize.predict`) on float counts / membranes."""
        return predict(self.counts.detach().cpu().numpy(), self.membranes[-1][:, -1].detach().cpu().numpy())


def simulate(model: nn.Sequential, spikes, record: bool = True) -> FloatResult:
    """Run ``model`` over input spikes (batch, steps, n_in) (numpy or torch); each Leaky starts
    from membrane 0 (as the chip does). ``record=False`` keeps only the last step's membranes."""
    x = torch.as_tensor(np.asarray(spikes) if not torch.is_tensor(spikes) else spikes)
    dtype = next(model.parameters()).dtype
    x = x.to(dtype)
    if x.ndim == 2:
        x = x[None]
    steps = x.shape[1]
    # Feed-forward only: layer by layer over all steps gives the same result as step by step
    # (layer l's spikes of step t are layer l+1's inputs of step t), with far fewer small ops.
    h = x
    spikes_out, mem_out = [], []
    for m in model:
        if isinstance(m, snn.Leaky):
            mem = torch.zeros_like(h[:, 0])
            spk_t, mem_t = [], []
            for t in range(steps):
                spk, mem = m(h[:, t], mem)
                spk_t.append(spk)
                if record or t == steps - 1:
                    mem_t.append(mem)
            h = torch.stack(spk_t, dim=1)
            spikes_out.append(h)
            mem_out.append(torch.stack(mem_t, dim=1))
        else:
            h = m(h)
    return FloatResult(spikes_out, mem_out)


@dataclass
class TrainLog:
    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def train(x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe = Recipe(), *,
          n_out: int = 10, threads: int | None = 2, progress=None) -> tuple[nn.Sequential, TrainLog]:
    """Train the recipe's model on intensities ``x_train`` (N, n_in) in 0..1.

    Every epoch re-encodes the training set (rate coding, seeded by recipe.seed and the
    epoch), BPTT over recipe.steps steps, cross-entropy on output spike counts, Adam with
    a cosine-annealed learning rate (per batch). ``progress(epoch, loss, acc)``: optional
    callback after each epoch.
    """
    if threads:
        torch.set_num_threads(threads)
    model = build_model(x_train.shape[1], n_out, recipe)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    n = x_train.shape[0]
    per_epoch = math.ceil(n / recipe.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs * per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(recipe.seed)
    y_all = torch.as_tensor(y_train, dtype=torch.long)
    log = TrainLog()
    t0 = time.time()
    model.train()
    for epoch in range(recipe.epochs):
        spikes = torch.from_numpy(encode.rate(x_train, recipe.steps, gain=recipe.gain, rng=rng)).float()
        perm = torch.from_numpy(rng.permutation(n))
        total, correct = 0.0, 0
        for b in range(per_epoch):
            idx = perm[b * recipe.batch:(b + 1) * recipe.batch]
            out = simulate(model, spikes[idx], record=False)
            counts = out.counts
            loss = loss_fn(counts, y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int((counts.argmax(1) == y_all[idx]).sum())
        entry = {"epoch": epoch + 1, "loss": total / n, "train_acc": correct / n}
        log.epochs.append(entry)
        if progress:
            progress(epoch + 1, entry["loss"], entry["train_acc"])
    log.seconds = time.time() - t0
    model.eval()
    return model, log


@torch.no_grad()
def evaluate(model: nn.Sequential, spikes: np.ndarray, labels: np.ndarray) -> float:
    """Float accuracy on already encoded spikes, with the chip's prediction rule."""
    return float(np.mean(simulate(model, spikes).prediction == np.asarray(labels)))


def cache_path(cache_dir: str | Path, recipe: Recipe) -> Path:
    return Path(cache_dir) / f"model-{recipe.dataset}-{recipe.key()}.pt"


def save(model: nn.Sequential, path: str | Path, recipe: Recipe) -> None:
    """Tensors only: the state_dict plus the recipe as a JSON string in a uint8 tensor."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = torch.tensor(list(json.dumps(asdict(recipe), sort_keys=True).encode()), dtype=torch.uint8)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "recipe": meta}, tmp)
    tmp.replace(path)


def load(path: str | Path, n_in: int, n_out: int, recipe: Recipe) -> nn.Sequential:
    """Load a cached model (weights_only=True); ValueError if it was trained with another recipe."""
    blob = torch.load(path, weights_only=True)
    stored = json.loads(bytes(blob["recipe"].tolist()).decode())
    if stored != asdict(recipe):
        raise ValueError(f"{path}: trained with another recipe {stored}")
    model = build_model(n_in, n_out, recipe)
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model


def train_or_load(x_train, y_train, recipe: Recipe, cache_dir: str | Path, *, n_out: int = 10,
                  progress=None) -> tuple[nn.Sequential, TrainLog | None]:
    """The cached model for ``recipe`` if there is one, else train and cache it."""
    path = cache_path(cache_dir, recipe)
    if path.is_file():
        try:
            return load(path, x_train.shape[1], n_out, recipe), None
        except Exception:  # stale or damaged cache: train again
            pass
    model, log = train(x_train, y_train, recipe, n_out=n_out, progress=progress)
    save(model, path, recipe)
    return model, log


__all__ = ["Recipe", "build_model", "simulate", "train", "evaluate", "train_or_load", "save", "load",
           "FloatResult"]
