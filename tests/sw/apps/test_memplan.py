"""The memory-plan table (skyspike.apps.memplan): the chosen plan is the chip configuration,
fits the area budget, and the table in docs/memory-plan.md says what the code computes."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from skyspike.apps import memplan
from skyspike.spec.config import CONFIGS

DOC = Path(__file__).resolve().parents[3] / "docs" / "memory-plan.md"


def test_chosen_plan_is_the_chip_and_fits():
    chosen = [p for p in memplan.PLANS if p.note == "chosen"]
    assert len(chosen) == 1 and chosen[0].cfg == CONFIGS["chip"]
    assert chosen[0].macro_mm2 < memplan.AREA_BUDGET * memplan.OPENFRAME_MM2


def test_largest_hidden_is_the_widest_that_fits():
    cfg = CONFIGS["chip"]
    # with 32 bias rows a layer; the output layer folded (1 and 2 bits: 96 before folding)
    for bits, hidden in [(1, 256), (2, 128), (4, 64), (8, 32)]:
        assert memplan.largest_hidden(cfg, bits) == hidden
        assert memplan.fits(cfg, hidden, bits) and not memplan.fits(cfg, hidden + 16, bits)


def test_rows_and_markdown():
    images = np.random.default_rng(1).random((8, 784)) * 0.3
    rows = memplan.plan_rows(images, cells_mm2=1.5, fmax_mhz=100.0, accuracy={(64, 4): (0.97, 0.86)})
    assert len(rows) == len(memplan.PLANS) * 4
    chip4 = next(r for r in rows if r["note"] == "chosen" and r["bits"] == 4)
    assert chip4["network"] == "784-64-10" and chip4["accuracy"] == (0.97, 0.86)
    assert chip4["inferences_per_s"] == 100e6 / chip4["cycles"]
    text = memplan.markdown(rows, 1.5, 100.0)
    assert text.count("\n") == len(rows) + 2 and "97.00% / 86.00%" in text


def test_doc_names_the_plans_the_code_compares():
    text = DOC.read_text()
    for plan in memplan.PLANS:
        assert plan.name in text
    areas = {float(a) for a in re.findall(r"\| \d+: (\d+\.\d\d) \|", text)}
    assert {round(p.macro_mm2, 2) for p in memplan.PLANS} <= areas
