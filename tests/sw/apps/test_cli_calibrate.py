"""`skyspike compile --calibrate` and `skyspike finetune` on a stock snnTorch model's NIR file:
calibrated on a data set or an .npz file of images, fine-tuned into a NIR graph that compiles
exactly; bad data and options are one clear line and no file written."""
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
    assert "every precision on 200 digits test images" in text and "chip (calibrated)" in text
    _, meta = load_compiled(out)
    cal = meta["calibration"]
    assert cal["data"] == "digits" and cal["metric"] == "agreement" and cal["after"] >= cal["before"]
    assert cal["accuracy_after"] >= cal["accuracy_before"]
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


def test_finetune_writes_a_nir_graph_that_compiles_exactly(nir_file, tmp_path):
    from skyspike.compiler import quantize as Q

    out = tmp_path / "tuned.nir"
    code, text = cli("finetune", nir_file, "-o", out, "--bits", 2, "--nir-reset", "subtract", "--steps", 8,
                     "--epochs", 1, "--limit", 300, "--calibrate-samples", 200, "--validate", 100,
                     "--hold-out", 0.1)
    assert code == 0, text
    assert "epoch 1/1" in text and "chip, fine-tuned" in text and "chip, calibrated" in text
    assert "on the 10% of the images held out" in " ".join(text.split())   # the epoch kept, or the start
    assert f"skyspike compile {out} -o net.npz --bits 2 --steps 8" in " ".join(text.split())
    code, text = cli("compile", out, "-o", tmp_path / "net.npz", "--bits", 2, "--steps", 8)
    assert code == 0, text
    net = Q.quantize(str(out), 2, 8)
    assert net.layers[0].reset_zero is False   # the graph says it resets by subtraction


@pytest.mark.parametrize("args, message", [
    (["-o", "{d}/t.pt"], "use one of .nir"),
    (["-o", "{d}/t.nir", "--lr", 0], "--lr must be > 0"),
    (["-o", "{d}/t.nir", "--bits", 3], "3 is not one of"),
    (["-o", "{d}/t.nir", "--epochs", 0], "greater than or equal to 1"),
    (["-o", "{d}/t.nir", "--dataset", "foo"], "unknown data set 'foo'"),
    (["-o", "{d}/t.nir", "--hold-out", 1], "less than or equal to 0.9"),
    (["-o", "{d}/t.nir", "--distill", 2], "less than or equal to 1"),
    (["-o", "{d}/nodir/t.nir"], "does not exist"),
])
def test_finetune_bad_options_are_one_line(nir_file, tmp_path, args, message):
    code, text = cli("finetune", nir_file, *[str(a).format(d=tmp_path) for a in args])
    assert code == 2 and message in text and "Traceback" not in text, text
    assert not (tmp_path / "t.nir").exists()


def test_finetune_of_a_missing_model_is_one_line(tmp_path):
    code, text = cli("finetune", tmp_path / "none.nir", "-o", tmp_path / "t.nir")
    assert code == 2 and "no such file" in text
