"""The ``skyspike`` command on bad input, as a careless user gives it: one clear line (or click's
usage error) and a non-zero exit, never a traceback, never a file written when it fails
(issue: reliability, defects 1, 2, 6, 7, 10, 11)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from skyspike.apps.cli import app


def cli(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output, res.exception


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small trained model and its compiled file (train --compile: defect 1)."""
    d = tmp_path_factory.mktemp("cli")
    code, out, exc = cli("train", "--epochs", 1, "--hidden", 8, "--steps", 4, "-o", d / "m.pt",
                         "--compile", d / "m.npz")
    assert code == 0, out + repr(exc)
    assert (d / "m.pt").is_file() and (d / "m.npz").is_file()
    return d


BAD = [
    # (arguments, text in the output); {d} is the folder of the fixture
    (["sweep", "{d}/m.pt", "--config", "foo"], "'foo' is not one of"),
    (["sweep", "{d}/m.pt", "--steps", 300], "less than or equal to 255"),
    (["sweep", "{d}/m.pt", "--limit", 0], "greater than or equal to 1"),
    (["run", "{d}/m.npz", "--seed", -1], "greater than or equal to 0"),
    (["run", "{d}/m.npz", "--via", "foo"], "'foo' is not one of"),
    (["run", "{d}/m.npz", "--raster", "{d}/x.npz"], "use one of .png"),
    (["run", "{d}/m.npz", "--start", -5], "greater than or equal to 0"),
    (["run", "{d}/m.npz", "--start", 5000], "has 360 test images"),
    (["eval", "{d}/m.npz", "--limit", -3], "greater than or equal to 1"),
    (["compile", "{d}/m.pt", "-o", "{d}/nodir/x.npz"], "does not exist"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--gain", "nan"], "--gain nan must be a finite number"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--gain", -1], "--gain -1.0 must be a finite number >= 0"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--encoding", "direct", "--threshold", "nan"],
     "--threshold nan must be a finite number"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--dataset", "foo"], "unknown data set 'foo'"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--steps", 0], "greater than or equal to 1"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--validate", -1], "greater than or equal to 0"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--bits", 3], "3 is not one of 1, 2, 4, 8"),
    (["compile", "{d}/m.pt", "-o", "{d}/x.npz", "--encoding", "morse"], "'morse' is not one of"),
    (["train", "-o", "{d}/q.pt", "--steps", 0], "greater than or equal to 1"),
    (["train", "-o", "{d}/q.pt", "--batch", 0], "greater than or equal to 1"),
    (["train", "-o", "{d}/q.pt", "--hidden", -3], "greater than or equal to 1"),
    (["train", "-o", "{d}/q.pt", "--hidden", 0], "greater than or equal to 1"),
    (["train", "-o", "{d}/q.pt", "--lr", "nan"], "--lr nan must be a finite number"),
    (["train", "-o", "{d}/q.pt", "--bits", 3], "--bits 3 is not 0 or one of"),
    (["train", "-o", "{d}/q.pt", "--beta", 1.5], "--beta 1.5 must be a finite number in 0..1"),
    (["train", "-o", "{d}/q.pt", "--neuron", "schmitt", "--hysteresis", 2], "--hysteresis 2.0"),
    (["info", "{d}/empty.npz"], "not an .npz archive"),
    (["info", "{d}/trunc.npz"], "malformed network file"),
    (["eval", "{d}/trunc.npz"], "malformed network file"),
]


@pytest.mark.parametrize("args, text", BAD, ids=[" ".join(map(str, a)) for a, _ in BAD])
def test_bad_input_gets_one_clear_error(files, args, text):
    (files / "empty.npz").write_bytes(b"")
    (files / "trunc.npz").write_bytes((files / "m.npz").read_bytes()[:2000])
    code, out, exc = cli(*[str(a).format(d=files) for a in args])
    assert code == 2, out
    assert "Traceback" not in out and (exc is None or isinstance(exc, SystemExit)), repr(exc)
    assert text in " ".join(out.split()), out
    assert not (files / "x.npz").exists() and not (files / "q.pt").exists()


def test_output_is_written_at_exactly_the_path_given(files):
    code, out, _ = cli("compile", files / "m.pt", "-o", files / "out.bin", "--validate", 0)
    assert code == 0, out
    assert (files / "out.bin").is_file() and not (files / "out.bin.npz").exists()
    assert "wrote" in out and "out.bin.npz" not in out


def test_a_network_that_does_not_fit_is_named(files):
    code, out, _ = cli("compile", files / "m.pt", "-o", files / "big.npz", "--bits", "4,4,4")
    assert code == 2 and "bits has 3 entries for 2 layers" in out


def test_debug_shows_the_traceback(files):
    res = CliRunner().invoke(app, ["--debug", "info", str(files / "empty.npz")])
    assert res.exit_code != 0 and res.exception is not None and type(res.exception).__name__ == "NetworkFileError"


def test_a_stored_encoding_the_driver_does_not_know_is_refused(files, tmp_path):
    """An unknown encoding.method no longer falls back to direct coding (defect 6)."""
    from skyspike.chip.netfile import load_compiled, save_compiled
    from skyspike.spec.config import CONFIGS

    net, meta = load_compiled(files / "m.npz")
    save_compiled(tmp_path / "odd.npz", net, CONFIGS[meta["config"]], {**meta, "encoding": {"method": "morse"}})
    code, out, _ = cli("eval", tmp_path / "odd.npz", "--limit", 5)
    assert code == 2 and "unknown input encoding" in out
