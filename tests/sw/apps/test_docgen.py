"""docs/memory-map.md is generated from the contract and current."""
from __future__ import annotations

from skyspike.spec.config import CONFIGS




def test_memory_map_doc_is_current():
    from pathlib import Path

    from skyspike.apps.docgen import markdown
    from skyspike.spec.memmap import check_fits

    for cfg in CONFIGS.values():
        check_fits(cfg)
    doc = Path(__file__).resolve().parents[3] / "docs" / "memory-map.md"
    assert doc.read_text() == markdown(CONFIGS["chip"]), "regenerate: python -m skyspike.apps.docgen > docs/memory-map.md"
