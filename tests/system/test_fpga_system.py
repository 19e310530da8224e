"""The SoC of the FPGA build (skyspike_hw.fpgatop: the SoC elaborated for the board's platform,
its memories block RAM) in simulation: the whole-system test (firmware, host protocol, trained
network equal to golden, protocol fuzz) and the driver's serial backend over the simulated UART,
as ``skyspike run --backend serial`` drives a board. Verilator."""
from __future__ import annotations

import os
import shutil

import pytest

from simrun import BUILD as TESTS_BUILD

BOARD = "ulx3s-85f"
BUILD = TESTS_BUILD / "fpga-system"


def _needs():
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed")
    pytest.importorskip("amaranth_boards", reason="amaranth-boards is not installed (pip install -e '.[fpga]')")
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf (make setup)")


@pytest.mark.verilator
def test_fpga_soc_system_end_to_end():
    _needs()
    from skyspike.rtlsim.system import run_system

    # The protocol fuzz is the firmware's, which test_system.py runs at 200 frames on the same SoC
    # with the simulation model's memories; here a short one keeps the suite's time in bounds.
    report = run_system(BUILD, fuzz=int(os.environ.get("FUZZ", "20")), seed=int(os.environ.get("SEED", "3")),
                        board=BOARD)
    assert report["end_to_end_cycles"] > report["core_cycles"] > 0


@pytest.mark.verilator
def test_fpga_soc_serial_backend():
    _needs()
    from skyspike.rtlsim.runner import run_cocotb
    from skyspike.rtlsim.system import DIVISOR, build_firmware_and_soc, trained_small_network

    build = (TESTS_BUILD / "fpga-serial").resolve()
    sources = build_firmware_and_soc(build, "small", BOARD)
    network, inputs = trained_small_network(build, samples=4)
    run_cocotb(sources, "skyspike_soc", "tb_fpga_serial", build_dir=build, sim="verilator",
               extra_env={"NETWORK": str(network), "INPUTS": str(inputs), "CONFIG": "small",
                          "DIVISOR": str(DIVISOR)})
