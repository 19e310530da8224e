"""The precision advice (skyspike.apps.advice): what is ready, what to fine-tune and how, and the
sweep that prints it."""
from __future__ import annotations

from typer.testing import CliRunner

from skyspike.apps import advice
from skyspike.apps.advice import PrecisionRow
from skyspike.apps.cli import app

ROWS = [PrecisionRow(1, "yes", 0.95, 0.50, 0.62), PrecisionRow(2, "yes", 0.95, 0.83, 0.93),
        PrecisionRow(4, "yes", 0.95, 0.93, 0.945), PrecisionRow(8, "no: too big", 0.95, 0.95, None)]


def test_verdicts_and_advice():
    assert [advice.verdict(r) for r in ROWS] == ["33.0 pt below float: fine-tune", "2.0 pt below float: fine-tune",
                                                 "ready with --calibrate", "does not fit"]
    command = advice.finetune_command("m.nir", "digits", None, 16, "subtract", "rate", None, True)
    lines = advice.advice_lines(ROWS, command)
    assert lines[0] == "smallest precision within 1 pt of float: 4 bits"
    assert lines[2] == ("2-bit: fine-tuning advised (2.0 pt below float after calibration): skyspike finetune m.nir "
                        "-o m-2bit.nir --bits 2 --steps 16 --dataset digits --nir-reset subtract")
    assert advice.advice_lines([ROWS[3]], command) == [
        "no precision fits this core: use a larger configuration or a smaller network"]
    uncalibrated = PrecisionRow(2, "yes", 0.95, 0.83, None)
    assert advice.verdict(uncalibrated) == "12.0 pt below float: try --calibrate"
    schmitt = advice.finetune_command("m.pt", "digits", None, 16, "zero", "values", 4, False)
    assert schmitt(2).startswith("skyspike train --bits 2")


def test_sweep_says_what_fits_the_calibrated_accuracy_and_what_to_do(tmp_path):
    from stock_snntorch import train_stock

    from skyspike.compiler import datasets
    from skyspike.compiler.model import export_nir

    d = datasets.load_digits()
    export_nir(train_stock(d.x_train, d.y_train, (64, 16, 10), epochs=3, seed=4), 64, tmp_path / "m.nir")
    res = CliRunner().invoke(app, ["sweep", str(tmp_path / "m.nir"), "--nir-reset", "subtract", "--steps", "8",
                                   "--limit", "100", "--calibrate-samples", "150"])
    text = " ".join(res.output.split())
    assert res.exit_code == 0, res.output
    assert "chip (calibrated)" in text and "advice" in text
    assert "fine-tuning advised" in text and "skyspike finetune" in text
