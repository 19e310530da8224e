"""The ECP5 boards the FPGA build targets (``make fpga BOARD=...``): data, one entry a board.

Each board has a USB-serial port wired to FPGA pins (the ``uart`` resource of its
amaranth-boards platform), an oscillator (the platform's ``default_clk``), a reset button and
status LEDs. The LEDs show: 0 the heartbeat, 1 the CPU trapped, 2 the core's interrupt, 3 the
PLL locked.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["Board", "BOARDS", "DEFAULT_BOARD", "get_board"]


@dataclass(frozen=True)
class Board:
    """One board: its amaranth-boards platform, the resources the FPGA top uses, its loader."""
    name: str
    platform: str                  # "module:Class" in amaranth_boards
    reset: tuple[str, int]         # a button resource, active while pressed
    leds: tuple[tuple[str, int, str | None], ...]   # (resource, number, subsignal or None)
    loader_args: tuple[str, ...]   # openFPGALoader's board or cable options
    description: str

    def make_platform(self):
        """An instance of the board's platform (needs ``amaranth-boards``)."""
        module, cls = self.platform.split(":")
        try:
            mod = importlib.import_module(f"amaranth_boards.{module}")
        except ImportError as exc:
            raise RuntimeError("the FPGA build needs amaranth-boards: pip install -e '.[fpga]'") from exc
        return getattr(mod, cls)()


BOARDS = {b.name: b for b in (
    Board("ulx3s-85f", "ulx3s:ULX3S_85F_Platform", ("button_fire", 1),
          tuple(("led", i, None) for i in range(4)), ("-b", "ulx3s"),
          "Radiona ULX3S, LFE5U-85F, 25 MHz oscillator, FT231X USB-serial"),
    Board("ulx3s-45f", "ulx3s:ULX3S_45F_Platform", ("button_fire", 1),
          tuple(("led", i, None) for i in range(4)), ("-b", "ulx3s"),
          "Radiona ULX3S, LFE5U-45F"),
    Board("ecpix5-85f", "ecpix5:ECPIX585Platform", ("rst", 0),
          (("rgb_led", 0, "g"), ("rgb_led", 0, "r"), ("rgb_led", 1, "b"), ("rgb_led", 1, "g")),
          ("-c", "ft2232"), "LambdaConcept ECPIX-5, LFE5UM5G-85F, 100 MHz oscillator, FT2232 USB-serial"),
)}
DEFAULT_BOARD = "ulx3s-85f"


def get_board(name: str) -> Board:
    """The board called ``name``; ValueError naming it and the known boards otherwise."""
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}")
    return BOARDS[name]
