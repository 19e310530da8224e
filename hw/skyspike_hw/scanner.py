"""Spike scanner: turns one slot's share of an input bitmap into events, one per cycle.

Slot ``s`` of ``k`` owns words s, s+k, s+2k, ... of the bitmap. A word costs
max(1, set bits) cycles: the next word is always requested in the cycle the current one
runs out, and arrives (one-cycle memory latency) exactly when it is needed, so there are
no bubbles. This is what makes the layer's work proportional to its input spikes.

The bitmap is the layer's n_in real inputs followed by its bias inputs (always set): the
scanner keeps only the real bits of what it reads and ORs the bias bits in itself (masks
from :class:`~skyspike_hw.descriptor.DescriptorDecode`), so the memory past the real inputs
may hold anything. The reference is ``skyspike.chip.golden.slot_events`` and
``slot_scan_cycles`` (tests/hw/test_scanner.py).
"""
from amaranth import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def lowest_set_bit_index(m: Module, onehot: Signal, width: int) -> Signal:
    """Index of the single set bit of ``onehot`` (an OR tree per index bit)."""
    idx = Signal(range(width))
    for b in range(idx.shape().width):
        m.d.comb += idx[b].eq(_or_all([onehot[i] for i in range(width) if i >> b & 1]))
    return idx


def _or_all(bits):
    out = bits[0]
    for b in bits[1:]:
        out = out | b
    return out


class SpikeScanner(wiring.Component):
    """Event extraction for one slot.

    Parameters
    ----------
    slot : int
        This scanner's slot index (its first word).
    word_bits : int
        Width of word indices (enough for the largest bitmap).

    Attributes
    ----------
    start : In(1)
        Begin a scan (one cycle): requests the slot's first word.
    stop : In(1)
        Abandon the scan (soft reset).
    slots_log2 : In(2)
        log2 of the layer's slot count k (held during the scan).
    in_words : In(word_bits)
        Words in the bitmap, bias inputs included; the scan ends after the slot's last word.
    tail_word : In(word_bits - 1)
        The word holding input n_in (n_in // 32): words below it are used as read.
    tail_mask, tail_bias : In(32)
        Word ``tail_word`` is used as (data & tail_mask) | tail_bias.
    next_bias : In(32)
        Word tail_word + 1 (no word lies beyond it) is ``next_bias``, whatever was read.
    req, req_word : Out
        Read request for word ``req_word`` this cycle; its data must be on ``data`` next cycle.
    data : In(32)
        The word requested in the previous cycle.
    event, event_row : Out
        An input spike this cycle and its row within the slot: (word // k) * 32 + bit.
    active : Out(1)
        The scan has words left (an event may come this cycle).
    """

    def __init__(self, slot: int, word_bits: int):
        if slot < 0:
            raise ValueError(f"slot must be >= 0, not {slot}")
        self.slot = slot
        super().__init__({
            "start": In(1), "stop": In(1), "slots_log2": In(2), "in_words": In(word_bits),
            "tail_word": In(word_bits - 1), "tail_mask": In(32), "tail_bias": In(32), "next_bias": In(32),
            "req": Out(1), "req_word": Out(word_bits), "data": In(32),
            "event": Out(1), "event_row": Out(word_bits + 5), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cur = Signal(32)          # bits of the current word not yet turned into events
        cur_word = Signal.like(self.req_word)
        loading = Signal()        # the current word arrives on `data` this cycle
        k = Signal(5)
        m.d.comb += k.eq(Const(1, 5) << self.slots_log2)

        # The word as loaded: real inputs below tail_word; real and bias bits at it; only bias
        # bits after it (in_words <= tail_word + 2, as n_bias <= 32).
        loaded = Signal(32)
        with m.If(cur_word < self.tail_word):
            m.d.comb += loaded.eq(self.data)
        with m.Elif(cur_word == self.tail_word):
            m.d.comb += loaded.eq((self.data & self.tail_mask) | self.tail_bias)
        with m.Else():
            m.d.comb += loaded.eq(self.next_bias)
        word = Signal(32)
        m.d.comb += word.eq(Mux(loading, loaded, cur))
        low = Signal(32)
        m.d.comb += low.eq(word & (~word + 1))
        rest = word & ~low
        next_word = cur_word + k
        bit = lowest_set_bit_index(m, low, 32)

        with m.If(self.stop):
            m.d.sync += [self.active.eq(0), loading.eq(0)]
        with m.Elif(self.start):
            slot_used = (self.slot < k) & (self.slot < self.in_words)
            m.d.sync += [self.active.eq(slot_used), cur_word.eq(self.slot), loading.eq(1)]
            m.d.comb += [self.req.eq(slot_used), self.req_word.eq(self.slot)]
        with m.Elif(self.active):
            m.d.comb += [
                self.event.eq(word != 0),
                self.event_row.eq(((cur_word >> self.slots_log2) << 5) | bit),
            ]
            with m.If(rest == 0):
                with m.If(next_word < self.in_words):
                    m.d.comb += [self.req.eq(1), self.req_word.eq(next_word)]
                    m.d.sync += [cur_word.eq(next_word), loading.eq(1)]
                with m.Else():
                    m.d.sync += [self.active.eq(0), loading.eq(0)]
            with m.Else():
                m.d.sync += [cur.eq(rest), loading.eq(0)]
        return m
