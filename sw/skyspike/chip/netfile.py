"""A chip network on disk: one .npz holding a JSON manifest (format name and version, steps,
every layer's parameters) and each layer's integer weights and bias rows. No pickles:
``allow_pickle=False``. Version 2 added the bias rows (``bias_<i>``, only for layers that
have them); version 1 files are still read."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np

from skyspike.chip.network import ChipLayer, ChipNetwork, NetworkError

FORMAT = "skyspike-chip-network"
VERSION = 2
READS = (1, 2)
_PARAMS = [f.name for f in fields(ChipLayer) if f.name not in ("weights", "bias")]


def save_network(path: Path | str, net: ChipNetwork, *, meta: dict | None = None,
                 arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write ``net``; ``meta`` (JSON-able) goes into the manifest, ``arrays`` beside the weights."""
    net.check()
    manifest = {"format": FORMAT, "version": VERSION, "steps": net.steps,
                "layers": [{name: getattr(ly, name) for name in _PARAMS} for ly in net.layers]}
    if meta is not None:
        manifest["meta"] = meta
    arrays = {**(arrays or {}), **{f"weights_{i}": ly.weights.astype(np.int8) for i, ly in enumerate(net.layers)}}
    arrays.update({f"bias_{i}": ly.bias.astype(np.int8) for i, ly in enumerate(net.layers) if ly.bias is not None})
    np.savez_compressed(path, manifest=np.array(json.dumps(manifest)), **arrays)


def load_network(path: Path | str) -> ChipNetwork:
    try:
        with np.load(path, allow_pickle=False) as z:
            manifest = json.loads(str(z["manifest"]))
            if manifest.get("format") != FORMAT:
                raise NetworkError(f"{path}: not a {FORMAT} file")
            if manifest.get("version") not in READS:
                raise NetworkError(f"{path}: format version {manifest.get('version')}, this reader knows {READS}")
            layers = [ChipLayer(z[f"weights_{i}"].astype(np.int64), **params,
                                bias=z[f"bias_{i}"].astype(np.int64) if f"bias_{i}" in z.files else None)
                      for i, params in enumerate(manifest["layers"])]
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as e:
        if isinstance(e, NetworkError):
            raise
        raise NetworkError(f"{path}: malformed network file ({e})") from e
    net = ChipNetwork(layers, steps=int(manifest["steps"]))
    net.check()
    return net


def save_compiled(path: Path | str, net: ChipNetwork, cfg, meta: dict) -> None:
    """A compiled chip network: the network file plus ``meta`` (JSON: core configuration name,
    input encoding, source, scales) and the packed memory image for ``cfg`` (descriptor words
    ``image_descriptors`` (layers, 8) and weight words ``image_weights`` (banks, words), uint32),
    for tools that load a chip without this package."""
    from skyspike.chip.image import build_image

    image = build_image(net, cfg)
    save_network(path, net, meta=meta, arrays={"image_descriptors": image.descriptors,
                                                "image_weights": image.weights})


def load_compiled(path: Path | str) -> tuple[ChipNetwork, dict]:
    """(network, meta) of a file written by :func:`save_compiled` (or a plain network file:
    meta is then empty). NetworkError if its packed image no longer matches its network."""
    from skyspike.spec.config import get_config
    from skyspike.chip.image import build_image

    net = load_network(path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["manifest"])).get("meta") or {}
        packed = {k: z[k] for k in ("image_descriptors", "image_weights") if k in z.files}
    if packed:
        try:
            image = build_image(net, get_config(meta.get("config", "chip")))
        except (KeyError, ValueError) as e:
            raise NetworkError(f"{path}: {e}") from e
        if not (np.array_equal(packed.get("image_descriptors"), image.descriptors)
                and np.array_equal(packed.get("image_weights"), image.weights)):
            raise NetworkError(f"{path}: the packed memory image does not match the network (damaged or edited file)")
    return net, meta
