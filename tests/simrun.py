"""Test-side entry to the cocotb runner (``skyspike.rtlsim.runner``) and the tests' shared
paths. pytest's ``pythonpath`` (pyproject.toml) puts tests/, tests/hw/ and the other folders of
shared test modules on sys.path, which the runner hands to the simulator as PYTHONPATH, so the
``tb_*.py`` cocotb benches beside their tests are found."""
from pathlib import Path

from skyspike.rtlsim.runner import SUPPORTED_SIMS, default_sim, run_cocotb  # noqa: F401

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
BUILD = REPO / "build" / "tests"
