"""Pack a ChipNetwork into what the core's memories hold: descriptor words, weight SRAM
words per bank, and input-buffer words per bank (layouts in docs/semantics.md)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyspike.spec import memmap as mm
from skyspike.spec.config import INPUT_MODES, PRECISIONS, CoreConfig, log2
from skyspike.spec.layouts import descriptor_words
from skyspike.chip.network import ChipNetwork, Placement, place, value_planes


@dataclass
class ChipImage:
    cfg: CoreConfig
    placement: Placement
    n_layers: int
    steps: int
    descriptors: np.ndarray  # uint32 (n_layers, DESC_WORDS)
    weights: np.ndarray      # uint32 (banks, used words)
    input_mode: str = "spikes"  # layer 0's input (ChipNetwork.input_mode, input_bits, seed)
    input_bits: int = 1
    seed: int = 1

    @property
    def graded(self) -> bool:
        return self.input_mode != "spikes"

    @property
    def input_frames(self) -> int:
        """Input bitmaps written per inference: steps, or the bit planes of graded input."""
        return self.input_bits if self.graded else self.steps


def encode_descriptor(ly, lp, input_mode: str = "spikes", input_bits: int = 1) -> list[int]:
    """The descriptor words of one layer (layout: skyspike.spec.layouts.DESCRIPTOR); layer 0
    also gets the network's input mode and value bits."""
    return descriptor_words(
        n_in=ly.n_in, n_out=ly.n_out, bits_code=PRECISIONS.index(ly.bits), slots_log2=log2(lp.slots),
        fold_log2=log2(getattr(lp, "fold", 1)), reset_zero=int(ly.reset_zero), n_bias=ly.n_bias, w_base=lp.w_base,
        state_base=lp.state_base, beta=ly.beta, theta_high=ly.theta_high, theta_low=ly.theta_low,
        reset_sub=ly.reset_sub, in_mode=INPUT_MODES.index(input_mode), in_bits_code=PRECISIONS.index(input_bits))


