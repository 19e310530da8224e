"""The core's control-side memory map: one table shared by the RTL, the driver, the
firmware header and docs/memory-map.md (generated from this file).

Byte addresses on a 32-bit bus; every register and memory word is 32 bits wide.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .bitfields import Field, Layout
from .config import MAX_BIAS_ROWS, CoreConfig
from .layouts import DESC_WORDS

CORE_ID = 0x534B5953          # "SKYS"
CORE_VERSION = 0x0001_0200    # major.minor.patch as 16.8.8 bits; 1.1: bias rows (descriptor word 1 bits 15:8);
                              # 1.2: graded input, direct or rate coded (descriptor word 1 bits 19:16, SEED)


@dataclass(frozen=True)
class Reg:
    """One 32-bit register: its byte offset, access ("r", "w", "rw") and, where it has named
    fields, their layout (the rest of the register reads 0 and ignores writes)."""

    name: str
    offset: int
    access: str
    doc: str
    layout: Layout | None = None

    @property
    def writable(self) -> bool:
        return "w" in self.access

    @property
    def summary(self) -> str:
        """The doc with the fields, e.g. ``n_layers[7:0] steps[15:8]``."""
        if self.layout is None:
            return self.doc
        return f"{self.doc}: " + " ".join(f"{f.name}{f.bits}" for f in self.layout)


def _reg_layout(name: str, *fields: Field) -> Layout:
    return Layout(name, 32, fields)


#: CAPS0..3: the core's generator parameters (fields named as CoreConfig's attributes).
CAPS = {
    "CAPS0": _reg_layout("CAPS0", Field("banks", 0, 8), Field("max_slots", 8, 8), Field("update_lanes", 16, 8),
                         Field("max_layers", 24, 8)),
    "CAPS1": _reg_layout("CAPS1", Field("max_neurons", 0, 16), Field("max_inputs", 16, 16)),
    "CAPS2": _reg_layout("CAPS2", Field("state_neurons", 0, 16), Field("max_outputs", 16, 16)),
    "CAPS3": _reg_layout("CAPS3", Field("bank_depth", 0, 16), Field("input_banks", 16, 8),
                         Field("input_depth", 24, 8, scale=256, doc="in units of 256 words")),
}
CTRL = _reg_layout(
    "CTRL",
    Field("start", 0, 1, doc="write 1: start an inference (ignored while busy)"),
    Field("abort", 1, 1, doc="write 1: soft reset (abort a run, clear done, errors and flags)"),
    Field("irq_en", 2, 1, doc="interrupt enable: irq = done & irq_en (written with every CTRL write, read back)"),
    Field("clear_flags", 3, 1, doc="write 1: clear the sticky bus_error and write_refused flags"))
STATUS = _reg_layout(
    "STATUS",
    Field("busy", 0, 1, doc="an inference is running"),
    Field("done", 1, 1, doc="the last inference finished (= irq when enabled)"),
    Field("bus_error", 2, 1, doc="sticky: unmapped address, or a write to a read-only location"),
    Field("write_refused", 3, 1, doc="sticky: weights, the running inference's inputs, descriptors, NET or SEED "
                                     "written while busy"),
    Field("error", 8, 8, doc="run error code, 0 = none (below)"),
    Field("error_layer", 16, 8, doc="layer of the run error"))
NET = _reg_layout("NET", Field("n_layers", 0, 8), Field("steps", 8, 8),
                  Field("input_base", 16, 16, doc="input-buffer word (in every bank) where this run's frames start: "
                                                  "the next inference's input can be written elsewhere meanwhile"))

REGS = [
    Reg("ID", 0x00, "r", "constant 0x534B5953 ('SKYS')"),
    Reg("VERSION", 0x04, "r", "core version, 16.8.8 bits major.minor.patch"),
    *[Reg(name, 0x08 + 4 * i, "r", "capabilities", layout) for i, (name, layout) in enumerate(CAPS.items())],
    Reg("CTRL", 0x20, "rw", "control", CTRL),
    Reg("STATUS", 0x24, "r", "status", STATUS),
    Reg("NET", 0x28, "rw", "the network: layer count, time steps and where its input starts", NET),
    Reg("CYCLES", 0x2C, "r", "clock cycles of the last inference, start strobe to done"),
    Reg("BUS_ADDR", 0x30, "r", "byte address of the access that last set the bus-error or write-refused flag"),
    Reg("SEED", 0x34, "rw", "rate-coded input: the seed of the random generators, taken at every start "
                            "(docs/semantics.md, Inputs)"),
]
REG = {r.name: r.offset for r in REGS}
REG_BLOCK = 0x40       # bytes of the register block

DESC_BASE = 0x0400     # layer l, word j at DESC_BASE + 4 * (l * DESC_WORDS + j)
COUNT_BASE = 0x0800    # spike count of output neuron n at COUNT_BASE + 4 * n
STATE_BASE = 0x1000    # neuron state entry e (layouts.STATE_ENTRY)
INPUT_BASE = 0x1_0000  # input buffer bank j word a: INPUT_BASE + 4 * (j * input_depth + a)
WEIGHT_BASE = 0x2_0000  # weight bank j word a: WEIGHT_BASE + 4 * (j * bank_depth + a)
#: Bytes of the core's address space (the SoC and the link check offsets against it).
CORE_SPAN = 0x4_0000


class RunError(IntEnum):
    """Run error codes in STATUS.error: the first failing check, in this order, for the layer in
    STATUS.error_layer (the descriptor checks are docs/semantics.md's)."""

    BAD_LAYER_COUNT = 1
    BAD_STEPS = 2
    BAD_SIZE = 3
    BAD_CHAIN = 4
    BAD_THRESHOLD = 5
    BAD_BETA = 6
    BAD_SLOTS = 7
    WEIGHT_OVERFLOW = 8
    STATE_OVERFLOW = 9
    BAD_OUTPUTS = 10
    BAD_BIAS = 11
    BAD_INPUT = 12


ERROR_DOC = {
    RunError.BAD_LAYER_COUNT: "n_layers is 0 or above max_layers",
    RunError.BAD_STEPS: "steps is 0, or input_base + the input frames (steps, or the bit planes of graded input) x "
                        "input words per bank exceed the input buffer",
    RunError.BAD_SIZE: "n_in or n_out is 0, or above the core's limits (max_inputs for layer 0, max_neurons)",
    RunError.BAD_CHAIN: "n_in differs from the previous layer's n_out",
    RunError.BAD_THRESHOLD: "theta_low > theta_high",
    RunError.BAD_BETA: "beta above 256",
    RunError.BAD_SLOTS: "slots above max_slots, or slots x folds above banks",
    RunError.WEIGHT_OVERFLOW: "w_base + the layer's words per bank exceed bank_depth",
    RunError.STATE_OVERFLOW: "state_base not a multiple of update_lanes, or state_base + n_out above state_neurons",
    RunError.BAD_OUTPUTS: "the last layer has more neurons than max_outputs",
    RunError.BAD_BIAS: f"more than {MAX_BIAS_ROWS} bias rows (MAX_BIAS_ROWS)",
    RunError.BAD_INPUT: "input mode 3 (none), or a hidden layer with an input mode",
}
ERRORS = {int(e): (e.name, ERROR_DOC[e]) for e in RunError}
ERROR_CODE = {e.name: int(e) for e in RunError}


def caps_words(cfg: CoreConfig) -> dict[str, int]:
    """The ID, VERSION and CAPS0..3 words a core generated for ``cfg`` reads."""
    words = {"ID": CORE_ID, "VERSION": CORE_VERSION}
    for name, layout in CAPS.items():
        words[name] = layout.pack(**{f.name: getattr(cfg, f.name) for f in layout})
    return words


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
