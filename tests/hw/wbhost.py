"""Test-side name for the cocotb bus helpers (``skyspike.rtlsim.bus``)."""
from skyspike.rtlsim.bus import *  # noqa: F401,F403
from skyspike.rtlsim.bus import UpdateTrace, WishboneMaster, compare, load_image, read_results, run_inference, start_clock  # noqa: F401
