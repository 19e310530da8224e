"""Whole-core regression: randomized networks on the generated Verilog vs the golden model
(spikes and membranes of every neuron at every step, final membranes and spike counts read
over the bus, exact cycle counts). Seeds are printed; SEED=n replays, SOAK=k runs k times more."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from simrun import BUILD, run_cocotb
from skyspike_hw.gen import write as write_verilog



def core_verilog(config: str) -> Path:
    return write_verilog(config, BUILD / "verilog" / config)


# At least 200 random whole-network cases per simulator per run, in shards that pytest-xdist
# spreads over the cores.
SHARDS = 4
CASES_PER_SHARD = 52 * int(os.environ.get("SOAK", "1"))
SIMS = ["icarus", pytest.param("verilator", marks=pytest.mark.verilator)]


def coverage_env(name: str) -> dict[str, str]:
    """Where a run writes its coverage bins, when `make coverage` asks for them (COVERAGE_DIR)."""
    folder = os.environ.get("COVERAGE_DIR")
    return {"COVERAGE_FILE": str(Path(folder) / f"{name}.json")} if folder else {}


def seed_for(shard: int, sim: str) -> str:
    return os.environ.get("SEED", str(1000 + 10 * shard + (sim == "verilator")))


@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("shard", range(SHARDS))
def test_random_networks_small(shard, sim):
    run_cocotb([core_verilog("small")], "skyspike_core", "tb_core", build_dir=BUILD / "core_small",
               extra_env={"CONFIG": "small", "N_CASES": str(CASES_PER_SHARD), "SEED": seed_for(shard, sim),
                          **coverage_env(f"random-{sim}-{shard}")},
               testcase="random_networks", sim=sim, coverage_dir=os.environ.get("COVERAGE_DIR"))


@pytest.mark.parametrize("sim", SIMS)
def test_bias_directed_small(sim):
    """Bias rows where the memory past the real inputs holds garbage (tests/hw/tb_core.py)."""
    run_cocotb([core_verilog("small")], "skyspike_core", "tb_core", build_dir=BUILD / "core_small",
               extra_env={"CONFIG": "small", "SEED": os.environ.get("SEED", "5")},
               testcase="bias_directed", sim=sim, coverage_dir=os.environ.get("COVERAGE_DIR"))


def test_random_networks_chip():
    """The sky130 configuration itself (32 banks, 256 lanes, 16 update lanes) on Icarus:
    fewer, narrower cases, since it simulates at ~150 cycles/s."""
    run_cocotb([core_verilog("chip")], "skyspike_core", "tb_core", build_dir=BUILD / "core_chip",
               extra_env={"CONFIG": "chip", "N_CASES": os.environ.get("CHIP_CASES", "3"), "BATCH": "1",
                          "MAX_WIDTH": "160", "SEED": os.environ.get("SEED", "77")},
               testcase="random_networks", sim="icarus")


@pytest.mark.verilator
def test_coverage_closure_small():
    """Every layer configuration, both membrane rails and input densities 0 and 1 on the RTL,
    == golden (tests/hw/tb_core.py coverage_closure; `make coverage` reports the bins)."""
    run_cocotb([core_verilog("small")], "skyspike_core", "tb_core", build_dir=BUILD / "core_small",
               extra_env={"CONFIG": "small", "SEED": os.environ.get("SEED", "1"),
                          **coverage_env("closure")}, testcase="coverage_closure", sim="verilator",
               coverage_dir=os.environ.get("COVERAGE_DIR"))
