"""Integer (chip-grid) description of a network, and its placement on a core.

A :class:`ChipNetwork` is what the chip computes, in the chip's own integers; the golden
model runs it, :mod:`skyspike.chip.image` packs it into descriptor words and SRAM words.
Semantics are written once in docs/semantics.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from skyspike.errors import InputError, NetworkError

from skyspike.spec.config import (BETA_SHIFT, check_precision, INPUT_MODES, MAX_BIAS_ROWS, MEMBRANE_BITS, CoreConfig,
                                  lanes_per_bank, log2, subwords)

INT16_MIN, INT16_MAX = -(1 << (MEMBRANE_BITS - 1)), (1 << (MEMBRANE_BITS - 1)) - 1


def weight_range(bits: int) -> tuple[int, int]:
    """Inclusive range of a signed weight; 1-bit weights are -1 or +1 (never 0)."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass
class ChipLayer:
    """One fully connected layer of Schmitt neurons, in chip integers.

    weights: int array (n_in, n_out) within :func:`weight_range` of ``bits``.
    beta: leak numerator over 256 (0..256). theta_high / theta_low: fire at V >= theta_high
    when armed; re-arm below theta_low (== theta_high: no hysteresis, plain LIF).
    reset_sub: what a spike subtracts at the next step in subtract mode (snnTorch's threshold);
    reset_zero: reset to zero instead. slots: events per cycle (None: the compiler picks).
    folds: rows side by side in a slot group's banks (power of two; None: the placement picks,
    docs/semantics.md "Weight layout across banks").
    bias: None, or int array (n_bias, n_out), 0 <= n_bias <= MAX_BIAS_ROWS: bias rows, the
    weights of n_bias extra inputs that spike at every step (same range as ``weights``); each
    neuron gets the sum of its column as a constant current (docs/semantics.md, "Bias rows").
    scale: the float value of one integer unit of the weights and membrane, where quantization
    chose one (informational: kept in the network file, never used by the chip; None if unknown).
    """

    weights: np.ndarray
    bits: int = 4
    beta: int = 256
    theta_high: int = 64
    theta_low: int | None = None
    reset_sub: int | None = None
    reset_zero: bool = False
    slots: int | None = None
    bias: np.ndarray | None = None
    scale: float | None = None
    folds: int | None = None

    def __post_init__(self):
        self.weights = np.asarray(self.weights)
        if self.bias is not None:
            self.bias = np.asarray(self.bias)
        if self.theta_low is None:
            self.theta_low = self.theta_high
        if self.reset_sub is None:
            self.reset_sub = self.theta_high

    @property
    def n_in(self) -> int:
        return self.weights.shape[0]

    @property
    def n_out(self) -> int:
        return self.weights.shape[1]

    @property
    def n_bias(self) -> int:
        """Bias rows: always-on inputs n_in .. n_in + n_bias - 1 of the layer."""
        return 0 if self.bias is None else self.bias.shape[0]

    @property
    def weights_with_bias(self) -> np.ndarray:
        """The (n_in + n_bias, n_out) matrix the chip stores: the weights, then the bias rows."""
        if not self.n_bias:
            return self.weights
        return np.concatenate([self.weights, self.bias.astype(self.weights.dtype)])


