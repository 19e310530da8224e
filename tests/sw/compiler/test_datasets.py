"""Data sets (skyspike.compiler.datasets): the fixed digits split, and IDX files read and
checked (synthetic, and the real MNIST test set where present)."""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
import numpy as np
import pytest
from skyspike.compiler import datasets

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("SKYSPIKE_DATASETS", ROOT.parent / "shared" / "datasets"))
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_digits_split_is_fixed_and_scaled():
    a, b = datasets.load_digits(), datasets.load_digits()
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    assert a.y_train.shape == (1437,) and a.y_test.shape == (360,)
    assert a.x_train.dtype == np.float32 and a.y_train.dtype == np.int64
    assert 0.0 == min(a.x_train.min(), a.x_test.min()) and max(a.x_train.max(), a.x_test.max()) == 1.0
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    # stratified: every class is in the test set, in proportion
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38
    # values on the 1/16 grid of the original 0..16 pixels
    np.testing.assert_allclose(a.x_train * 16, np.round(a.x_train * 16), atol=1e-5)


def _write_idx(path: Path, magic: int, dims: tuple[int, ...], payload: bytes, compress=True):
    raw = struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (7, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    d = tmp_path / "mnist"
    d.mkdir()
    _write_idx(d / "t10k-images-idx3-ubyte.gz", 2051, images.shape, images.tobytes())
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", 2049, labels.shape, labels.tobytes())
    return tmp_path, images, labels


def test_idx_loader_reads_synthetic_files(idx_dir):
    root, images, labels = idx_dir
    for where in (root, root / "mnist"):  # the data-set root or the data set's own folder
        x, y = datasets.load_idx(where, "mnist", "test")
        assert x.shape == (7, 12) and x.dtype == np.float32
        np.testing.assert_allclose(x, images.reshape(7, -1) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels)
    with pytest.raises(FileNotFoundError):
        datasets.load_idx(root, "mnist", "train")
    with pytest.raises(ValueError, match="split"):
        datasets.load_idx(root, "mnist", "validation")


@pytest.mark.parametrize("damage, message", [
    ("magic", "bad IDX magic number 2049"),
    ("short", "truncated"),
    ("long", "trailing bytes"),
    ("gzip", "not a readable gzip"),
    ("count", "labels"),
])
def test_idx_loader_rejects_malformed_files(idx_dir, damage, message):
    root, images, labels = idx_dir
    img = root / "mnist" / "t10k-images-idx3-ubyte.gz"
    lbl = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    target = img
    if damage == "magic":       # a labels header on the images file
        _write_idx(img, 2049, (images.size,), images.tobytes())
    elif damage == "short":     # payload shorter than the header says
        _write_idx(img, 2051, images.shape, images.tobytes()[:-5])
    elif damage == "long":
        _write_idx(img, 2051, images.shape, images.tobytes() + b"\0")
    elif damage == "gzip":      # the gzip stream itself cut off
        data = img.read_bytes()
        img.write_bytes(data[: len(data) // 2])
    elif damage == "count":     # 6 labels for 7 images
        _write_idx(lbl, 2049, (6,), labels[:6].tobytes())
        target = lbl
    with pytest.raises(ValueError, match=message) as exc:
        datasets.load_idx(root, "mnist", "test")
    assert target.name in str(exc.value), "the error must name the file"


def test_read_idx_uncompressed(tmp_path):
    p = tmp_path / "labels-idx1-ubyte"
    _write_idx(p, 2049, (3,), bytes([1, 2, 3]), compress=False)
    np.testing.assert_array_equal(datasets.read_idx(p, 2049), [1, 2, 3])


def test_idx_real_mnist_test_set():
    folder = SHARED / "mnist"
    if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
        pytest.skip(f"MNIST IDX files not found in {folder} (set SKYSPIKE_DATASETS to the datasets folder)")
    labels = datasets.read_idx(folder / "t10k-labels-idx1-ubyte.gz", datasets.IDX_LABELS_MAGIC)
    assert labels.shape == (10000,)
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_LABEL_COUNTS
    x, y = datasets.load_idx(SHARED, "mnist", "test")
    assert x.shape == (10000, 784) and 0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(y, labels)
