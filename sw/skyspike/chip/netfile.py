"""A chip network on disk: one .npz holding a JSON manifest (format name and version, steps,
every layer's parameters) and each layer's integer weights and bias rows. No pickles:
``allow_pickle=False``. Version 2 added the bias rows (``bias_<i>``, only for layers that
have them); version 1 files are still read. ``input_mode`` and ``input_bits`` (and ``seed``) are written only
for a graded-input network (files of spike-input networks stay readable by older readers).

Reading is defensive: a file is checked for size and structure before anything is
decompressed, and every way it can be damaged (truncation, flipped bits, another format, a
manifest of the wrong shape, a decompression bomb) gives one :class:`NetworkFileError` naming
the file. Writing is atomic: a temporary file beside the target, renamed onto exactly the
path given (no ``.npz`` appended), only after the network has been checked.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from skyspike.chip.network import ChipLayer, ChipNetwork
from skyspike.errors import NetworkError, NetworkFileError

FORMAT = "skyspike-chip-network"
VERSION = 2
READS = (1, 2)
_PARAMS = [f.name for f in fields(ChipLayer) if f.name not in ("weights", "bias")]
#: Layer fields a file must have; ``slots`` and ``scale`` may be missing (older writers), ``folds``
#: is written only when set (files without it stay readable by older readers).
REQUIRED = ("bits", "beta", "theta_high", "theta_low", "reset_sub", "reset_zero")
#: Limits checked before decompressing: the largest real network file (4 layers of 1024 x 512
#: int8 weights and the packed image) is a few MiB uncompressed.
MAX_FILE_BYTES = 64 << 20
MAX_UNCOMPRESSED_BYTES = 64 << 20
MAX_MEMBERS = 64


def save_network(path: Path | str, net: ChipNetwork, *, meta: dict | None = None,
                 arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write ``net``; ``meta`` (JSON-able) goes into the manifest, ``arrays`` beside the weights."""
    net.check()
    manifest = {"format": FORMAT, "version": VERSION, "steps": int(net.steps),
                **({"input_mode": net.input_mode, "input_bits": int(net.input_bits)} if net.graded else {}),
                **({"seed": int(net.seed)} if net.input_mode == "rate" else {}),
                "layers": [{name: _plain(getattr(ly, name)) for name in _PARAMS
                            if name != "folds" or ly.folds is not None} for ly in net.layers]}
    if meta is not None:
        manifest["meta"] = meta
    try:
        text = json.dumps(manifest)
    except (TypeError, ValueError) as e:
        raise NetworkError(f"network metadata is not JSON: {e}") from e
    arrays = {**(arrays or {}), **{f"weights_{i}": ly.weights.astype(np.int8) for i, ly in enumerate(net.layers)}}
    arrays.update({f"bias_{i}": ly.bias.astype(np.int8) for i, ly in enumerate(net.layers) if ly.bias is not None})
    _write_atomic(Path(path), lambda fh: np.savez_compressed(fh, manifest=np.array(text), **arrays))


def _plain(v):
    """numpy scalars as Python ones, for JSON."""
    return v.item() if isinstance(v, np.generic) else v


