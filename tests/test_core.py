"""Whole-core regression: randomized networks on the generated Verilog vs the golden model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from simrun import run_cocotb
from skyspike_hw.gen import write as write_verilog

BUILD = Path(__file__).resolve().parent.parent / "build" / "tests"


def core_verilog(config: str) -> Path:
    return write_verilog(config, BUILD / "verilog" / config)


# The CI budget: 200+ random whole-network cases on Icarus per run (split in shards so
# that pytest-xdist spreads them); SOAK=N multiplies the count for a long soak.
SHARDS = 4
CASES_PER_SHARD = 55 * int(os.environ.get("SOAK", "1"))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_random_networks_small(shard, sim):
    run_cocotb([core_verilog("small")], "skyspike_core", "tb_core", build_dir=BUILD / "core_small",
               extra_env={"CONFIG": "small", "N_CASES": str(CASES_PER_SHARD),
                          "SEED": os.environ.get("SEED", str(1000 + shard))}, sim=sim)
