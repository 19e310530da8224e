"""The chip's pins on the OpenFrame harness, as data: which of the 44 GPIO pads carries which
signal of :class:`~skyspike_hw.soc.SkySpikeSoC`, in which direction, and how every pad is
configured. :mod:`.chiptop` wires the pads from this table, ``docs/pins.md`` is printed from
it (``python -m skyspike_hw.pins > docs/pins.md``; tests/hw/test_pins.py checks it is current).

Pad configuration (sky130_fd_io__gpiov2 as OpenFrame exposes it; the values are those of
Caravel's GPIO_MODE_USER_STD_* modes): ``dm`` is the drive mode (dm2 dm1 dm0), ``inp_dis``
turns the input buffer off, ``oeb`` is the output enable (low = drive). An unused pad is held
by the pad's weak pull-down (dm 011 with out 0 and the driver enabled, as Caravel does), so it
neither floats nor fights whatever the board connects to it. Every pad: CMOS input threshold
(vtrip_sel 0), fast slew (slow_sel 0), ib_mode_sel 0, no holdover, analog off (analog_en,
analog_sel, analog_pol 0). Constant configuration bits come from the pad's own
``gpio_loopback_one`` / ``gpio_loopback_zero`` (no tie cells routed across the die).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["OPENFRAME_GPIOS", "Pin", "PadMode", "PAD_MODES", "PINS", "OTHER_PINS", "pin", "pad_mode",
           "markdown"]

#: GPIO pads of the OpenFrame harness (19 left, 19 right, 6 bottom).
OPENFRAME_GPIOS = 44


@dataclass(frozen=True)
class Pin:
    """One GPIO pad in use: its index, the SoC signal on it, ``"in"`` or ``"out"``, what it means."""

    gpio: int
    name: str
    direction: str
    meaning: str


@dataclass(frozen=True)
class PadMode:
    """The static configuration of a pad (``out`` only for pads that drive no signal)."""

    dm: int
    inp_dis: int
    oeb: int
    out: int
    what: str


PAD_MODES = {
    "in": PadMode(dm=0b001, inp_dis=0, oeb=1, out=0, what="input, no pull (dm 001)"),
    "out": PadMode(dm=0b110, inp_dis=1, oeb=0, out=0, what="push-pull output (dm 110), input buffer off"),
    "unused": PadMode(dm=0b011, inp_dis=1, oeb=0, out=0, what="weak pull-down (dm 011, out 0), input buffer off"),
}

PINS = (
    Pin(0, "clk", "in", "the one clock of the chip: CPU, bus, SNN core and SRAM macros (10 ns target)"),
    Pin(1, "uart_rx", "in", "UART from the host, 8N1, idle high; 115200 baud at 100 MHz after reset"),
    Pin(2, "uart_tx", "out", "UART to the host, 8N1, idle high (the host link protocol, docs/protocol.md)"),
    Pin(3, "core_active", "out", "the SNN engine writes a neuron update this cycle (activity)"),
    Pin(4, "core_irq", "out", "the core's interrupt: an inference finished with CTRL.irq_en set"),
    Pin(5, "cpu_trap", "out", "PicoRV32 halted (trap): the firmware crashed"),
    Pin(6, "heartbeat", "out", "toggles every 2^23 clocks (~6 Hz at 100 MHz): clocked and out of reset"),
)

#: Harness signals the chip uses besides the GPIOs.
OTHER_PINS = (
    ("resetb_l", "in", "the harness's reset pad (active low, 1.8 V domain): resets the chip"),
    ("porb_l", "in", "power-on reset (active low, 1.8 V domain): resets the chip"),
)


def _check():
    gpios = [p.gpio for p in PINS]
    names = [p.name for p in PINS]
    assert len(set(gpios)) == len(gpios) and all(0 <= g < OPENFRAME_GPIOS for g in gpios), gpios
    assert len(set(names)) == len(names), names
    assert all(p.direction in ("in", "out") for p in PINS)


_check()


def pin(name: str) -> Pin:
    """The pin carrying signal ``name``; :exc:`ValueError` naming it if there is none."""
    for p in PINS:
        if p.name == name:
            return p
    raise ValueError(f"no pin is called {name!r}; pins: {', '.join(p.name for p in PINS)}")


def pad_mode(gpio: int) -> PadMode:
    """The configuration of GPIO pad ``gpio`` (0..43)."""
    if isinstance(gpio, bool) or not isinstance(gpio, int):
        raise TypeError(f"gpio must be an integer, not {gpio!r}")
    if not 0 <= gpio < OPENFRAME_GPIOS:
        raise ValueError(f"gpio must be within 0..{OPENFRAME_GPIOS - 1}, not {gpio}")
    for p in PINS:
        if p.gpio == gpio:
            return PAD_MODES[p.direction]
    return PAD_MODES["unused"]


def markdown() -> str:
    """docs/pins.md."""
    lines = [
        "# SkySpike pins on the OpenFrame harness",
        "",
        "Generated from `hw/skyspike_hw/pins.py` by `python -m skyspike_hw.pins > docs/pins.md`;",
        "tests/hw/test_pins.py checks that this file is current. The chip top",
        "(`hw/skyspike_hw/chiptop.py`, module `openframe_project_wrapper`) wires the pads from the",
        "same table.",
        "",
        "| GPIO | signal | direction | pad mode | meaning |",
        "|---|---|---|---|---|",
    ]
    for p in sorted(PINS, key=lambda p: p.gpio):
        lines.append(f"| {p.gpio} | `{p.name}` | {p.direction} | {PAD_MODES[p.direction].what} | {p.meaning} |")
    used = {p.gpio for p in PINS}
    unused = [g for g in range(OPENFRAME_GPIOS) if g not in used]
    lines += [
        f"| {_ranges(unused)} | - | unused | {PAD_MODES['unused'].what} | held low by the pad, never driven hard |",
        "",
        "Besides the GPIOs:",
        "",
        "| harness signal | direction | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {d} | {meaning} |" for name, d, meaning in OTHER_PINS]
    lines += [
        "",
        "The reset is asserted asynchronously while `resetb_l` or `porb_l` is low and released",
        "synchronously to `clk` (two flops). Every pad: CMOS threshold (`gpio_vtrip_sel` 0), fast",
        "slew (`gpio_slow_sel` 0), `gpio_ib_mode_sel` 0, no holdover, analog off; the constant bits",
        "come from the pad's own `gpio_loopback_one`/`gpio_loopback_zero`. Not used: `porb_h`,",
        "`por_l`, `resetb_h`, `mask_rev`, `gpio_in_h`, `analog_io`, `analog_noesd_io`.",
        "",
    ]
    return "\n".join(lines)


def _ranges(values) -> str:
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)


def main() -> int:
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
