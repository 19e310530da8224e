"""Generator parameters of a SkySpike core: the one place that says what a chip can hold.

Both the RTL generator (``skyspike_hw``) and the golden model / compiler (``skyspike``)
read a :class:`CoreConfig`; nothing about a *network* is fixed here, only maximum sizes.
docs/architecture.md shows where the parameters go; docs/semantics.md what they mean.
"""
from __future__ import annotations

import operator
from dataclasses import asdict, dataclass

#: Weight lanes fed by one SRAM bank per cycle (a 32-bit word holds 8 weights at 4 bits).
LANES_PER_BANK = 8
#: Supported weight precisions (bits) and their 2-bit descriptor codes.
PRECISIONS = (1, 2, 4, 8)
#: Membrane width (signed) and the width of the descriptor's threshold fields.
MEMBRANE_BITS = 16
#: Leak factor beta is stored as an integer numerator over 2**BETA_SHIFT (0..256 -> 0.0..1.0).
BETA_SHIFT = 8
#: Most bias rows (always-on inputs) of one layer: they fill at most two words of its input
#: bitmap, so the scanners need two masks per layer (docs/semantics.md, "Bias rows").
MAX_BIAS_ROWS = 32
#: Layer 0's input modes, indexed by their descriptor code (docs/semantics.md, "Inputs"):
#: spike bitmaps written for every step; graded values written once, taken as a current
#: (direct) or rate coded on the chip (rate).
INPUT_MODES = ("spikes", "direct", "rate")
#: The rate encoder's pseudo-random generators: generator k serves input words w = k mod 4, and
#: starts a run from SEED ^ (RATE_SEED_MIX * (k + 1)) mod 2**32 (1 where that is 0).
RATE_GENERATORS = 4
RATE_SEED_MIX = 0x9E3779B9
#: The widest direct-input value (bits; the value widths are PRECISIONS).
MAX_INPUT_BITS = 8
#: Width of the current the neuron lanes take: the synaptic current saturated to 18 bits
#: signed. That never changes a membrane: the base it is added to is within +-65535, so any
#: |I| >= 2**17 - 1 saturates V the same way (docs/semantics.md, "Numbers").
CURRENT_BITS = 18


@dataclass(frozen=True)
class SramMacro:
    """An OpenRAM sky130 dual-port (1rw1r) 32-bit SRAM macro; size from its LEF ``SIZE``
    (facts: shared/docs/openram-sky130-macros.md)."""

    name: str
    depth: int          # 32-bit words
    width_um: float
    height_um: float

    @property
    def addr_bits(self) -> int:
        return log2(self.depth)

    @property
    def area_um2(self) -> float:
        return self.width_um * self.height_um


#: The macros a core can be built from, by depth.
SRAM_MACROS = {m.depth: m for m in (
    SramMacro("sky130_sram_1kbyte_1rw1r_32x256_8", 256, 479.78, 397.5),
    SramMacro("sky130_sram_2kbyte_1rw1r_32x512_8", 512, 683.1, 416.54),
)}


def _is_pow2(x: int) -> bool:
    return x > 0 and x & (x - 1) == 0


def log2(x: int) -> int:
    return x.bit_length() - 1


def check_precision(bits, where: str = "", error: type[Exception] = ValueError) -> int:
    """``bits`` if it is one of :data:`PRECISIONS` (an int, not a bool), else ``error`` naming it."""
    try:  # any integer type (numpy's too), but not a bool or a float
        value = None if type(bits).__name__ in ("bool", "bool_") else operator.index(bits)
    except TypeError:
        value = None
    if value not in PRECISIONS:
        prefix = f"{where}: " if where else ""
        raise error(f"{prefix}bits={bits!r} is not one of {', '.join(map(str, PRECISIONS))}")
    return value


