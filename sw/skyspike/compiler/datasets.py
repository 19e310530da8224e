"""Data sets for the demos and benchmarks: scikit-learn's 8x8 digits and the IDX files of
MNIST / Fashion-MNIST.

Every loader returns pixel intensities as float32 in 0..1, flattened to (N, pixels), and
labels as int64, so that :mod:`skyspike.compiler.encode` can turn any of them into spikes.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: IDX magic numbers (unsigned bytes): 0x00000803 images (3 dims), 0x00000801 labels (1 dim).
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
IDX_NAMES = ("mnist", "fashion-mnist")
_PREFIX = {"train": "train", "test": "t10k"}

#: Seed and size of the fixed digits split (1797 images: 1437 train / 360 test).
DIGITS_SEED = 0
DIGITS_TEST = 360


@dataclass
class Split:
    """A train/test split: x float32 (N, pixels) in 0..1, y int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, int]     # image rows, cols
    name: str = ""

    @property
    def n_in(self) -> int:
        return self.x_train.shape[1]


def load_digits(seed: int = DIGITS_SEED, n_test: int = DIGITS_TEST) -> Split:
    """scikit-learn's 8x8 digits (1797 images, 64 pixels 0..16 scaled to 0..1).

    The split is a fixed, seeded, stratified permutation: with the defaults 1437 train and
    360 test images, identical on every machine and run.
    """
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    d = _sk_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=n_test, random_state=seed, stratify=y)
    return Split(np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te, (8, 8), "digits")


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzip'd when its name ends in .gz) of unsigned bytes.

    ``magic``: the expected magic number (2051 images, 2049 labels). Raises ValueError
    naming the file for a wrong magic, a bad header, a truncated or oversized payload, or a
    corrupt gzip stream.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a readable gzip'd IDX file ({exc})") from None
    if len(data) < 4:
        raise ValueError(f"{path}: only {len(data)} bytes, too short for an IDX header")
    (found,) = struct.unpack(">I", data[:4])
    if magic is not None and found != magic:
        raise ValueError(f"{path}: bad IDX magic number {found} (0x{found:08x}); expected {magic} "
                         f"(0x{magic:08x}, {'images' if magic == IDX_IMAGES_MAGIC else 'labels'})")
    if found >> 16 != 0 or (found >> 8) & 0xFF != 0x08:
        raise ValueError(f"{path}: magic 0x{found:08x} is not an IDX file of unsigned bytes (0x000008nn)")
    ndim = found & 0xFF
    header = 4 + 4 * ndim
    if ndim < 1 or len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != size:
        what = "truncated" if len(data) - header < size else "has trailing bytes"
        raise ValueError(f"{path}: {what}: header says {'x'.join(map(str, dims))} = {size} bytes of data, "
                         f"file holds {len(data) - header}")
    return np.frombuffer(data, np.uint8, size, header).reshape(dims)


def _find(data_dir: Path, name: str, stem: str) -> Path:
    for folder in (data_dir / name, data_dir):
        for fn in (f"{stem}.gz", stem):
            if (folder / fn).is_file():
                return folder / fn
    raise FileNotFoundError(f"no {stem}[.gz] in {data_dir / name} or {data_dir}")


def load_idx(data_dir: str | Path, name: str = "mnist", split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST / Fashion-MNIST from the standard IDX files.

    ``data_dir`` holds ``<name>/train-images-idx3-ubyte.gz`` etc. (or the four files directly).
    Returns (x float32 (N, rows*cols) in 0..1, y int64 (N,)).
    """
    if name not in IDX_NAMES:
        raise ValueError(f"unknown IDX data set {name!r}; known: {', '.join(IDX_NAMES)}")
    if split not in _PREFIX:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    data_dir = Path(data_dir)
    img_path = _find(data_dir, name, f"{_PREFIX[split]}-images-idx3-ubyte")
    lbl_path = _find(data_dir, name, f"{_PREFIX[split]}-labels-idx1-ubyte")
    images = read_idx(img_path, IDX_IMAGES_MAGIC)
    labels = read_idx(lbl_path, IDX_LABELS_MAGIC)
    if images.ndim != 3:
        raise ValueError(f"{img_path}: expected 3 dimensions (count, rows, cols), got {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{lbl_path}: expected 1 dimension (count), got {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{img_path} holds {images.shape[0]} images but {lbl_path} {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lbl_path}: label {labels.max()} outside 0..9")
    x = images.reshape(images.shape[0], -1).astype(np.float32) / 255.0
    return x, labels.astype(np.int64)


def load_idx_split(data_dir: str | Path, name: str = "mnist") -> Split:
    """Both halves of an IDX data set as a :class:`Split` (60000 / 10000 for MNIST)."""
    x_tr, y_tr = load_idx(data_dir, name, "train")
    x_te, y_te = load_idx(data_dir, name, "test")
    return Split(x_tr, y_tr, x_te, y_te, (28, 28), name)


#: Where the IDX files can be fetched (the data sets' own published locations).
DOWNLOAD_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
DATASETS = ("digits",) + IDX_NAMES


def download(name: str, data_dir: str | Path) -> Path:
    """Fetch the four IDX files of ``name`` into ``data_dir/name`` (needs internet)."""
    import urllib.request

    if name not in IDX_NAMES:
        raise ValueError(f"unknown IDX data set {name!r}; known: {', '.join(IDX_NAMES)}")
    folder = Path(data_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    for split in _PREFIX.values():
        for kind in ("images-idx3", "labels-idx1"):
            fn = f"{split}-{kind}-ubyte.gz"
            if not (folder / fn).is_file():
                tmp = folder / (fn + ".part")
                urllib.request.urlretrieve(DOWNLOAD_URLS[name] + fn, tmp)
                read_idx(tmp)  # a truncated or wrong download fails here, not later
                tmp.replace(folder / fn)
    return folder


def load(name: str = "digits", data_dir: str | Path | None = None, *, download_missing: bool = False) -> Split:
    """A data set by name: ``digits`` (built in) or ``mnist`` / ``fashion-mnist`` from the IDX
    files in ``data_dir`` (default ``$SKYSPIKE_DATA``). FileNotFoundError says what to do when
    they are missing; ``download_missing`` fetches them first."""
    import os

    if name == "digits":
        return load_digits()
    if name not in IDX_NAMES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    data_dir = data_dir or os.environ.get("SKYSPIKE_DATA")
    if data_dir is None:
        raise FileNotFoundError(f"{name} needs its IDX files: pass a data directory (--data DIR, or set "
                                f"SKYSPIKE_DATA) holding {name}/train-images-idx3-ubyte.gz etc.; "
                                f"--download fetches them from {DOWNLOAD_URLS[name]}")
    if download_missing:
        download(name, data_dir)
    try:
        return load_idx_split(data_dir, name)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e}; --download fetches them from {DOWNLOAD_URLS[name]}") from e


__all__ = ["Split", "load", "download", "DATASETS", "load_digits", "load_idx", "load_idx_split", "read_idx",
           "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC"]