def _write_atomic(path: Path, write) -> None:
    """``write(file object)`` into a temporary file beside ``path``, then rename it onto ``path``."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise NetworkFileError(f"{path}: the folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_archive(path: Path | str) -> tuple[dict, dict[str, np.ndarray]]:
    """(manifest, arrays) of a network file, checked for size, structure and format."""
    path = Path(path)
    if not path.is_file():
        raise NetworkFileError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise NetworkFileError(f"{path}: {size} bytes; a chip network file is at most {MAX_FILE_BYTES} bytes")
    data = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise NetworkFileError(f"{path}: malformed network file (not an .npz archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNCOMPRESSED_BYTES:
                raise NetworkFileError(f"{path}: the archive holds more than a chip network file can "
                                       f"({len(infos)} members, {sum(i.file_size for i in infos)} bytes unpacked)")
            arrays = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise NetworkFileError(f"{path}: unexpected member {info.filename!r}")
                with zf.open(info) as member:
                    arrays[info.filename[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
        manifest = json.loads(str(arrays.pop("manifest")))
    except NetworkFileError:
        raise
    except Exception as e:  # damaged bytes reach zipfile, zlib, numpy's header parser and json: each
        # raises its own types (BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError for
        # "encrypted", SyntaxError, tokenize.TokenError, ...); all of them mean the same thing here.
        raise NetworkFileError(f"{path}: malformed network file, damaged or of another kind ({type(e).__name__}: {e})") from e
    check_manifest(manifest, arrays, path)
    return manifest, arrays


def check_manifest(manifest, arrays: dict[str, np.ndarray], path) -> None:
    """The manifest's structure and the arrays it names, else NetworkFileError."""
    def bad(what):
        raise NetworkFileError(f"{path}: {what}")

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        bad(f"not a {FORMAT} file")
    if manifest.get("version") not in READS:
        bad(f"format version {manifest.get('version')!r}, this reader knows {READS}")
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not layers:
        bad("the manifest has no list of layers")
    if "meta" in manifest and not isinstance(manifest["meta"], dict):
        bad("the manifest's meta is not an object")
    for i, params in enumerate(layers):
        if not isinstance(params, dict):
            bad(f"layer {i}: parameters are not an object")
        unknown, missing = set(params) - set(_PARAMS), [k for k in REQUIRED if k not in params]
        if unknown or missing:
            bad(f"layer {i}: unknown fields {sorted(unknown)}, missing fields {missing}")
        for name in (f"weights_{i}", f"bias_{i}"):
            a = arrays.get(name)
            if (a is None and name.startswith("weights")) or (a is not None and (a.dtype != np.int8 or a.ndim != 2)):
                bad(f"{name}: missing or not a 2-D int8 array")


def _network(manifest: dict, arrays: dict[str, np.ndarray], path) -> ChipNetwork:
    try:
        layers = [ChipLayer(arrays[f"weights_{i}"].astype(np.int64), **params,
                            bias=arrays[f"bias_{i}"].astype(np.int64) if f"bias_{i}" in arrays else None)
                  for i, params in enumerate(manifest["layers"])]
        net = ChipNetwork(layers, steps=manifest.get("steps"), input_mode=manifest.get("input_mode", "spikes"),
                          input_bits=manifest.get("input_bits", 1), seed=manifest.get("seed", 1))
        net.check()
    except NetworkError as e:
        raise NetworkFileError(f"{path}: {e}") from e
    except (TypeError, ValueError) as e:  # fields of the wrong type that ChipLayer itself trips on
        raise NetworkFileError(f"{path}: malformed layer parameters ({e})") from e
    return net


def load_network(path: Path | str) -> ChipNetwork:
    """The network of a chip network file; NetworkFileError if it cannot be read."""
    manifest, arrays = read_archive(path)
    return _network(manifest, arrays, path)


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
    meta is then empty). NetworkFileError if its packed image no longer matches its network."""
    from skyspike.chip.image import build_image
    from skyspike.spec.config import get_config

    manifest, arrays = read_archive(path)
    net = _network(manifest, arrays, path)
    meta = manifest.get("meta") or {}
    packed = {k: arrays[k] for k in ("image_descriptors", "image_weights") if k in arrays}
    if packed:
        try:
            image = build_image(net, get_config(meta.get("config", "chip")))
        except (KeyError, ValueError) as e:
            raise NetworkFileError(f"{path}: {e}") from e
        if not (np.array_equal(packed.get("image_descriptors"), image.descriptors)
                and np.array_equal(packed.get("image_weights"), image.weights)):
            raise NetworkFileError(f"{path}: the packed memory image does not match the network (damaged or edited file)")
    return net, meta


__all__ = ["save_network", "load_network", "save_compiled", "load_compiled", "read_archive", "FORMAT", "VERSION"]
