"""Test-side entry to the cocotb runner (``skyspike.rtlsim.runner``): puts tests/ on the
simulator's Python path so that the ``tb_*.py`` cocotb modules here are found."""
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    # The runner hands sys.path to the simulator as PYTHONPATH.
    sys.path.insert(0, str(TESTS_DIR))

from skyspike.rtlsim.runner import SUPPORTED_SIMS, default_sim, run_cocotb  # noqa: E402,F401
