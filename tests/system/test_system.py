"""The whole system end to end: firmware on the real PicoRV32 in the SoC RTL, the Python host
client over the simulated UART, a trained digits network, golden-model agreement, and a
protocol fuzz (skyspike/rtlsim/tb_system.py). On Verilator: Icarus runs the SoC at ~900 cycles/s."""
from __future__ import annotations

import os
import shutil

import pytest

from simrun import BUILD as TESTS_BUILD
from skyspike.rtlsim.system import run_system

BUILD = TESTS_BUILD / "system"


@pytest.mark.verilator
def test_system_end_to_end():
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed")
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf (make setup)")
    report = run_system(BUILD, fuzz=int(os.environ.get("FUZZ", "200")), seed=int(os.environ.get("SEED", "3")))
    assert report["end_to_end_cycles"] > report["core_cycles"] > 0
