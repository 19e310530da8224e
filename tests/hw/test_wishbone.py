"""The core's Wishbone register interface, driven from cocotb without a CPU."""
from __future__ import annotations

import os

from simrun import run_cocotb
from test_core import BUILD, core_verilog


def test_wishbone_small(sim):
    run_cocotb([core_verilog("small")], "skyspike_core", "tb_wishbone", build_dir=BUILD / "core_small", coverage_dir=os.environ.get("COVERAGE_DIR"),
               extra_env={"CONFIG": "small", "SEED": os.environ.get("SEED", "5")}, sim=sim)
