"""Generate the SoC's simulation Verilog with its firmware baked into the boot ROM:
``python -m skyspike_hw.socgen --config small --firmware build/firmware/firmware.hex -o build/soc``.

Firmware hex format (``firmware.hex``): one 32-bit word per line, 8 hex digits, the word at
byte address 4*i on line i, little-endian (byte 4*i is bits 7:0); no ``@address`` lines.
Blank lines and ``#``/``//`` comments are ignored.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from .gen import verilog_text, write_if_changed
from .soc import DEFAULT_UART_DIVISOR, SkySpikeSoC, picorv32_verilog

_HEX_LINE = re.compile(r"[0-9A-Fa-f]{8}")


def read_firmware_hex(path: Path) -> list[int]:
    """Words of a firmware hex file (format: this module's docstring)."""
    words = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].split("//", 1)[0].strip()
        if not line:
            continue
        if not _HEX_LINE.fullmatch(line):
            raise ValueError(f"{path}:{n}: expected one 32-bit word as 8 hex digits, not {line!r}")
        words.append(int(line, 16))
    return words


def words_from_binary(data: bytes) -> list[int]:
    """Little-endian 32-bit words of a raw image (``objcopy -O binary``), zero-padded."""
    data = bytes(data) + b"\0" * (-len(data) % 4)
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]


def firmware_hex_text(words) -> str:
    """The firmware hex format of ``words``."""
    return "".join(f"{w:08x}\n" for w in words)


def write_soc(config, firmware_hex: Path | None, out_dir: Path, *,
              uart_divisor: int = DEFAULT_UART_DIVISOR, name: str = "skyspike_soc",
              sim_model: bool = True, platform=None) -> list[Path]:
    """Write ``<out_dir>/<name>.v`` (top module ``name``: ports clk, rst, uart_tx, uart_rx,
    core_irq, core_active, cpu_trap, heartbeat) and return the Verilog files to simulate: it
    and picorv32.v. ``platform``: elaborate for it (an FPGA board's platform: the SoC of the
    board build, its memories block RAM; :func:`skyspike_hw.sram.sram_kind`)."""
    firmware = read_firmware_hex(firmware_hex) if firmware_hex is not None else None
    soc = SkySpikeSoC(config, firmware=firmware, uart_divisor=uart_divisor, sim_model=sim_model)
    path = write_if_changed(Path(out_dir) / f"{name}.v", verilog_text(soc, name, platform))
    return [path, picorv32_verilog()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small", help="core configuration name (small, fpga, chip)")
    ap.add_argument("--firmware", type=Path, default=None, help="firmware hex file (default: empty ROM)")
    ap.add_argument("--uart-divisor", type=int, default=DEFAULT_UART_DIVISOR,
                    help=f"reset value of the UART divisor (default {DEFAULT_UART_DIVISOR})")
    ap.add_argument("-o", "--out", default="build/soc", type=Path)
    args = ap.parse_args(argv)
    for path in write_soc(args.config, args.firmware, args.out, uart_divisor=args.uart_divisor):
        print(path)


if __name__ == "__main__":
    main()
