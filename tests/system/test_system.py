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


@pytest.mark.verilator
@pytest.mark.parametrize("fast", [False, True], ids=["digits-4.17Mbaud", "392B-12.5Mbaud"])
def test_stream_end_to_end(fast):
    """The streaming path on the SoC at its fast link rates: a trained digits network (its own
    80-byte images at divisor 24; run for 49 steps, 392-byte images like MNIST's, at divisor 8),
    every answer (classes; then counts, membranes, cycles) equal to the golden model's; raw inputs
    cross the link once, and the stream keeps up with the link (tb_stream)."""
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed")
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf (make setup)")
    import numpy as np

    from skyspike.rtlsim.system import (FAST_STREAM_DIVISOR, FAST_STREAM_STEPS, STREAM_DIVISOR, run_stream,
                                        trained_small_network)

    build = TESTS_BUILD / ("system-stream-fast" if fast else "system-stream")
    samples = 8 if fast else 12
    network, inputs = trained_small_network(build, samples=samples, steps=FAST_STREAM_STEPS if fast else None)
    r = run_stream(build, network, np.load(inputs)["spikes"], config="small",
                   divisor=FAST_STREAM_DIVISOR if fast else STREAM_DIVISOR)
    n = r["samples"]
    assert r["input_bytes"] == (392 if fast else 80)
    assert r["bytes_to_chip"] / n <= 1.1 * r["input_bytes"]     # the request's frames amortized
    assert r["bytes_from_chip"] / n <= 1 + 40 / n               # the class, plus go-ahead and closing frames
    assert r["link_efficiency"] >= 0.8, r


def test_fuzz_gap_outlasts_the_firmware_interbyte_timeout():
    """The fuzz's silence after a malformed frame must exceed the firmware's inter-byte timeout
    (16 characters, floor FW_MIN_TIMEOUT cycles in firmware/src/hal_soc.c): otherwise a
    truncated frame swallows the next request, and the replies to the merged garbage are sent
    while the host is already sending."""
    import re
    from pathlib import Path

    from skyspike.rtlsim.tb_system import FW_MIN_TIMEOUT, fuzz_gap

    hal = (Path(__file__).resolve().parents[2] / "firmware" / "src" / "hal_soc.c").read_text()
    floor = int(re.search(r"#define FW_MIN_TIMEOUT (\d+)", hal).group(1))
    chars = int(re.search(r"#define FW_INTERBYTE_CHARS (\d+)", hal).group(1))
    assert FW_MIN_TIMEOUT == floor
    for divisor in (8, 32, 48, 868):
        char_cycles = 10 * divisor
        firmware_timeout = max(chars * 10 * (divisor + 1), floor)
        assert fuzz_gap(char_cycles) > firmware_timeout + 2 * char_cycles, divisor
