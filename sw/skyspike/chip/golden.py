"""The golden model: the executable spec of the SkySpike core (docs/semantics.md).

Bit-exact with the RTL for spikes, membranes, spike counts and clock cycles, and
vectorized with numpy over a batch of inputs. Every other implementation is tested
against this one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyspike.spec.config import BETA_SHIFT, RATE_GENERATORS, RATE_SEED_MIX, CoreConfig
from skyspike.chip.network import (INT16_MAX, INT16_MIN, ChipNetwork, LayerPlacement, as_inputs, derive_layer,
                                   input_bitmaps, place)

# Cycle costs of the engine's control states (see docs/semantics.md, "Cycles").
START_CYCLES = 1        # the start strobe's own cycle
VERDICT_CYCLES = 3      # after one descriptor check per layer: the last check's three register stages
DONE_CYCLES = 2         # the last neuron update written (flush), raising done
LAYER_LOAD_CYCLES = 1   # latch one layer's descriptor (per step, per layer)
CHUNK_OVERHEAD = 6      # per chunk: start, first input word in flight, last event's address, weights read,
                        # registered, merged (per bit plane of a direct input at step 0)
STORED_CHUNK_CYCLES = 1  # per chunk of a direct-input layer 0 after step 0: start (its current is stored)
ENCODE_OVERHEAD = 4     # per step of a rate-coded layer 0, besides one cycle per word row and plane: the
                        # encoder's start, the reads' two cycles of latency, the last compare
_U32 = 0xFFFF_FFFF


def leak(v: np.ndarray, beta: int) -> np.ndarray:
    """beta * v, rounded to nearest (ties up): (v * beta + 128) >> 8, arithmetic shift."""
    return (v * beta + (1 << (BETA_SHIFT - 1))) >> BETA_SHIFT


# -- the blocks' reference behaviour (the RTL block tests compare against these) -------------

def neuron_init(shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The state (V, armed, fired) of every neuron at the start of an inference: 0, armed,
    not fired (what the neuron lanes use at step 0 instead of the stored state)."""
    return np.zeros(shape, np.int64), np.ones(shape, bool), np.zeros(shape, bool)


def neuron_step(v, armed, fired, current, *, beta, theta_high, theta_low, reset_sub, reset_zero):
    """One time step of Schmitt neurons (docs/semantics.md), elementwise on arrays (the
    parameters may be scalars or arrays): leak, reset after a spike, integrate, saturate to
    16 bits, then the hysteresis trigger. Returns the new (V, armed, fired)."""
    lk = leak(np.asarray(v, np.int64), np.asarray(beta, np.int64))
    after_spike = np.where(reset_zero, 0, lk - np.asarray(reset_sub, np.int64))
    base = np.where(fired, after_spike, lk)
    v = np.clip(base + np.asarray(current, np.int64), INT16_MIN, INT16_MAX)
    # theta_low == theta_high: no hysteresis, a plain comparator that stays armed.
    hysteresis = np.asarray(theta_low) < np.asarray(theta_high)
    fire = (v >= theta_high) & (armed | ~hysteresis)
    armed = np.where(hysteresis, ~fire & (armed | (v < theta_low)), True)
    return v, armed, fire


def synapse_weights(ly) -> np.ndarray:
    """A layer's (n_in + n_bias, n_out) weights as :func:`synapse_current` takes them."""
    return ly.weights_with_bias.astype(np.float32)


