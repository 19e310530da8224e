"""The bad-input campaign of bench/robustness.py (about 1,900 invalid cases at every public entry
point) ends with no traceback, no hang and nothing silently accepted."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bad_input_campaign_has_only_clear_errors():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import robustness
    finally:
        sys.path.remove(str(ROOT / "bench"))
    assert robustness.main() == 0
    results = json.loads((robustness.OUT / "robustness.json").read_text())
    assert sum(sum(c.values()) for c in results.values()) > 1500
    assert all(set(c) == {"clear"} for c in results.values()), results
