"""The whole system in simulation: firmware built with Debian's RISC-V toolchain, the SoC RTL
(PicoRV32 + UART + core) on Verilator, and the host client over the simulated UART
(``skyspike.rtlsim.tb_system``). Used by tests/system/test_system.py and make bench."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
DIVISOR = 32  # UART clocks per bit in the simulated SoC (the firmware needs >= 32 at the 16-byte FIFO)
#: The streaming path's divisors in the end-to-end measurements (docs/protocol.md, "Keeping up
#: at 12.5 Mbaud"): 8 (12.5 Mbaud at the chip's 100 MHz; 12 Mbaud, an FT232H rate, at 96 MHz)
#: for images of MNIST's size (FAST_STREAM_STEPS: the digits network run for 49 spike steps is
#: 392 bytes, a 4-bit MNIST image's); 24 (4.17 Mbaud) for the digits network's own 80-byte
#: images, which leave the firmware too little time per image for its answer at divisor 8.
STREAM_DIVISOR = 24
FAST_STREAM_DIVISOR = 8
FAST_STREAM_STEPS = 49


def trained_small_network(out: Path, samples: int = 2, steps: int | None = None):
    """The digits recipe at a size the 'small' core holds (64-48-10), 4-bit, and test spikes:
    at the recipe's 10 steps, or run for ``steps`` (49: 392-byte images, a 4-bit MNIST image's
    size, so that the link's figures apply to MNIST on the chip configuration)."""
    from skyspike.compiler import datasets
    from skyspike.compiler import encode
    from skyspike.compiler import quantize
    from skyspike.compiler import train
    from skyspike.chip.netfile import save_network

    data = datasets.load_digits()
    recipe = train.Recipe(hidden=48, epochs=6)
    model, _ = train.train_or_load(data.x_train, data.y_train, recipe, out)
    steps = steps or recipe.steps
    net = quantize.quantize_snntorch(model, bits=4, steps=steps)
    x = encode.rate(data.x_test[:samples], steps, gain=recipe.gain, rng=7)
    save_network(out / "network.npz", net)
    np.savez(out / "inputs.npz", spikes=x)
    return out / "network.npz", out / "inputs.npz"


def build_firmware_and_soc(build: Path, config: str, board: str | None = None):
    """The firmware (Debian's RISC-V GCC) and the SoC's Verilog for ``config``: the sources.
    ``board`` (a name of ``skyspike_hw.boards.BOARDS``): the SoC of that board's FPGA build,
    elaborated for its platform (memories as block RAM), instead of the simulation model's."""
    from skyspike_hw.socgen import write_soc

    if shutil.which("riscv64-unknown-elf-gcc") is None:
        raise FileNotFoundError("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf "
                                "(make setup)")
    fw = build / "firmware"
    subprocess.run(["make", "-s", "-C", str(ROOT / "firmware"), f"BUILD={fw}"], check=True)
    platform = None
    if board is not None:
        from skyspike_hw.boards import get_board
        platform = get_board(board).make_platform()
    return write_soc(config, fw / "firmware.hex", build / "verilog", uart_divisor=DIVISOR, platform=platform)


def run_stream(build: Path, network: Path, inputs: np.ndarray, *, config: str = "small",
               divisor: int = STREAM_DIVISOR) -> dict:
    """Stream ``inputs`` (spikes or values, as the network takes them) through the firmware on the
    SoC (Verilator) at ``divisor`` (tb_stream): checked against the golden model, and timed.
    Returns tb_stream's report: cycles_per_inference, link_efficiency, bytes_to_chip..."""
    from skyspike.rtlsim.runner import run_cocotb

    build, network = Path(build).resolve(), Path(network).resolve()
    sources = build_firmware_and_soc(build, config)
    np.savez(build / "inputs.npz", inputs=np.asarray(inputs))
    report = build / "stream.json"
    report.unlink(missing_ok=True)
    run_cocotb(sources, "skyspike_soc", "skyspike.rtlsim.tb_stream", build_dir=build, sim="verilator",
               extra_env={"NETWORK": str(network), "INPUTS": str(build / "inputs.npz"), "CONFIG": config,
                          "DIVISOR": str(DIVISOR), "FAST_DIVISOR": str(divisor), "REPORT": str(report)})
    return json.loads(report.read_text())


def run_system(build: Path, *, fuzz: int = 200, seed: int = 3, samples: int = 2, board: str | None = None) -> dict:
    """Build firmware and SoC (``board``: its FPGA build's SoC, :func:`build_firmware_and_soc`),
    run tb_system on Verilator; returns the end-to-end figures."""
    from skyspike.rtlsim.runner import run_cocotb

    build = Path(build).resolve()
    sources = build_firmware_and_soc(build, "small", board)
    network, inputs = trained_small_network(build, samples)
    report = build / "report.json"
    report.unlink(missing_ok=True)
    run_cocotb(sources, "skyspike_soc", "skyspike.rtlsim.tb_system", build_dir=build,
               extra_env={"NETWORK": str(network), "INPUTS": str(inputs), "DIVISOR": str(DIVISOR),
                          "FUZZ": str(fuzz), "SEED": str(seed), "CONFIG": "small", "REPORT": str(report)},
               sim="verilator")
    return json.loads(report.read_text())
