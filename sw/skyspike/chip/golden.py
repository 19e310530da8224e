"""The golden model: the executable spec of the SkySpike core (docs/semantics.md).

Bit-exact with the RTL for spikes, membranes, spike counts and clock cycles, and
vectorized with numpy over a batch of inputs. Every other implementation is tested
against this one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyspike.spec.config import BETA_SHIFT, CoreConfig
from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipNetwork, place

# Cycle costs of the engine's control states (see docs/semantics.md, "Cycles").
START_CYCLES = 1        # the start strobe's own cycle
DONE_CYCLES = 1         # raising done
LAYER_LOAD_CYCLES = 1   # latch one layer's descriptor (per step, per layer)
CHUNK_OVERHEAD = 2      # per chunk: first input-word fetch + last accumulate


def leak(v: np.ndarray, beta: int) -> np.ndarray:
    """beta * v, rounded to nearest (ties up): (v * beta + 128) >> 8, arithmetic shift."""
    return (v * beta + (1 << (BETA_SHIFT - 1))) >> BETA_SHIFT


@dataclass
class GoldenResult:
    spikes: list[np.ndarray]     # per layer: bool (batch, steps, n_out)
    membranes: list[np.ndarray]  # per layer: int (batch, steps, n_out), after the step's update
    counts: np.ndarray           # int (batch, n_out of last layer)
    cycles: np.ndarray | None    # int (batch,), when a CoreConfig was given

    @property
    def final_membranes(self) -> list[np.ndarray]:
        return [m[:, -1] for m in self.membranes]

    @property
    def prediction(self) -> np.ndarray:
        """Class = most output spikes; ties -> the higher final membrane, then the lower index."""
        last_v = self.membranes[-1][:, -1].astype(np.int64)
        score = self.counts.astype(np.int64) * (1 << 17) + (last_v - INT16_MIN)
        return np.argmax(score, axis=1)


def with_bias(bits: np.ndarray, n_bias: int) -> np.ndarray:
    """A layer's input bitmaps (..., n_in) followed by its n_bias always-on bias inputs."""
    if not n_bias:
        return bits
    return np.concatenate([bits, np.ones(bits.shape[:-1] + (n_bias,), bits.dtype)], axis=-1)


def run(net: ChipNetwork, inputs: np.ndarray, cfg: CoreConfig | None = None) -> GoldenResult:
    """Run ``inputs`` (bool/0-1 array (batch, steps, n_in), or (steps, n_in)) through ``net``.

    With ``cfg`` the network is also placed on that core and the exact cycle count of each
    inference is predicted.
    """
    net.check(cfg)
    x = np.asarray(inputs)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != net.steps or x.shape[2] != net.layers[0].n_in:
        raise ValueError(f"inputs must have shape (batch, {net.steps}, {net.layers[0].n_in}), got {x.shape}")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError("inputs must be spikes (0/1 or bool)")
    x = x.astype(bool)
    batch = x.shape[0]

    # float32 BLAS is exact here: every partial sum is an integer below 2**24 (fan-in <= 4096
    # + 32 bias rows, |weight| <= 128), and it is ~50x faster than numpy's integer matmul.
    # Bias rows are ordinary rows of the matrix whose inputs spike at every step.
    weights = [ly.weights_with_bias.astype(np.float32) for ly in net.layers]
    v = [np.zeros((batch, ly.n_out), np.int64) for ly in net.layers]
    armed = [np.ones((batch, ly.n_out), bool) for ly in net.layers]
    fired = [np.zeros((batch, ly.n_out), bool) for ly in net.layers]
    spikes = [np.zeros((batch, net.steps, ly.n_out), bool) for ly in net.layers]
    membranes = [np.zeros((batch, net.steps, ly.n_out), np.int64) for ly in net.layers]
    layer_inputs = [np.zeros((batch, net.steps, ly.n_in), bool) for ly in net.layers]

    for t in range(net.steps):
        s = x[:, t]
        for i, ly in enumerate(net.layers):
            layer_inputs[i][:, t] = s
            current = (with_bias(s, ly.n_bias).astype(np.float32) @ weights[i]).astype(np.int64)
            lk = leak(v[i], ly.beta)
            after_spike = 0 if ly.reset_zero else lk - ly.reset_sub
            base = np.where(fired[i], after_spike, lk)
            v[i] = np.clip(base + current, INT16_MIN, INT16_MAX)
            hysteresis = ly.theta_low < ly.theta_high
            fire = (v[i] >= ly.theta_high) & (armed[i] | (not hysteresis))
            if hysteresis:
                armed[i] = ~fire & (armed[i] | (v[i] < ly.theta_low))
            fired[i] = fire
            spikes[i][:, t] = fire
            membranes[i][:, t] = v[i]
            s = fire

    counts = spikes[-1].sum(axis=1)
    cycles = predict_cycles(net, cfg, layer_inputs) if cfg is not None else None
    return GoldenResult(spikes, membranes, counts, cycles)


def scan_cycles(bits: np.ndarray, slots: int) -> np.ndarray:
    """Cycles the slot scanners need for one input bitmap (batch, n_in + n_bias), bias inputs
    included: the slowest slot's sum over its words (word w belongs to slot w mod slots) of
    max(1, set bits in the word)."""
    batch, n = bits.shape
    words = -(-n // 32)
    padded = np.zeros((batch, words * 32), bool)
    padded[:, :n] = bits
    per_word = np.maximum(1, padded.reshape(batch, words, 32).sum(axis=2))
    per_slot = np.zeros((batch, slots), np.int64)
    for s in range(slots):
        per_slot[:, s] = per_word[:, s::slots].sum(axis=1)
    return per_slot.max(axis=1)


def predict_cycles(net: ChipNetwork, cfg: CoreConfig, layer_inputs: list[np.ndarray]) -> np.ndarray:
    """Exact clock cycles from the start strobe to done (see docs/semantics.md, "Cycles").
    ``layer_inputs``: per layer, its real inputs bool (batch, steps, n_in); the bias inputs
    are added here (the scanners see them as spikes)."""
    pl = place(net, cfg)
    batch = layer_inputs[0].shape[0]
    cycles = np.full(batch, START_CYCLES + len(net.layers) + DONE_CYCLES, np.int64)
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        update = -(-ly.n_out // cfg.update_lanes)
        for t in range(net.steps):
            scan = scan_cycles(with_bias(layer_inputs[i][:, t], ly.n_bias), lp.slots)
            cycles += LAYER_LOAD_CYCLES + lp.chunks * (CHUNK_OVERHEAD + scan) + update
    return cycles


def dense_cycles(net: ChipNetwork, cfg: CoreConfig) -> int:
    """Cycles the same engine would take if every input spiked at every step (a dense scan;
    the bias inputs spike anyway)."""
    ones = [np.ones((1, net.steps, ly.n_in), bool) for ly in net.layers]
    return int(predict_cycles(net, cfg, ones)[0])