@dataclass
class ChipNetwork:
    """Layers of Schmitt neurons run for ``steps`` time steps.

    input_mode: how layer 0 gets its input (docs/semantics.md, "Inputs"): ``"spikes"``, a
    bitmap per step (``input_bits`` 1); graded input, one unsigned ``input_bits``-bit value per
    input and inference (1, 2, 4 or 8 bits): ``"direct"``, their weighted sum is layer 0's
    current at every step; ``"rate"``, the chip rate codes them (spike probability
    x / 2**input_bits at each step, from pseudo-random generators seeded with ``seed``).
    """

    layers: list[ChipLayer]
    steps: int
    input_mode: str = "spikes"
    input_bits: int = 1
    seed: int = 1

    @property
    def direct(self) -> bool:
        return self.input_mode == "direct"

    @property
    def graded(self) -> bool:
        """The input is values sent once (direct or rate coded on the chip), not spikes."""
        return self.input_mode in ("direct", "rate")

    @property
    def input_frames(self) -> int:
        """Bitmaps of layer 0's inputs the host writes per inference: one per step (spikes),
        or one per bit plane of the values (graded input)."""
        return self.input_bits if self.graded else self.steps

    def check(self, cfg: CoreConfig | None = None) -> None:
        """Raise NetworkError naming the layer and the limit for anything the chip cannot take:
        field types (integers where the chip has integers, no floats or bools in their place),
        ranges, shapes, the layer chain and, with ``cfg``, the fit on that core."""
        if not isinstance(self.layers, (list, tuple)) or not self.layers:
            raise NetworkError("network has no layers")
        if not _is_int(self.steps) or not 1 <= self.steps <= 255:
            raise NetworkError(f"steps={self.steps!r} must be an integer in 1..255")
        if self.input_mode not in INPUT_MODES:
            raise NetworkError(f"input_mode={self.input_mode!r} must be one of {', '.join(map(repr, INPUT_MODES))}")
        if self.graded:
            check_precision(self.input_bits, f"{self.input_mode} input", NetworkError)
        elif self.input_bits != 1:
            raise NetworkError(f"input_bits={self.input_bits!r}: spike inputs are 1 bit (input_mode='direct' or "
                               f"'rate' for values)")
        if not _is_int(self.seed) or not 0 <= self.seed < 1 << 32:
            raise NetworkError(f"seed={self.seed!r} must be an integer in 0..2**32 - 1")
        for i, ly in enumerate(self.layers):
            if not isinstance(ly, ChipLayer):
                raise NetworkError(f"layer {i}: expected a ChipLayer, got {type(ly).__name__}")
            check_layer(ly, f"layer {i}")
            if i and ly.n_in != self.layers[i - 1].n_out:
                raise NetworkError(f"layer {i}: n_in={ly.n_in} does not chain with layer {i-1}'s n_out="
                                   f"{self.layers[i - 1].n_out}")
        if cfg is not None:
            place(self, cfg)  # raises if it does not fit


def _is_int(v) -> bool:
    """A Python or numpy integer, not a bool (a float or bool in an integer field is an error)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_int(ly: ChipLayer, name: str, lo: int, hi: int, where: str) -> None:
    v = getattr(ly, name)
    if not _is_int(v) or not lo <= v <= hi:
        kind = " (a signed 16-bit field)" if lo == INT16_MIN else ""
        raise NetworkError(f"{where}: {name}={v!r} must be an integer in {lo}..{hi}{kind}")


def _check_matrix(a, name: str, bits: int, where: str, n_out: int | None = None) -> None:
    """``a`` is a 2-D integer array within the ``bits`` weight range (and ``n_out`` columns)."""
    if not isinstance(a, np.ndarray) or a.ndim != 2 or (n_out is None and min(a.shape) < 1):
        raise NetworkError(f"{where}: {name} must be a non-empty 2-D integer array, got "
                           f"{getattr(a, 'shape', type(a).__name__)}")
    if n_out is not None and a.shape[1] != n_out:
        raise NetworkError(f"{where}: {name} must be a (n_bias, n_out={n_out}) array, got shape {a.shape}")
    if not a.size:
        return
    if not np.issubdtype(a.dtype, np.integer):
        raise NetworkError(f"{where}: {name} must be integers (quantize first), got {a.dtype}")
    lo, hi = weight_range(bits)
    if a.min() < lo or a.max() > hi or (bits == 1 and np.any(a == 0)):
        verb = "spans" if name == "bias" else "span"
        raise NetworkError(f"{where}: {name} {verb} {a.min()}..{a.max()}, outside {bits}-bit range "
                           f"{'{-1,+1}' if bits == 1 else f'{lo}..{hi}'}")


def check_layer(ly: ChipLayer, where: str) -> None:
    """One layer's fields (see :meth:`ChipNetwork.check`)."""
    check_precision(ly.bits, where, NetworkError)
    _check_matrix(ly.weights, "weights", ly.bits, where)
    if ly.bias is not None:
        if isinstance(ly.bias, np.ndarray) and ly.bias.ndim == 2 and ly.bias.shape[0] > MAX_BIAS_ROWS:
            raise NetworkError(f"{where}: {ly.bias.shape[0]} bias rows; the core takes at most {MAX_BIAS_ROWS}")
        _check_matrix(ly.bias, "bias", ly.bits, where, n_out=ly.weights.shape[1])
    _check_int(ly, "beta", 0, 1 << BETA_SHIFT, where)
    for name in ("theta_high", "theta_low", "reset_sub"):
        _check_int(ly, name, INT16_MIN, INT16_MAX, where)
    if ly.theta_low > ly.theta_high:
        raise NetworkError(f"{where}: theta_low={ly.theta_low} > theta_high={ly.theta_high}")
    if not (isinstance(ly.reset_zero, (bool, np.bool_)) or (_is_int(ly.reset_zero) and ly.reset_zero in (0, 1))):
        raise NetworkError(f"{where}: reset_zero={ly.reset_zero!r} must be a bool")
    if ly.slots is not None and not (_is_int(ly.slots) and ly.slots >= 1 and ly.slots & (ly.slots - 1) == 0):
        raise NetworkError(f"{where}: slots={ly.slots!r} must be None or a power of two")
    if ly.folds is not None and not (_is_int(ly.folds) and ly.folds >= 1 and ly.folds & (ly.folds - 1) == 0):
        raise NetworkError(f"{where}: folds={ly.folds!r} must be None or a power of two")
    if ly.scale is not None and not (isinstance(ly.scale, (int, float, np.floating)) and
                                     not isinstance(ly.scale, bool) and math.isfinite(ly.scale) and ly.scale > 0):
        raise NetworkError(f"{where}: scale={ly.scale!r} must be None or a finite number > 0")


