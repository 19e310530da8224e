"""Core configurations (skyspike.spec.config): invalid generator parameters are refused."""
from __future__ import annotations

import pytest
from skyspike.spec.config import CONFIGS, CoreConfig




def test_bad_core_configs():
    base = CONFIGS["small"].as_dict()
    for field, bad in [("banks", 6), ("bank_depth", 1000), ("max_slots", 8), ("update_lanes", 3),
                       ("max_neurons", 40), ("max_layers", 0), ("input_banks", 2), ("state_neurons", 30)]:
        with pytest.raises(ValueError, match=str(bad)):
            CoreConfig(**{**base, field: bad})
