"""Data-calibrated post-training quantization: each layer's rounding chosen by measuring on
calibration samples with the golden model, instead of by a rule on the weights alone.

The rule of :mod:`skyspike.compiler.grid` looks at one layer's weights; what matters is the
network's answers. So, layer by layer (earlier layers already calibrated, later ones still at
the rule), candidates for the layer are quantized and the whole rest of the network is run on
the golden model over the calibration inputs (the layer's input spikes cached from the layers
before it). Score: agreement with the float model's predictions; ties go to the smaller mean
|chip - float| output spike count. Labels, where given, guard and report: no candidate may lower
the accuracy on them (choosing on the labels themselves fitted the calibration samples: MNIST
784-128-10 at 2 bits, 84.8% on the test images against 87.4% on agreement). Per layer, in turn:

1. **scale**: the rule's scale times 0.5 .. 1.6, the ``"max"`` rule's, the threshold-aligned
   ones (at 2 bits, trading clipped outliers for resolution is the big lever);
2. **learned rounding** (2 and 4 bits): each weight rounded up or down to minimize the error of
   the layer's input current on the calibration inputs (AdaRound, :mod:`skyspike.compiler.adaround`),
   at the chosen scale and at the rule's (first round only);
3. **threshold gain**: thresholds and reset multiplied by 0.4 .. 1.6 before rounding, which
   corrects a membrane that rounding and clipping made systematically too weak or too strong;
4. **bias correction**: each neuron's bias minus the mean rounding error of its input current,
   ``sum_i (W_int - W / s)[i, n] * mean input_i`` LSBs, measured on the calibration inputs (layers
   with a bias only: adding bias rows to a layer without costs memory and scan cycles).

A candidate replaces the incumbent only if it scores strictly better (and is no less accurate),
and the uncalibrated network is the first incumbent: the result is never worse than the rule on
the calibration data, in agreement or in accuracy.
"Better" is a sign test on the samples where the two differ: at least ``MARGIN`` more newly right
than newly wrong and ``Z`` standard deviations of those flips, or no net loss and a clearly
smaller count error (choices made on noise, among ~40 candidates, do not carry over to new data). Two rounds: the
second revisits each layer with the later ones calibrated.
Last, the rounding of all layers is learned on the network's loss over the calibration samples
(to answer as the float model does: :func:`skyspike.compiler.adaround.refine_rounding`) and kept
if it scores better.
Cost: about 20 golden runs and two learned roundings per layer, then the network's (seconds to tens of
seconds for a 784-128-10 network on 1,000 samples).
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import dataclass

import numpy as np

from skyspike.chip import golden
from skyspike.chip.network import ChipLayer, ChipNetwork, as_inputs, weight_range
from skyspike.chip.readout import predict
from skyspike.compiler.adaround import MAX_LEARNED_BITS, gram, learn_rounding, refine_rounding
from skyspike.compiler.floatnet import FloatLayer, FloatNetwork, float_inputs, float_reference
from skyspike.compiler.grid import input_scale, layer_scale, layer_where, quantize_layer
from skyspike.errors import InputError, NetworkError

SCALE_FACTORS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6)   # times the rule's scale
GAINS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4, 1.6)                # times the thresholds and reset
ROUNDS = 2
MARGIN, Z = 2, 2.0   # a candidate must win by this many samples and standard deviations (module doc)


def planned_runs(n_layers: int) -> int:
    """About how many golden runs calibration makes (for progress bars): at most this many."""
    per_layer = 1 + len(SCALE_FACTORS) + 3 + len(GAINS) + 2
    return ROUNDS * n_layers * per_layer + 2 * n_layers + 2


@dataclass
class LayerChoice:
    """What calibration chose for one layer."""

    scale: float                  # one weight LSB, float membrane units
    rule_scale: float             # what the uncalibrated rule chose
    gain: float = 1.0             # thresholds and reset multiplied by this before rounding
    bias_shift: np.ndarray | None = None   # LSBs subtracted from each neuron's bias
    weights: np.ndarray | None = None      # learned rounding: the integer weights (else to nearest)
    flipped: float = 0.0                   # the fraction of those rounded the other way
    rounding: str = "layer"                # learned on the layer's input current, or the "network"'s loss

    def describe(self) -> str:
        parts = [f"scale x{self.scale / self.rule_scale:.2f}" if self.scale != self.rule_scale else "scale as rule"]
        if self.weights is not None:
            target = "the network's loss" if self.rounding == "network" else "its input current"
            parts.append(f"rounding learned on {target} ({100 * self.flipped:.1f}% of weights the other way)")
        if self.gain != 1.0:
            parts.append(f"threshold x{self.gain:.2f}")
        if self.bias_shift is not None:
            parts.append(f"bias corrected by {np.abs(self.bias_shift).mean():.2f} LSB (mean)")
        return ", ".join(parts)


@dataclass
class Calibration:
    """The calibrated network and what calibration did: ``before`` / ``after`` are the score
    (``metric``: agreement with the float model) of the uncalibrated and calibrated network on the
    calibration samples; ``accuracy_before`` / ``accuracy_after`` their accuracy, with labels."""

    net: ChipNetwork
    choices: list[LayerChoice]
    metric: str                   # "agreement" (with the float model's predictions)
    before: float
    after: float
    samples: int
    evaluations: int
    seconds: float
    accuracy_before: float | None = None
    accuracy_after: float | None = None

    def lines(self) -> list[str]:
        head = (f"calibration on {self.samples} samples ({self.evaluations} golden runs, {self.seconds:.1f} s): "
                f"{self.metric} {100 * self.before:.1f}% -> {100 * self.after:.1f}%"
                + ("" if self.accuracy_before is None else
                   f", accuracy {100 * self.accuracy_before:.1f}% -> {100 * self.accuracy_after:.1f}%"))
        return [head] + [f"  layer {i}: {c.describe()}" for i, c in enumerate(self.choices)]

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class _Setup:
    """What the search needs besides the candidates: the float layers, their precisions, the
    network's input header (input_mode, input_bits, seed or nothing), the checked inputs and the
    scoring targets."""

    fnet: FloatNetwork
    bits: list[int]
    steps: int
    head: tuple
    inputs: np.ndarray
    target: np.ndarray            # the float model's predictions
    ref_counts: np.ndarray        # the float model's output spike counts
    labels: np.ndarray | None     # the samples' classes, if given

    @property
    def input_bits(self):
        return self.head[1] if self.head else None

    @property
    def input_mode(self):
        return self.head[0] if self.head else "spikes"


def calibration_data(calibrate, net: ChipNetwork) -> tuple[np.ndarray, np.ndarray | None]:
    """``calibrate`` = (inputs, labels or None), checked: inputs as the chip takes them for ``net``
    (:func:`skyspike.chip.network.as_inputs`), labels one integer per sample. InputError otherwise."""
    if not isinstance(calibrate, (tuple, list)) or len(calibrate) != 2:
        raise InputError("calibrate must be a pair (inputs, labels or None): the encoded calibration inputs "
                         "as the chip takes them, and their labels")
    x = as_inputs(calibrate[0], net)
    y = calibrate[1]
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"calibration labels must be integers, one per sample ({len(x)}), got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= net.layers[-1].n_out:
        raise InputError(f"calibration labels must be classes 0..{net.layers[-1].n_out - 1}")
    return x, y


def calibrate_network(fnet: FloatNetwork, net: ChipNetwork, bits: list[int], scales: list[float], inputs,
                      labels=None, *, rounds: int = ROUNDS, progress=None) -> Calibration:
    """Calibrate ``net`` (``fnet`` quantized at ``bits`` with the rule's ``scales``) on checked
    ``inputs`` (and ``labels``; see :func:`calibration_data`); ``progress(n)`` after every n golden runs."""
    t0 = time.time()
    ref = float_reference(fnet, net, inputs)
    head = (net.input_mode, net.input_bits, net.seed) if net.graded else ()
    setup = _Setup(fnet, bits, net.steps, head, inputs, ref[1], ref[0], labels)
    layers = list(net.layers)
    choices = [LayerChoice(s, s) for s in scales]
    state = _Search(setup, net, progress)
    before = state.evaluate(layers, 0, None)
    best = before
    for r in range(rounds):   # a second round revisits each layer with the later ones calibrated
        for i in range(len(layers)):
            best = state.layer(layers, choices, i, best, learn=r == 0)
    best = state.refine(layers, choices, best)
    out = ChipNetwork(layers, net.steps, *head)
    out.check()
    accuracy = (None, None) if labels is None else (float(before[0][3].mean()), float(best[0][3].mean()))
    return Calibration(out, choices, "agreement", before[0][0], best[0][0], len(inputs), state.runs,
                       time.time() - t0, *accuracy)


def _key(ly: ChipLayer) -> tuple:
    """What makes two quantized layers compute the same (to skip duplicate candidates)."""
    bias = None if ly.bias is None else ly.bias.sum(axis=0).tobytes()
    return (ly.weights.tobytes(), bias, ly.theta_high, ly.theta_low, ly.reset_sub)


def _adjusted(ly: FloatLayer, choice: LayerChoice) -> FloatLayer:
    """The float layer with the choice's threshold gain and bias correction applied."""
    g = choice.gain
    bias = ly.bias
    if choice.bias_shift is not None:
        bias = ly.bias - choice.bias_shift * choice.scale
    return dataclasses.replace(ly, theta_high=ly.theta_high * g, theta_low=ly.theta_low * g,
                               reset_sub=ly.reset_sub * g, bias=bias)


class _Search:
    """The per-layer search (module docstring); ``runs`` counts golden runs."""

    def __init__(self, setup: _Setup, net: ChipNetwork, progress=None):
        self.setup, self.progress, self.runs = setup, progress, 0
        layer0 = float_inputs(setup.inputs, net)     # what layer 0 sees, in float input units
        self.mean_input0 = layer0.mean(axis=(0, 1))
        self.spikes0 = None if net.direct else layer0.astype(bool)   # spikes, or the chip's rate coding
        self._key, self._weighted = None, None

    def evaluate(self, layers: list[ChipLayer], start: int, x_in) -> tuple:
        """(score, spikes of layers start.., start): the network from layer ``start`` on its
        input ``x_in`` (layer 0: the calibration inputs). The golden model's own blocks, with
        layer ``start``'s input current kept for candidates that share its weights."""
        s = self.setup
        ly = layers[start]
        cur = self.current(start, ly, x_in)
        state = golden.neuron_init((cur.shape[0], ly.n_out))
        spikes = np.zeros((cur.shape[0], s.steps, ly.n_out), bool)
        for t in range(s.steps):
            state = golden.neuron_step(*state, cur if cur.ndim == 2 else cur[:, t], beta=ly.beta,
                                       theta_high=ly.theta_high, theta_low=ly.theta_low, reset_sub=ly.reset_sub,
                                       reset_zero=ly.reset_zero)
            spikes[:, t] = state[2]
        out, counts, last_v = [spikes], spikes.sum(axis=1), state[0]
        if start + 1 < len(layers):
            r = golden.run(ChipNetwork(layers[start + 1:], s.steps), spikes)
            out, counts, last_v = out + r.spikes, r.counts, r.membranes[-1][:, -1]
        self.runs += 1
        if self.progress:
            self.progress(1)
        pred = predict(counts, last_v)
        right = pred == s.target
        correct = None if s.labels is None else pred == s.labels
        score = (float(np.mean(right)), -float(np.abs(counts - s.ref_counts).mean()), right, correct)
        return score, out, start

    def current(self, i: int, ly: ChipLayer, x_in) -> np.ndarray:
        """Layer i's input current, int (batch, steps, n_out) (a direct input: (batch, n_out),
        the same at every step); the weights' part cached, the bias rows' added."""
        s = self.setup
        direct = i == 0 and s.input_mode == "direct"
        key = (i, ly.weights.tobytes())
        if self._key != key:
            bare = ChipLayer(ly.weights, ly.bits)
            if direct:
                self._weighted = golden.direct_current(s.inputs, bare, s.input_bits)
            else:   # one 2-D product over all samples and steps (numpy's 3-D matmul is far slower)
                x = self.spikes0 if i == 0 else x_in
                flat = golden.synapse_current(x.reshape(-1, x.shape[-1]), golden.synapse_weights(bare))
                self._weighted = flat.reshape(x.shape[0], x.shape[1], -1)
            self._key = key
        if ly.bias is None:
            return self._weighted
        return self._weighted + ly.bias.sum(axis=0) * ((1 << s.input_bits) - 1 if direct else 1)

    def flipped(self, i: int, w_int: np.ndarray, scale: float) -> float:
        """The fraction of layer i's integer weights ``w_int`` not rounded to nearest at ``scale``."""
        lo, hi = weight_range(self.setup.bits[i])
        return float(np.mean(w_int != np.clip(np.rint(self.setup.fnet.layers[i].weight / scale), lo, hi)))

    def refine(self, layers: list[ChipLayer], choices: list[LayerChoice], best: tuple) -> tuple:
        """All layers' rounding learned on the network's loss (module docstring), in place if it
        scores better; returns the new best."""
        s = self.setup
        net = ChipNetwork(layers, s.steps, *s.head)
        weights = refine_rounding(s.fnet, net, s.inputs, s.ref_counts)
        if weights is None:
            return best
        cand = [dataclasses.replace(ly, weights=w) for ly, w in zip(layers, weights)]
        trial = self.evaluate(cand, 0, None)
        if not self.better(trial[0], best[0]):
            return best
        for i, (ly, w) in enumerate(zip(layers, weights)):
            if ly.bits > 1:
                c = choices[i]
                choices[i] = dataclasses.replace(c, weights=w, flipped=self.flipped(i, w, c.scale), rounding="network")
        layers[:] = cand
        return trial

    def better(self, a: tuple, b: tuple) -> bool:
        """Score ``a`` beats ``b`` by more than noise: of the samples where they differ, ``a`` gets
        more right than wrong by at least ``MARGIN`` and ``Z`` standard deviations (a sign test);
        or it loses none on balance and its mean output-count error is over 2% smaller. With
        labels, ``a`` must also get at least as many of them right."""
        if a[3] is not None and a[3].sum() < b[3].sum():
            return False
        won, lost = int(np.sum(a[2] & ~b[2])), int(np.sum(~a[2] & b[2]))
        if won - lost >= max(MARGIN, Z * np.sqrt(won + lost)):
            return True
        return won >= lost and a[1] > 0.98 * b[1] and a[1] > b[1]

    def build(self, i: int, choice: LayerChoice) -> ChipLayer:
        s = self.setup
        ly = s.fnet.layers[i]
        out = quantize_layer(_adjusted(ly, choice), s.bits[i], choice.scale, layer_where(i, ly),
                             input_scale(i, s.input_bits, s.input_mode))
        return out if choice.weights is None else dataclasses.replace(out, weights=choice.weights)

    def learned(self, i: int, scales: list[float], rule: float, x_in) -> list[LayerChoice]:
        """Layer i's weights with learned rounding (:mod:`skyspike.compiler.adaround`) at each of
        ``scales``, on its calibration inputs; none at 1 bit (signs round nowhere) or above
        MAX_LEARNED_BITS."""
        s = self.setup
        bits, ly = s.bits[i], s.fnet.layers[i]
        if bits == 1 or bits > MAX_LEARNED_BITS:
            return []
        x = (s.inputs if s.input_mode == "direct" else self.spikes0) if i == 0 else x_in
        g = gram(x)
        out = []
        for sc in dict.fromkeys(scales):
            w_int = learn_rounding(ly.weight, sc, bits, g)
            out.append(LayerChoice(sc, rule, weights=w_int, flipped=self.flipped(i, w_int, sc)))
        return out

    def scale_candidates(self, i: int, rule_scale: float) -> list[float]:
        ly, bits = self.setup.fnet.layers[i], self.setup.bits[i]
        out = [rule_scale * f for f in SCALE_FACTORS]
        out += [layer_scale(ly, bits, "max"), layer_scale(ly, bits, "mse", align_threshold=True),
                layer_scale(ly, bits, "max", align_threshold=True)]
        return out

    def bias_shifts(self, i: int, layer: ChipLayer, choice: LayerChoice, x_in) -> list[np.ndarray]:
        """The mean rounding error of layer i's input current in LSBs (and half of it)."""
        ly = self.setup.fnet.layers[i]
        if ly.bias is None:
            return []
        mean_in = self.mean_input0 if i == 0 else np.asarray(x_in, np.float64).mean(axis=(0, 1))
        err = mean_in @ (layer.weights - ly.weight / choice.scale)
        return [err, 0.5 * err]

    def layer(self, layers: list[ChipLayer], choices: list[LayerChoice], i: int, best: tuple, learn: bool = True):
        """Search layer i in place (``layers[i]``, ``choices[i]``); returns the new best. ``learn``:
        also try learned rounding (the first round: the network's rounding is learned at the end)."""
        if i > 0 and best[2] > i - 1:   # a later layer's run (an earlier round): layer i's input anew
            best = self.evaluate(layers, 0, None)
        x_in = None if i == 0 else best[1][i - 1 - best[2]]
        seen = {_key(layers[i])}

        def consider(choice: LayerChoice):
            nonlocal best
            try:
                cand = self.build(i, choice)
            except NetworkError:   # e.g. a threshold outside 16 bits at this scale
                return
            if _key(cand) in seen:
                return
            seen.add(_key(cand))
            trial = self.evaluate(layers[:i] + [cand] + layers[i + 1:], i, x_in)
            if self.better(trial[0], best[0]):
                best, layers[i], choices[i] = trial, cand, choice

        rule = choices[i].rule_scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # bias rows clipped by a candidate: its score says what it costs
            for sc in self.scale_candidates(i, rule):
                consider(LayerChoice(sc, rule))
            for choice in (self.learned(i, [choices[i].scale, rule], rule, x_in) if learn else []):
                consider(choice)
            if self.setup.fnet.layers[i].spiking:
                base = choices[i]
                for g in GAINS:
                    consider(dataclasses.replace(base, gain=g))
            base = choices[i]
            for shift in self.bias_shifts(i, layers[i], base, x_in):
                consider(dataclasses.replace(base, bias_shift=shift))
        return best