def weight_fields(ly, lp):
    """Where each weight lives: (bank, word address, bit shift), int arrays broadcast to
    (n_in + n_bias, n_out) -- the layout of docs/semantics.md, shared by packing and reading back."""
    n = np.arange(ly.n_out)
    i = np.arange(ly.n_in + ly.n_bias)
    word = i // 32
    slot = word % lp.slots
    row = (word // lp.slots) * 32 + i % 32
    fold = row % lp.fold                 # row r of a slot sits in fold r mod F, at r // F
    chunk = n // lp.chunk
    m = n % lp.chunk
    bank = (slot * lp.group_banks + fold * lp.fold_banks)[:, None] + (m // lp.lanes)[None, :]
    addr = lp.w_base + (chunk // lp.subwords)[None, :] * lp.fold_rows + (row // lp.fold)[:, None]
    shift = (((chunk % lp.subwords) * lp.lanes + m % lp.lanes) * ly.bits)[None, :]
    return np.broadcast_arrays(bank, addr, shift)


def pack_weights(ly, lp, cfg: CoreConfig, banks: np.ndarray) -> None:
    """Write one layer's weights, then its bias rows (inputs n_in..), into ``banks``
    (uint32, banks x depth) at its place."""
    bank, addr, shift = weight_fields(ly, lp)
    code = ly.weights_with_bias.astype(np.int64)
    if ly.bits == 1:
        code = (code > 0).astype(np.int64)          # +1 -> 1, -1 -> 0
    code &= (1 << ly.bits) - 1
    contrib = (code << shift).astype(np.uint64)
    flat = banks.reshape(-1).view(np.uint32)
    idx = (bank * banks.shape[1] + addr).reshape(-1)
    # Fields of one word never overlap, so OR-accumulation builds each word exactly.
    acc = np.zeros(flat.shape, np.uint64)
    np.bitwise_or.at(acc, idx, contrib.reshape(-1))
    flat |= acc.astype(np.uint32)


def unpack_weights(ly, lp, banks: np.ndarray) -> np.ndarray:
    """The inverse of :func:`pack_weights`: ``ly``'s (n_in + n_bias, n_out) signed weights
    read from ``banks`` (uint32, banks x depth); ``ly`` needs only its sizes and bits."""
    bank, addr, shift = weight_fields(ly, lp)
    code = (banks.astype(np.int64)[bank, addr] >> shift) & ((1 << ly.bits) - 1)
    if ly.bits == 1:
        return np.where(code == 1, 1, -1)
    return np.where(code >= 1 << (ly.bits - 1), code - (1 << ly.bits), code)


def build_image(net: ChipNetwork, cfg: CoreConfig) -> ChipImage:
    net.check()
    pl = place(net, cfg)
    desc = np.array([encode_descriptor(ly, lp, *((net.input_mode, net.input_bits) if i == 0 else ()))
                     for i, (ly, lp) in enumerate(zip(net.layers, pl.layers))], np.uint32)
    banks = np.zeros((cfg.banks, cfg.bank_depth), np.uint32)
    for ly, lp in zip(net.layers, pl.layers):
        pack_weights(ly, lp, cfg, banks)
    return ChipImage(cfg, pl, len(net.layers), net.steps, desc, banks[:, : pl.weight_words].copy(),
                     net.input_mode, net.input_bits, net.seed)


def pack_inputs(spikes: np.ndarray, cfg: CoreConfig, pl: Placement) -> np.ndarray:
    """One inference's input bitmaps (frames, n_in) -> input buffer words (input_banks, depth):
    the spikes of each step, or the bit planes of a direct input (most significant first).

    Word w of frame t's bitmap (bit j = input 32w + j) lives in bank w mod input_banks at
    address t * input_words_per_bank + w // input_banks. Only the real inputs: the bias
    rows' always-on inputs are never sent (the scanners make them).
    """
    spikes = np.asarray(spikes, bool)
    steps, n_in = spikes.shape
    padded = np.zeros((steps, pl.input_words * 32), bool)
    padded[:, :n_in] = spikes
    bits = padded.reshape(steps, pl.input_words, 32).astype(np.uint64)
    words = (bits << np.arange(32, dtype=np.uint64)).sum(axis=2).astype(np.uint32)
    out = np.zeros((cfg.input_banks, cfg.input_depth), np.uint32)
    w = np.arange(pl.input_words)
    for t in range(steps):
        out[w % cfg.input_banks, t * pl.input_words_per_bank + w // cfg.input_banks] = words[t]
    return out


def image_writes(image: ChipImage) -> list[tuple[int, int]]:
    """(byte address, word) bus writes that load ``image``: NET (and SEED for rate-coded input),
    descriptors, then weights."""
    cfg = image.cfg
    writes = [(mm.REG["NET"], image.n_layers | image.steps << 8)]
    if image.input_mode == "rate":
        writes.append((mm.REG["SEED"], image.seed))
    for ly, words in enumerate(image.descriptors):
        writes += [(mm.DESC_BASE + 4 * (ly * len(words) + j), int(w)) for j, w in enumerate(words)]
    for bank, words in enumerate(image.weights):
        base = mm.WEIGHT_BASE + 4 * bank * cfg.bank_depth
        writes += [(base + 4 * a, int(w)) for a, w in enumerate(words)]
    return writes


def input_page(image: ChipImage) -> int:
    """Input-buffer words per bank that one inference's frames take (a page of the buffer)."""
    return image.input_frames * image.placement.input_words_per_bank


def input_writes(sample: np.ndarray, image: ChipImage, base: int = 0) -> list[tuple[int, int]]:
    """(byte address, word) bus writes that load one inference's input: spikes (steps, n_in),
    or for graded input its values (n_in,) (one sample of ``network.as_inputs``), at input-buffer
    word ``base`` of every bank (a run with NET.input_base = base reads them there)."""
    cfg, pl = image.cfg, image.placement
    if not 0 <= base <= cfg.input_depth - input_page(image):
        raise ValueError(f"input base {base}: {input_page(image)} words from there do not fit the input buffer "
                         f"({cfg.input_depth} words per bank)")
    bitmaps = value_planes(sample, image.input_bits) if image.graded else sample
    words = pack_inputs(bitmaps, cfg, pl)
    return [(mm.INPUT_BASE + 4 * (bank * cfg.input_depth + base + a), int(words[bank, a]))
            for bank in range(cfg.input_banks) for a in range(input_page(image))]
