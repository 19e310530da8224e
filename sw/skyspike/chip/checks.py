"""The core's run-time checks of the descriptor table: the golden twin of the engine's VALIDATE
state and :class:`skyspike_hw.descriptor.DescriptorDecode`.

At a start strobe the core checks NET and then the descriptors layer by layer, one layer a
cycle, and stops at the first failing check (in the order of
:class:`skyspike.spec.memmap.RunError`) with the code and the layer in STATUS. This module
computes the same answer from the raw register and descriptor words, so that an emulated core
(:mod:`skyspike.emu.core_model`) reports what the RTL reports for any table, valid or not, and
the regression can check the RTL against it on random tables.
"""
from __future__ import annotations

from dataclasses import dataclass

from skyspike.spec.config import INPUT_MODES, MAX_BIAS_ROWS, PRECISIONS, CoreConfig, lanes_per_bank, log2
from skyspike.spec.layouts import descriptor_fields
from skyspike.spec.memmap import NET, RunError


@dataclass(frozen=True)
class RunCheck:
    """The outcome of the checks: ``code`` 0 (none) or a :class:`RunError`, the ``layer`` it
    concerns, and the ``cycles`` from the start strobe to done when the run stops there."""

    code: int
    layer: int
    cycles: int

    @property
    def ok(self) -> bool:
        return self.code == 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def layer_error(f: dict, cfg: CoreConfig, *, first: bool, last: bool, prev_n_out: int, steps: int,
                input_base: int = 0) -> int:
    """The first failing check of one layer's descriptor fields ``f`` (raw, as
    :func:`skyspike.spec.layouts.descriptor_fields` returns them), or 0. ``input_base``: NET's."""
    n_in, n_out, n_bias = f["n_in"], f["n_out"], f["n_bias"]
    # The input buffer holds a bitmap per step, or per bit plane of graded input.
    if first and (steps == 0 or input_base + input_span(f, steps, cfg) > cfg.input_depth):
        return RunError.BAD_STEPS
    max_in = cfg.max_inputs if first else cfg.max_neurons
    if n_in == 0 or n_out == 0 or n_in > max_in or n_out > cfg.max_neurons:
        return RunError.BAD_SIZE
    if not first and n_in != prev_n_out:
        return RunError.BAD_CHAIN
    if f["theta_low"] > f["theta_high"]:
        return RunError.BAD_THRESHOLD
    if f["beta"] > 256:
        return RunError.BAD_BETA
    if f["slots_log2"] > log2(cfg.max_slots) or f["slots_log2"] + f["fold_log2"] > log2(cfg.banks):
        return RunError.BAD_SLOTS
    # The layer's words per bank, as the placement derives them (docs/semantics.md).
    bits = PRECISIONS[f["bits_code"]]
    slots, fold = 1 << f["slots_log2"], 1 << f["fold_log2"]
    chunk = (cfg.banks // slots // fold) * lanes_per_bank(bits)
    subwords = 32 // (bits * lanes_per_bank(bits))
    rows = _ceil_div(_ceil_div(n_in + n_bias, 32), slots) * 32 // fold
    if f["w_base"] + _ceil_div(_ceil_div(n_out, chunk), subwords) * rows > cfg.bank_depth:
        return RunError.WEIGHT_OVERFLOW
    if f["state_base"] % cfg.update_lanes or f["state_base"] + n_out > cfg.state_neurons:
        return RunError.STATE_OVERFLOW
    if last and n_out > cfg.max_outputs:
        return RunError.BAD_OUTPUTS
    if n_bias > MAX_BIAS_ROWS:
        return RunError.BAD_BIAS
    if f["in_mode"] > 2 or (not first and f["in_mode"] != 0):
        return RunError.BAD_INPUT
    return 0


def input_span(f: dict, steps: int, cfg: CoreConfig) -> int:
    """Input-buffer words per bank a run reads from NET.input_base, for layer 0's descriptor
    fields ``f``: its frames (steps, or graded input's bit planes) x its words per bank (what
    the core locks against writes while it runs)."""
    graded = INPUT_MODES[f["in_mode"]] != "spikes" if f["in_mode"] < len(INPUT_MODES) else False
    frames = PRECISIONS[f["in_bits_code"]] if graded else steps
    return frames * _ceil_div(_ceil_div(f["n_in"], 32), cfg.input_banks)


def run_check(net_word: int, table, cfg: CoreConfig) -> RunCheck:
    """The checks of a run started with NET = ``net_word`` and descriptor table ``table``
    (per layer entry, its words; entries past the table read 0). Cycles: the start strobe,
    one VALIDATE cycle per layer checked, the three cycles of the failing layer's registered
    check (inputs, operands and result registered), and the cycle that raises done (a bad layer count: start,
    VALIDATE, done)."""
    net = NET.unpack(net_word)
    n_layers, steps = net["n_layers"], net["steps"]
    if n_layers == 0 or n_layers > cfg.max_layers:
        return RunCheck(RunError.BAD_LAYER_COUNT, 0, 3)
    prev_n_out = 0
    for layer in range(n_layers):
        words = list(table[layer]) if layer < len(table) else []
        f = descriptor_fields(words + [0] * (8 - len(words)))
        code = layer_error(f, cfg, first=layer == 0, last=layer == n_layers - 1, prev_n_out=prev_n_out, steps=steps,
                           input_base=net["input_base"])
        if code:
            return RunCheck(int(code), layer, layer + 6)
        prev_n_out = f["n_out"]
    return RunCheck(0, 0, 0)


__all__ = ["RunCheck", "run_check", "layer_error", "input_span"]
