"""SoC: a PicoRV32 program assembled here (Debian's riscv64-unknown-elf toolchain) boots from
the boot ROM, keeps its variables in the SRAM macro's model (which powers up with garbage) and talks to the cocotb UART model (tb_soc.py): it prints its stack pointer, the
SNN core's ID, rv32im results, the bus error register around unmapped accesses, a core
interrupt, and echoes a line it receives. Plus parameter checks and the hex format."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from skyspike.spec import memmap as mm
from skyspike.spec.config import CONFIGS
from skyspike_hw import soc
from skyspike_hw.bootrom import rom_depth
from skyspike_hw.socgen import firmware_hex_text, main as socgen_main, read_firmware_hex, words_from_binary, write_soc

BUILD = Path(__file__).resolve().parents[2] / "build" / "tests"
CROSS = "riscv64-unknown-elf-"
SIM_DIVISOR = 8      # UART divisor of the simulated SoC (fast frames)

LINKER_SCRIPT = f"""
OUTPUT_ARCH(riscv)
ENTRY(_start)
MEMORY {{ ROM (rx) : ORIGIN = {soc.ROM_BASE:#x}, LENGTH = {soc.ROM_SIZE:#x}
         RAM (rw) : ORIGIN = {soc.RAM_BASE:#x}, LENGTH = {soc.RAM_SIZE:#x} }}
SECTIONS {{
  .text : {{ *(.text.start) *(.text*) *(.rodata*) }} > ROM
  .bss (NOLOAD) : ALIGN(4) {{ *(.bss*) *(.sbss*) }} > RAM
}}
"""

# PicoRV32 custom instructions (firmware/custom_ops.S of the CPU): q registers go in the
# rd/rs1 fields as x0..x3.
PROGRAM = r"""
#define UART      0x20000000
#define CORE      0x30000000
#define GETQ(rd, qs)    .insn r 0x0B, 4, 0, rd, qs, x0
#define SETQ(qd, rs)    .insn r 0x0B, 2, 1, qd, rs, x0
#define RETIRQ          .insn r 0x0B, 0, 2, x0, x0, x0
#define MASKIRQ(rd, rs) .insn r 0x0B, 6, 3, rd, rs, x0

    .section .text.start
    .globl _start
_start:
    j reset

    .balign 16
    .globl irq_vec
irq_vec:                        /* PROGADDR_IRQ = 0x10; q0 = return address, q1 = pending IRQs */
    SETQ(x2, x1)                /* q2 = ra */
    SETQ(x3, x2)                /* q3 = sp */
    li x1, CORE
    sw zero, 0x20(x1)           /* CTRL = 0: clear the core's IRQ enable (the level source) */
    GETQ(x2, x1)
    la x1, irq_mask_seen
    sw x2, 0(x1)
    la x1, irq_count
    lw x2, 0(x1)
    addi x2, x2, 1
    sw x2, 0(x1)
    GETQ(x1, x2)
    GETQ(x2, x3)
    RETIRQ

reset:
    mv s2, sp                   /* the stack pointer set by STACKADDR */
    la t0, irq_count            /* the RAM powers up with garbage */
    sw zero, 0(t0)
    sw zero, 4(t0)
    li s0, UART
    la a0, s_boot
    call puts
    la a0, s_sp
    mv a1, s2
    call report
    la a0, s_id
    li t0, CORE
    lw a1, 0(t0)
    call report
    li t0, 12345
    li t1, 6789
    mul a1, t0, t1
    la a0, s_mul
    call report
    li t0, -1000000
    li t1, 7
    div a1, t0, t1
    la a0, s_div
    call report
    li t0, 0x40000000           /* unmapped: must not hang */
    lw a1, 4(t0)
    la a0, s_bad
    call report
    li s1, UART + 0x10          /* bus error register */
    lw a1, 0(s1)
    la a0, s_berr
    call report
    sw zero, 0(s1)              /* clear */
    lw a1, 0(s1)
    la a0, s_berr
    call report
    li t0, CORE + 0x40000       /* just past the core's window */
    sw zero, 0(t0)
    lw a1, 0(s1)
    la a0, s_berr
    call report

    li t0, ~(1 << 3)            /* unmask the core's IRQ 3 only */
    MASKIRQ(x0, t0)
    li t0, CORE
    li t1, 5                    /* CTRL: start + IRQ enable; NET = 0 -> done with BAD_LAYER_COUNT */
    sw t1, 0x20(t0)
    la t2, irq_count
    li t3, 100000
1:  lw a1, 0(t2)
    bnez a1, 2f
    addi t3, t3, -1
    bnez t3, 1b
2:  la a0, s_irq
    call report
    la t2, irq_mask_seen
    lw a1, 0(t2)
    la a0, s_q1
    call report
    li t0, CORE
    lw a1, 0x24(t0)
    la a0, s_status
    call report

    la a0, s_echo               /* echo received bytes up to a newline */
    call puts
3:  lw t3, 4(s0)
    andi t3, t3, 2              /* STATUS.rx_valid */
    beqz t3, 3b
    lw a0, 0(s0)                /* DATA: pop */
    mv s3, a0
    call putc
    li t0, '\n'
    bne s3, t0, 3b
    lw a1, 4(s0)
    andi a1, a1, 0xC            /* STATUS: rx_overrun | framing error (sticky) */
    la a0, s_rxerr
    call report
    la a0, s_done
    call puts
    ebreak                      /* IRQ 1 is masked: PicoRV32 traps (cpu_trap) */

putc:                           /* a0: byte; waits for STATUS.tx_ready */
1:  lw t3, 4(s0)
    andi t3, t3, 1
    beqz t3, 1b
    sw a0, 0(s0)
    ret

puts:                           /* a0: NUL-terminated string */
    addi sp, sp, -16
    sw ra, 12(sp)
    sw s1, 8(sp)
    mv s1, a0
1:  lbu a0, 0(s1)
    beqz a0, 2f
    call putc
    addi s1, s1, 1
    j 1b
2:  lw s1, 8(sp)
    lw ra, 12(sp)
    addi sp, sp, 16
    ret

report:                         /* prints a0 (label), a1 as 8 hex digits, newline */
    addi sp, sp, -16
    sw ra, 12(sp)
    sw s1, 8(sp)
    sw s4, 4(sp)
    mv s1, a1
    call puts
    li s4, 8
1:  srli t0, s1, 28
    la t1, hexdigits
    add t1, t1, t0
    lbu a0, 0(t1)
    call putc
    slli s1, s1, 4
    addi s4, s4, -1
    bnez s4, 1b
    li a0, '\n'
    call putc
    lw s4, 4(sp)
    lw s1, 8(sp)
    lw ra, 12(sp)
    addi sp, sp, 16
    ret

    .section .rodata
hexdigits: .ascii "0123456789ABCDEF"
s_boot:   .asciz "SkySpike boot\n"
s_sp:     .asciz "SP="
s_id:     .asciz "ID="
s_mul:    .asciz "MUL="
s_div:    .asciz "DIV="
s_bad:    .asciz "BAD="
s_berr:   .asciz "BERR="
s_irq:    .asciz "IRQS="
s_q1:     .asciz "Q1="
s_status: .asciz "STATUS="
s_echo:   .asciz "ECHO?\n"
s_rxerr:  .asciz "RXERR="
s_done:   .asciz "DONE\n"

    .bss
    .balign 4
irq_count:     .space 4
irq_mask_seen: .space 4
"""

ECHO_LINE = b"Hi, SoC!\n"


def expected_output() -> bytes:
    def h(v):
        return f"{v & 0xFFFFFFFF:08X}"
    lines = [
        "SkySpike boot",
        f"SP={h(soc.STACK_ADDR)}",
        f"ID={h(mm.CORE_ID)}",
        f"MUL={h(12345 * 6789)}",
        f"DIV={h(-(1000000 // 7))}",
        f"BAD={h(soc.BUS_ERROR_DATA)}",
        f"BERR={h(0x4000_0004)}",
        f"BERR={h(0)}",
        f"BERR={h(soc.CORE_BASE + soc.CORE_SIZE)}",
        f"IRQS={h(1)}",
        f"Q1={h(1 << soc.CORE_IRQ)}",
        f"STATUS={h(2 | mm.ERROR_CODE['BAD_LAYER_COUNT'] << 8)}",
        "ECHO?",
    ]
    return ("\n".join(lines) + "\n").encode() + ECHO_LINE + f"RXERR={h(0)}\nDONE\n".encode()


def build_firmware(out: Path) -> Path:
    """Assemble PROGRAM and write ``firmware.hex``; skips the test without the toolchain."""
    gcc = shutil.which(CROSS + "gcc")
    objcopy = shutil.which(CROSS + "objcopy")
    nm = shutil.which(CROSS + "nm")
    if not (gcc and objcopy and nm):
        pytest.skip(f"RISC-V toolchain not found ({CROSS}gcc/objcopy/nm; Debian: gcc-riscv64-unknown-elf)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "prog.S").write_text(PROGRAM)
    (out / "link.ld").write_text(LINKER_SCRIPT)
    elf, binary = out / "prog.elf", out / "prog.bin"
    subprocess.run([gcc, f"-march={soc.RISCV_MARCH}", f"-mabi={soc.RISCV_MABI}", "-nostdlib", "-nostartfiles",
                    "-Wl,--no-warn-rwx-segments", "-T", str(out / "link.ld"), "-o", str(elf), str(out / "prog.S")], check=True)
    subprocess.run([objcopy, "-O", "binary", str(elf), str(binary)], check=True)
    symbols = {ln.split()[2]: int(ln.split()[0], 16)
               for ln in subprocess.run([nm, str(elf)], check=True, capture_output=True, text=True).stdout.splitlines()
               if len(ln.split()) == 3}
    assert symbols["_start"] == soc.PROGADDR_RESET and symbols["irq_vec"] == soc.PROGADDR_IRQ, symbols
    hex_path = out / "firmware.hex"
    text = firmware_hex_text(words_from_binary(binary.read_bytes()))
    if not hex_path.exists() or hex_path.read_text() != text:
        hex_path.write_text(text)
    return hex_path


def test_soc_boots_and_talks(sim):
    pytest.importorskip("cocotbext.uart", reason="cocotbext-uart is not installed (pip install cocotbext-uart)")
    from simrun import run_cocotb

    hex_path = build_firmware(BUILD / "soc" / "firmware")
    sources = write_soc("small", hex_path, BUILD / "soc" / "verilog", uart_divisor=SIM_DIVISOR)
    assert sources[1] == soc.picorv32_verilog()
    run_cocotb(sources, "skyspike_soc", "tb_soc", build_dir=BUILD / "soc",
               extra_env={"DIVISOR": str(SIM_DIVISOR), "EXPECT": expected_output().hex(),
                          "ECHO": ECHO_LINE.hex()},
               sim=sim)


def test_socgen_cli(tmp_path, capsys):
    hex_path = tmp_path / "fw.hex"
    hex_path.write_text("00000013\n# a comment\n0000006f\n")
    socgen_main(["--config", "small", "--firmware", str(hex_path), "-o", str(tmp_path / "o")])
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "o" / "skyspike_soc.v"), str(soc.picorv32_verilog())]
    text = (tmp_path / "o" / "skyspike_soc.v").read_text()
    assert "module skyspike_soc(" in text and "picorv32_wb" in text and f".STACKADDR(32'd{soc.STACK_ADDR})" in text


def test_firmware_hex_format(tmp_path):
    words = words_from_binary(bytes(range(1, 11)))
    assert words == [0x04030201, 0x08070605, 0x00000A09]
    assert firmware_hex_text(words) == "04030201\n08070605\n00000a09\n"
    path = tmp_path / "f.hex"
    path.write_text(firmware_hex_text(words) + "\n// trailing comment\n")
    assert read_firmware_hex(path) == words
    for bad in ("@00000000", "1234", "0x12345678", "123456789"):
        path.write_text(f"00000000\n{bad}\n")
        with pytest.raises(ValueError, match=f"f.hex:2: .*{bad}"):
            read_firmware_hex(path)


def test_soc_parameters_and_map():
    with pytest.raises(ValueError, match="4097 words"):
        soc.SkySpikeSoC("small", firmware=[0] * 4097)
    with pytest.raises(ValueError, match="4294967296"):
        soc.SkySpikeSoC("small", firmware=[1 << 32])
    with pytest.raises(TypeError, match="str"):
        soc.SkySpikeSoC("small", firmware="00000013")
    with pytest.raises(ValueError, match="3"):
        soc.SkySpikeSoC("small", uart_divisor=3)
    with pytest.raises(ValueError, match="heartbeat_bits .* 0"):
        soc.SkySpikeSoC("small", heartbeat_bits=0)
    with pytest.raises(ValueError, match="nonesuch"):
        soc.SkySpikeSoC("nonesuch")
    s = soc.SkySpikeSoC("small", firmware=[0x13] * 100)
    s._MustUse__silence = True  # not elaborated here
    assert s.stack_addr == soc.RAM_BASE + soc.RAM_SIZE == 0x1000_0400
    assert s.firmware == [0x13] * 100 and rom_depth(100) == 128 and rom_depth(0) == 16
    assert soc.DEFAULT_UART_DIVISOR == round(soc.CLK_HZ / soc.DEFAULT_BAUD) == 868
    # Every core configuration's map fits the core's window; the windows do not overlap.
    for cfg in CONFIGS.values():
        assert max(b + n for b, n in mm.region_sizes(cfg).values()) <= soc.CORE_SIZE
    assert soc.ROM_BASE + soc.ROM_SIZE <= soc.RAM_BASE < soc.RAM_BASE + soc.RAM_SIZE <= soc.UART_BASE
    assert soc.UART_BASE < soc.BUS_ERROR_ADDR < soc.CORE_BASE
    assert soc.UART_BASE + soc.UART_SIZE == soc.BUS_ERROR_ADDR
