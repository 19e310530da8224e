"""An 8N1 UART (:class:`UART`) and its Wishbone B4 classic register wrapper
(:class:`UARTPeripheral`), the SoC's console.

Baud rate = f_clk / divisor: a bit lasts ``divisor`` clock cycles. The receiver samples each
bit once, in its middle (counted from the falling edge of the start bit, seen through a
2-flop synchronizer), and checks the start bit again at mid-bit to reject glitches.
"""
from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .params import check_int, rejecting
from .ports import WishboneSignature

#: Smallest clock divisor (clock cycles per bit); smaller runtime values act as this one.
MIN_DIVISOR = 4
#: Width of the divisor (and of the DIVISOR register's meaningful bits).
DIVISOR_BITS = 16

# UARTPeripheral register byte offsets.
REG_DATA = 0x0
REG_STATUS = 0x4
REG_DIVISOR = 0x8
REG_RXWORD = 0xC

# STATUS bits.
STATUS_TX_READY = 1 << 0
STATUS_RX_VALID = 1 << 1
STATUS_RX_OVERRUN = 1 << 2
STATUS_FRAMING_ERROR = 1 << 3
#: At least 4 bytes in the receive FIFO: an RXWORD read pops a whole word.
STATUS_RX_WORD = 1 << 4
#: DATA read: set when the receive FIFO was empty (bits 7:0 are then 0).
DATA_RX_EMPTY = 1 << 31


def check_divisor(divisor) -> int:
    """``divisor`` (clock cycles per bit) if it is an int within MIN_DIVISOR..65535; else
    TypeError or ValueError naming it."""
    return check_int("divisor", divisor, MIN_DIVISOR, 2 ** DIVISOR_BITS - 1, "clock cycles per bit")


def check_fifo_depth(fifo_depth) -> int:
    """``fifo_depth`` (receive FIFO bytes) if it is an int within 1..255; else TypeError or
    ValueError naming it."""
    return check_int("fifo_depth", fifo_depth, 1, 255, "bytes")


def divisor_for(clk_hz: float, baud: float) -> int:
    """The divisor that gives ``baud`` from a ``clk_hz`` clock: ``round(clk_hz / baud)``.

    Raises :exc:`ValueError` if it is out of range or the baud rate error exceeds 2 %."""
    if clk_hz <= 0 or baud <= 0:
        raise ValueError(f"clock {clk_hz!r} Hz and baud rate {baud!r} must be positive")
    divisor = round(clk_hz / baud)
    check_divisor(divisor)
    if abs(clk_hz / divisor - baud) > 0.02 * baud:
        raise ValueError(f"{baud} baud is off by more than 2 % from a {clk_hz} Hz clock (divisor {divisor})")
    return divisor


