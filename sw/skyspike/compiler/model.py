"""Import trained networks from PyTorch / snnTorch / NIR as a
:class:`skyspike.compiler.floatnet.FloatNetwork` (float, the chip's semantics, no rounding:
what :func:`skyspike.compiler.quantize.quantize` maps onto the chip's integers).

Sources:

* :func:`from_torch`: an ``nn.Sequential`` (or list) of ``nn.Linear`` (with or without bias)
  followed by ``snntorch.Leaky`` or :class:`skyspike.compiler.neurons.Schmitt`; ``nn.Flatten`` first,
  ``nn.Identity`` / ``nn.Dropout`` anywhere (inference no-ops).
* :func:`skyspike.compiler.nirgraph.from_nir`: a ``nir.NIRGraph`` or a NIR HDF5 file.
* :func:`load_model`: any of the above, or a path to a NIR file.

Per-neuron thresholds (and NIR's per-neuron input resistance) are folded exactly into the
weight columns, so every neuron of a layer shares the chip's one threshold; per-neuron beta
cannot be folded and is rejected. Everything the chip cannot compute raises
:class:`skyspike.chip.network.NetworkError` naming the layer and the limit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from skyspike.chip.network import NetworkError
from skyspike.compiler.floatnet import FloatLayer, FloatNetwork
from skyspike.compiler.nirgraph import NIR_DT, NIR_OPTIONS, check_nir_options, from_nir, read_grid
from skyspike.compiler.params import as_array, check_weight, fold_thresholds, per_neuron, uniform



# -- PyTorch / snnTorch ---------------------------------------------------------------------

def _modules(model_or_layers) -> list[tuple[str, object]]:
    import torch.nn as nn
    if isinstance(model_or_layers, nn.Sequential):
        return list(model_or_layers.named_children())
    if isinstance(model_or_layers, nn.Module):
        children = list(model_or_layers.named_children())
        return children if children else [(type(model_or_layers).__name__, model_or_layers)]
    return [(str(i), m) for i, m in enumerate(model_or_layers)]


def _leaky_params(lif, n: int, where: str):
    """(beta, thresholds per neuron, reset_zero) of an snn.Leaky, or NetworkError."""
    mech = int(lif.reset_mechanism_val)
    if mech == 2:
        raise NetworkError(f"{where}: reset_mechanism='none' is not supported (use 'subtract' or 'zero')")
    if mech not in (0, 1):
        raise NetworkError(f"{where}: unknown reset mechanism {mech}")
    if getattr(lif, "inhibition", False):
        raise NetworkError(f"{where}: inhibition=True is not supported")
    if getattr(lif, "state_quant", False):
        raise NetworkError(f"{where}: state_quant is not supported (the chip has its own integers)")
    if not getattr(lif, "reset_delay", True):
        raise NetworkError(f"{where}: reset_delay=False is not supported (the chip resets at the next step)")
    gsf = getattr(lif, "graded_spikes_factor", None)
    if gsf is not None and np.any(as_array(gsf, "graded_spikes_factor", where) != 1.0):
        raise NetworkError(f"{where}: graded spikes (graded_spikes_factor != 1) are not supported")
    beta = uniform(as_array(lif.beta, "beta", where), n, "beta", where,
                    "Train with one beta per layer (a scalar, learn_beta=True is fine).")
    thr = per_neuron(as_array(lif.threshold, "threshold", where), n, "threshold", where)
    return min(max(beta, 0.0), 1.0), thr, mech == 1


def _schmitt_layer(m, w, b, name: str, where: str) -> FloatLayer:
    """The FloatLayer of a :class:`~skyspike.compiler.neurons.Schmitt` after weights ``w``."""
    # NaN/inf are refused naming the layer (_array); a finite learned beta is clamped to 0..1.
    values = {f: float(as_array(getattr(m, f), f, where).ravel()[0]) for f in ("beta", "theta_high", "theta_low",
                                                                              "reset_sub")}
    values["beta"] = min(max(values["beta"], 0.0), 1.0)
    return FloatLayer(w, b, values["beta"], values["theta_high"], values["theta_low"], values["reset_sub"],
                      reset_zero=m.reset_mechanism == "zero", strict=False, name=name)


#: Module class names that hold a recurrent state the chip does not have.
RECURRENT = ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RLeaky", "RSynaptic")


def _unsupported_kind(m) -> str:
    """What a module the importer does not take is, for the error message."""
    import torch.nn as nn

    name = type(m).__name__
    if "Conv" in name:
        return "convolutions"
    if name in RECURRENT:
        return "recurrent layers"
    if isinstance(m, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU, nn.Softmax, nn.ELU, nn.SiLU)):
        return f"activation functions ({name}: not a spiking neuron)"
    return f"{name} modules"


def from_torch(model_or_layers) -> FloatNetwork:
    """Import Linear + (snn.Leaky | Schmitt) pairs; see the module docstring."""
    import snntorch as snn
    import torch.nn as nn

    from skyspike.compiler.neurons import Schmitt

    layers: list[FloatLayer] = []
    pending = None
    mods = _modules(model_or_layers)
    for name, m in mods:
        where = f"module {name!r} ({type(m).__name__})"
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(m, nn.Flatten) and not layers and pending is None:
            continue
        if isinstance(m, nn.Linear):
            if pending is not None:
                raise NetworkError(f"{where}: two Linear layers without a spiking neuron between them "
                                   f"(after module {pending[0]!r}); fold them into one Linear")
            pending = (name, m)
            continue
        if isinstance(m, (snn.Leaky, Schmitt)):
            if pending is None:
                raise NetworkError(f"{where}: a neuron layer must follow a Linear layer")
            lin_name, lin = pending
            pending = None
            lwhere = f"layer {len(layers)} (Linear {lin_name!r})"
            w = check_weight(as_array(lin.weight, "weight", lwhere), lwhere).T
            b = None if lin.bias is None else as_array(lin.bias, "bias", lwhere)
            if layers and w.shape[0] != layers[-1].n_out:
                raise NetworkError(f"{lwhere}: {w.shape[0]} inputs do not chain with the previous "
                                   f"layer's {layers[-1].n_out} neurons")
            if isinstance(m, Schmitt):
                layers.append(_schmitt_layer(m, w, b, name, f"layer {len(layers)} (Schmitt {name!r})"))
            else:
                beta, thr, zero = _leaky_params(m, w.shape[1], f"layer {len(layers)} (Leaky {name!r})")
                w, b, t = fold_thresholds(w, b, thr, f"layer {len(layers)} (Leaky {name!r})")
                layers.append(FloatLayer(w, b, beta, t, t, t, reset_zero=zero, strict=True, name=name))
            continue
        kind = _unsupported_kind(m)
        raise NetworkError(f"{where}: {kind} are not supported; the chip runs chains of fully connected "
                           f"layers (nn.Linear followed by snn.Leaky or skyspike.compiler.neurons.Schmitt)")
    if pending is not None:
        raise NetworkError(f"module {pending[0]!r} (Linear): the last Linear layer has no neuron layer after it")
    if not layers:
        raise NetworkError("no Linear + neuron layers found")
    grid = read_grid(getattr(model_or_layers, GRID_ATTRIBUTE, None), f"the model's {GRID_ATTRIBUTE}")
    return FloatNetwork(layers, source=type(model_or_layers).__name__, grid=grid)


#: The attribute :mod:`skyspike.compiler.finetune` sets on the torch models it writes: the grid
#: (:data:`skyspike.compiler.nirgraph.GRID_METADATA`) they are exact on.
GRID_ATTRIBUTE = "skyspike_grid"


def load_model(source, **nir_options) -> FloatNetwork:
    """A FloatNetwork from a torch module / list of modules, a NIRGraph, or a NIR file path.
    ``nir_options``: ``dt`` and ``reset`` of :func:`from_nir`; any other keyword is a TypeError."""
    unknown = sorted(set(nir_options) - set(NIR_OPTIONS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"the NIR options are {', '.join(NIR_OPTIONS)}")
    check_nir_options(**nir_options)   # also for other sources: a bad value is a mistake either way
    if isinstance(source, FloatNetwork):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() in (".nir", ".h5", ".hdf5"):
            return from_nir(path, **nir_options)
        raise NetworkError(f"{path}: unknown model file type {path.suffix!r}; use a NIR file (.nir/.h5), "
                           f"or pass the torch model itself to the Python API")
    try:
        import nir
        if isinstance(source, nir.NIRGraph):
            return from_nir(source, **nir_options)
    except ImportError:  # pragma: no cover
        pass
    return from_torch(source)





def _detached_state(model) -> dict:
    """A deepcopy memo mapping each module's stored non-leaf tensor (snnTorch's Leaky keeps its last
    membrane as a buffer, still in the autograd graph after training) to a detached copy:
    deepcopy refuses them."""
    import torch

    memo = {}
    for _, m in _modules(model):
        for sub in m.modules():
            values = list(vars(sub).values()) + list(sub._buffers.values())
            for v in values:
                if torch.is_tensor(v) and not v.is_leaf:
                    memo[id(v)] = v.detach().clone()
    return memo


def export_nir(model, n_in: int, path: str | Path | None = None, *, input_bits: int | None = None,
               input_mode: str = "direct"):
    """snnTorch's ``export_to_nir`` made to work for chains of Linear + ``snn.Leaky``: it fails
    NIR's type inference on scalar beta/threshold (0-d arrays), so this exports a copy whose
    Leaky layers carry per-neuron tensors, with the batch dimension ignored
    (``ignore_dims=[0]``). Returns the ``nir.NIRGraph``; ``path``: also write it there.
    ``input_bits``: the model takes graded values (``input_mode`` "direct": the image as layer
    0's current, or "rate"); written as the graph's ``skyspike_input`` metadata, which the
    import reads back."""
    import copy

    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    mods = copy.deepcopy(list(_modules(model)), _detached_state(model))
    last_width = None
    for _, m in mods:
        if isinstance(m, torch.nn.Linear):
            last_width = m.out_features
        elif isinstance(m, snn.Leaky):
            for name in ("beta", "threshold"):
                t = torch.as_tensor(getattr(m, name)).detach().float()
                if t.numel() == 1:
                    t = t.reshape(1).expand(last_width).clone()
                setattr(m, name, t)
            m.init_hidden = True
    seq = torch.nn.Sequential(*[m for _, m in mods])
    graph = export_to_nir(seq, torch.zeros(1, n_in), ignore_dims=[0])
    if input_bits is not None:
        from skyspike.compiler.nirgraph import INPUT_METADATA

        graph.metadata[INPUT_METADATA] = {"mode": input_mode, "bits": int(input_bits)}
    if path is not None:
        nir.write(str(path), graph)
    return graph


__all__ = ["FloatLayer", "FloatNetwork", "from_torch", "from_nir", "load_model", "export_nir", "NIR_DT"]
