"""Gate-level boot of the chip top: the OpenFrame top (openframe_project_wrapper) of the small
configuration synthesized to sky130 (the firmware of firmware/ in its boot ROM of standard
cells), reset through the reset pad, clocked on its GPIO. The firmware boots from the ROM,
copies .data and clears .bss in the RAM macro, and answers the Python host client over the
UART pads: IDENTIFY, a tiny network loaded, one inference equal to the golden model
(skyspike.rtlsim.tb_system, no fuzz).

How it is simulated, and why (measured on the 2-core development machine, small config):
with the sky130 functional cell models (one module per cell, UDPs) Verilator emitted
~400 MB of C++ (476 files, hours of compilation); Icarus was not chosen because the boot,
the load and the inference take ~5 x 10^5 cycles and an event-driven simulator of ~10^5
cell instances would need tens of minutes for that (not measured here). Instead Yosys reads the
cells' Liberty ``function``/``ff`` groups as modules of its own gates and flattens the
netlist into them (:func:`skyspike_hw.flow.gls.generic_gates`): the same synthesized gates,
one-to-one, nothing re-optimized (~290k gates, 8.6k flops), as plain ``assign``s and flops;
with only the harness's ports public (cocotb's ``--public-flat-rw`` off) Verilator emits
~20 MB of C++. Measured (2 cores shared with other jobs): chip synthesis ~4-7 min and the
generic gates ~1-2 min (both cached by the design's hash), Verilator build ~7.5 min, the
run 487k cycles in 43 s (~11k cycles/s). The SRAM macros stay instances of the Amaranth
SRAM model under the macros' names, as in tests/hw/flow/test_gls.py.
Zero-delay functional simulation, like the cell models' FUNCTIONAL view; timing is STA's job.
"""
from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

from flowrun import BUILD, chip_netlist, pdk

DIVISOR = 32        # UART clocks per bit: the chip top is synthesized with this reset divisor


def tiny_network(out):
    """One layer of 8 x 4 4-bit weights, 4 steps, one input sample (seeded; the golden model
    counts 4, 0, 1, 0 spikes): the load over the UART is ~140 words (~10^5 cycles) instead of
    the digits network's ~10^6 cycles, and the inference itself a few dozen core cycles."""
    from skyspike.chip.netfile import save_network
    from skyspike.chip.network import ChipLayer, ChipNetwork

    rng = np.random.default_rng(130)
    net = ChipNetwork([ChipLayer(rng.integers(-7, 8, size=(8, 4)), bits=4, beta=240, theta_high=8)], steps=4)
    spikes = rng.random((1, net.steps, 8)) < 0.5
    out.mkdir(parents=True, exist_ok=True)
    save_network(out / "network.npz", net)
    np.savez(out / "inputs.npz", spikes=spikes)
    return out / "network.npz", out / "inputs.npz"


@pytest.mark.verilator
def test_chip_top_boots_and_infers_gate_level():
    pdk_ = pdk()    # skips with a clear message without ../shared/pdk or $PDK_ROOT
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: the boot ROM needs the firmware (make setup)")
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed")
    from simrun import run_cocotb
    from skyspike_hw.flow.gls import chip_harness, generic_gates, verilator_ports_only_args, write_macro_models
    from skyspike_hw.flow.synth import build_firmware, chip_macro_instances

    build = BUILD / "chip_gls"
    t0 = time.monotonic()
    firmware = build_firmware(build / "firmware")
    netlist = chip_netlist("small", firmware, uart_divisor=DIVISOR)
    t1 = time.monotonic()
    macros = sorted(set(chip_macro_instances("small").values()))
    gates = build / "gates" / "openframe_project_wrapper.v"
    if not gates.is_file() or gates.stat().st_mtime < netlist.stat().st_mtime:
        generic_gates(netlist, pdk_.liberty, [pdk_.sram(m).lib for m in macros], "openframe_project_wrapper", gates)
    t2 = time.monotonic()
    network, inputs = tiny_network(build)
    sources = [chip_harness(build), gates, *write_macro_models(macros, build / "models")]
    run_cocotb(sources, "chip_harness", "skyspike.rtlsim.tb_system", build_dir=build,
               extra_env={"NETWORK": str(network), "INPUTS": str(inputs), "DIVISOR": str(DIVISOR),
                          "FUZZ": "0", "CONFIG": "small"},
               sim="verilator", build_args=verilator_ports_only_args("chip_harness", build))
    print(f"chip GLS: synthesis {t1 - t0:.0f} s, generic gates {t2 - t1:.0f} s, "
          f"Verilator build and run {time.monotonic() - t2:.0f} s")