class UART(wiring.Component):
    """8N1 transmitter and receiver (8 data bits, LSB first, no parity, one stop bit).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (baud rate = f_clk / divisor), :data:`MIN_DIVISOR` to 65535: the
        initial value of the ``divisor`` port, which is constant when nothing drives it.

    Attributes
    ----------
    divisor : In(16)
        Clock cycles per bit at run time; values below :data:`MIN_DIVISOR` act as it. A new
        value takes effect at the next bit boundary: change it while both directions are idle.
    tx : In(stream.Signature(8))
        Bytes to send. ``tx.ready`` is high while the transmitter is idle; a byte is taken
        when ``tx.valid`` and ``tx.ready`` are both high, and its frame starts the next cycle.
    txd : Out(1)
        Serial output, high when idle.
    rxd : In(1)
        Serial input (asynchronous; synchronized here), high when idle.
    rx : Out(stream.Signature(8, always_ready=True))
        Received bytes: ``rx.valid`` is high for one cycle per frame, at the middle of its stop
        bit, with the byte in ``rx.payload`` (held until the next frame ends). No backpressure.
    rx_ferr : Out(1)
        Framing error, valid with ``rx.valid``: the stop bit was 0 (the byte is suspect).
        After a framing error the receiver waits for a falling edge, so a line held low
        (break) gives one frame, not a stream of zeros.
    """

    def __init__(self, divisor: int):
        with rejecting(self):
            self._divisor = check_divisor(divisor)
        super().__init__({
            "divisor": In(DIVISOR_BITS, init=self._divisor),
            "tx": In(stream.Signature(8)),
            "txd": Out(1, init=1),
            "rxd": In(1, init=1),
            "rx": Out(stream.Signature(8, always_ready=True)),
            "rx_ferr": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = Signal(DIVISOR_BITS)
        m.d.comb += div.eq(Mux(self.divisor < MIN_DIVISOR, MIN_DIVISOR, self.divisor))
        self._transmitter(m, div)
        self._receiver(m, div)
        return m

    def _transmitter(self, m, div):
        """Start bit, 8 data bits LSB first, stop bit."""
        tx_timer = Signal(DIVISOR_BITS)
        tx_shift = Signal(9)           # data bits then the stop bit, shifted out LSB first
        tx_left = Signal(range(10))    # bits still to send after the current one
        tx_busy = Signal()
        m.d.comb += self.tx.ready.eq(~tx_busy)
        with m.If(~tx_busy):
            with m.If(self.tx.valid):
                m.d.sync += [tx_busy.eq(1), self.txd.eq(0), tx_shift.eq(Cat(self.tx.payload, Const(1, 1))),
                             tx_left.eq(9), tx_timer.eq(div - 1)]
        with m.Elif(tx_timer != 0):
            m.d.sync += tx_timer.eq(tx_timer - 1)
        with m.Elif(tx_left == 0):     # the stop bit has lasted a full bit time
            m.d.sync += tx_busy.eq(0)
        with m.Else():
            m.d.sync += [self.txd.eq(tx_shift[0]), tx_shift.eq(tx_shift >> 1), tx_left.eq(tx_left - 1),
                         tx_timer.eq(div - 1)]

    def _receiver(self, m, div):
        """2-flop synchronizer, falling edge of the start bit, mid-bit samples."""
        rx_meta = Signal(init=1)
        rx_sync = Signal(init=1)
        rx_last = Signal(init=1)
        m.d.sync += [rx_meta.eq(self.rxd), rx_sync.eq(rx_meta), rx_last.eq(rx_sync)]
        rx_timer = Signal(DIVISOR_BITS)
        rx_shift = Signal(8)
        rx_count = Signal(range(8))
        m.d.sync += self.rx.valid.eq(0)
        with m.FSM(name="rx_fsm"):
            with m.State("IDLE"):
                with m.If(rx_last & ~rx_sync):
                    m.d.sync += rx_timer.eq((div >> 1) - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(rx_timer != 0):
                    m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.Elif(rx_sync):  # high again at mid start bit: a glitch
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [rx_timer.eq(div - 1), rx_count.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(rx_timer != 0):
                    m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.Else():
                    m.d.sync += [rx_shift.eq(Cat(rx_shift[1:], rx_sync)), rx_count.eq(rx_count + 1),
                                 rx_timer.eq(div - 1)]
                    with m.If(rx_count == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(rx_timer != 0):
                    m.d.sync += rx_timer.eq(rx_timer - 1)
                with m.Else():
                    m.d.sync += [self.rx.valid.eq(1), self.rx.payload.eq(rx_shift), self.rx_ferr.eq(~rx_sync)]
                    m.next = "IDLE"


class UARTPeripheral(wiring.Component):
    """:class:`UART` with a receive FIFO behind a Wishbone B4 classic slave.

    Registers (byte offsets; 32-bit accesses):

    ======  ========  ========================================================================
    offset  name      meaning
    ======  ========  ========================================================================
    0x0     DATA      write: send byte ``[7:0]``. If the transmitter is busy, the write is
                      *stalled* (no ack) until it takes the byte, at most one frame time
                      (10 bits); poll STATUS.tx_ready first to avoid stalling the CPU.
                      read: pop the oldest received byte: ``[7:0]`` byte, ``[31]`` set if
                      the FIFO was empty (then ``[7:0]`` = 0 and nothing is popped).
    0x4     STATUS    read: ``[0]`` tx_ready (a DATA write would not stall), ``[1]`` rx_valid
                      (FIFO not empty), ``[2]`` rx_overrun (sticky: a byte arrived while the
                      FIFO was full and was lost), ``[3]`` framing error (sticky: a frame had a
                      0 stop bit; that byte was dropped), ``[4]`` rx_word (at least 4 bytes
                      in the FIFO), ``[15:8]`` bytes in the FIFO.
                      write (any value): clear both sticky bits.
    0x8     DIVISOR   rw ``[15:0]``: clock cycles per bit (baud = f_clk / DIVISOR). Writes
                      below 4 store 4. Reset value: the ``divisor`` parameter.
    0xC     RXWORD    read: if the FIFO holds at least 4 bytes, pop 4 and return them little
                      endian (the oldest in ``[7:0]``); else pop nothing and return 0 (check
                      STATUS.rx_word first). One bus read per 4 bytes: what lets the
                      firmware keep up with 12.5 Mbaud. Writes are ignored.
    ======  ========  ========================================================================

    Every access is acked one cycle after the strobe, except a stalled DATA write and an RXWORD
    read that pops (acked 4 cycles after the strobe: one byte a cycle).

    Parameters
    ----------
    divisor : int
        Reset value of DIVISOR, :data:`MIN_DIVISOR` to 65535.
    fifo_depth : int
        Receive FIFO depth in bytes, 1 to 255.

    Attributes
    ----------
    wb : In(WishboneSignature(2))
        The register bus (target side). ``wb.adr`` is the register's word address (byte
        offset >> 2); ``wb.sel`` is ignored (write the registers with 32-bit or byte stores
        at their offset).
    txd : Out(1)
        Serial output (idle high).
    rxd : In(1)
        Serial input (idle high, asynchronous).
    """

    def __init__(self, divisor: int, *, fifo_depth: int = 4):
        with rejecting(self):
            self._divisor = check_divisor(divisor)
            self._fifo_depth = check_fifo_depth(fifo_depth)
        super().__init__({
            "wb": In(WishboneSignature(2)),
            "txd": Out(1, init=1), "rxd": In(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        wb = self.wb
        m.submodules.uart = uart = UART(self._divisor)
        m.submodules.rx_fifo = fifo = SyncFIFO(width=8, depth=self._fifo_depth)
        m.d.comb += [self.txd.eq(uart.txd), uart.rxd.eq(self.rxd)]

        divisor = Signal(DIVISOR_BITS, init=self._divisor)
        overrun = Signal()
        ferr = Signal()
        m.d.comb += uart.divisor.eq(divisor)

        req = wb.cyc & wb.stb & ~wb.ack
        adr = wb.adr
        data_write = req & wb.we & (adr == REG_DATA >> 2)
        m.d.comb += [uart.tx.payload.eq(wb.dat_w[:8]), uart.tx.valid.eq(data_write)]
        word_read = req & ~wb.we & (adr == REG_RXWORD >> 2)
        word_pops = Signal(range(4))   # bytes the RXWORD read in progress has popped
        word = Signal(32)              # they shift in at the top: the oldest ends in [7:0]
        popping = (word_pops != 0) | (fifo.r_level >= 4)
        stall = (data_write & ~uart.tx.ready) | (word_read & popping & (word_pops != 3))
        m.d.sync += wb.ack.eq(req & ~stall)

        with m.If(req & wb.we):
            with m.Switch(adr):
                with m.Case(REG_STATUS >> 2):
                    m.d.sync += [overrun.eq(0), ferr.eq(0)]
                with m.Case(REG_DIVISOR >> 2):
                    value = wb.dat_w[:DIVISOR_BITS]
                    m.d.sync += divisor.eq(Mux(value < MIN_DIVISOR, MIN_DIVISOR, value))

        with m.If(req & ~wb.we):
            m.d.sync += wb.dat_r.eq(0)
            with m.Switch(adr):
                with m.Case(REG_DATA >> 2):
                    m.d.comb += fifo.r_en.eq(1)  # pops only if not empty
                    m.d.sync += wb.dat_r.eq(Mux(fifo.r_rdy, fifo.r_data, DATA_RX_EMPTY))
                with m.Case(REG_STATUS >> 2):
                    m.d.sync += wb.dat_r.eq(Cat(uart.tx.ready, fifo.r_rdy, overrun, ferr, fifo.r_level >= 4,
                                                     Const(0, 3), fifo.r_level))
                with m.Case(REG_RXWORD >> 2):
                    with m.If(popping):
                        m.d.comb += fifo.r_en.eq(1)
                        m.d.sync += [word.eq(Cat(word[8:], fifo.r_data)), word_pops.eq(word_pops + 1)]
                        with m.If(word_pops == 3):
                            m.d.sync += wb.dat_r.eq(Cat(word[8:], fifo.r_data))
                with m.Case(REG_DIVISOR >> 2):
                    m.d.sync += wb.dat_r.eq(divisor)

        # Received frames: good bytes into the FIFO; sticky flags win over a clear in the same cycle.
        good = uart.rx.valid & ~uart.rx_ferr
        m.d.comb += [fifo.w_data.eq(uart.rx.payload), fifo.w_en.eq(good)]
        with m.If(good & ~fifo.w_rdy):
            m.d.sync += overrun.eq(1)
        with m.If(uart.rx.valid & uart.rx_ferr):
            m.d.sync += ferr.eq(1)
        return m
