"""Shared pytest configuration for SkySpike tests."""

from __future__ import annotations

import os

import pytest

from simrun import SUPPORTED_SIMS, default_sim


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sim",
        action="store",
        default=None,
        choices=SUPPORTED_SIMS,
        help="HDL simulator for cocotb tests (default: $SIM, else icarus)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Runs in the controller and in every xdist worker: the session default for run_cocotb.
    chosen = config.getoption("--sim")
    if chosen:
        os.environ["SIM"] = chosen


@pytest.fixture(scope="session")
def sim() -> str:
    """The simulator chosen for this session (--sim, else $SIM, else icarus)."""
    return default_sim()
