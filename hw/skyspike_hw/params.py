"""Constructor-argument checks shared by the hardware blocks."""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["rejecting", "check_int"]


@contextmanager
def rejecting(obj):
    """Wrap the parameter checks of an Elaboratable's constructor: an object whose arguments
    are rejected was never meant to be used, so Amaranth's "created but never elaborated"
    warning is silenced for it before the TypeError or ValueError propagates."""
    try:
        yield
    except (TypeError, ValueError):
        obj._MustUse__silence = True
        raise


def check_int(name: str, value, lo: int, hi: int, unit: str = "") -> int:
    """``value`` if it is an int (not a bool) within ``lo..hi``.

    Raises :exc:`TypeError` (not an int) or :exc:`ValueError` (out of range), naming
    ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be within {lo}..{hi}{' ' + unit if unit else ''}, not {value}")
    return value
