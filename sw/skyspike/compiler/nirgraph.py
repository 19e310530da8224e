"""Import NIR graphs (``nir.NIRGraph`` or a NIR HDF5 file): a chain Input -> (Affine | Linear)
-> (LIF | IF | LI) -> ... -> Output, e.g. written by ``snntorch.export_nir.export_to_nir``, as a
:class:`skyspike.compiler.floatnet.FloatNetwork`. Everything the chip cannot compute raises
NetworkError naming the node."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from skyspike.compiler.floatnet import FloatLayer, FloatNetwork
from skyspike.compiler.params import as_array, check_weight, fold_thresholds, per_neuron, uniform
from skyspike.errors import NetworkError

#: snnTorch's export_to_nir / import_nir time step; NIR graphs do not record one.
NIR_DT = 1e-4
#: The options of :func:`from_nir` that the generic entry points pass on.
NIR_OPTIONS = ("dt", "reset")


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
    tau = uniform(np.asarray(tau, np.float64), n, "tau", where,
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

    w = check_weight(as_array(node.weight, "weight", where), where).T
    b = as_array(node.bias, "bias", where).ravel() if isinstance(node, nir.Affine) else None
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
        beta, gain, drive = 1.0, per_neuron(as_array(node.r, "r", where), n, "r", where), 0.0
    else:
        beta = _nir_decay(as_array(node.tau, "tau", where), n, dt, where)
        k = 1.0 - beta  # dt / tau
        gain = per_neuron(as_array(node.r, "r", where), n, "r", where) * k
        drive = per_neuron(as_array(node.v_leak, "v_leak", where), n, "v_leak", where) * k
    w, b = w * gain, b * gain + drive
    b = None if not np.any(b) else b
    if isinstance(node, nir.LI):
        return FloatLayer(w, b, beta, math.inf, math.inf, 0.0, spiking=False, name=name)
    thr = per_neuron(as_array(node.v_threshold, "v_threshold", where), n, "v_threshold", where)
    v_reset = as_array(node.v_reset, "v_reset", where)
    if np.any(v_reset != 0):
        raise NetworkError(f"{where}: v_reset={v_reset.ravel()[:4]} is not supported; the chip "
                           f"resets to 0 or by subtraction")
    w, b, t = fold_thresholds(w, b, thr, where)
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


def check_nir_options(*, dt: float = NIR_DT, reset: str = "zero") -> None:
    """``dt`` a finite time step > 0 and ``reset`` "zero" or "subtract", else ValueError."""
    if reset not in ("zero", "subtract"):
        raise ValueError(f"reset={reset!r}: use 'zero' or 'subtract'")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or not dt > 0:
        raise ValueError(f"dt={dt!r} must be a finite number > 0")


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

    check_nir_options(dt=dt, reset=reset)
    graph, source = _read_nir(graph)
    notes = [f"NIR has no time step: discretized with dt={dt:g}"]
    grid = read_grid((getattr(graph, "metadata", None) or {}).get(GRID_METADATA), f"NIR graph metadata {GRID_METADATA}")
    if grid is not None and grid["reset"] != reset:
        reset = grid["reset"]
        notes.append(f"the graph's metadata says: fine-tuned on the chip's grid, reset by {reset}")
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
    bits, mode = _nir_input(graph)
    if bits is not None:
        notes.append(f"the graph's metadata says: {mode} input of {bits}-bit values")
    return FloatNetwork(layers, source=source, notes=notes, input_bits=bits, input_mode=mode, grid=grid)


#: The graph metadata key that says the input is graded values (:func:`skyspike.compiler.model.export_nir`
#: writes it): {"mode": "direct" or "rate", "bits": 1, 2, 4 or 8}.
INPUT_METADATA = "skyspike_input"


def _nir_input(graph) -> tuple[int | None, str]:
    """(bits, mode) of the graph's INPUT_METADATA, or (None, "direct"); NetworkError if malformed."""
    from skyspike.spec.config import check_precision

    meta = (getattr(graph, "metadata", None) or {}).get(INPUT_METADATA)
    if meta is None:
        return None, "direct"
    if not isinstance(meta, dict) or meta.get("mode") not in ("direct", "rate"):
        raise NetworkError(f"NIR graph metadata {INPUT_METADATA}={meta!r}: expected {{'mode': 'direct' or 'rate', "
                           f"'bits': 1, 2, 4 or 8}}")
    bits = meta.get("bits")
    return check_precision(int(bits) if isinstance(bits, (int, np.integer)) else bits,
                           f"NIR graph metadata {INPUT_METADATA}", NetworkError), meta["mode"]


#: The graph metadata key of a model fine-tuned on the chip's grid (:mod:`skyspike.compiler.finetune`):
#: {"bits": [per layer], "scales": [per layer], "reset": "subtract" or "zero"}.
GRID_METADATA = "skyspike_grid"


def read_grid(meta, where: str) -> dict | None:
    """A grid description (GRID_METADATA, or a torch model's ``skyspike_grid`` attribute) checked:
    {"bits": [int], "scales": [float > 0], "reset": str}, or None; NetworkError if malformed."""
    if meta is None:
        return None
    try:
        bits = [int(b) for b in np.asarray(meta["bits"]).ravel()]
        scales = [float(s) for s in np.asarray(meta["scales"], np.float64).ravel()]
        reset = str(meta.get("reset", "zero"))
    except (KeyError, TypeError, ValueError) as e:
        raise NetworkError(f"{where}: expected {{'bits': [...], 'scales': [...], 'reset': ...}} ({e})") from None
    if len(bits) != len(scales) or not all(math.isfinite(s) and s > 0 for s in scales) \
            or reset not in ("subtract", "zero"):
        raise NetworkError(f"{where}: bits {bits}, scales {scales}, reset {reset!r} do not describe a grid")
    return {"bits": bits, "scales": scales, "reset": reset}


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


__all__ = ["from_nir", "check_nir_options", "read_grid", "GRID_METADATA", "NIR_DT", "NIR_OPTIONS"]
