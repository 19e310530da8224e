"""Run-time errors through the whole core (cocotb, generated Verilog): the descriptor checks
of skyspike.spec.memmap.ERRORS as a driver sees them (tests/hw/tb_core_errors.py).

The engine's blocks have their own tests beside this one (test_neuron.py,
test_scanner.py, test_descriptor.py, test_synapse.py, test_engine.py, test_layouts.py).
"""
from __future__ import annotations

import os
import random
from pathlib import Path

from simrun import BUILD, run_cocotb
from skyspike_hw.gen import write as write_verilog



def test_runtime_errors_small(sim):
    seed = int(os.environ.get("SEED") or random.randrange(2**32))
    print(f"SEED={seed}")
    src = write_verilog("small", BUILD / "verilog" / "small")
    folder = os.environ.get("COVERAGE_DIR")
    cov = {"COVERAGE_FILE": str(Path(folder) / f"errors-{sim}.json")} if folder else {}
    run_cocotb([src], "skyspike_core", "tb_core_errors", build_dir=BUILD / "core_small",
               extra_env={"CONFIG": "small", "SEED": str(seed), **cov}, sim=sim, coverage_dir=folder)
