"""``make fpga-check`` (skyspike.apps.fpgacheck) without a board: one line, a non-zero exit.
With a board's firmware on the simulated SoC of the FPGA build: tests/system/test_fpga_system.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_no_board_is_one_line_and_exit_1():
    proc = subprocess.run([sys.executable, "-m", "skyspike.apps.fpgacheck", "--port", "/dev/ttyNOBOARD9"],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": f"{ROOT / 'sw'}:{ROOT / 'hw'}", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: no board: /dev/ttyNOBOARD9 does not exist (connect a board with `make fpga-prog`, or give PORT=...)"]
    assert proc.stdout == ""


def test_against_an_emulated_board(capsys):
    """The whole command on a serial port: the emulated chip on a pseudo-terminal."""
    from simrun import BUILD

    from skyspike.apps.fpgacheck import main
    from skyspike.emu.fakechip import FakeChip

    with FakeChip("small") as chip:
        assert main(["--port", chip.port, "--samples", "4", "--out", str(BUILD / "fpga-check")]) == 0
    out = capsys.readouterr().out
    assert "4 inferences in" in out and "answers equal to the golden model: yes" in out