@dataclass
class LayerPlacement:
    """Where and how one layer runs on a core (all derived; mirrored by the RTL)."""

    slots: int          # events per cycle (bank groups)
    group_banks: int    # banks per group
    lanes: int          # lanes per bank at this precision (4 or 8)
    subwords: int       # chunks per 32-bit word
    chunk: int          # neurons per chunk: fold_banks * lanes
    chunks: int
    words_per_row: int  # ceil(chunks / subwords)
    in_words: int       # 32-bit words the scanners read: ceil((n_in + n_bias) / 32)
    rows: int           # rows per slot: ceil(in_words / slots) * 32
    w_base: int         # first word, same in every bank
    state_base: int
    fold: int = 1       # F: rows side by side in the group's banks (row r in fold r mod F)

    @property
    def fold_banks(self) -> int:
        """Banks per fold: group_banks / fold."""
        return self.group_banks // self.fold

    @property
    def fold_rows(self) -> int:
        """Rows per fold (the words one chunk uses in every bank): rows / fold."""
        return self.rows // self.fold

    @property
    def bank_words(self) -> int:
        return self.words_per_row * self.fold_rows


@dataclass
class Placement:
    layers: list[LayerPlacement] = field(default_factory=list)
    input_words: int = 0          # words of one step's input bitmap (the real inputs, no bias)
    input_words_per_bank: int = 0  # per step, per input bank

    @property
    def weight_words(self) -> int:
        return max((p.w_base + p.bank_words for p in self.layers), default=0)


