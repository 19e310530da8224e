"""Import trained networks from PyTorch / snnTorch / NIR as a
:class:`skyspike.compiler.floatnet.FloatNetwork` (float, the chip's semantics, no rounding:
what :func:`skyspike.compiler.quantize.quantize` maps onto the chip's integers).

Sources:

* :func:`from_torch`: an ``nn.Sequential`` (or list) of ``nn.Linear`` (with or without bias)
  followed by ``snntorch.Leaky`` or :class:`skyspike.compiler.neurons.Schmitt`; ``nn.Flatten`` first,
  ``nn.Identity`` / ``nn.Dropout`` anywhere (inference no-ops).
* :func:`from_nir`: a ``nir.NIRGraph`` or a NIR HDF5 file: a chain Input -> (Affine | Linear)
  -> (LIF | IF | LI) -> ... -> Output, e.g. written by ``snntorch.export_nir.export_to_nir``.
* :func:`load_model`: any of the above, or a path to a NIR file.

Per-neuron thresholds (and NIR's per-neuron input resistance) are folded exactly into the
weight columns, so every neuron of a layer shares the chip's one threshold; per-neuron beta
cannot be folded and is rejected. Everything the chip cannot compute raises
:class:`skyspike.chip.network.NetworkError` naming the layer and the limit.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from skyspike.chip.network import NetworkError
from skyspike.compiler.floatnet import FloatLayer, FloatNetwork

#: snnTorch's export_to_nir / import_nir time step; NIR graphs do not record one.
NIR_DT = 1e-4


# -- helpers ------------------------------------------------------------------------------

def _array(t, what: str, where: str) -> np.ndarray:
    try:
        import torch
        if torch.is_tensor(t):
            t = t.detach().to("cpu", torch.float64).numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    a = np.asarray(t, dtype=np.float64)
    if a.size == 0:
        raise NetworkError(f"{where}: {what} is empty")
    if not np.all(np.isfinite(a)):
        raise NetworkError(f"{where}: {what} has NaN or infinite values")
    return a


def _uniform(a: np.ndarray, n: int, what: str, where: str, hint: str) -> float:
    """The one value of a scalar or per-neuron parameter, or NetworkError if they differ."""
    a = a.ravel()
    if a.size not in (1, n):
        raise NetworkError(f"{where}: {what} has {a.size} values for {n} neurons")
    if np.any(a != a[0]):
        raise NetworkError(f"{where}: per-neuron {what} values differ ({a.min():.4g}..{a.max():.4g}); "
                           f"the chip has one {what} per layer. {hint}")
    return float(a[0])


def _per_neuron(a: np.ndarray, n: int, what: str, where: str) -> np.ndarray:
    a = a.ravel()
    if a.size not in (1, n):
        raise NetworkError(f"{where}: {what} has {a.size} values for {n} neurons")
    return np.broadcast_to(a, (n,)).astype(np.float64)


def _fold_thresholds(weight, bias, thr: np.ndarray, where: str):
    """Rescale each neuron's input column so that all share the layer's largest threshold:
    V_j' = V_j * T / T_j is the same neuron (leak and input are linear), exactly."""
    if np.all(thr == thr[0]):
        return weight, bias, float(thr[0])
    if np.any(thr <= 0):
        raise NetworkError(f"{where}: per-neuron thresholds must all be > 0 to share one threshold "
                           f"(got min {thr.min():.4g})")
    t = float(thr.max())
    c = t / thr
    return weight * c, (None if bias is None else bias * c), t


def _check_weight(w: np.ndarray, where: str) -> np.ndarray:
    if w.ndim != 2:
        raise NetworkError(f"{where}: weight must be 2-D (out, in), got shape {w.shape}")
    return w


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
    if gsf is not None and np.any(_array(gsf, "graded_spikes_factor", where) != 1.0):
        raise NetworkError(f"{where}: graded spikes (graded_spikes_factor != 1) are not supported")
    beta = _uniform(_array(lif.beta, "beta", where), n, "beta", where,
                    "Train with one beta per layer (a scalar, learn_beta=True is fine).")
    thr = _per_neuron(_array(lif.threshold, "threshold", where), n, "threshold", where)
    return min(max(beta, 0.0), 1.0), thr, mech == 1