def synapse_current(inputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The synaptic currents the accumulators hold after a scan: for each neuron, the sum of
    its weights over the inputs that spiked (bias inputs included). ``inputs`` bool
    (..., n_in + n_bias); ``weights`` (n_in + n_bias, n_out), integers (any dtype)."""
    # float32 BLAS is exact here: every partial sum is an integer below 2**24 (fan-in <= 4096
    # + 32 bias rows, |weight| <= 128), and it is ~50x faster than numpy's integer matmul.
    return (np.asarray(inputs).astype(np.float32) @ np.asarray(weights, np.float32)).astype(np.int64)


def direct_current(values: np.ndarray, ly, bits: int) -> np.ndarray:
    """Layer 0's current for direct input ``values`` int (batch, n_in) of ``bits`` bits, the
    same at every step: sum_i x_i W[i][n], the bias inputs having the full-scale value
    2**bits - 1. int64 (batch, n_out); float64 BLAS is exact (every sum is below 2**53)."""
    x = np.asarray(values, np.float64)
    full = np.full(x.shape[:-1] + (ly.n_bias,), (1 << bits) - 1, np.float64)
    return (np.concatenate([x, full], axis=-1) @ ly.weights_with_bias.astype(np.float64)).astype(np.int64)


def xorshift32(state: int) -> int:
    """One step of the rate encoder's generators: Marsaglia's xorshift32 (13, 17, 5)."""
    state ^= (state << 13) & _U32
    state ^= state >> 17
    return state ^ ((state << 5) & _U32)


def rate_seeds(seed: int) -> list[int]:
    """The generators' states at the start of a run (docs/semantics.md, "Inputs")."""
    return [(seed ^ (RATE_SEED_MIX * (k + 1))) & _U32 or 1 for k in range(RATE_GENERATORS)]


def rate_levels(seed: int, steps: int, n_in: int, bits: int) -> np.ndarray:
    """The random levels r_i(t) a rate-coded input is compared with: int (steps, n_in), each
    in 0 .. 2**bits - 1. Generator k serves input words w = 4j + k; at each step, for each
    word row j and bit plane p (most significant first) every generator steps once, and bit
    c of its word is bit bits - 1 - p of the level of input 32w + c."""
    rows = -(-(-(-n_in // 32)) // RATE_GENERATORS)
    state = rate_seeds(seed)
    words = np.zeros((steps, rows, bits, RATE_GENERATORS), np.uint64)
    for t in range(steps):
        for j in range(rows):
            for p in range(bits):
                state = [xorshift32(g) for g in state]
                words[t, j, p] = state
    bit = (words[..., None] >> np.arange(32, dtype=np.uint64)) & 1          # (t, j, p, k, c)
    weight = (1 << np.arange(bits - 1, -1, -1, dtype=np.uint64))[None, None, :, None, None]
    levels = (bit * weight).sum(axis=2)                                      # (t, j, k, c)
    return levels.reshape(steps, -1)[:, :n_in].astype(np.int64)


def rate_spikes(values: np.ndarray, net: ChipNetwork) -> np.ndarray:
    """Layer 0's spikes from rate-coded input ``values`` int (batch, n_in): bool (batch, steps,
    n_in), input i spiking at step t when r_i(t) < x_i (probability x_i / 2**bits)."""
    levels = rate_levels(net.seed, net.steps, net.layers[0].n_in, net.input_bits)
    return levels[None] < np.asarray(values, np.int64)[:, None, :]


def layer_placement(cfg: CoreConfig, n_in: int, n_out: int, bits: int, slots: int, w_base: int = 0,
                    state_base: int = 0, n_bias: int = 0, fold: int = 1) -> LayerPlacement:
    """The placement of one layer with these descriptor fields on ``cfg`` (what the
    descriptor decoder derives; :func:`skyspike.chip.network.place` does it for every layer
    of a network, with its checks), whether or not the layer fits."""
    return derive_layer(cfg, n_in, n_out, bits, slots, w_base, state_base, n_bias, fold)


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
    """Run ``inputs`` through ``net``: spikes, bool/0-1 (batch, steps, n_in) or (steps, n_in);
    for a direct-input network its values, int (batch, n_in) or (n_in,) (``as_inputs``).

    With ``cfg`` the network is also placed on that core and the exact cycle count of each
    inference is predicted.
    """
    net.check(cfg)
    x = as_inputs(inputs, net)
    batch = x.shape[0]
    # A direct input is layer 0's constant current; spikes are its input at each step
    # (rate-coded input: the spikes the chip draws).
    fixed = direct_current(x, net.layers[0], net.input_bits) if net.direct else None
    if net.input_mode == "rate":
        x = rate_spikes(x, net)

    weights = [synapse_weights(ly) for ly in net.layers]
    state = [neuron_init((batch, ly.n_out)) for ly in net.layers]
    spikes = [np.zeros((batch, net.steps, ly.n_out), bool) for ly in net.layers]
    membranes = [np.zeros((batch, net.steps, ly.n_out), np.int64) for ly in net.layers]
    layer_inputs = [np.zeros((batch, net.steps, ly.n_in), bool) for ly in net.layers]

    for t in range(net.steps):
        s = None if net.direct else x[:, t]
        for i, ly in enumerate(net.layers):
            if i == 0 and fixed is not None:
                current = fixed
            else:
                layer_inputs[i][:, t] = s
                current = synapse_current(with_bias(s, ly.n_bias), weights[i])
            state[i] = neuron_step(*state[i], current, beta=ly.beta, theta_high=ly.theta_high,
                                   theta_low=ly.theta_low, reset_sub=ly.reset_sub, reset_zero=ly.reset_zero)
            v, _, fire = state[i]
            spikes[i][:, t] = fire
            membranes[i][:, t] = v
            s = fire

    counts = spikes[-1].sum(axis=1)
    if net.direct:   # the scanners read the values' bit planes, once
        layer_inputs[0] = input_bitmaps(x, net)
    cycles = predict_cycles(net, cfg, layer_inputs) if cfg is not None else None
    return GoldenResult(spikes, membranes, counts, cycles)


def slot_words(bits: np.ndarray) -> np.ndarray:
    """An input bitmap bool (..., n) as its 32-bit words' bits bool (..., ceil(n / 32), 32)."""
    n = bits.shape[-1]
    words = -(-n // 32)
    padded = np.zeros(bits.shape[:-1] + (words * 32,), bool)
    padded[..., :n] = bits
    return padded.reshape(bits.shape[:-1] + (words, 32))


def slot_scan_cycles(bits: np.ndarray, slots: int) -> np.ndarray:
    """Cycles each slot scanner is active for an input bitmap bool (batch, n_in + n_bias),
    bias inputs included: int (batch, slots), the sum over the slot's words (word w belongs
    to slot w mod slots) of max(1, set bits in the word)."""
    per_word = np.maximum(1, slot_words(bits).sum(axis=-1))
    per_slot = np.zeros((bits.shape[0], slots), np.int64)
    for s in range(slots):
        per_slot[:, s] = per_word[:, s::slots].sum(axis=1)
    return per_slot


def slot_events(bits: np.ndarray, slots: int, slot: int) -> list[int]:
    """The events of one slot scanner, in order, for one bitmap bool (n_in + n_bias,): the
    rows (w // slots) * 32 + b of the set bits b of its words w, lowest bit first."""
    words = slot_words(np.asarray(bits, bool))
    return [(w // slots) * 32 + int(b) for w in range(slot, words.shape[0], slots)
            for b in np.flatnonzero(words[w])]


def scan_cycles(bits: np.ndarray, slots: int) -> np.ndarray:
    """Cycles the slot scanners need for one input bitmap (batch, n_in + n_bias): the slowest
    slot's (:func:`slot_scan_cycles`)."""
    return slot_scan_cycles(bits, slots).max(axis=1)


def predict_cycles(net: ChipNetwork, cfg: CoreConfig, layer_inputs: list[np.ndarray]) -> np.ndarray:
    """Exact clock cycles from the start strobe to done (see docs/semantics.md, "Cycles").
    ``layer_inputs``: per layer, its real inputs bool (batch, steps, n_in) -- for a direct
    input, layer 0's bit planes (batch, input_bits, n_in) instead; for a rate-coded one its
    spikes; the bias inputs are added here (the scanners see them as spikes)."""
    pl = place(net, cfg)
    batch = layer_inputs[0].shape[0]
    cycles = np.full(batch, START_CYCLES + len(net.layers) + VERDICT_CYCLES + DONE_CYCLES, np.int64)
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        update = -(-ly.n_out // cfg.update_lanes)
        if i == 0 and net.input_mode == "rate":   # every step: encode, then scan the spikes
            cycles += net.steps * (pl.input_words_per_bank * net.input_bits + ENCODE_OVERHEAD)
        if i == 0 and net.direct:
            # Step 0 scans every bit plane per chunk; later steps add the stored current.
            planes = sum(scan_cycles(with_bias(layer_inputs[0][:, f], ly.n_bias), lp.slots)
                         for f in range(net.input_bits))
            cycles += LAYER_LOAD_CYCLES + lp.chunks * (CHUNK_OVERHEAD * net.input_bits + planes) + update
            cycles += (net.steps - 1) * (LAYER_LOAD_CYCLES + lp.chunks * STORED_CHUNK_CYCLES + update)
            continue
        for t in range(net.steps):
            scan = scan_cycles(with_bias(layer_inputs[i][:, t], ly.n_bias), lp.slots)
            cycles += LAYER_LOAD_CYCLES + lp.chunks * (CHUNK_OVERHEAD + scan) + update
    return cycles


def dense_cycles(net: ChipNetwork, cfg: CoreConfig) -> int:
    """Cycles the same engine would take if every input spiked at every step (a dense scan;
    the bias inputs spike anyway)."""
    ones = [np.ones((1, net.steps, ly.n_in), bool) for ly in net.layers]
    if net.direct:   # (rate: every input spiking at every step)
        ones[0] = np.ones((1, net.input_bits, net.layers[0].n_in), bool)
    return int(predict_cycles(net, cfg, ones)[0])