def derive_layer(cfg: CoreConfig, n_in: int, n_out: int, bits: int, slots: int, w_base: int,
                 state_base: int, n_bias: int = 0, fold: int = 1) -> LayerPlacement:
    """Where and how one layer runs, given its slots, folds and bases (docs/semantics.md);
    ``fold`` <= banks / slots."""
    lanes = lanes_per_bank(bits)
    sub = subwords(bits)
    group = cfg.banks // slots
    chunk = max(1, group // fold) * lanes
    chunks = -(-n_out // chunk)
    in_words = -(-(n_in + n_bias) // 32)  # bias rows are inputs n_in .. n_in + n_bias - 1
    return LayerPlacement(slots=slots, group_banks=group, lanes=lanes, subwords=sub, chunk=chunk,
                          chunks=chunks, words_per_row=-(-chunks // sub), in_words=in_words,
                          rows=-(-in_words // slots) * 32, w_base=w_base, state_base=state_base, fold=fold)


def auto_fold(cfg: CoreConfig, n_out: int, bits: int, slots: int) -> int:
    """Most row folds that keep the layer in one chunk, when it fits one chunk unfolded
    (so the cycles do not change); 1 otherwise. Folding only saves weight words."""
    group, lanes = cfg.banks // slots, lanes_per_bank(bits)
    if group * lanes < n_out:
        return 1
    f = 1
    while f < group and (group // (2 * f)) * lanes >= n_out:
        f *= 2
    return f


def auto_slots(cfg: CoreConfig, n_out: int, bits: int) -> int:
    """Most events per cycle such that a row still fits one bank group in one chunk."""
    k = cfg.max_slots
    while k > 1 and (cfg.banks // k) * lanes_per_bank(bits) < n_out:
        k //= 2
    return k


def place(net: ChipNetwork, cfg: CoreConfig) -> Placement:
    """Lay the network out on ``cfg``; NetworkError if it does not fit."""
    if len(net.layers) > cfg.max_layers:
        raise NetworkError(f"network has {len(net.layers)} layers; the core holds at most {cfg.max_layers}")
    pl = Placement()
    w_base = state_base = 0
    for i, ly in enumerate(net.layers):
        where = f"layer {i}"
        max_in = cfg.max_inputs if i == 0 else cfg.max_neurons
        if ly.n_in > max_in:
            raise NetworkError(f"{where}: {ly.n_in} inputs; the core takes at most {max_in}")
        if ly.n_out > cfg.max_neurons:
            raise NetworkError(f"{where}: {ly.n_out} neurons; the core holds at most {cfg.max_neurons} per layer")
        if ly.slots is not None:
            choices = [ly.slots]
        else:  # fastest first; more slots shorten the rows when a layer does not fit otherwise
            k = auto_slots(cfg, ly.n_out, ly.bits)
            choices = [k << j for j in range(log2(cfg.max_slots // k) + 1)]
        for slots in choices:
            if slots not in (1 << j for j in range(log2(cfg.max_slots) + 1)):
                raise NetworkError(f"{where}: slots={slots} must be a power of two <= {cfg.max_slots}")
            fold = auto_fold(cfg, ly.n_out, ly.bits, slots) if ly.folds is None else ly.folds
            if fold > cfg.banks // slots:
                raise NetworkError(f"{where}: folds={fold} exceed the {cfg.banks // slots} banks of a slot group "
                                   f"({slots} slots on {cfg.banks} banks)")
            lp = derive_layer(cfg, ly.n_in, ly.n_out, ly.bits, slots, w_base, state_base, ly.n_bias, fold)
            if lp.chunks > 1 and lp.chunk < cfg.update_lanes:
                # The engine updates a chunk's neurons update_lanes at a time: a chunk narrower
                # than that, followed by another, is not a layout the core runs correctly.
                most = max(1, (cfg.banks // slots) * lp.lanes // cfg.update_lanes)
                raise NetworkError(f"{where}: folds={fold} leave chunks of {lp.chunk} neurons, fewer than the "
                                   f"core's {cfg.update_lanes} update lanes, and the layer needs {lp.chunks} "
                                   f"chunks: use at most {most} folds with {slots} slots")
            if lp.w_base + lp.bank_words <= cfg.bank_depth:
                break
        else:
            raise NetworkError(f"{where}: weights need {lp.w_base + lp.bank_words} words per bank "
                               f"(this layer {lp.bank_words}); the core has {cfg.bank_depth} "
                               f"({cfg.banks} banks x {cfg.bank_depth} x 32 bit = {cfg.weight_bits // 8192} KiB)")
        pl.layers.append(lp)
        w_base += lp.bank_words
        state_base += -(-ly.n_out // cfg.update_lanes) * cfg.update_lanes
        if state_base > cfg.state_neurons:
            raise NetworkError(f"{where}: neuron state needs {state_base} entries; the core has {cfg.state_neurons}")
    if net.layers[-1].n_out > cfg.max_outputs:
        raise NetworkError(f"last layer has {net.layers[-1].n_out} neurons; the core counts spikes of at most "
                           f"{cfg.max_outputs}")
    # The host writes the real inputs only: the bias rows' spikes are made by the scanners.
    pl.input_words = -(-net.layers[0].n_in // 32)
    pl.input_words_per_bank = -(-pl.input_words // cfg.input_banks)
    if net.input_frames * pl.input_words_per_bank > cfg.input_depth:
        unit = f"bit planes of {net.input_mode} input" if net.graded else "steps"
        raise NetworkError(f"{net.input_frames} {unit} x {pl.input_words_per_bank} words per input bank exceed the "
                           f"input buffer depth {cfg.input_depth} (at most "
                           f"{cfg.input_depth // pl.input_words_per_bank} {unit} for {net.layers[0].n_in} inputs)")
    return pl


def as_inputs(inputs, net: ChipNetwork) -> np.ndarray:
    """``inputs`` checked for ``net``'s input mode: bool spikes (batch, steps, n_in) (see
    :func:`as_spikes`), or for graded input its values int64 (batch, n_in), each an integer
    in 0 .. 2**input_bits - 1 (a 1-D array is one sample). InputError otherwise."""
    if not net.graded:
        return as_spikes(inputs, net)
    top = (1 << net.input_bits) - 1
    x = _input_batch(inputs, (net.layers[0].n_in,), f"{net.input_mode} input values", "integers")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise InputError(f"{net.input_mode} input values must be integers 0..{top}, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)) or np.any(x != np.round(x)) or x.min() < 0 or x.max() > top:
        raise InputError(f"{net.input_mode} input values must be integers 0..{top} ({net.input_bits}-bit); "
                         f"quantize images with skyspike.compiler.encode.values")
    return x.astype(np.int64)


def _input_batch(inputs, shape: tuple[int, ...], what: str, kind: str) -> np.ndarray:
    """``inputs`` as an array (batch, *shape) (one sample without the batch axis), or InputError."""
    try:
        x = np.asarray(inputs)
    except Exception as e:  # ragged lists and the like
        raise InputError(f"{what} must be an array of {kind}: {e}") from None
    if x.ndim == len(shape):
        x = x[None]
    if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
        raise InputError(f"{what} must have shape (batch, {', '.join(map(str, shape))}), got {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"no {what}: the batch is empty")
    return x


def input_bitmaps(x: np.ndarray, net: ChipNetwork) -> np.ndarray:
    """What the host writes to the input buffer for checked inputs ``x`` (:func:`as_inputs`):
    bool (batch, input_frames, n_in). Spikes as they are; values as their bit planes, most
    significant first (frame f = bit input_bits - 1 - f)."""
    return value_planes(x, net.input_bits) if net.graded else x


def value_planes(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit values int (..., n) as their bit planes bool (..., bits, n), the
    most significant first (plane f holds bit bits - 1 - f)."""
    values = np.asarray(values, np.int64)
    shifts = np.arange(bits - 1, -1, -1)[:, None]
    return ((values[..., None, :] >> shifts) & 1).astype(bool)


def as_spikes(inputs, net: ChipNetwork) -> np.ndarray:
    """``inputs`` as bool spikes (batch, steps, n_in) for ``net``; a 2-D array is one sample.
    InputError for anything that is not a non-empty array of 0/1 (or bool) of that shape:
    spikes are never made from other values (0.5, 2, -1, NaN, strings)."""
    x = _input_batch(inputs, (net.steps, net.layers[0].n_in), "input spikes", "0/1")
    if x.dtype != bool:
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise InputError(f"input spikes must be bool or 0/1 numbers, got dtype {x.dtype}")
        if not np.all((x == 0) | (x == 1)):
            raise InputError("input spikes must be 0 or 1 (bool); encode intensities first (skyspike.compiler.encode)")
    return x.astype(bool)
