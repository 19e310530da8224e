"""SkySpike SoC: a PicoRV32 (the unmodified Verilog of the ``pythondata-cpu-picorv32``
package) that boots from a boot ROM of standard cells, keeps its data and stack in one OpenRAM
macro, and drives the UART console and the SNN core over a single-master Wishbone B4 classic
interconnect. The same design is simulated (``sim_model=True``: the SRAMs as the cycle-exact
Amaranth model) and taped out (``sim_model=False``: the macros as instances; the chip top
:mod:`.chiptop` puts it on the OpenFrame pads).

CPU address map (byte addresses; this module is the single source of these constants)::

    ROM_BASE        0x0000_0000  boot ROM (:mod:`.bootrom`): the firmware's .text and .rodata
                                  and the initial values of its .data; ROM_SIZE = 16 KB window,
                                  reset vector PROGADDR_RESET = 0x0, IRQ vector PROGADDR_IRQ = 0x10;
                                  writes are acked and ignored
    RAM_BASE        0x1000_0000  RAM_SIZE = 1 KB of data RAM (:mod:`.cpuram`, one
                                  sky130_sram_1kbyte_1rw1r_32x256_8): .data, .bss, buffers, stack;
                                  stack pointer at reset = its top (RAM_BASE + RAM_SIZE)
    UART_BASE       0x2000_0000  UARTPeripheral: DATA +0x0, STATUS +0x4, DIVISOR +0x8,
                                  RXWORD +0xC (16-byte window)
    BUS_ERROR_ADDR  0x2000_0010  sticky bus error register: the byte address of the first
                                  unmapped access since it was last cleared (0 = none; 0 is
                                  always ROM, so never an error); any write clears it
    CORE_BASE       0x3000_0000  SNN core, CORE_SIZE = 0x4_0000 bytes: the core's byte
                                  offsets 0..0x3FFFF (docs/memory-map.md); its wb.adr is the
                                  word address within this window
    anything else                acked one cycle after the strobe; reads return
                                  BUS_ERROR_DATA = 0xBAD0_ADD5, writes are ignored, and the
                                  address is latched in BUS_ERROR_ADDR (no bus hang)

Bus timing: the ROM, the UART and the bus-error target ack one cycle after the strobe, RAM
reads two (the macro's read data is registered once before use), the core when it is ready
(the interconnect waits for each target's ack; it assumes no fixed latency).

Interrupts: the core's ``irq`` goes to PicoRV32 ``irq[3]`` (CORE_IRQ). PicoRV32 interrupts
are its own (not the RISC-V privileged spec): ``maskirq``/``retirq``/``getq``/``setq``
custom instructions; all IRQs are masked at reset; external lines 4..31 are permanently
masked (MASKED_IRQ), lines 0..2 are PicoRV32's timer, EBREAK/ECALL/illegal instruction, and
misaligned access/bus error. ``irq[3]`` is level-sensitive (LATCHED_IRQ): the core holds it
while STATUS.done and CTRL bit 2 (IRQ enable) are set, so the handler must clear the source
(write CTRL without bit 2, or start the next inference) before ``retirq``. On entry
``q0`` holds the return address and ``q1`` the bitmask of the IRQs being serviced.

Clock: one clock for the CPU, the bus and the core (CLK_HZ). PicoRV32 with these parameters
makes 10 ns with margin on its own (``make synth`` reports its fmax), so no divided CPU clock
is needed.
"""
from __future__ import annotations

from pathlib import Path

from amaranth import ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import CoreConfig, get_config

from .bootrom import BootROM, check_image
from .core import SNNCore
from .cpuram import RAM_DEPTH, SRAMTarget
from .params import check_int, rejecting
from .ports import WishboneSignature
from .uart import UARTPeripheral, check_divisor, check_fifo_depth, divisor_for

