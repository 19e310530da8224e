"""`skyspike compile --calibrate`: a stock snnTorch model's NIR file calibrated on a data set or on
an .npz file of images; bad calibration data is one clear line and no file written."""
from __future__ import annotations

import numpy as np
import pytest
from stock_snntorch import train_stock
from typer.testing import CliRunner

from skyspike.apps.cli import app
from skyspike.chip.netfile import load_compiled
from skyspike.compiler import datasets
from skyspike.compiler.model import export_nir


def cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def nir_file(tmp_path_factory):
    d = datasets.load_digits()
    model = train_stock(d.x_train, d.y_train, (64, 16, 10), epochs=4, seed=1)
    path = tmp_path_factory.mktemp("calcli") / "stock.nir"
    export_nir(model, 64, path)
    return path


COMPILE = ["--bits", 2, "--nir-reset", "subtract", "--steps", 8]


def test_compile_calibrates_on_a_data_set_and_says_what_it_gained(nir_file, tmp_path):
    out = tmp_path / "net.npz"
    code, text = cli("compile", nir_file, "-o", out, *COMPILE, "--dataset", "digits", "--validate", 200,
                     "--calibrate", "digits", "--calibrate-samples", 300)
    assert code == 0, text
    assert "calibration on 300 samples" in text and "layer 0:" in text
    assert "calibration gained" in text and "uncalibrated" in text
    _, meta = load_compiled(out)
    cal = meta["calibration"]
    assert cal["data"] == "digits" and cal["metric"] == "accuracy" and cal["after"] >= cal["before"]
    assert len(cal["layers"]) == 2


def test_compile_calibrates_on_an_npz_file_without_labels(nir_file, tmp_path):
    images = tmp_path / "cal.npz"
    np.savez(images, x=datasets.load_digits().x_train[:100])
    code, text = cli("compile", nir_file, "-o", tmp_path / "net.npz", *COMPILE, "--calibrate", images)
    assert code == 0, text
    assert "calibration on 100 samples" in text and "agreement" in text


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "cal.txt", "give a data set"),
    (lambda p: p / "missing.npz", "no such file"),
    (lambda p: (np.savez(p / "c.npz", y=np.zeros(3, int)), p / "c.npz")[1], "has no array 'x'"),
    (lambda p: (np.savez(p / "c.npz", x=np.zeros((3, 63))), p / "c.npz")[1], "takes 64 inputs"),
    (lambda p: (np.savez(p / "c.npz", x=np.zeros((3, 64)), y=np.zeros(3)), p / "c.npz")[1], "one integer label"),
    (lambda p: (np.savez(p / "c.npz", x=np.full((3, 64), 2.0)), p / "c.npz")[1], "0..1"),
    (lambda p: ((p / "c.npz").write_bytes(b"not a zip"), p / "c.npz")[1], "not a readable .npz"),
])
def test_bad_calibration_data_is_one_line_and_no_file(nir_file, tmp_path, make, message):
    out = tmp_path / "net.npz"
    code, text = cli("compile", nir_file, "-o", out, *COMPILE, "--calibrate", make(tmp_path))
    assert code == 2 and message in text and "Traceback" not in text, text
    assert not out.exists()
