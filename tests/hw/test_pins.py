"""The pin map (skyspike_hw.pins): consistent, docs/pins.md is its current print-out, and the
pad modes are the ones the chip top drives."""
from __future__ import annotations

from pathlib import Path

import pytest

from skyspike_hw import pins

DOC = Path(__file__).resolve().parents[2] / "docs" / "pins.md"


def test_docs_pins_md_is_current():
    assert DOC.read_text() == pins.markdown(), "regenerate: python -m skyspike_hw.pins > docs/pins.md"


def test_pin_map():
    assert pins.OPENFRAME_GPIOS == 44
    names = {p.name for p in pins.PINS}
    assert {"clk", "uart_rx", "uart_tx", "core_irq", "core_active", "cpu_trap", "heartbeat"} == names
    assert pins.pin("clk").direction == "in" and pins.pin("uart_tx").direction == "out"
    with pytest.raises(ValueError, match="'nope'"):
        pins.pin("nope")


def test_pad_modes():
    assert pins.pad_mode(pins.pin("uart_tx").gpio) == pins.PAD_MODES["out"]
    assert pins.pad_mode(pins.pin("uart_rx").gpio) == pins.PAD_MODES["in"]
    assert pins.pad_mode(43) == pins.PAD_MODES["unused"]
    out, inp, unused = (pins.PAD_MODES[k] for k in ("out", "in", "unused"))
    assert (out.dm, out.oeb) == (0b110, 0) and (inp.dm, inp.oeb) == (0b001, 1)
    assert (unused.dm, unused.oeb, unused.out) == (0b011, 0, 0)       # weak pull-down
    for bad, exc in ((44, ValueError), (-1, ValueError), ("3", TypeError), (True, TypeError)):
        with pytest.raises(exc, match=repr(bad) if exc is TypeError else str(bad)):
            pins.pad_mode(bad)


def test_cli_prints_the_doc(capsys):
    assert pins.main() == 0
    assert capsys.readouterr().out == DOC.read_text()