# -- address map (byte addresses) -----------------------------------------------------------
ROM_BASE = 0x0000_0000
ROM_SIZE = 0x4000
RAM_BASE = 0x1000_0000
RAM_SIZE = 4 * RAM_DEPTH
UART_BASE = 0x2000_0000
UART_SIZE = 0x10
BUS_ERROR_ADDR = 0x2000_0010
CORE_BASE = 0x3000_0000
CORE_SIZE = 0x4_0000
# the decode in SkySpikeSoC shifts by these
assert ROM_SIZE == 1 << 14 and RAM_SIZE == 1 << 10 and UART_SIZE == 1 << 4 and CORE_SIZE == 1 << 18
#: Read data of an access to an unmapped address.
BUS_ERROR_DATA = 0xBAD0_ADD5

# -- CPU ------------------------------------------------------------------------------------
PROGADDR_RESET = ROM_BASE
#: Initial stack pointer: the top of RAM.
STACK_ADDR = RAM_BASE + RAM_SIZE
PROGADDR_IRQ = 0x10
#: PicoRV32 irq line of the SNN core's interrupt.
CORE_IRQ = 3
#: IRQ lines that can never fire (no source): 4..31.
MASKED_IRQ = 0xFFFF_FFF0
#: IRQ lines latched by PicoRV32 (a pulse stays pending until serviced): all but the core's,
#: which is level-sensitive (pending while the line is high), so that clearing its source in
#: the handler does not leave a second, stale interrupt pending.
LATCHED_IRQ = 0xFFFF_FFFF & ~(1 << CORE_IRQ)
#: picorv32_wb parameters besides the address ones: rv32imc, barrel shifter, IRQs.
CPU_PARAMS = {
    "ENABLE_MUL": 1,
    "ENABLE_DIV": 1,
    "COMPRESSED_ISA": 1,
    "BARREL_SHIFTER": 1,
    "ENABLE_IRQ": 1,
    "ENABLE_IRQ_QREGS": 1,
    "ENABLE_IRQ_TIMER": 1,
    "ENABLE_COUNTERS": 1,
    "CATCH_MISALIGN": 1,
    "CATCH_ILLINSN": 1,
}
#: The -march/-mabi that match CPU_PARAMS.
RISCV_MARCH = "rv32imc"
RISCV_MABI = "ilp32"

# -- clock and console ----------------------------------------------------------------------
#: The chip's clock (the SDC's 10 ns target), assumed for the default baud rate.
CLK_HZ = 100_000_000
DEFAULT_BAUD = 115_200
#: round(CLK_HZ / DEFAULT_BAUD) = 868.
DEFAULT_UART_DIVISOR = divisor_for(CLK_HZ, DEFAULT_BAUD)
#: The heartbeat output is bit HEARTBEAT_BITS - 1 of a free-running counter (~6 Hz at CLK_HZ).
HEARTBEAT_BITS = 24
#: Bytes of the UART's receive FIFO: the firmware may be busy for this many characters
#: without losing a byte. PicoRV32 over Wishbone runs ~8 cycles per instruction and the data
#: RAM's reads take 2 cycles, so the firmware's longest stretch without reading the UART (the
#: reply to a rejected frame and the rescan after it, while the host keeps sending) is
#: ~2-3k cycles: more than 4 characters at the simulations' divisor of 32 (1280 cycles),
#: which lost bytes of valid requests in the system test's fuzz. 16 characters: 5120 cycles
#: at divisor 32, ~139k at the chip's 868 (a 265-byte frame's CRC check is ~30k). 128: a
#: STREAM at divisor 8 (12.5 Mbaud, 80 cycles a character) keeps coming while the firmware
#: builds an answer: measured on the SoC RTL, up to ~2k cycles for the class and ~4k with
#: counts, membranes and cycles, on top of ~20 characters of backlog; 64 overflowed with the
#: latter. 128 x 8 flops: ~0.03 mm^2 of the OpenFrame's 15.
UART_FIFO_DEPTH = 128


def picorv32_verilog() -> Path:
    """picorv32.v of the installed ``pythondata-cpu-picorv32`` package (used as is)."""
    try:
        import pythondata_cpu_picorv32
    except ImportError as exc:  # pragma: no cover - a dev dependency
        raise RuntimeError("the SoC needs the `pythondata-cpu-picorv32` package (pip install -e .[dev])") from exc
    path = Path(pythondata_cpu_picorv32.data_location) / "picorv32.v"
    if not path.is_file():
        raise RuntimeError(f"picorv32.v not found in the pythondata-cpu-picorv32 package ({path})")
    return path


