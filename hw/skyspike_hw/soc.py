"""SkySpike SoC: a PicoRV32 (the unmodified Verilog of the ``pythondata-cpu-picorv32``
package) that boots from on-chip RAM and drives the UART console and the SNN core over a
single-master Wishbone B4 classic interconnect.

CPU address map (byte addresses; this module is the single source of these constants)::

    RAM_BASE        0x0000_0000  ram_words * 4 bytes of firmware RAM; reset vector
                                  PROGADDR_RESET = 0x0, IRQ vector PROGADDR_IRQ = 0x10,
                                  stack pointer at reset = the top of RAM (ram_words * 4)
    UART_BASE       0x2000_0000  UARTPeripheral: DATA +0x0, STATUS +0x4, DIVISOR +0x8
                                  (16-byte window; +0xC reads 0)
    BUS_ERROR_ADDR  0x2000_0010  sticky bus error register: the byte address of the first
                                  unmapped access since it was last cleared (0 = none; 0 is
                                  always RAM, so never an error); any write clears it
    CORE_BASE       0x3000_0000  SNN core, CORE_SIZE = 0x4_0000 bytes: the core's byte
                                  offsets 0..0x3FFFF (docs/memory-map.md); its wb.adr is the
                                  word address within this window
    anything else                acked one cycle after the strobe; reads return
                                  BUS_ERROR_DATA = 0xBAD0_ADD5, writes are ignored, and the
                                  address is latched in BUS_ERROR_ADDR (no bus hang)

Interrupts: the core's ``irq`` goes to PicoRV32 ``irq[3]`` (CORE_IRQ). PicoRV32 interrupts
are its own (not the RISC-V privileged spec): ``maskirq``/``retirq``/``getq``/``setq``
custom instructions; all IRQs are masked at reset; external lines 4..31 are permanently
masked (MASKED_IRQ), lines 0..2 are PicoRV32's timer, EBREAK/ECALL/illegal instruction, and
misaligned access/bus error. ``irq[3]`` is level-sensitive (LATCHED_IRQ): the core holds it
while STATUS.done and CTRL bit 2 (IRQ enable) are set, so the handler must clear the source
(write CTRL without bit 2, or start the next inference) before ``retirq``. On entry
``q0`` holds the return address and ``q1`` the bitmask of the IRQs being serviced.
"""
from __future__ import annotations

from pathlib import Path

from amaranth import ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import CoreConfig, get_config

from .core import SNNCore
from .params import check_int, rejecting
from .ports import WishboneSignature
from .uart import UARTPeripheral, check_divisor, check_fifo_depth, divisor_for

# -- address map (byte addresses) -----------------------------------------------------------
RAM_BASE = 0x0000_0000
UART_BASE = 0x2000_0000
UART_SIZE = 0x10
BUS_ERROR_ADDR = 0x2000_0010
CORE_BASE = 0x3000_0000
CORE_SIZE = 0x4_0000
assert UART_SIZE == 1 << 4 and CORE_SIZE == 1 << 18  # the decode in SkySpikeSoC shifts by these
#: Read data of an access to an unmapped address.
BUS_ERROR_DATA = 0xBAD0_ADD5

# -- CPU ------------------------------------------------------------------------------------
PROGADDR_RESET = RAM_BASE
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
#: Clock frequency assumed for the default baud rate (the benchmarks' 50 MHz).
CLK_HZ = 50_000_000
DEFAULT_BAUD = 115_200
#: round(CLK_HZ / DEFAULT_BAUD) = 434.
DEFAULT_UART_DIVISOR = divisor_for(CLK_HZ, DEFAULT_BAUD)
DEFAULT_RAM_WORDS = 4096


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


class WishboneRAM(wiring.Component):
    """Single-port RAM behind a Wishbone B4 classic slave; acks one cycle after the strobe.

    Parameters
    ----------
    words : int
        Depth in 32-bit words.
    init : list of int
        Initial contents from word 0 (the rest is 0).

    Attributes
    ----------
    wb : In(WishboneSignature(max(1, ceil(log2(words)))))
        The bus, target side: ``wb.adr`` is the word address; read data is valid with the ack.

    Raises
    ------
    TypeError, ValueError
        ``words`` is not a positive integer.
    """

    def __init__(self, words: int, init=()):
        with rejecting(self):
            self.words = check_int("words", words, 1, 1 << 30)
        self.init = list(init)
        super().__init__({"wb": In(WishboneSignature(max(1, (words - 1).bit_length())))})

    def elaborate(self, platform):
        m = Module()
        wb = self.wb
        m.submodules.mem = mem = Memory(shape=32, depth=self.words, init=self.init)
        rd = mem.read_port()
        wr = mem.write_port(granularity=8)
        req = wb.cyc & wb.stb & ~wb.ack
        m.d.comb += [
            rd.addr.eq(wb.adr), rd.en.eq(req & ~wb.we), wb.dat_r.eq(rd.data),
            wr.addr.eq(wb.adr), wr.data.eq(wb.dat_w), wr.en.eq(Mux(req & wb.we, wb.sel, 0)),
        ]
        m.d.sync += wb.ack.eq(req)
        return m


