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


def trained_small_network(out: Path, samples: int = 2):
    """The digits recipe at a size the 'small' core holds (64-48-10), 4-bit, and test spikes."""
    from skyspike.compiler import datasets
    from skyspike.compiler import encode
    from skyspike.compiler import quantize
    from skyspike.compiler import train
    from skyspike.chip.netfile import save_network

    data = datasets.load_digits()
    recipe = train.Recipe(hidden=48, epochs=6)
    model, _ = train.train_or_load(data.x_train, data.y_train, recipe, out)
    net = quantize.quantize_snntorch(model, bits=4, steps=recipe.steps)
    x = encode.rate(data.x_test[:samples], recipe.steps, gain=recipe.gain, rng=7)
    save_network(out / "network.npz", net)
    np.savez(out / "inputs.npz", spikes=x)
    return out / "network.npz", out / "inputs.npz"


def run_system(build: Path, *, fuzz: int = 200, seed: int = 3, samples: int = 2) -> dict:
    """Build firmware and SoC, run tb_system on Verilator; returns the end-to-end figures."""
    from skyspike_hw.socgen import write_soc

    from skyspike.rtlsim.runner import run_cocotb

    if shutil.which("riscv64-unknown-elf-gcc") is None:
        raise FileNotFoundError("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf "
                                "(make setup)")
    build = Path(build).resolve()
    fw = build / "firmware"
    subprocess.run(["make", "-s", "-C", str(ROOT / "firmware"), f"BUILD={fw}"], check=True)
    network, inputs = trained_small_network(build, samples)
    sources = write_soc("small", fw / "firmware.hex", build / "verilog", uart_divisor=DIVISOR)
    report = build / "report.json"
    report.unlink(missing_ok=True)
    run_cocotb(sources, "skyspike_soc", "skyspike.rtlsim.tb_system", build_dir=build,
               extra_env={"NETWORK": str(network), "INPUTS": str(inputs), "DIVISOR": str(DIVISOR),
                          "FUZZ": str(fuzz), "SEED": str(seed), "CONFIG": "small", "REPORT": str(report)},
               sim="verilator")
    return json.loads(report.read_text())
