"""Quantization: a trained float network -> a :class:`ChipNetwork` in chip integers.

Sources are everything :mod:`skyspike.compiler.model` imports (PyTorch/snnTorch modules, NIR graphs).
Each Linear + neuron pair becomes one :class:`ChipLayer`, rounded onto the chip's grid by the
rules of :mod:`skyspike.compiler.grid` (per-layer scale, weights, biases, thresholds, leak).
With ``calibrate=(inputs, labels)`` the per-layer choices are searched on data with the golden
model instead (:mod:`skyspike.compiler.calibrate`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skyspike.chip.readout import predict
from skyspike.compiler.floatnet import float_inputs
from skyspike.spec.config import check_precision
from skyspike.chip.network import ChipNetwork, NetworkError
from skyspike.compiler.grid import SCALE_RULES, bias_rows, input_scale, layer_scale, layer_where, quantize_layer


def quantize(model, bits: int | list[int] = 4, steps: int = 16, *, scales: list[float | None] | None = None,
             rule: str = "mse", align_threshold: bool = False, input_bits: int | None = None,
             input_mode: str = "direct", seed: int = 1, calibrate=None, **nir_options) -> ChipNetwork:
    """Quantize a trained network (torch module or list, NIR graph or file, FloatNetwork) to a
    :class:`ChipNetwork`: ``bits`` per network or per layer, ``steps`` time steps per
    inference, per-layer ``scales`` overriding ``rule`` and ``align_threshold`` (see
    :func:`layer_scale`; models fine-tuned by :mod:`skyspike.compiler.qat` need ``align_threshold=True``).

    ``input_bits``: the model's first Linear gets the image itself (intensities 0..1) at every
    step, as in snnTorch's tutorials (``cur1 = fc1(x)``): the network becomes a direct-input
    one taking ``input_bits``-bit values (:func:`skyspike.compiler.encode.values`); one float
    input unit is 2**input_bits - 1 integer units, so layer 0's membranes and thresholds are
    counted in s / (2**input_bits - 1). None: the model takes spikes. ``input_mode="rate"``
    instead: a model trained on rate-coded spikes takes the same values and the chip rate codes
    them (with generators seeded by ``seed``); nothing else changes.

    A model fine-tuned on the chip's grid (:mod:`skyspike.compiler.finetune`: its ``grid``) is
    quantized with that grid's scales when ``bits`` are the grid's and ``scales`` is not given.

    ``calibrate=(inputs, labels or None)``: choose each layer's scale, threshold and bias
    correction by measuring on these samples with the golden model (accuracy on ``labels``, or
    agreement with the float model without): :mod:`skyspike.compiler.calibrate`. ``inputs`` are
    encoded as the chip takes them (spikes, or a graded input's values). Never worse than the
    rule on them; :func:`quantize_calibrated` also returns what it chose.

    Raises :class:`NetworkError` (a ValueError) naming the layer for anything the chip cannot
    compute (see :mod:`skyspike.compiler.model`) and for values that do not fit its fields.
    """
    fnet, net, per_layer, used = _quantize(model, bits, steps, scales, rule, align_threshold, input_bits,
                                           input_mode, seed, nir_options)
    if calibrate is None:
        return net
    return _calibrated(fnet, net, per_layer, used, calibrate).net


def quantize_calibrated(model, bits: int | list[int] = 4, steps: int = 16, *, calibrate, progress=None,
                        scales: list[float | None] | None = None, rule: str = "mse", align_threshold: bool = False,
                        input_bits: int | None = None, input_mode: str = "direct", seed: int = 1,
                        **nir_options):
    """:func:`quantize` with ``calibrate`` = (inputs, labels or None), returning the
    :class:`skyspike.compiler.calibrate.Calibration`: the network (``.net``), each layer's
    choice and the score before and after. ``progress(n)``: called after every n golden runs."""
    fnet, net, per_layer, used = _quantize(model, bits, steps, scales, rule, align_threshold, input_bits,
                                           input_mode, seed, nir_options)
    return _calibrated(fnet, net, per_layer, used, calibrate, progress)


def _calibrated(fnet, net, per_layer, used, calibrate, progress=None):
    from skyspike.compiler.calibrate import calibrate_network, calibration_data

    x, y = calibration_data(calibrate, net)
    return calibrate_network(fnet, net, per_layer, used, x, y, progress=progress)


def _quantize(model, bits, steps, scales, rule, align_threshold, input_bits, input_mode, seed, nir_options):
    """(float network, its rule-quantized ChipNetwork, bits per layer, scales used)."""
    from skyspike.compiler.model import load_model

    fnet = load_model(model, **nir_options)
    if input_bits is None and fnet.input_bits is not None:   # the source says its input is graded
        input_bits, input_mode = fnet.input_bits, fnet.input_mode
    n = len(fnet.layers)
    per_layer = list(bits) if isinstance(bits, (list, tuple)) else [bits] * n
    if len(per_layer) != n:
        raise NetworkError(f"bits has {len(per_layer)} entries for {n} layers")
    if scales is not None and len(scales) != n:
        raise NetworkError(f"scales has {len(scales)} entries for {n} layers")
    if scales is None and fnet.grid is not None and fnet.grid["bits"] == per_layer:
        scales = fnet.grid["scales"]   # fine-tuned on exactly this grid: compile it as it was trained
    if input_bits is not None:
        check_precision(input_bits, f"{input_mode} input", NetworkError)
        if input_mode not in ("direct", "rate"):
            raise NetworkError(f"input_mode={input_mode!r}: use 'direct' or 'rate' with input_bits")
    layers, used = [], []
    for i, (ly, b) in enumerate(zip(fnet.layers, per_layer)):
        where = layer_where(i, ly)
        check_precision(b, where, NetworkError)
        s = scales[i] if scales is not None and scales[i] is not None else \
            layer_scale(ly, b, rule, align_threshold=align_threshold)
        layers.append(quantize_layer(ly, b, s, where, input_scale(i, input_bits, input_mode)))
        used.append(s)
    net = ChipNetwork(layers, steps, *((input_mode, input_bits, seed) if input_bits is not None else ()))
    net.check()
    return fnet, net, per_layer, used


def quantize_snntorch(model_or_layers, bits: int = 4, steps: int = 16, *,
                      scales: list[float | None] | None = None) -> ChipNetwork:
    """:func:`quantize` of a torch model with the ``"max"`` scale rule (nothing clips)."""
    return quantize(model_or_layers, bits, steps, scales=scales, rule="max")


@dataclass
class QuantReport:
    float_accuracy: float
    golden_accuracy: float
    agreement: float              # fraction of samples where float and golden predict the same
    count_mae: float              # mean |float - golden| output spike count
    float_prediction: np.ndarray
    golden_prediction: np.ndarray

    def __str__(self) -> str:
        return (f"float {100 * self.float_accuracy:.1f}% vs golden {100 * self.golden_accuracy:.1f}% "
                f"(same prediction on {100 * self.agreement:.1f}%, output count MAE {self.count_mae:.2f})")


def quantization_report(model, net: ChipNetwork, spikes: np.ndarray, labels: np.ndarray, *,
                        batch: int = 2000) -> QuantReport:
    """Float model (anything :func:`skyspike.compiler.model.load_model` takes) vs the golden model of
    its quantized network ``net``, on the same encoded inputs (a direct input's values: the float
    model sees them as intensities, :func:`float_inputs`), in batches of ``batch``."""
    import torch

    from skyspike.chip import golden
    from skyspike.compiler.model import load_model

    fnet = load_model(model)
    fp, gp, mae = [], [], 0.0
    spikes = np.asarray(spikes)
    with torch.no_grad():
        for i in range(0, len(spikes), batch):
            x = spikes[i:i + batch]
            fr = fnet.simulate(float_inputs(x, net), record=False)
            gr = golden.run(net, x)
            fp.append(fr.prediction)
            gp.append(predict(gr.counts, gr.membranes[-1][:, -1]))
            mae += float(np.abs(fr.counts.numpy() - gr.counts).sum()) / gr.counts.shape[1]
    fp, gp = np.concatenate(fp), np.concatenate(gp)
    labels = np.asarray(labels)
    return QuantReport(float(np.mean(fp == labels)), float(np.mean(gp == labels)), float(np.mean(fp == gp)),
                       mae / len(spikes), fp, gp)


def golden_prediction(result) -> np.ndarray:
    """:func:`predict` on anything with ``counts`` and per-layer ``membranes`` (batch, steps, n)
    or ``finals`` (batch, n): a GoldenResult or an RTLResult."""
    finals = getattr(result, "finals", None)
    last = finals[-1] if finals is not None else result.membranes[-1][:, -1]
    return predict(result.counts, last)


__all__ = ["quantize", "quantize_calibrated", "quantize_layer", "layer_scale", "bias_rows", "SCALE_RULES", "quantize_snntorch", "quantization_report", "QuantReport", "golden_prediction"]
