"""Chip network files (skyspike.chip.netfile) under damage: truncation, bit flips, other formats,
manifests of the wrong shape and decompression bombs give one NetworkFileError naming the file,
never another exception or a silently different network; writes are atomic and exact."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyspike.chip.netfile import load_compiled, load_network, save_compiled, save_network
from skyspike.chip.testing import random_network
from skyspike.errors import NetworkError, NetworkFileError
from skyspike.spec.config import CONFIGS


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "net.npz"
    net = random_network(np.random.default_rng(5), CONFIGS["small"], max_layers=3)
    save_compiled(path, net, CONFIGS["small"], {"config": "small"})
    return path, path.read_bytes(), net


def same(a, b) -> bool:
    return a.steps == b.steps and all(np.array_equal(x.weights, y.weights) for x, y in zip(a.layers, b.layers))


def load_or_error(path, original):
    """Loading damaged bytes either fails with NetworkFileError or gives back the same network."""
    try:
        net, _ = load_compiled(path)
    except NetworkFileError as e:
        assert str(path) in str(e)
        return False
    assert same(net, original), "a damaged file loaded as a different network"
    return True


def test_every_truncation_is_one_clear_error(compiled, tmp_path):
    path, data, net = compiled
    bad = tmp_path / "t.npz"
    for n in list(range(0, len(data), max(1, len(data) // 150))) + [len(data) - 1]:
        bad.write_bytes(data[:n])
        with pytest.raises(NetworkFileError):
            load_compiled(bad)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_bit_flips_never_escape(compiled, tmp_path, data):
    path, raw, net = compiled
    pos = data.draw(st.integers(0, len(raw) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(raw)
    flipped[pos] ^= 1 << bit
    bad = tmp_path / "f.npz"
    bad.write_bytes(bytes(flipped))
    load_or_error(bad, net)


def write_npz(path, manifest, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, manifest=np.array(manifest if isinstance(manifest, str) else json.dumps(manifest)), **arrays)


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layer=st.dictionaries(st.sampled_from(["bits", "beta", "theta_high", "theta_low", "reset_sub",
                                               "reset_zero", "slots", "scale", "other"]), json_values),
       steps=json_values)
def test_manifest_structure_errors_are_clear(tmp_path, layer, steps):
    manifest = {"format": "skyspike-chip-network", "version": 2, "steps": steps, "layers": [layer]}
    write_npz(tmp_path / "m.npz", manifest, weights_0=np.ones((4, 2), np.int8))
    try:
        load_network(tmp_path / "m.npz")
    except NetworkFileError:
        pass


@pytest.mark.parametrize("manifest, arrays, match", [
    ([1, 2], {}, "not a skyspike-chip-network"),
    ({"format": "skyspike-chip-network", "version": 9}, {}, "format version 9"),
    ({"format": "skyspike-chip-network", "version": 2, "steps": 3, "layers": {}}, {}, "no list of layers"),
    ({"format": "skyspike-chip-network", "version": 2, "steps": 3, "layers": [7]}, {}, "not an object"),
    ({"format": "skyspike-chip-network", "version": 2, "steps": 3, "layers": [{"bits": 4}]}, {}, "missing fields"),
    ({"format": "skyspike-chip-network", "version": 2, "steps": 3,
      "layers": [dict(bits=4, beta=256, theta_high=5, theta_low=5, reset_sub=5, reset_zero=False)]},
     {"weights_0": np.ones((4, 2), np.float32)}, "not a 2-D int8 array"),
    ({"format": "skyspike-chip-network", "version": 2, "steps": 3,
      "layers": [dict(bits=4, beta=256, theta_high=5.5, theta_low=5, reset_sub=5, reset_zero=False)]},
     {"weights_0": np.ones((4, 2), np.int8)}, "theta_high=5.5 must be an integer"),
    ({"format": "skyspike-chip-network", "version": 2, "steps": 3,
      "layers": [dict(bits=4, beta=256, theta_high=5, theta_low=5, reset_sub=5, reset_zero=2)]},
     {"weights_0": np.ones((4, 2), np.int8)}, "reset_zero=2 must be a bool"),
])
def test_manifest_rejections(tmp_path, manifest, arrays, match):
    write_npz(tmp_path / "m.npz", manifest, **arrays)
    with pytest.raises(NetworkFileError, match=match):
        load_network(tmp_path / "m.npz")


def test_other_files(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("weights: 1 2 3\n")
    for name in ("empty.npz", "text.npz"):
        with pytest.raises(NetworkFileError, match="not an .npz archive"):
            load_network(tmp_path / name)
    with pytest.raises(NetworkFileError, match="no such file"):
        load_network(tmp_path / "missing.npz")
    with pytest.raises(NetworkFileError, match="no such file"):
        load_network(tmp_path)  # a folder


def test_decompression_bomb_is_refused_unpacked(tmp_path):
    """A member that would unpack to 256 MiB is refused from the archive's directory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.npy", b"")
        with zf.open("weights_0.npy", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(256):
                fh.write(chunk)
    (tmp_path / "bomb.npz").write_bytes(buf.getvalue())
    assert (tmp_path / "bomb.npz").stat().st_size < 1 << 20
    with pytest.raises(NetworkFileError, match="more than a chip network file"):
        load_network(tmp_path / "bomb.npz")


def test_writes_exactly_the_path_given_and_atomically(tmp_path):
    net = random_network(np.random.default_rng(1), CONFIGS["small"], max_layers=2)
    save_network(tmp_path / "out.bin", net)
    assert (tmp_path / "out.bin").is_file() and not (tmp_path / "out.bin.npz").exists()
    assert same(load_network(tmp_path / "out.bin"), net)
    with pytest.raises(NetworkFileError, match="does not exist"):
        save_network(tmp_path / "missing" / "out.npz", net)
    assert list(tmp_path.iterdir()) == [tmp_path / "out.bin"]   # no temporary left behind
    with pytest.raises(NetworkError, match="metadata is not JSON"):
        save_network(tmp_path / "meta.npz", net, meta={"x": object()})
    assert not (tmp_path / "meta.npz").exists()
