"""The core's control-side memory map: one table shared by the RTL, the driver, the
firmware header and docs/memory-map.md (generated from this file).

Byte addresses on a 32-bit bus; every register and memory word is 32 bits wide.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import DESC_WORDS, CoreConfig

CORE_ID = 0x534B5953          # "SKYS"
CORE_VERSION = 0x0001_0000    # major.minor.patch as 8.8.16


@dataclass(frozen=True)
class Reg:
    name: str
    offset: int
    access: str  # "r", "w", "rw"
    doc: str


REGS = [
    Reg("ID", 0x00, "r", "constant 0x534B5953 ('SKYS')"),
    Reg("VERSION", 0x04, "r", "core version, 8.8.16 bits major.minor.patch"),
    Reg("CAPS0", 0x08, "r", "banks[7:0] max_slots[15:8] update_lanes[23:16] max_layers[31:24]"),
    Reg("CAPS1", 0x0C, "r", "max_neurons[15:0] max_inputs[31:16]"),
    Reg("CAPS2", 0x10, "r", "state_neurons[15:0] max_outputs[31:16]"),
    Reg("CAPS3", 0x14, "r", "bank_depth[15:0] input_banks[23:16] input_depth/256[31:24]"),
    Reg("CTRL", 0x20, "w", "bit 0: start an inference (ignored while busy)"),
    Reg("STATUS", 0x24, "r", "bit 0 busy, bit 1 done, bits 15:8 error code (0 = none), bits 23:16 layer of the error"),
    Reg("NET", 0x28, "rw", "n_layers[7:0] steps[15:8]"),
    Reg("CYCLES", 0x2C, "r", "clock cycles of the last inference, start strobe to done"),
]
REG = {r.name: r.offset for r in REGS}

DESC_BASE = 0x0400     # layer l, word j at DESC_BASE + 4 * (l * DESC_WORDS + j)
COUNT_BASE = 0x0800    # spike count of output neuron n at COUNT_BASE + 4 * n
STATE_BASE = 0x1000    # neuron state entry e: V[15:0] (signed), armed[16], fired[17]
INPUT_BASE = 0x1_0000  # input buffer bank j word a: INPUT_BASE + 4 * (j * input_depth + a)
WEIGHT_BASE = 0x2_0000  # weight bank j word a: WEIGHT_BASE + 4 * (j * bank_depth + a)

# Error codes in STATUS[15:8]: the first failing check, in this order, for the layer in STATUS[23:16].
ERRORS = {
    1: ("BAD_LAYER_COUNT", "n_layers is 0 or above max_layers"),
    2: ("BAD_STEPS", "steps is 0, or steps x input words per bank exceed the input buffer"),
    3: ("BAD_SIZE", "n_in or n_out is 0, or above the core's limits (max_inputs for layer 0, max_neurons)"),
    4: ("BAD_CHAIN", "n_in differs from the previous layer's n_out"),
    5: ("BAD_THRESHOLD", "theta_low > theta_high"),
    6: ("BAD_BETA", "beta above 256"),
    7: ("BAD_SLOTS", "slots above max_slots"),
    8: ("WEIGHT_OVERFLOW", "w_base + the layer's words per bank exceed bank_depth"),
    9: ("STATE_OVERFLOW", "state_base not a multiple of update_lanes, or state_base + n_out above state_neurons"),
    10: ("BAD_OUTPUTS", "the last layer has more neurons than max_outputs"),
}
ERROR_CODE = {name: code for code, (name, _) in ERRORS.items()}


def region_sizes(cfg: CoreConfig) -> dict[str, tuple[int, int]]:
    """(base, bytes) of each memory region for ``cfg``."""
    return {
        "regs": (0, 0x40),
        "descriptors": (DESC_BASE, 4 * cfg.max_layers * DESC_WORDS),
        "counts": (COUNT_BASE, 4 * cfg.max_outputs),
        "state": (STATE_BASE, 4 * cfg.state_neurons),
        "inputs": (INPUT_BASE, 4 * cfg.input_banks * cfg.input_depth),
        "weights": (WEIGHT_BASE, 4 * cfg.banks * cfg.bank_depth),
    }


def check_fits(cfg: CoreConfig) -> None:
    sizes = region_sizes(cfg)
    order = sorted(sizes.values())
    for (b0, n0), (b1, _) in zip(order, order[1:]):
        if b0 + n0 > b1:
            raise ValueError(f"memory map regions overlap for {cfg}")
