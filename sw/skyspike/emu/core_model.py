"""The core's memory map as the firmware sees it (hw/skyspike_hw/core.py), in Python: the
far end of :class:`skyspike.emu.firmware_model.FirmwareModel`. firmware/host/hal_host.c
emulates the same core for the C build of the firmware."""
from __future__ import annotations

from collections.abc import Callable

from skyspike.spec import memmap as mm
from skyspike.spec.config import CONFIGS, CoreConfig
from skyspike.chip.checks import input_span, run_check
from skyspike.spec.layouts import DESC_WORDS, STATE_ENTRY, STORED_WORDS, descriptor_fields

_BUSY = mm.STATUS.mask("busy")
_DONE = mm.STATUS.mask("done")


class CoreModel:
    """Registers, descriptors, counts, state, input and weight SRAMs, the sticky bus-error /
    write-refused flags and BUS_ADDR. ``run`` completes instantly by default (``on_run`` may
    fill in counts/state and return the cycle count); ``hang = True`` leaves it busy until
    aborted. ``checks``: a start first runs the core's descriptor checks (skyspike.chip.checks)
    and reports their error code, layer and cycles as the RTL does; without it only NET's layer
    count is checked (what firmware/host/hal_host.c emulates for the C build)."""

    def __init__(self, cfg: CoreConfig | None = None, on_run: Callable[[CoreModel], int] | None = None,
                 *, checks: bool = False):
        self.cfg = cfg or CONFIGS["chip"]
        self.on_run = on_run
        self.checks = checks
        self.hang = False
        self.regions = mm.region_sizes(self.cfg)
        self.mem: dict[int, int] = {}          # descriptors, inputs, weights
        self.counts = [0] * self.cfg.max_outputs
        self.state = [0] * self.cfg.state_neurons
        self.status = 0                         # busy, done, error, error_layer (flags kept apart)
        self.bus_error = False
        self.write_refused = False
        self.bus_addr = 0
        self.cycles = 0
        self.net = 0
        self.seed = 0
        self.irq_en = False
        self.caps = mm.caps_words(self.cfg)     # ID, VERSION, CAPS0..3
        self._reg_names = {r.offset: r.name for r in mm.REGS}
        self._reg_writable = {r.offset for r in mm.REGS if r.writable}

    def _region(self, off: int) -> str | None:
        for name, (base, size) in self.regions.items():
            if base <= off < base + size:
                return name
        return None

    @property
    def busy(self) -> bool:
        return bool(self.status & _BUSY)

    @property
    def done(self) -> bool:
        return bool(self.status & _DONE)

    @property
    def irq(self) -> bool:
        return self.irq_en and self.done

    def _flag(self, off: int, refused: bool = False) -> None:
        self.bus_addr = off
        if refused:
            self.write_refused = True
        else:
            self.bus_error = True

    def _read_reg(self, name: str) -> int:
        if name in self.caps:
            return self.caps[name]
        return {"STATUS": self.status | mm.STATUS.pack(bus_error=self.bus_error, write_refused=self.write_refused),
                "NET": self.net, "SEED": self.seed, "CYCLES": self.cycles, "CTRL": mm.CTRL.pack(irq_en=self.irq_en),
                "BUS_ADDR": self.bus_addr}[name]

    def read(self, off: int) -> int:
        region = self._region(off)
        if region == "regs" and off in self._reg_names:
            return self._read_reg(self._reg_names[off])
        if region == "counts":
            return self.counts[(off - mm.COUNT_BASE) >> 2]
        if region == "state":
            return self.state[(off - mm.STATE_BASE) >> 2]
        if region in ("descriptors", "inputs", "weights"):
            return self.mem.get(off, 0)
        self._flag(off)                        # unmapped, inside the register block or not
        return 0

    def write(self, off: int, value: int) -> None:
        region = self._region(off)
        if region is None or region in ("counts", "state") or \
                (region == "regs" and off not in self._reg_writable):
            self._flag(off)
        elif off == mm.REG["CTRL"]:
            self._write_ctrl(mm.CTRL.unpack(value))
        elif self.busy and (region != "inputs" or self._running_input(off)):
            self._flag(off, refused=True)   # NET, SEED, descriptors, weights, the run's inputs: frozen
        elif off == mm.REG["NET"]:
            self.net = mm.NET.pack(**mm.NET.unpack(value))
        elif off == mm.REG["SEED"]:
            self.seed = value & 0xFFFF_FFFF
        else:
            self.mem[off] = value & 0xFFFF_FFFF

    def _running_input(self, off: int) -> bool:
        """The input-buffer word at ``off`` is one the run reads (input_base + its frames)."""
        word = ((off - mm.INPUT_BASE) >> 2) % self.cfg.input_depth
        net = mm.NET.unpack(self.net)
        span = input_span(descriptor_fields(self.table()[0]), net["steps"], self.cfg)
        return net["input_base"] <= word < net["input_base"] + span

    def _write_ctrl(self, ctrl: dict[str, int]) -> None:
        self.irq_en = bool(ctrl["irq_en"])
        if ctrl["clear_flags"] or ctrl["abort"]:
            self.bus_error = self.write_refused = False
        if ctrl["abort"]:
            self.status = 0
        elif ctrl["start"] and not self.busy:
            self._start()

    def table(self) -> list[list[int]]:
        """The descriptor table as the core stores it (the reserved words read 0)."""
        return [[self.mem.get(mm.DESC_BASE + 4 * (ly * DESC_WORDS + j), 0) if j < STORED_WORDS else 0
                 for j in range(DESC_WORDS)] for ly in range(self.cfg.max_layers)]

    def _start(self) -> None:
        self.counts = [0] * self.cfg.max_outputs
        if self.hang:
            self.status, self.cycles = _BUSY, 0
            return
        if self.checks:
            check = run_check(self.net, self.table(), self.cfg)
            if not check.ok:   # the core's own run-time checks, as the RTL reports them
                self.status = mm.STATUS.pack(done=1, error=check.code, error_layer=check.layer)
                self.cycles = check.cycles
                return
        net = mm.NET.unpack(self.net)
        n_layers, steps = net["n_layers"], net["steps"]
        if n_layers == 0 or n_layers > self.cfg.max_layers:
            self.status = mm.STATUS.pack(done=1, error=mm.RunError.BAD_LAYER_COUNT)
            self.cycles = 2
            return
        if self.on_run:
            self.cycles = self.on_run(self)
        else:  # a deterministic stand-in for an inference (firmware/host/hal_host.c does the same),
            # salted with the whole input buffer, each word weighted by its index (streams check
            # where every word of their pages landed)
            salt = _input_salt(self.mem, self.cfg.input_banks * self.cfg.input_depth)
            self.counts = [(i * 3 + n_layers + steps + salt) & 0xFF for i in range(self.cfg.max_outputs)]
            self.state = [_stand_in_state(e, steps + salt) for e in range(self.cfg.state_neurons)]
            self.cycles = 100 * n_layers * max(1, steps)
        self.status = _DONE


def _input_salt(mem: dict[int, int], words: int) -> int:
    """sum(word k * (k + 1)) over the input buffer, mod 2^32, folded so that its low byte
    depends on every bit (hal_host.c computes the same)."""
    salt = sum(v * ((off - mm.INPUT_BASE) // 4 + 1) for off, v in mem.items()
               if mm.INPUT_BASE <= off < mm.INPUT_BASE + 4 * words) & 0xFFFF_FFFF
    salt ^= salt >> 16
    return salt ^ (salt >> 8)


def _stand_in_state(entry: int, offset: int) -> int:
    """State entry ``entry`` after the stand-in run: V = entry * 37 + offset (steps + salt)
    wrapped to V's width, armed = the entry's parity (hal_host.c computes the same words)."""
    v = STATE_ENTRY["v"]
    return STATE_ENTRY.pack(v=v.get(entry * 37 + offset), armed=entry & 1)


__all__ = ["CoreModel"]
