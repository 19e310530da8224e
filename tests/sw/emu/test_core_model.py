"""The core model (skyspike.emu.core_model): identification words from the spec, register
fields, the sticky flags, writes refused while busy, and the stand-in run."""
from __future__ import annotations

import numpy as np
import pytest

from skyspike.spec import memmap as mm
from skyspike.spec.config import CONFIGS
from skyspike.spec.layouts import STATE_ENTRY
from skyspike.emu.core_model import CoreModel


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_identification_is_the_spec(name):
    core = CoreModel(CONFIGS[name])
    assert core.caps == mm.caps_words(CONFIGS[name])
    for reg, word in mm.caps_words(CONFIGS[name]).items():
        assert core.read(mm.REG[reg]) == word


def test_registers_and_flags():
    core = CoreModel(CONFIGS["small"])
    core.write(mm.REG["NET"], 0xFFFF_FFFF)              # only NET's fields are kept
    assert core.read(mm.REG["NET"]) == mm.NET.pack(n_layers=0xFF, steps=0xFF, input_base=0xFFFF)
    core.write(mm.REG["CTRL"], mm.CTRL.pack(irq_en=1))
    assert core.read(mm.REG["CTRL"]) == mm.CTRL.mask("irq_en")
    core.write(mm.REG["CAPS0"], 1)                      # read-only: bus error, address kept
    assert core.read(mm.REG["STATUS"]) == mm.STATUS.mask("bus_error")
    assert core.read(mm.REG["BUS_ADDR"]) == mm.REG["CAPS0"]
    core.write(mm.REG["CTRL"], mm.CTRL.pack(clear_flags=1))
    assert core.read(mm.REG["STATUS"]) == 0


def test_busy_locks_only_the_running_input():
    """While a run is on, the input buffer outside its frames (NET.input_base + span) takes
    writes: the next inference's input (double buffering)."""
    from skyspike.chip.image import build_image, image_writes, input_page
    from skyspike.chip.testing import random_network

    cfg = CONFIGS["small"]
    image = build_image(random_network(np.random.default_rng(4), cfg), cfg)
    core = CoreModel(cfg)
    for addr, word in image_writes(image):
        core.write(addr, word)
    core.hang = True
    core.write(mm.REG["CTRL"], mm.CTRL.pack(start=1))
    page = input_page(image)
    core.write(mm.INPUT_BASE + 4 * page, 7)                 # the next page: taken
    assert core.read(mm.INPUT_BASE + 4 * page) == 7 and not core.write_refused
    core.write(mm.INPUT_BASE + 4 * (page - 1), 7)           # the running page: refused
    assert core.write_refused and core.read(mm.INPUT_BASE + 4 * (page - 1)) == 0


def test_busy_refuses_writes_until_aborted():
    core = CoreModel(CONFIGS["small"])
    core.write(mm.REG["NET"], mm.NET.pack(n_layers=1, steps=1))
    core.hang = True
    core.write(mm.REG["CTRL"], mm.CTRL.pack(start=1))
    assert core.busy and core.read(mm.REG["STATUS"]) == mm.STATUS.mask("busy")
    core.write(mm.WEIGHT_BASE, 5)
    assert core.read(mm.REG["STATUS"]) == mm.STATUS.pack(busy=1, write_refused=1)
    assert core.read(mm.WEIGHT_BASE) == 0
    core.write(mm.REG["CTRL"], mm.CTRL.pack(abort=1))
    assert core.read(mm.REG["STATUS"]) == 0


def test_stand_in_run_and_bad_layer_count():
    core = CoreModel(CONFIGS["small"])
    core.write(mm.REG["CTRL"], mm.CTRL.pack(start=1))   # NET = 0 layers
    assert mm.STATUS.unpack(core.read(mm.REG["STATUS"])) == {
        "busy": 0, "done": 1, "bus_error": 0, "write_refused": 0,
        "error": mm.RunError.BAD_LAYER_COUNT, "error_layer": 0}
    core.write(mm.REG["NET"], mm.NET.pack(n_layers=2, steps=3))
    core.write(mm.REG["CTRL"], mm.CTRL.pack(start=1))
    assert core.done and core.read(mm.REG["CYCLES"]) == 600
    entry = STATE_ENTRY.unpack(core.read(mm.STATE_BASE + 4 * 5))
    assert entry == {"v": 5 * 37 + 3, "armed": 1, "fired": 0}
    assert core.read(mm.COUNT_BASE + 4) == 3 + 2 + 3
