"""Read a loaded chip back: the network and input spikes that a core's memories hold,
decoded from descriptor, weight and input-buffer words (the inverse of :mod:`skyspike.chip.image`).

Used by the emulated chip of :mod:`skyspike.emu.fakechip` (which computes its answers from
exactly what the host sent) and to check what a real chip holds.
``read(address, count)`` returns ``count`` 32-bit words from consecutive byte addresses.
:func:`state_membranes` decodes neuron-state words (for every reader of results).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from skyspike.spec import memmap as mm
from skyspike.spec.config import INPUT_MODES, PRECISIONS, CoreConfig
from skyspike.spec.layouts import DESC_WORDS, STATE_ENTRY, descriptor_fields
from skyspike.chip.image import unpack_weights
from skyspike.chip.network import ChipLayer, ChipNetwork, NetworkError, Placement, derive_layer, place

Reader = Callable[[int, int], list[int]]


def decode_descriptor(words) -> dict:
    """One layer's descriptor words as a layer's parameters: the raw fields of
    skyspike.spec.layouts.DESCRIPTOR, with ``bits``, ``slots`` and ``folds`` for their codes."""
    f = descriptor_fields(words)
    f["bits"] = PRECISIONS[f.pop("bits_code")]
    f["slots"] = 1 << f.pop("slots_log2")
    f["folds"] = 1 << f.pop("fold_log2")
    f["reset_zero"] = bool(f["reset_zero"])
    return f


def state_membranes(words) -> np.ndarray:
    """The membrane potentials V (int64) of raw neuron-state words (layouts.STATE_ENTRY)."""
    v = STATE_ENTRY["v"]
    return np.array([v.get(w) for w in words], np.int64)


def read_network(read: Reader, cfg: CoreConfig, *, strict: bool = True) -> tuple[ChipNetwork, Placement]:
    """The network a core holds (NET register, descriptors, weights). ``strict``: NetworkError if
    the descriptors do not describe the layout this driver would have produced; otherwise the
    weights and state are read where the descriptors put them (what the core itself does with a
    table that passes its run-time checks, skyspike.chip.checks)."""
    net_reg = mm.NET.unpack(read(mm.REG["NET"], 1)[0])
    n_layers, steps = net_reg["n_layers"], net_reg["steps"]
    if not 1 <= n_layers <= cfg.max_layers:
        raise NetworkError(f"NET register holds {n_layers} layers (1..{cfg.max_layers})")
    desc = np.array(read(mm.DESC_BASE, n_layers * DESC_WORDS), np.int64).reshape(n_layers, DESC_WORDS)
    fields = [decode_descriptor(d) for d in desc]
    mode = fields[0]["in_mode"]
    if mode >= len(INPUT_MODES):
        raise NetworkError(f"layer 0: input mode {mode} is none of {', '.join(INPUT_MODES)}")
    graded = INPUT_MODES[mode] != "spikes"
    net = ChipNetwork([_skeleton(f) for f in fields], steps, input_mode=INPUT_MODES[mode],
                      input_bits=PRECISIONS[fields[0]["in_bits_code"]] if graded else 1,
                      seed=read(mm.REG["SEED"], 1)[0] if INPUT_MODES[mode] == "rate" else 1)
    pl = place(net, cfg) if strict else _own_placement(net, fields, cfg)
    for i, (f, lp) in enumerate(zip(fields, pl.layers)):
        if (f["w_base"], f["state_base"]) != (lp.w_base, lp.state_base):
            raise NetworkError(f"layer {i}: descriptor places weights at {f['w_base']} and state at "
                               f"{f['state_base']}; this driver's layout puts them at {lp.w_base}, {lp.state_base}")
    words = pl.weight_words
    banks = np.array([read(mm.WEIGHT_BASE + 4 * b * cfg.bank_depth, words) for b in range(cfg.banks)],
                     np.uint32).reshape(cfg.banks, words)
    for ly, lp in zip(net.layers, pl.layers):
        w = unpack_weights(ly, lp, banks)
        ly.weights = w[:ly.n_in]
        ly.bias = w[ly.n_in:] if ly.n_bias else None
    return net, pl


def _skeleton(f: dict) -> ChipLayer:
    """A layer with the descriptor's parameters and zero weights (read next)."""
    return ChipLayer(np.zeros((f["n_in"], f["n_out"]), np.int64), bits=f["bits"], beta=f["beta"],
                     theta_high=f["theta_high"], theta_low=f["theta_low"], reset_sub=f["reset_sub"],
                     reset_zero=f["reset_zero"], slots=f["slots"], folds=f["folds"],
                     bias=np.zeros((f["n_bias"], f["n_out"]), np.int64) if f["n_bias"] else None)


def _own_placement(net: ChipNetwork, fields: list[dict], cfg: CoreConfig) -> Placement:
    """The placement the descriptors themselves state (bases included), not the driver's packing."""
    layers = [derive_layer(cfg, ly.n_in, ly.n_out, ly.bits, f["slots"], f["w_base"], f["state_base"], ly.n_bias,
                           f["folds"])
              for ly, f in zip(net.layers, fields)]
    input_words = -(-net.layers[0].n_in // 32)
    return Placement(layers, input_words, -(-input_words // cfg.input_banks))


def read_inputs(read: Reader, net: ChipNetwork, pl: Placement, cfg: CoreConfig, base: int = 0) -> np.ndarray:
    """One inference's input from the input buffer at word ``base`` of every bank (NET's
    input_base): spikes (steps, n_in), or the values (n_in,) of graded input (from their bit
    planes, most significant first)."""
    frames = net.input_frames
    per_bank = frames * pl.input_words_per_bank
    banks = [read(mm.INPUT_BASE + 4 * (b * cfg.input_depth + base), per_bank) for b in range(cfg.input_banks)]
    w = np.arange(pl.input_words)
    out = np.zeros((frames, pl.input_words * 32), bool)
    for t in range(frames):
        words = np.array([banks[k % cfg.input_banks][t * pl.input_words_per_bank + k // cfg.input_banks]
                          for k in w], np.uint64)
        out[t] = ((words[:, None] >> np.arange(32, dtype=np.uint64)) & 1).astype(bool).reshape(-1)
    out = out[:, :net.layers[0].n_in]
    if net.graded:
        weights = 1 << np.arange(frames - 1, -1, -1, dtype=np.int64)
        return (out.astype(np.int64) * weights[:, None]).sum(axis=0)
    return out


__all__ = ["decode_descriptor", "state_membranes", "read_network", "read_inputs"]