def _schmitt_layer(m, w, b, name: str, where: str) -> FloatLayer:
    """The FloatLayer of a :class:`~skyspike.compiler.neurons.Schmitt` after weights ``w``."""
    # NaN/inf are refused naming the layer (_array); a finite learned beta is clamped to 0..1.
    values = {f: float(_array(getattr(m, f), f, where).ravel()[0]) for f in ("beta", "theta_high", "theta_low",
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
            w = _check_weight(_array(lin.weight, "weight", lwhere), lwhere).T
            b = None if lin.bias is None else _array(lin.bias, "bias", lwhere)
            if layers and w.shape[0] != layers[-1].n_out:
                raise NetworkError(f"{lwhere}: {w.shape[0]} inputs do not chain with the previous "
                                   f"layer's {layers[-1].n_out} neurons")
            if isinstance(m, Schmitt):
                layers.append(_schmitt_layer(m, w, b, name, f"layer {len(layers)} (Schmitt {name!r})"))
            else:
                beta, thr, zero = _leaky_params(m, w.shape[1], f"layer {len(layers)} (Leaky {name!r})")
                w, b, t = _fold_thresholds(w, b, thr, f"layer {len(layers)} (Leaky {name!r})")
                layers.append(FloatLayer(w, b, beta, t, t, t, reset_zero=zero, strict=True, name=name))
            continue
        kind = _unsupported_kind(m)
        raise NetworkError(f"{where}: {kind} are not supported; the chip runs chains of fully connected "
                           f"layers (nn.Linear followed by snn.Leaky or skyspike.compiler.neurons.Schmitt)")
    if pending is not None:
        raise NetworkError(f"module {pending[0]!r} (Linear): the last Linear layer has no neuron layer after it")
    if not layers:
        raise NetworkError("no Linear + neuron layers found")
    return FloatNetwork(layers, source=type(model_or_layers).__name__)


# -- NIR ----------------------------------------------------------------------------------

def _nir_chain(graph) -> list[tuple[str, object]]:
    """The graph's nodes from Input to Output, or NetworkError if it is not a simple chain."""
    import nir

    nodes, edges = graph.nodes, list(graph.edges)
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        a, b = a.split(".")[0], b.split(".")[0]
        if a not in nodes or b not in nodes:
            raise NetworkError(f"NIR graph: edge {a!r} -> {b!r} names a node that does not exist")
        succ[a].append(b)
        pred[b].append(a)
    inputs = [k for k, n in nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise NetworkError(f"NIR graph: needs exactly one Input node, found {len(inputs)}")
    chain, seen, cur = [], set(), inputs[0]
    while True:
        if cur in seen:
            raise NetworkError(f"NIR graph: node {cur!r} is reached twice: recurrent graphs are not supported")
        seen.add(cur)
        chain.append((cur, nodes[cur]))
        if len(pred[cur]) > 1:
            raise NetworkError(f"NIR graph: node {cur!r} has {len(pred[cur])} inputs: recurrence or merging "
                               f"branches are not supported (the chip runs a feed-forward chain)")
        if isinstance(nodes[cur], nir.Output):
            break
        if len(succ[cur]) != 1:
            raise NetworkError(f"NIR graph: node {cur!r} has {len(succ[cur])} successors; the chip runs "
                               f"a single feed-forward chain ending in an Output node")
        cur = succ[cur][0]
    if len(seen) != len(nodes):
        extra = sorted(set(nodes) - seen)
        raise NetworkError(f"NIR graph: nodes {extra} are not on the Input -> Output chain")
    return chain


def _nir_decay(tau: np.ndarray, n: int, dt: float, where: str) -> float:
    tau = _uniform(np.asarray(tau, np.float64), n, "tau", where,
                   "Export one beta per layer (snnTorch: the same beta for every neuron).")
    if tau == math.inf:
        return 1.0
    if not tau > 0:
        raise NetworkError(f"{where}: tau={tau} must be > 0")
    beta = 1.0 - dt / tau
    if beta < 0:
        raise NetworkError(f"{where}: dt/tau = {dt / tau:.4g} > 1 gives a negative decay; check dt "
                           f"(NIR graphs do not store it; snnTorch exports with dt={NIR_DT})")
    return beta


def _read_nir(graph):
    """(NIRGraph, source description) of a graph or the path of a NIR file."""
    import nir

    source = "NIRGraph"
    if isinstance(graph, (str, Path)):
        path = Path(graph)
        if not path.is_file():
            raise NetworkError(f"{path}: no such NIR file")
        try:
            graph = nir.read(str(path), type_check=False)  # scalar parameters fail NIR's own type check; shapes are checked here
        except Exception as e:  # h5py / nir raise many types for a damaged file
            raise NetworkError(f"{path}: not a readable NIR file ({type(e).__name__}: {e})") from e
        source = str(path)
    if not isinstance(graph, nir.NIRGraph):
        raise NetworkError(f"expected a nir.NIRGraph or a NIR file, got {type(graph).__name__}")
    return graph, source


def _nir_weights(node, where: str, layers: list[FloatLayer]):
    """(weight (in, out), bias or None) of an Affine/Linear node that chains with ``layers``."""
    import nir

    w = _check_weight(_array(node.weight, "weight", where), where).T
    b = _array(node.bias, "bias", where).ravel() if isinstance(node, nir.Affine) else None
    if b is not None and b.size != w.shape[1]:
        raise NetworkError(f"{where}: bias has {b.size} values for {w.shape[1]} outputs")
    if layers and w.shape[0] != layers[-1].n_out:
        raise NetworkError(f"{where}: {w.shape[0]} inputs do not chain with the previous "
                           f"layer's {layers[-1].n_out} neurons")
    return w, b


def _nir_neuron(node, name: str, where: str, w, b, dt: float, reset: str) -> FloatLayer:
    """The layer of weights ``w``, bias ``b`` and the LIF/IF/LI ``node``, discretized with ``dt``."""
    import nir

    n = w.shape[1]
    b = np.zeros(n) if b is None else b.copy()
    if isinstance(node, nir.IF):
        beta, gain, drive = 1.0, _per_neuron(_array(node.r, "r", where), n, "r", where), 0.0
    else:
        beta = _nir_decay(_array(node.tau, "tau", where), n, dt, where)
        k = 1.0 - beta  # dt / tau
        gain = _per_neuron(_array(node.r, "r", where), n, "r", where) * k
        drive = _per_neuron(_array(node.v_leak, "v_leak", where), n, "v_leak", where) * k
    w, b = w * gain, b * gain + drive
    b = None if not np.any(b) else b
    if isinstance(node, nir.LI):
        return FloatLayer(w, b, beta, math.inf, math.inf, 0.0, spiking=False, name=name)
    thr = _per_neuron(_array(node.v_threshold, "v_threshold", where), n, "v_threshold", where)
    v_reset = _array(node.v_reset, "v_reset", where)
    if np.any(v_reset != 0):
        raise NetworkError(f"{where}: v_reset={v_reset.ravel()[:4]} is not supported; the chip "
                           f"resets to 0 or by subtraction")
    w, b, t = _fold_thresholds(w, b, thr, where)
    return FloatLayer(w, b, beta, t, t, t, reset_zero=reset == "zero", strict=True, name=name)


def _nir_unsupported(node, where: str) -> NetworkError:
    import nir

    if isinstance(node, nir.CubaLIF):
        return NetworkError(f"{where}: current-based LIF (a synaptic current state, snnTorch's Synaptic) "
                            f"is not supported; the chip's neuron has only a membrane (use LIF)")
    if isinstance(node, nir.NIRGraph):
        return NetworkError(f"{where}: nested graphs (recurrent layers such as RLeaky) are not supported")
    kind = "convolutions" if "Conv" in type(node).__name__ else "this node type"
    return NetworkError(f"{where}: {kind} are not supported; the chip runs chains of "
                        f"Affine/Linear -> LIF/IF/LI")


def from_nir(graph, *, dt: float = NIR_DT, reset: str = "zero") -> FloatNetwork:
    """Import a NIR graph (or the path of a NIR HDF5 file), discretized with time step ``dt``.

    NIR's LIF/IF reset the membrane to ``v_reset``; it cannot express snnTorch's reset by
    subtraction. ``reset="zero"`` (default) follows NIR (``v_reset`` must be 0);
    ``reset="subtract"`` declares that the graph came from a subtract-reset model (e.g.
    snnTorch's default ``Leaky``, which ``export_to_nir`` writes as ``v_reset=0``) and maps
    it to the chip's subtract mode. Discretization (forward Euler, as snnTorch's import):
    ``beta = 1 - dt/tau``, input gain ``r * dt / tau`` (LIF, LI) or ``r`` (IF), and a
    constant drive ``v_leak * dt / tau`` folded into the bias.
    """
    import nir

    if reset not in ("zero", "subtract"):
        raise ValueError(f"reset={reset!r}: use 'zero' or 'subtract'")
    if not dt > 0:
        raise ValueError(f"dt={dt} must be > 0")
    graph, source = _read_nir(graph)
    notes = [f"NIR has no time step: discretized with dt={dt:g}"]
    if reset == "subtract":
        notes.append("reset='subtract': NIR's v_reset=0 read as snnTorch's reset by subtraction "
                     "(NIR itself can only reset to a value)")
    layers: list[FloatLayer] = []
    pending = None  # (name, weight, bias) of a weight node waiting for its neuron node
    for name, node in _nir_chain(graph)[1:]:
        where = f"NIR node {name!r} ({type(node).__name__})"
        if isinstance(node, nir.Output):
            break
        if isinstance(node, nir.Flatten) and not layers and pending is None:
            continue
        if isinstance(node, (nir.Affine, nir.Linear)):
            if pending is not None:
                raise NetworkError(f"{where}: two weight layers without a neuron layer between them")
            pending = (name, *_nir_weights(node, where, layers))
        elif isinstance(node, (nir.LIF, nir.IF, nir.LI)):
            if pending is None:
                raise NetworkError(f"{where}: a neuron node must follow an Affine or Linear node")
            layers.append(_nir_neuron(node, name, where, pending[1], pending[2], dt, reset))
            pending = None
        else:
            raise _nir_unsupported(node, where)
    if pending is not None:
        raise NetworkError(f"NIR node {pending[0]!r}: the last weight layer has no neuron node after it")
    if not layers:
        raise NetworkError("NIR graph: no weight + neuron layers found")
    for i, ly in enumerate(layers[:-1]):
        if not ly.spiking:
            raise NetworkError(f"NIR node {ly.name!r}: a non-spiking LI layer can only be the last layer "
                               f"(layer {i} feeds another layer)")
    _check_io_sizes(graph, layers)
    return FloatNetwork(layers, source=source, notes=notes)


def _io_size(node, key: str) -> int | None:
    """The number of values of a NIR Input/Output node's type, or None if it does not say."""
    types = getattr(node, key, None)
    if not isinstance(types, dict) or len(types) != 1:
        return None
    shape = np.asarray(next(iter(types.values()))).ravel()
    if shape.size == 0 or np.any(shape < 0):
        return None
    return int(np.prod(shape[1:] if shape.size > 1 and shape[0] == 1 else shape))


def _check_io_sizes(graph, layers: list[FloatLayer]) -> None:
    """The graph's Input and Output nodes agree with the first layer's inputs and the last layer's
    neurons, where they state a size (a batch dimension of 1 is allowed)."""
    import nir

    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            n, want, what = _io_size(node, "input_type"), layers[0].n_in, "inputs of the first layer"
        elif isinstance(node, nir.Output):
            n, want, what = _io_size(node, "output_type"), layers[-1].n_out, "neurons of the last layer"
        else:
            continue
        if n is not None and n != want:
            raise NetworkError(f"NIR node {name!r} ({type(node).__name__}): size {n} does not match the {want} {what}")


#: The options of :func:`from_nir` that the generic entry points pass on.
NIR_OPTIONS = ("dt", "reset")


def load_model(source, **nir_options) -> FloatNetwork:
    """A FloatNetwork from a torch module / list of modules, a NIRGraph, or a NIR file path.
    ``nir_options``: ``dt`` and ``reset`` of :func:`from_nir`; any other keyword is a TypeError."""
    unknown = sorted(set(nir_options) - set(NIR_OPTIONS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"the NIR options are {', '.join(NIR_OPTIONS)}")
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





def export_nir(model, n_in: int, path: str | Path | None = None):
    """snnTorch's ``export_to_nir`` made to work for chains of Linear + ``snn.Leaky``: it fails
    NIR's type inference on scalar beta/threshold (0-d arrays), so this exports a copy whose
    Leaky layers carry per-neuron tensors, with the batch dimension ignored
    (``ignore_dims=[0]``). Returns the ``nir.NIRGraph``; ``path``: also write it there."""
    import copy

    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    mods = copy.deepcopy(list(_modules(model)))
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
    if path is not None:
        nir.write(str(path), graph)
    return graph
__all__ = ["FloatLayer", "FloatNetwork", "from_torch", "from_nir", "load_model", "export_nir", "NIR_DT"]