def _check_words(firmware, ram_words) -> list[int]:
    if isinstance(ram_words, bool) or not isinstance(ram_words, int):
        raise TypeError(f"ram_words must be an integer, not {ram_words!r}")
    if ram_words < 16 or ram_words % 4 or ram_words * 4 > UART_BASE - RAM_BASE:
        raise ValueError(f"ram_words must be a multiple of 4 from 16 to {(UART_BASE - RAM_BASE) // 4} "
                         f"(16-byte aligned stack top), not {ram_words}")
    words = list(firmware or [])
    if len(words) > ram_words:
        raise ValueError(f"firmware of {len(words)} words does not fit in ram_words={ram_words}")
    for i, w in enumerate(words):
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < 2 ** 32:
            raise ValueError(f"firmware word {i} is not a 32-bit unsigned integer: {w!r}")
    return words


class SkySpikeSoC(wiring.Component):
    """PicoRV32 + firmware RAM + UART + SNN core (address map: this module's docstring).

    Parameters
    ----------
    cfg : CoreConfig or str
        SNN core configuration (or its name in ``skyspike.spec.config.CONFIGS``).
    firmware : list of int or None
        Initial RAM contents from address 0, one little-endian 32-bit word per entry
        (``socgen.read_firmware_hex``). None: all zeros.
    ram_words : int
        RAM size in 32-bit words (a multiple of 4, >= 16); the stack starts at its top.
    uart_divisor : int
        Reset value of the UART's DIVISOR register (clock cycles per bit).
    uart_fifo_depth : int
        UART receive FIFO depth in bytes.
    sim_model : bool
        SNN core SRAMs as simulation models (True) or macro black boxes (False).

    Attributes
    ----------
    uart_tx : Out(1)
        UART serial output (idle high).
    uart_rx : In(1)
        UART serial input (idle high).
    core_irq : Out(1)
        The SNN core's interrupt (also PicoRV32 irq[3]).
    cpu_trap : Out(1)
        PicoRV32 ``trap``: the CPU halted (e.g. illegal instruction with IRQ 1 masked).

    The clock and reset are the ``sync`` domain's (``clk``, ``rst`` active high).
    """

    def __init__(self, cfg: CoreConfig | str = "small", *, firmware: list[int] | None = None,
                 ram_words: int = DEFAULT_RAM_WORDS, uart_divisor: int = DEFAULT_UART_DIVISOR,
                 uart_fifo_depth: int = 4, sim_model: bool = True):
        with rejecting(self):
            self.cfg = get_config(cfg)
            self.firmware = _check_words(firmware, ram_words)
            self.uart_divisor = check_divisor(uart_divisor)
            self.uart_fifo_depth = check_fifo_depth(uart_fifo_depth)
        self.ram_words = ram_words
        self.sim_model = sim_model
        super().__init__({
            "uart_tx": Out(1, init=1), "uart_rx": In(1, init=1),
            "core_irq": Out(1), "cpu_trap": Out(1),
        })

    @property
    def ram_bytes(self) -> int:
        return 4 * self.ram_words

    @property
    def stack_addr(self) -> int:
        """Initial stack pointer: the top of RAM."""
        return RAM_BASE + self.ram_bytes

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = WishboneRAM(self.ram_words, self.firmware)
        m.submodules.uart = uart = UARTPeripheral(self.uart_divisor, fifo_depth=self.uart_fifo_depth)
        m.submodules.core = core = SNNCore(self.cfg, sim_model=self.sim_model)
        m.d.comb += [self.uart_tx.eq(uart.txd), uart.rxd.eq(self.uart_rx), self.core_irq.eq(core.irq)]
        bus = WishboneSignature(32).create(path=("cpu",))
        self._cpu(m, bus, core.irq)

        # -- address decode: every target sees the request when its window is hit ---------------
        adr = bus.adr
        hit_ram = (adr >= RAM_BASE) & (adr < RAM_BASE + self.ram_bytes)
        hit_uart = (adr >> 4) == UART_BASE >> 4
        hit_berr = (adr >> 2) == BUS_ERROR_ADDR >> 2
        hit_core = (adr >> 18) == CORE_BASE >> 18
        targets = [(hit_ram, ram.wb, (adr - RAM_BASE) >> 2), (hit_uart, uart.wb, adr[2:4]),
                   (hit_core, core.wb, adr[2:18])]
        for hit, wb, word in targets:
            m.d.comb += [
                wb.cyc.eq(bus.cyc & hit), wb.stb.eq(bus.stb & hit), wb.we.eq(bus.we), wb.sel.eq(bus.sel),
                wb.adr.eq(word), wb.dat_w.eq(bus.dat_w),
            ]
        local_ack, local_dat = self._bus_error_target(m, bus, hit_berr, ~(hit_ram | hit_uart | hit_berr | hit_core))

        m.d.comb += bus.ack.eq(ram.wb.ack | uart.wb.ack | core.wb.ack | local_ack)
        with m.If(hit_ram):
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
            p_PROGADDR_RESET=PROGADDR_RESET, p_PROGADDR_IRQ=PROGADDR_IRQ, p_STACKADDR=self.stack_addr,
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
