"""The training recipe: a spiking MLP trained with surrogate gradients (BPTT through time)
on rate-coded input, or on the image itself at every step (``input_bits``: a direct-input
network, the image rounded to the chip's value grid), Adam with a cosine-annealed learning rate (per batch; the schedule the
QSNN study found good for quantized SNNs).

The model is an ``nn.Sequential`` of ``Linear`` (bias optional) and neuron layers: snnTorch's
``snn.Leaky`` (``neuron="lif"``: subtract or zero reset, default ``reset_delay``) or the
chip's own hysteresis neuron :class:`skyspike.compiler.neurons.Schmitt` (``neuron="schmitt"``),
exactly the shapes :func:`skyspike.compiler.quantize.quantize` maps onto the chip.
:func:`simulate` runs any such Sequential over encoded spikes (batch, steps, n_in) and
returns every layer's spikes and membranes, the float counterpart of :func:`skyspike.chip.golden.run`.
Quantization-aware fine-tuning is in :mod:`skyspike.compiler.qat`.

Trained models are saved as tensors only (:func:`save`): the state_dict plus the recipe as
JSON; :func:`load_file` rebuilds the model from them (``torch.load(weights_only=True)``).
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

from skyspike.compiler.neurons import Schmitt, fast_sigmoid_ge
from skyspike.compiler import qat
from skyspike.compiler.floatnet import FloatResult
from skyspike.compiler.teacher import distillation_loss, soft_targets, train_teacher


@dataclass(frozen=True)
class Recipe:
    """Hyperparameters; their hash keys the cache of trained weights."""

    hidden: int = 128
    hidden2: int = 0              # a second hidden layer (0: none)
    steps: int = 10
    beta: float = 0.9
    threshold: float = 1.0
    reset: str = "subtract"
    neuron: str = "lif"           # "lif" (snn.Leaky) or "schmitt" (skyspike.compiler.neurons.Schmitt)
    hysteresis: float = 0.0       # schmitt: theta_low = threshold * (1 - hysteresis)
    bias: bool = False            # Linear layers with bias (the chip's bias rows)
    gain: float = 1.0             # rate-coding gain
    epochs: int = 10
    batch: int = 128
    lr: float = 1e-2
    weight_decay: float = 0.0
    slope: float = 25.0           # fast-sigmoid surrogate slope
    seed: int = 0
    dataset: str = "digits"
    qat_bits: int = 0             # > 0: quantization-aware fine-tuning to this precision
    qat_epochs: int = 0
    input_bits: int = 0           # > 0: direct input, the image rounded to this many bits (else rate coding)
    shift: int = 0                # > 0: augmentation, each training image translated by up to +-shift pixels
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    qat_lr: float = 0.0           # fine-tuning learning rate (0: lr / 10)
    mem_loss: float = 0.0         # > 0: logits = counts + mem_loss * final output membrane / threshold (the
                                  # chip's tie-break: most spikes, then the higher membrane)
    qat_distill: float = 0.0      # > 0: fine-tuning loss (1 - a) * CE + a * KL(float model's outputs || the fake-quantized)
    flip: bool = False            # augmentation: each training image mirrored left-right with probability 1/2
                                  # (clothes, not digits: Fashion-MNIST's classes are symmetric)
    pixels: int = 0               # > 0: the network takes only the training images' this many most varying
                                  # pixels (encode.most_varying; the model's PIXELS_ATTRIBUTE lists them)
    out_bits: int = 0             # > 0: the output layer's precision in fine-tuning (0: qat_bits, as every layer)
    cnn_distill: float = 0.0      # > 0: float training loss (1 - a) * CE + a * distillation from a CNN teacher
                                  # (skyspike.compiler.teacher)

    def key(self) -> str:
        d = asdict(self)
        for k in ("input_bits", "shift", "label_smoothing", "qat_lr", "mem_loss", "qat_distill", "pixels", "flip",
                  "out_bits", "cnn_distill"):
            if not d[k]:          # fields added later hash only when set: old cache keys stay valid
                del d[k]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def layer_bits(self, bits: int | None = None) -> list[int]:
        """Each Linear's precision when quantized at ``bits`` (default qat_bits): the output
        layer at out_bits where set."""
        bits = bits or self.qat_bits
        n_linear = 3 if self.hidden2 else 2
        return [bits] * (n_linear - 1) + [self.out_bits or bits]


#: The attribute of a model trained with Recipe.pixels: the image pixels it takes (ascending indices).
PIXELS_ATTRIBUTE = "skyspike_pixels"


def pixels_of(model) -> list[int] | None:
    """The image pixels ``model`` takes (Recipe.pixels), or None: all of them."""
    return getattr(model, PIXELS_ATTRIBUTE, None)


def model_inputs(x: torch.Tensor, recipe: Recipe, gen: torch.Generator | None = None) -> torch.Tensor:
    """What the model gets for intensities ``x`` (batch, n_in) in 0..1: (batch, steps, n_in)
    rate-coded spikes (``gen`` draws them), or with ``recipe.input_bits`` the image rounded to
    that grid (what :func:`skyspike.compiler.encode.values` sends the chip) at every step."""
    if recipe.input_bits:
        top = (1 << recipe.input_bits) - 1
        return (torch.round(x * top) / top)[:, None, :].expand(-1, recipe.steps, -1)
    p = (x * recipe.gain).clamp(0, 1)[:, None, :]
    return (torch.rand((x.shape[0], recipe.steps, x.shape[1]), generator=gen, device=x.device) < p).float()


def _side(n_in: int, what: str) -> int:
    """The side of square images of ``n_in`` pixels; ValueError naming ``what`` otherwise."""
    side = math.isqrt(n_in)
    if side * side != n_in:
        raise ValueError(f"{what}: inputs of {n_in} values are not square images")
    return side


def translate(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Each square image of ``x`` (batch, side * side) moved by its own random whole-pixel
    offset (dy, dx), each uniform in -shift..shift (drawn from ``gen``, a CPU generator); pixels
    moved in from outside are 0."""
    if not shift:
        return x
    n, n_in = x.shape
    side = _side(n_in, "shift")
    d = torch.randint(0, 2 * shift + 1, (2, n), generator=gen).to(x.device)
    pad = torch.nn.functional.pad(x.reshape(n, side, side), (shift, shift, shift, shift))
    ar = torch.arange(side, device=x.device)
    rows = (d[0][:, None] + ar)[:, :, None]
    cols = (d[1][:, None] + ar)[:, None, :]
    return pad[torch.arange(n, device=x.device)[:, None, None], rows, cols].reshape(n, n_in)


