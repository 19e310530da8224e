"""Random networks and inputs for the regression and the soak (seeded, reproducible)."""
from __future__ import annotations

import numpy as np

from skyspike.spec.config import MAX_BIAS_ROWS, PRECISIONS, CoreConfig
from skyspike.chip.network import INT16_MAX, INT16_MIN, ChipLayer, ChipNetwork, NetworkError, weight_range


def random_weights(rng: np.random.Generator, n_in: int, n_out: int, bits: int) -> np.ndarray:
    lo, hi = weight_range(bits)
    if bits == 1:
        return rng.choice(np.array([-1, 1]), size=(n_in, n_out))
    return rng.integers(lo, hi + 1, size=(n_in, n_out))


def random_bias_rows(rng: np.random.Generator) -> int:
    """Bias rows of a random layer: none in half of the layers, usually a few, sometimes up
    to the limit (so that they fill a word, or cross into the next one)."""
    r = rng.random()
    if r < 0.5:
        return 0
    if r < 0.85:
        return int(rng.integers(1, 7))
    return int(rng.choice([MAX_BIAS_ROWS, MAX_BIAS_ROWS - 1, int(rng.integers(7, MAX_BIAS_ROWS + 1))]))


def random_size(rng: np.random.Generator, cap: int) -> int:
    """A layer size in 1..cap; now and then a multiple of 32 (bias rows start a new word) or
    just below one (bias rows cross into the next word)."""
    r = rng.random()
    if r < 0.15 and cap >= 32:
        return 32 * int(rng.integers(1, cap // 32 + 1))
    if r < 0.25 and cap >= 32:
        return 32 * int(rng.integers(1, cap // 32 + 1)) - int(rng.integers(1, 4))
    return int(rng.integers(1, cap + 1))


def random_layer(rng: np.random.Generator, cfg: CoreConfig, n_in: int, n_out: int, flavour: str) -> ChipLayer:
    bits = int(rng.choice(PRECISIONS))
    w = random_weights(rng, n_in, n_out, bits)
    lo, hi = weight_range(bits)
    if rng.random() < 0.5:  # excitatory-leaning layers, so that deep layers still spike
        w = np.where((w < 0) & (rng.random(w.shape) < 0.6), -w if bits > 1 else 1, w).clip(lo, hi)
    # A threshold near the typical current of a few input spikes keeps layers active.
    typical = max(1, int(hi * np.sqrt(max(1, n_in)) * rng.uniform(0.02, 0.6)))
    if flavour == "saturate":   # membranes pinned at the rails; thresholds at the extremes
        th = int(rng.choice([INT16_MAX, INT16_MIN + 1, INT16_MAX - 1]))
    else:
        th = int(rng.integers(-2, typical + 1)) if rng.random() < 0.1 else typical
    th = int(np.clip(th, INT16_MIN, INT16_MAX))
    hysteresis = rng.random() < 0.6
    tl = int(np.clip(th - rng.integers(1, max(2, typical)), INT16_MIN, INT16_MAX)) if hysteresis else th
    beta = int(rng.choice([256, 0, 128, int(rng.integers(0, 257))]))
    reset_sub = th if rng.random() < 0.7 else int(rng.integers(INT16_MIN, INT16_MAX + 1))
    n_bias = random_bias_rows(rng)
    bias = random_weights(rng, n_bias, n_out, bits) if n_bias or rng.random() < 0.1 else None
    if flavour == "saturate":
        w = np.full_like(w, hi if rng.random() < 0.5 else weight_range(bits)[0])
        if bias is not None:
            bias = np.full_like(bias, w.flat[0])
        beta = 256
    slots = None if rng.random() < 0.5 else int(rng.choice([1 << j for j in range(cfg.max_slots.bit_length())]))
    # Now and then an explicit fold count (any the slot group allows, even one that splits the
    # layer into more chunks); otherwise the placement folds narrow layers itself.
    folds = None
    if slots is not None and rng.random() < 0.25:
        folds = 1 << int(rng.integers(0, (cfg.banks // slots).bit_length()))
    return ChipLayer(w, bits=bits, beta=beta, theta_high=th, theta_low=min(tl, th), reset_sub=reset_sub,
                     reset_zero=bool(rng.random() < 0.4), slots=slots, bias=bias, folds=folds)


def random_network(rng: np.random.Generator, cfg: CoreConfig, max_layers: int | None = None,
                   max_steps: int = 8, max_width: int | None = None) -> ChipNetwork:
    """A random network that fits ``cfg`` (random sizes, precisions, betas, thresholds,
    hysteresis on and off, reset modes, slot counts, folds, bias rows; sometimes saturating;
    sometimes narrow layers, which the placement folds).
    ``max_width`` caps layer sizes (to keep slow simulations of big configurations short)."""
    top = min(cfg.max_layers, max_layers or cfg.max_layers)
    for _ in range(1000):
        n_layers = int(rng.integers(1, top + 1))
        flavour = "saturate" if rng.random() < 0.1 else "normal"
        cap = max_width or cfg.max_inputs
        sizes = [random_size(rng, min(cap, cfg.max_inputs))]
        for i in range(n_layers):
            limit = cfg.max_outputs if i == n_layers - 1 else cfg.max_neurons
            narrow = rng.random() < 0.2   # a few neurons: the layer's rows are folded
            sizes.append(int(rng.integers(1, min(cap, limit, 16) + 1)) if narrow else random_size(rng, min(cap, limit)))
        layers = [random_layer(rng, cfg, sizes[i], sizes[i + 1], flavour) for i in range(n_layers)]
        net = ChipNetwork(layers, steps=int(rng.integers(1, max_steps + 1)))
        mode = rng.random()
        if mode < 0.25:
            make_direct(net, int(rng.choice(PRECISIONS)), rng)
        elif mode < 0.45:
            net.input_mode, net.input_bits = "rate", int(rng.choice(PRECISIONS))
            net.seed = int(rng.choice([0, 1, 0xFFFF_FFFF, int(rng.integers(0, 1 << 32))]))
        try:
            net.check(cfg)
        except NetworkError:
            continue
        return net
    raise RuntimeError("could not draw a network that fits the configuration")


def make_direct(net: ChipNetwork, bits: int, rng: np.random.Generator) -> None:
    """Turn ``net`` into a direct-input network of ``bits``-bit values, layer 0's thresholds
    scaled by a typical value so that it still spikes (saturating ones stay at the rails)."""
    net.input_mode, net.input_bits = "direct", bits
    ly = net.layers[0]
    gain = max(1, int(rng.integers(1, (1 << bits) // 2 + 2)))
    for name in ("theta_high", "theta_low", "reset_sub"):
        setattr(ly, name, int(np.clip(getattr(ly, name) * gain, INT16_MIN, INT16_MAX)))


def random_inputs(rng: np.random.Generator, net: ChipNetwork, batch: int = 1, density: float | None = None):
    """Input spikes (batch, steps, n_in) at a random (or given) density in 0..1; for a
    graded-input network its values (batch, n_in): that fraction non-zero (all full-scale at 1)."""
    if density is None:
        density = float(rng.choice([0.0, 1.0, rng.uniform(0, 1), rng.uniform(0, 0.2)], p=[0.05, 0.1, 0.6, 0.25]))
    n_in = net.layers[0].n_in
    if net.graded:
        top = (1 << net.input_bits) - 1
        values = np.full((batch, n_in), top) if density == 1.0 else rng.integers(1, top + 1, size=(batch, n_in))
        return np.where(rng.random((batch, n_in)) < density, values, 0)
    return rng.random((batch, net.steps, n_in)) < density


def closure_networks(rng: np.random.Generator, cfg: CoreConfig) -> list[tuple[ChipNetwork, np.ndarray]]:
    """Directed cases that hit every functional-coverage bin of :mod:`skyspike.chip.coverage`
    that random networks may miss: every layer configuration (precision x slots x reset x
    hysteresis x bias rows, four per network), both membrane rails, input density 0 and 1, direct
    and rate-coded input of every width.
    Returns (network, inputs (batch, steps, n_in)) pairs."""
    from skyspike.chip.coverage import slot_counts

    combos = [(b, s, z, h, c) for b in PRECISIONS for s in slot_counts(cfg) for z in (False, True)
              for h in (False, True) for c in (False, True)]
    width = min(8, cfg.max_outputs)   # four layers of any precision and slots fit 256 words a bank
    cases = []
    for i in range(0, len(combos), 4):
        layers, n_in = [], min(24, cfg.max_inputs)
        for bits, slots, zero, hyst, bias in combos[i:i + 4]:
            lo, hi = weight_range(bits)
            w = random_weights(rng, n_in, width, bits)
            th = max(1, int(hi * np.sqrt(n_in) * 0.3))
            layers.append(ChipLayer(w, bits=bits, beta=int(rng.integers(128, 257)), theta_high=th,
                                    theta_low=th - max(1, th // 3) if hyst else th, reset_zero=zero, slots=slots,
                                    bias=random_weights(rng, int(rng.integers(1, 4)), width, bits) if bias else None))
            n_in = width
        net = ChipNetwork(layers, steps=6)
        x = np.stack([np.zeros((6, layers[0].n_in), bool), np.ones((6, layers[0].n_in), bool),
                      rng.random((6, layers[0].n_in)) < 0.3])
        cases.append((net, x))
    for mode in ("direct", "rate"):   # graded input of every width: values, sent once
        for bits in PRECISIONS:
            top = (1 << bits) - 1
            gain = top if mode == "direct" else 1
            layers = [ChipLayer(random_weights(rng, 40, 12, 4), bits=4, theta_high=6 * gain, theta_low=2 * gain,
                                bias=random_weights(rng, 2, 12, 4)),
                      ChipLayer(random_weights(rng, 12, width, 2), bits=2, theta_high=2)]
            net = ChipNetwork(layers, steps=4, input_mode=mode, input_bits=bits, seed=int(rng.integers(0, 1 << 32)))
            x = np.stack([rng.integers(0, top + 1, 40), np.full(40, top), np.zeros(40, int)])
            cases.append((net, x))
    for sign in (1, -1):   # one layer driven into each rail: full-scale weights, no leak, every input on
        n_in = min(cfg.max_inputs, 64)
        w = np.full((n_in, width), 127 * sign if sign > 0 else -128)
        layer = ChipLayer(w, bits=8, beta=256, theta_high=INT16_MAX, theta_low=INT16_MAX, reset_sub=0)
        cases.append((ChipNetwork([layer], steps=8), np.ones((1, 8, n_in), bool)))
    return cases