def lanes_per_bank(bits: int) -> int:
    """Weights one bank supplies per cycle at this precision (8, except 4 at 8-bit)."""
    return min(LANES_PER_BANK, 32 // bits)


def subwords(bits: int) -> int:
    """Chunks packed into one 32-bit word at this precision (4 at 1-bit, 2 at 2-bit, else 1)."""
    return 32 // (bits * lanes_per_bank(bits))


@dataclass(frozen=True)
class CoreConfig:
    """Maximum sizes of one generated core.

    Parameters
    ----------
    banks : int
        Weight SRAM macros read in parallel every cycle (power of two, >= 4). Each feeds
        8 synapse lanes (4 at 8-bit weights), so ``8 * banks`` synaptic operations per cycle.
    bank_depth : int
        Words per weight macro: 256 (sky130_sram_1kbyte) or 512 (sky130_sram_2kbyte).
    max_slots : int
        Most input events consumed per cycle (power of two, <= banks). A layer whose row
        fits in ``banks / k`` banks runs ``k`` events per cycle, one per bank group.
    update_lanes : int
        Neurons updated (leak, integrate, Schmitt trigger) per cycle (power of two).
    max_layers : int
        Entries in the layer descriptor table.
    max_neurons : int
        Most neurons in one layer (also the most inputs of a hidden layer); multiple of 32.
    max_inputs : int
        Most inputs of layer 0; multiple of 32.
    state_neurons : int
        Neuron state entries (membrane, arm and fire flags) shared by all layers.
    max_outputs : int
        Spike counters for the last layer.
    input_banks : int
        Input buffer macros (4: a power of two >= max_slots, one per rate generator); layer 0
        reads them in parallel.
    input_depth : int
        Words per input buffer macro (256 or 512).
    """

    banks: int
    bank_depth: int
    max_slots: int
    update_lanes: int
    max_layers: int
    max_neurons: int
    max_inputs: int
    state_neurons: int
    max_outputs: int
    input_banks: int
    input_depth: int

    def __post_init__(self):
        def need(cond, what):
            if not cond:
                raise ValueError(f"CoreConfig: {what}")

        need(_is_pow2(self.banks) and self.banks >= 4, f"banks must be a power of two >= 4, not {self.banks}")
        need(self.bank_depth in SRAM_MACROS, f"bank_depth must be 256 or 512, not {self.bank_depth}")
        need(self.input_depth in SRAM_MACROS, f"input_depth must be 256 or 512, not {self.input_depth}")
        need(_is_pow2(self.max_slots) and self.max_slots <= self.banks,
             f"max_slots must be a power of two <= banks, not {self.max_slots}")
        need(_is_pow2(self.update_lanes) and 2 <= self.update_lanes <= 64,
             f"update_lanes must be a power of two in 2..64, not {self.update_lanes}")
        need(1 <= self.max_layers <= 16, f"max_layers must be 1..16, not {self.max_layers}")
        need(self.max_neurons % 32 == 0 and 32 <= self.max_neurons <= 4096,
             f"max_neurons must be a multiple of 32 in 32..4096, not {self.max_neurons}")
        need(self.max_inputs % 32 == 0 and 32 <= self.max_inputs <= 4096,
             f"max_inputs must be a multiple of 32 in 32..4096, not {self.max_inputs}")
        need(self.state_neurons % self.update_lanes == 0 and self.state_neurons >= self.max_neurons,
             f"state_neurons must be a multiple of update_lanes and >= max_neurons, not {self.state_neurons}")
        # The narrowest chunk (max_slots groups at 8-bit weights, 4 lanes a bank) must hold
        # whole update groups, so that every update cycle works on aligned neurons.
        need(self.update_lanes <= (self.banks // self.max_slots) * 4,
             f"update_lanes={self.update_lanes} exceeds the narrowest chunk "
             f"({self.banks // self.max_slots} banks x 4 lanes at 8-bit)")
        need(1 <= self.max_outputs <= self.max_neurons,
             f"max_outputs must be 1..max_neurons, not {self.max_outputs}")
        need(_is_pow2(self.input_banks) and self.input_banks >= self.max_slots,
             f"input_banks must be a power of two >= max_slots, not {self.input_banks}")
        need(self.input_banks == RATE_GENERATORS,
             f"input_banks must be {RATE_GENERATORS} (one word a cycle for each of the rate encoder's "
             f"generators, docs/semantics.md), not {self.input_banks}")

    # -- derived sizes -------------------------------------------------------------------
    @property
    def lanes(self) -> int:
        return LANES_PER_BANK * self.banks

    @property
    def weight_bits(self) -> int:
        """Capacity of the weight memory in bits."""
        return 32 * self.banks * self.bank_depth

    @property
    def bank_macro(self) -> str:
        return SRAM_MACROS[self.bank_depth].name

    @property
    def input_macro(self) -> str:
        return SRAM_MACROS[self.input_depth].name

    @property
    def acc_bits(self) -> int:
        """Accumulator width: holds max fan-in x max |weight| (128) x the largest direct-input
        value (255) without overflow, signed. The fan-in includes up to MAX_BIAS_ROWS bias rows:
        max_inputs and max_neurons are multiples of 32, so their bit length still covers 32 more."""
        return max(self.max_inputs, self.max_neurons).bit_length() + 8 + MAX_INPUT_BITS + 1

    def as_dict(self) -> dict:
        return asdict(self)


CONFIGS = {
    # Fast tests: every datapath feature (4 slots, sub-word packing, several chunks) at small size.
    "small": CoreConfig(banks=4, bank_depth=256, max_slots=4, update_lanes=4, max_layers=4,
                        max_neurons=64, max_inputs=128, state_neurons=192, max_outputs=16,
                        input_banks=4, input_depth=256),
    # The sky130 build (OpenFrame, docs/memory-plan.md): 32 x 1 KB weight macros (32 KB:
    # 784-64-10 at 4 bits, 784-128-10 at 2 bits), 256 lanes.
    "chip": CoreConfig(banks=32, bank_depth=256, max_slots=4, update_lanes=16, max_layers=4,
                       max_neurons=512, max_inputs=1024, state_neurons=640, max_outputs=32,
                       input_banks=4, input_depth=256),
    # An ECP5-85F board build (docs/fpga.md): the chip configuration fills 96% of its LUTs and does
    # not route, nor do 16 banks x 16 lanes or 8 x 8 with the chip's 512 neurons. 8 KB of weights
    # (784-64-10 at 1 bit, 400-64-10 at 2), 1,024 inputs (MNIST), 128 neurons: 39% of the LUTs.
    "fpga": CoreConfig(banks=8, bank_depth=256, max_slots=4, update_lanes=4, max_layers=4,
                       max_neurons=128, max_inputs=1024, state_neurons=256, max_outputs=16,
                       input_banks=4, input_depth=256),
}


def get_config(name_or_cfg) -> CoreConfig:
    if isinstance(name_or_cfg, CoreConfig):
        return name_or_cfg
    try:
        return CONFIGS[name_or_cfg]
    except KeyError:
        raise ValueError(f"unknown core configuration {name_or_cfg!r}; known: {', '.join(CONFIGS)}") from None


def config_name(cfg: CoreConfig) -> str:
    """The name of a configuration in :data:`CONFIGS`, or ``"custom"``."""
    return next((k for k, v in CONFIGS.items() if v == cfg), "custom")