def mirror(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each square image of ``x`` (batch, side * side) mirrored left-right with probability 1/2
    (drawn from ``gen``, a CPU generator)."""
    n, n_in = x.shape
    side = _side(n_in, "flip")
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    img = x.reshape(n, side, side)
    return torch.where(flip[:, None, None], img.flip(2), img).reshape(n, n_in)


def _neuron(recipe: Recipe):
    if recipe.neuron == "lif":
        return snn.Leaky(beta=recipe.beta, threshold=recipe.threshold,
                         spike_grad=surrogate.fast_sigmoid(slope=recipe.slope), reset_mechanism=recipe.reset)
    if recipe.neuron == "schmitt":
        return Schmitt(beta=recipe.beta, theta_high=recipe.threshold,
                       theta_low=recipe.threshold * (1 - recipe.hysteresis), reset_mechanism=recipe.reset,
                       spike_grad=fast_sigmoid_ge(recipe.slope))
    raise ValueError(f"neuron={recipe.neuron!r}: use 'lif' or 'schmitt'")


def build_model(n_in: int, n_out: int, recipe: Recipe) -> nn.Sequential:
    """Linear(n_in, hidden) -> neuron [-> Linear(hidden, hidden2) -> neuron] -> Linear(., n_out)
    -> neuron, with biases if ``recipe.bias``."""
    torch.manual_seed(recipe.seed)
    sizes = [n_in, recipe.hidden] + ([recipe.hidden2] if recipe.hidden2 else []) + [n_out]
    mods = []
    for a, b in zip(sizes, sizes[1:]):
        mods += [nn.Linear(a, b, bias=recipe.bias), _neuron(recipe)]
    return nn.Sequential(*mods)


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
        if isinstance(m, (snn.Leaky, Schmitt)):
            state = torch.zeros_like(h[:, 0]) if isinstance(m, snn.Leaky) else None
            spk_t, mem_t = [], []
            for t in range(steps):
                spk, state = m(h[:, t], state)
                spk_t.append(spk)
                if record or t == steps - 1:
                    mem_t.append(state if isinstance(m, snn.Leaky) else state.mem)
            h = torch.stack(spk_t, dim=1)
            spikes_out.append(h)
            mem_out.append(torch.stack(mem_t, dim=1))
        else:
            h = m(h.to(dtype))   # snnTorch's spike functions return float32 whatever the model's dtype
    return FloatResult(spikes_out, mem_out)


@dataclass
class TrainLog:
    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _logits(res: FloatResult, recipe: Recipe) -> torch.Tensor:
    """What the loss sees: output spike counts (+ recipe.mem_loss * final membrane / threshold)."""
    if not recipe.mem_loss:
        return res.counts
    return res.counts + recipe.mem_loss / recipe.threshold * res.membranes[-1][:, -1]


def fit(model: nn.Sequential, x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe, *, epochs: int,
        lr: float, device: str | None = None, progress=None, log: TrainLog | None = None,
        teacher: nn.Sequential | None = None, cnn_teacher: nn.Module | None = None) -> TrainLog:
    """BPTT over ``epochs`` epochs: every batch is rate coded afresh (torch generator seeded by
    recipe.seed; or fed directly, :func:`model_inputs`), cross-entropy on output spike counts, Adam, cosine-annealed learning rate
    (per batch). With ``recipe.shift`` each batch's images are first translated at random
    (:func:`translate`, generator seeded by recipe.seed + 1) and with recipe.flip mirrored
    (:func:`mirror`), then narrowed to the model's pixels
    (:func:`pixels_of`) if it has them. With ``teacher`` (a float model)
    the loss mixes in recipe.qat_distill * KL(teacher's outputs || the model's); with ``cnn_teacher``
    (:mod:`skyspike.compiler.teacher`, on the augmented images) recipe.cnn_distill * its
    distillation loss. ``progress(epoch, loss, acc)``: optional callback after each epoch."""
    dev = torch.device(device or "cpu")
    model.to(dev)
    for t in (teacher, cnn_teacher):
        if t is not None:
            t.to(dev).eval()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=recipe.weight_decay)
    n = x_train.shape[0]
    per_epoch = math.ceil(n / recipe.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * per_epoch))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    perm_gen = torch.Generator().manual_seed(recipe.seed)
    aug_gen = torch.Generator().manual_seed(recipe.seed + 1)
    x_all = torch.as_tensor(np.asarray(x_train, np.float32), device=dev)
    y_all = torch.as_tensor(y_train, dtype=torch.long, device=dev)
    pixels = None if pixels_of(model) is None else torch.as_tensor(pixels_of(model), device=dev)
    log = log or TrainLog()
    t0 = time.time()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=perm_gen).to(dev)
        total, correct = 0.0, 0
        for b in range(per_epoch):
            idx = perm[b * recipe.batch:(b + 1) * recipe.batch]
            xb = translate(x_all[idx], recipe.shift, aug_gen)
            if recipe.flip:
                xb = mirror(xb, aug_gen)
            soft = None if cnn_teacher is None else soft_targets(cnn_teacher, xb)
            if pixels is not None:
                xb = xb[:, pixels]
            inputs = model_inputs(xb, recipe, gen)
            logits = _logits(simulate(model, inputs, record=False), recipe)
            loss = loss_fn(logits, y_all[idx])
            if teacher is not None:
                with torch.no_grad():
                    target = torch.softmax(_logits(simulate(teacher, inputs, record=False), recipe), 1)
                kl = torch.nn.functional.kl_div(torch.log_softmax(logits, 1), target, reduction="batchmean")
                loss = (1 - recipe.qat_distill) * loss + recipe.qat_distill * kl
            if soft is not None:
                loss = (1 - recipe.cnn_distill) * loss + recipe.cnn_distill * distillation_loss(logits, soft)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y_all[idx]).sum())
        entry = {"epoch": len(log.epochs) + 1, "loss": total / n, "train_acc": correct / n}
        log.epochs.append(entry)
        if progress:
            progress(entry["epoch"], entry["loss"], entry["train_acc"])
    log.seconds += time.time() - t0
    model.eval()
    model.to("cpu")
    return log


def fine_tune(model: nn.Sequential, x_train: np.ndarray, y_train: np.ndarray, recipe, *, bits: int | None = None,
              epochs: int | None = None, device: str | None = None, progress=None, log=None):
    """``epochs`` (default recipe.qat_epochs) of BPTT with fake-quantized weights at ``bits``
    (default recipe.qat_bits; the output layer at recipe.out_bits where set), learning rate
    recipe.qat_lr (default recipe.lr / 10); with recipe.qat_distill the float model as it was (a
    copy) is the teacher. Leaves ``model`` without the
    parametrization (latent weights); quantize it with ``align_threshold=True``."""
    bits = recipe.layer_bits(bits)
    epochs = recipe.qat_epochs if epochs is None else epochs
    teacher = None
    if recipe.qat_distill:
        lins = [m for m in model if isinstance(m, nn.Linear)]
        teacher = build_model(lins[0].in_features, lins[-1].out_features, recipe)   # a copy (deepcopy fails on
        teacher.load_state_dict(model.state_dict())                                 # snnTorch's stored state)
        teacher.eval().requires_grad_(False)
    qat.attach(model, bits)
    try:
        return fit(model, x_train, y_train, recipe, epochs=epochs, lr=recipe.qat_lr or recipe.lr / 10, device=device,
                   progress=progress, log=log, teacher=teacher)
    finally:
        model.to("cpu")
        qat.detach(model)


def train(x_train: np.ndarray, y_train: np.ndarray, recipe: Recipe = Recipe(), *, n_out: int = 10,
          threads: int | None = 2, device: str | None = None, progress=None,
          cnn_teacher: nn.Module | None = None) -> tuple[nn.Sequential, TrainLog]:
    """Train the recipe's model on intensities ``x_train`` (N, n_in) in 0..1: ``recipe.epochs``
    of :func:`fit`, then, if ``recipe.qat_bits``, ``recipe.qat_epochs`` of quantization-aware
    fine-tuning (:func:`fine_tune`) at a tenth of the learning rate. With ``recipe.pixels`` the
    model takes the images' most varying pixels (:func:`skyspike.compiler.encode.most_varying`).
    With ``recipe.cnn_distill`` the float epochs distill ``cnn_teacher``
    (:mod:`skyspike.compiler.teacher`; trained here on the same images if not given)."""
    from skyspike.compiler.encode import most_varying

    if threads:
        torch.set_num_threads(threads)
    pixels = most_varying(x_train, recipe.pixels).tolist() if recipe.pixels else None
    model = build_model(len(pixels) if pixels else x_train.shape[1], n_out, recipe)
    if pixels:
        setattr(model, PIXELS_ATTRIBUTE, pixels)
    if recipe.cnn_distill and cnn_teacher is None:
        cnn_teacher = train_teacher(x_train, y_train, seed=recipe.seed, device=device)
    log = fit(model, x_train, y_train, recipe, epochs=recipe.epochs, lr=recipe.lr, device=device,
              progress=progress, cnn_teacher=cnn_teacher if recipe.cnn_distill else None)
    if recipe.qat_bits and recipe.qat_epochs:
        fine_tune(model, x_train, y_train, recipe, device=device, progress=progress, log=log)
    return model, log


@torch.no_grad()
def evaluate(model: nn.Sequential, spikes: np.ndarray, labels: np.ndarray) -> float:
    """Float accuracy on already encoded spikes, with the chip's prediction rule."""
    return float(np.mean(simulate(model, spikes).prediction == np.asarray(labels)))


def cache_path(cache_dir: str | Path, recipe: Recipe) -> Path:
    return Path(cache_dir) / f"model-{recipe.dataset}-{recipe.key()}.pt"


def save(model: nn.Sequential, path: str | Path, recipe: Recipe) -> None:
    """Tensors only: the state_dict plus the recipe as a JSON string in a uint8 tensor (and the
    model's pixels, :func:`pixels_of`, if it has them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = torch.tensor(list(json.dumps(asdict(recipe), sort_keys=True).encode()), dtype=torch.uint8)
    blob = {"state_dict": model.state_dict(), "recipe": meta}
    if pixels_of(model) is not None:
        blob["pixels"] = torch.as_tensor(pixels_of(model), dtype=torch.int64)
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def load(path: str | Path, n_in: int, n_out: int, recipe: Recipe) -> nn.Sequential:
    """Load a cached model (weights_only=True); ValueError if it was trained with another recipe."""
    model, stored = load_file(path)
    if stored != recipe:
        raise ValueError(f"{path}: trained with another recipe {asdict(stored)}")
    return model


def load_file(path: str | Path) -> tuple[nn.Sequential, Recipe]:
    """A model saved by :func:`save` (or ``skyspike train``) and its recipe. Tensors only
    (``weights_only=True``); ValueError for a file that is not one."""
    try:
        blob = torch.load(path, weights_only=True)
        stored = json.loads(bytes(blob["recipe"].tolist()).decode())
        recipe = Recipe(**stored)
        sd = blob["state_dict"]
        weights = [k for k in sd if k.endswith(".weight") and sd[k].ndim == 2]
        n_in, n_out = sd[weights[0]].shape[1], sd[weights[-1]].shape[0]
        model = build_model(n_in, n_out, recipe)
        model.load_state_dict(sd)
        if "pixels" in blob:
            setattr(model, PIXELS_ATTRIBUTE, [int(i) for i in blob["pixels"].tolist()])
    except FileNotFoundError:
        raise
    except Exception as e:  # torch / json / shape errors: not one of our model files
        raise ValueError(f"{path}: not a SkySpike model file ({type(e).__name__}: {e})") from e
    model.eval()
    return model, recipe


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


__all__ = ["Recipe", "PIXELS_ATTRIBUTE", "pixels_of", "model_inputs", "translate", "build_model", "simulate", "fit", "train", "evaluate", "train_or_load", "save", "load", "load_file",
           "fine_tune"]
