"""Integer (chip-grid) description of a network, and its placement on a core.

A :class:`ChipNetwork` is what the chip computes, in the chip's own integers; the golden
model runs it, :mod:`skyspike.chip.image` packs it into descriptor words and SRAM words.
Semantics are written once in docs/semantics.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from skyspike.spec.config import (BETA_SHIFT, check_precision, MAX_BIAS_ROWS, MEMBRANE_BITS, CoreConfig, lanes_per_bank,
                     log2, subwords)

INT16_MIN, INT16_MAX = -(1 << (MEMBRANE_BITS - 1)), (1 << (MEMBRANE_BITS - 1)) - 1


class NetworkError(ValueError):
    """A network that the chip cannot hold or that breaks the semantics' ranges."""


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
    layers: list[ChipLayer]
    steps: int

    def check(self, cfg: CoreConfig | None = None) -> None:
        """Raise NetworkError naming the layer and the limit for anything out of range."""
        if not self.layers:
            raise NetworkError("network has no layers")
        if not 1 <= self.steps <= 255:
            raise NetworkError(f"steps={self.steps} is outside 1..255")
        for i, ly in enumerate(self.layers):
            where = f"layer {i}"
            w = ly.weights
            if w.ndim != 2 or min(w.shape) < 1:
                raise NetworkError(f"{where}: weights must be a non-empty 2-D (n_in, n_out) array, got shape {w.shape}")
            if not np.issubdtype(w.dtype, np.integer):
                raise NetworkError(f"{where}: weights must be integers (quantize first), got {w.dtype}")
            check_precision(ly.bits, where, NetworkError)
            lo, hi = weight_range(ly.bits)
            if w.min() < lo or w.max() > hi or (ly.bits == 1 and np.any(w == 0)):
                raise NetworkError(f"{where}: weights span {w.min()}..{w.max()}, outside {ly.bits}-bit range "
                                   f"{'{-1,+1}' if ly.bits == 1 else f'{lo}..{hi}'}")
            if ly.bias is not None:
                b = ly.bias
                if b.ndim != 2 or b.shape[1] != w.shape[1]:
                    raise NetworkError(f"{where}: bias must be a (n_bias, n_out={w.shape[1]}) array, "
                                       f"got shape {b.shape}")
                if b.shape[0] > MAX_BIAS_ROWS:
                    raise NetworkError(f"{where}: {b.shape[0]} bias rows; the core takes at most {MAX_BIAS_ROWS}")
                if b.size and not np.issubdtype(b.dtype, np.integer):
                    raise NetworkError(f"{where}: bias must be integers (quantize first), got {b.dtype}")
                if b.size and (b.min() < lo or b.max() > hi or (ly.bits == 1 and np.any(b == 0))):
                    raise NetworkError(f"{where}: bias spans {b.min()}..{b.max()}, outside {ly.bits}-bit range "
                                       f"{'{-1,+1}' if ly.bits == 1 else f'{lo}..{hi}'}")
            if not 0 <= ly.beta <= (1 << BETA_SHIFT):
                raise NetworkError(f"{where}: beta={ly.beta} is outside 0..256 (beta x 256)")
            for name in ("theta_high", "theta_low", "reset_sub"):
                v = getattr(ly, name)
                if not INT16_MIN <= v <= INT16_MAX:
                    raise NetworkError(f"{where}: {name}={v} does not fit a signed 16-bit field")
            if ly.theta_low > ly.theta_high:
                raise NetworkError(f"{where}: theta_low={ly.theta_low} > theta_high={ly.theta_high}")
            if i and ly.n_in != self.layers[i - 1].n_out:
                raise NetworkError(f"{where}: n_in={ly.n_in} does not chain with layer {i-1}'s n_out="
                                   f"{self.layers[i - 1].n_out}")
        if cfg is not None:
            place(self, cfg)  # raises if it does not fit


@dataclass
class LayerPlacement:
    """Where and how one layer runs on a core (all derived; mirrored by the RTL)."""

    slots: int          # events per cycle (bank groups)
    group_banks: int    # banks per group
    lanes: int          # lanes per bank at this precision (4 or 8)
    subwords: int       # chunks per 32-bit word
    chunk: int          # neurons per chunk: group_banks * lanes
    chunks: int
    words_per_row: int  # ceil(chunks / subwords)
    in_words: int       # 32-bit words the scanners read: ceil((n_in + n_bias) / 32)
    rows: int           # rows per slot: ceil(in_words / slots) * 32
    w_base: int         # first word, same in every bank
    state_base: int

    @property
    def bank_words(self) -> int:
        return self.words_per_row * self.rows


@dataclass
class Placement:
    layers: list[LayerPlacement] = field(default_factory=list)
    input_words: int = 0          # words of one step's input bitmap (the real inputs, no bias)
    input_words_per_bank: int = 0  # per step, per input bank

    @property
    def weight_words(self) -> int:
        return max((p.w_base + p.bank_words for p in self.layers), default=0)


def _derive(cfg: CoreConfig, n_in: int, n_out: int, bits: int, slots: int, w_base: int,
            state_base: int, n_bias: int = 0) -> LayerPlacement:
    lanes = lanes_per_bank(bits)
    sub = subwords(bits)
    group = cfg.banks // slots
    chunk = group * lanes
    chunks = -(-n_out // chunk)
    in_words = -(-(n_in + n_bias) // 32)  # bias rows are inputs n_in .. n_in + n_bias - 1
    return LayerPlacement(slots=slots, group_banks=group, lanes=lanes, subwords=sub, chunk=chunk,
                          chunks=chunks, words_per_row=-(-chunks // sub), in_words=in_words,
                          rows=-(-in_words // slots) * 32, w_base=w_base, state_base=state_base)


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
            lp = _derive(cfg, ly.n_in, ly.n_out, ly.bits, slots, w_base, state_base, ly.n_bias)
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
    if net.steps * pl.input_words_per_bank > cfg.input_depth:
        raise NetworkError(f"{net.steps} steps x {pl.input_words_per_bank} words per input bank exceed the input "
                           f"buffer depth {cfg.input_depth} (at most "
                           f"{cfg.input_depth // pl.input_words_per_bank} steps for {net.layers[0].n_in} inputs)")
    return pl