class SkySpikeSoC(wiring.Component):
    """PicoRV32 + boot ROM + data RAM + UART + SNN core (address map: this module's docstring).

    Parameters
    ----------
    cfg : CoreConfig or str
        SNN core configuration (or its name in ``skyspike.spec.config.CONFIGS``).
    firmware : list of int or None
        The boot ROM's contents from address 0, one little-endian 32-bit word per entry
        (``socgen.read_firmware_hex``), at most ROM_SIZE / 4 words. None: an empty ROM.
    uart_divisor : int
        Reset value of the UART's DIVISOR register (clock cycles per bit).
    uart_fifo_depth : int
        UART receive FIFO depth in bytes (default :data:`UART_FIFO_DEPTH`).
    sim_model : bool
        Every SRAM (the core's and the CPU RAM) as simulation models (True) or as macro
        black boxes (False); the rest of the design is the same.
    heartbeat_bits : int
        Width of the heartbeat counter (its top bit is ``heartbeat``).

    Attributes
    ----------
    uart_tx : Out(1)
        UART serial output (idle high).
    uart_rx : In(1)
        UART serial input (idle high).
    core_irq : Out(1)
        The SNN core's interrupt (also PicoRV32 irq[3]): an inference ended with CTRL.irq_en.
    core_active : Out(1)
        The engine writes a neuron update this cycle (the core's ``dbg_valid``).
    cpu_trap : Out(1)
        PicoRV32 ``trap``: the CPU halted (e.g. illegal instruction with IRQ 1 masked).
    heartbeat : Out(1)
        Toggles every 2**(heartbeat_bits - 1) cycles: the clock runs and reset is released.

    The clock and reset are the ``sync`` domain's (``clk``, ``rst`` active high).

    Raises
    ------
    TypeError, ValueError
        A parameter is out of range (the message names it and the value).
    """

    def __init__(self, cfg: CoreConfig | str = "small", *, firmware: list[int] | None = None,
                 uart_divisor: int = DEFAULT_UART_DIVISOR, uart_fifo_depth: int = UART_FIFO_DEPTH, sim_model: bool = True,
                 heartbeat_bits: int = HEARTBEAT_BITS):
        with rejecting(self):
            self.cfg = get_config(cfg)
            self.firmware = check_image(firmware, ROM_SIZE // 4)
            self.uart_divisor = check_divisor(uart_divisor)
            self.uart_fifo_depth = check_fifo_depth(uart_fifo_depth)
            self.heartbeat_bits = check_int("heartbeat_bits", heartbeat_bits, 1, 32)
        self.sim_model = sim_model
        super().__init__({
            "uart_tx": Out(1, init=1), "uart_rx": In(1, init=1),
            "core_irq": Out(1), "core_active": Out(1), "cpu_trap": Out(1), "heartbeat": Out(1),
        })

    @property
    def stack_addr(self) -> int:
        """Initial stack pointer: the top of RAM."""
        return STACK_ADDR

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = rom = BootROM(self.firmware, limit=ROM_SIZE // 4)
        m.submodules.ram = ram = SRAMTarget(sim_model=self.sim_model)
        m.submodules.uart = uart = UARTPeripheral(self.uart_divisor, fifo_depth=self.uart_fifo_depth)
        m.submodules.core = core = SNNCore(self.cfg, sim_model=self.sim_model)
        beat = Signal(self.heartbeat_bits)
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += [self.uart_tx.eq(uart.txd), uart.rxd.eq(self.uart_rx), self.core_irq.eq(core.irq),
                     self.core_active.eq(core.dbg_valid), self.heartbeat.eq(beat[-1])]
        bus = WishboneSignature(32).create(path=("cpu",))
        self._cpu(m, bus, core.irq)

        # -- address decode: every target sees the request when its window is hit ---------------
        adr = bus.adr
        hit_rom = (adr >> 14) == ROM_BASE >> 14
        hit_ram = (adr >> 10) == RAM_BASE >> 10
        hit_uart = (adr >> 4) == UART_BASE >> 4
        hit_berr = (adr >> 2) == BUS_ERROR_ADDR >> 2
        hit_core = (adr >> 18) == CORE_BASE >> 18
        targets = [(hit_rom, rom.wb, adr[2:14]), (hit_ram, ram.wb, adr[2:10]), (hit_uart, uart.wb, adr[2:4]),
                   (hit_core, core.wb, adr[2:18])]
        for hit, wb, word in targets:
            m.d.comb += [
                wb.cyc.eq(bus.cyc & hit), wb.stb.eq(bus.stb & hit), wb.we.eq(bus.we), wb.sel.eq(bus.sel),
                wb.adr.eq(word), wb.dat_w.eq(bus.dat_w),
            ]
        mapped = hit_rom | hit_ram | hit_uart | hit_berr | hit_core
        local_ack, local_dat = self._bus_error_target(m, bus, hit_berr, ~mapped)

        m.d.comb += bus.ack.eq(rom.wb.ack | ram.wb.ack | uart.wb.ack | core.wb.ack | local_ack)
        with m.If(hit_rom):
            m.d.comb += bus.dat_r.eq(rom.wb.dat_r)
        with m.Elif(hit_ram):
            m.d.comb += bus.dat_r.eq(ram.wb.dat_r)
        with m.Elif(hit_uart):
            m.d.comb += bus.dat_r.eq(uart.wb.dat_r)
        with m.Elif(hit_core):
            m.d.comb += bus.dat_r.eq(core.wb.dat_r)
        with m.Else():
            m.d.comb += bus.dat_r.eq(local_dat)
        return m

    def _cpu(self, m, bus, core_irq):
        """PicoRV32 (``picorv32_wb``), the one bus initiator, on ``bus``."""
        irq = Signal(32)
        m.d.comb += irq[CORE_IRQ].eq(core_irq)
        params = {f"p_{k}": v for k, v in CPU_PARAMS.items()}
        m.submodules.cpu = Instance(
            "picorv32_wb",
            **params,
            p_PROGADDR_RESET=PROGADDR_RESET, p_PROGADDR_IRQ=PROGADDR_IRQ, p_STACKADDR=STACK_ADDR,
            p_MASKED_IRQ=MASKED_IRQ, p_LATCHED_IRQ=LATCHED_IRQ,
            i_wb_clk_i=ClockSignal(), i_wb_rst_i=ResetSignal(),
            o_wbm_adr_o=bus.adr, o_wbm_dat_o=bus.dat_w, i_wbm_dat_i=bus.dat_r, o_wbm_we_o=bus.we,
            o_wbm_sel_o=bus.sel, o_wbm_stb_o=bus.stb, i_wbm_ack_i=bus.ack, o_wbm_cyc_o=bus.cyc,
            i_pcpi_wr=0, i_pcpi_rd=Const(0, 32), i_pcpi_wait=0, i_pcpi_ready=0,
            i_irq=irq, o_trap=self.cpu_trap,
        )

    def _bus_error_target(self, m, bus, hit_berr, unmapped):
        """The interconnect's own target: the bus error register and every unmapped address.
        Returns its ack and read data."""
        local_ack = Signal()
        local_dat = Signal(32)
        bus_error = Signal(32)
        local_req = bus.cyc & bus.stb & (hit_berr | unmapped) & ~local_ack
        m.d.sync += local_ack.eq(local_req)
        with m.If(local_req):
            with m.If(hit_berr):
                m.d.sync += local_dat.eq(bus_error)
                with m.If(bus.we):
                    m.d.sync += bus_error.eq(0)
            with m.Else():
                m.d.sync += local_dat.eq(BUS_ERROR_DATA)
                with m.If(bus_error == 0):
                    m.d.sync += bus_error.eq(bus.adr)
        return local_ack, local_dat
