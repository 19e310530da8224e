"""Spike scanner: turns one slot's share of an input bitmap into events, one per cycle.

Slot ``s`` of ``k`` owns words s, s+k, s+2k, ... of the bitmap. A word costs
max(1, set bits) cycles. Words arrive two cycles after their request (the SRAM read, then
its dout register), so the scanner reads ahead: it keeps up to two words requested but not
yet started (in flight or in a two-entry queue), which is enough for one word per cycle.
After the start there is one cycle without an event (the first word is in flight); from
then on there are no bubbles. This is what makes the layer's work proportional to its
input spikes.

The bitmap is the layer's n_in real inputs followed by its bias inputs (always set): the
scanner keeps only the real bits of what it reads and ORs the bias bits in itself (masks
from :class:`~skyspike_hw.descriptor.DescriptorDecode`), so the memory past the real inputs
may hold anything. The reference is ``skyspike.chip.golden.slot_events`` and
``slot_scan_cycles`` (tests/hw/test_scanner.py).
"""
from amaranth import Cat, Const, Module, Mux, Signal
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
        Read request for word ``req_word`` this cycle; its data must be on ``data`` two
        cycles later (and only then).
    data : In(32)
        The word requested two cycles ago.
    event, event_row : Out
        An input spike this cycle and its row within the slot: (word // k) * 32 + bit.
    active : Out(1)
        The scan is not over: from the cycle after ``start`` to the last word's last cycle
        (1 + sum over the slot's words of max(1, set bits) cycles; 0 for a slot without words).
    """

    #: Words requested but not yet started that the scanner keeps (= the read latency).
    READ_AHEAD = 2

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

    def _loaded(self, m, index):
        """The arriving word as the layer uses it: real inputs below tail_word; real and bias
        bits at it; only bias bits after it (in_words <= tail_word + 2, as n_bias <= 32)."""
        loaded = Signal(32)
        with m.If(index < self.tail_word):
            m.d.comb += loaded.eq(self.data)
        with m.Elif(index == self.tail_word):
            m.d.comb += loaded.eq((self.data & self.tail_mask) | self.tail_bias)
        with m.Else():
            m.d.comb += loaded.eq(self.next_bias)
        return loaded

    def elaborate(self, platform):
        m = Module()
        k = Signal(5)
        m.d.comb += k.eq(Const(1, 5) << self.slots_log2)
        next_req = Signal.like(self.req_word)    # the next word to request
        in_flight = Signal(2)                    # requests of one / two cycles ago
        arr_word = Signal.like(self.req_word)    # index of the next word to arrive
        queue = [Signal(32, name=f"queue{i}") for i in range(self.READ_AHEAD)]
        queued = Signal(range(self.READ_AHEAD + 1))
        take_word = Signal.like(self.req_word)   # index of the next word to start
        cur = Signal(32)                         # bits of the word in progress not yet events
        cur_word = Signal.like(self.req_word)
        cur_live = Signal()                      # a word is in progress (bits left)

        arriving = in_flight[1]
        loaded = self._loaded(m, arr_word)
        avail = (queued != 0) | arriving
        take = self.active & ~cur_live & avail   # start the next word this cycle
        word = Signal(32)
        index = Signal.like(self.req_word)
        m.d.comb += [word.eq(Mux(cur_live, cur, Mux(queued != 0, queue[0], loaded))),
                     index.eq(Mux(cur_live, cur_word, take_word))]
        busy = cur_live | take
        low = Signal(32)
        m.d.comb += low.eq(word & (~word + 1))
        rest = word & ~low
        bit = lowest_set_bit_index(m, low, 32)

        outstanding = queued + in_flight[0] + in_flight[1]
        m.d.sync += in_flight.eq(Cat(self.req, in_flight[0]))
        with m.If(self.stop):
            m.d.sync += [self.active.eq(0), cur_live.eq(0), queued.eq(0), in_flight.eq(0)]
        with m.Elif(self.start):
            slot_used = (self.slot < k) & (self.slot < self.in_words)
            m.d.comb += [self.req.eq(slot_used), self.req_word.eq(self.slot)]
            m.d.sync += [self.active.eq(slot_used), cur_live.eq(0), queued.eq(0),
                         next_req.eq(self.slot + k), arr_word.eq(self.slot), take_word.eq(self.slot)]
        with m.Elif(self.active):
            # Read ahead: at most READ_AHEAD words requested and not started.
            with m.If((next_req < self.in_words) & (outstanding - take < self.READ_AHEAD)):
                m.d.comb += [self.req.eq(1), self.req_word.eq(next_req)]
                m.d.sync += next_req.eq(next_req + k)
            with m.If(arriving):
                m.d.sync += arr_word.eq(arr_word + k)
            self._queue(m, queue, queued, loaded, pop=take & (queued != 0), push=arriving & ~(take & (queued == 0)))
            with m.If(take):
                m.d.sync += take_word.eq(take_word + k)
            with m.If(busy):
                m.d.comb += [self.event.eq(word != 0),
                             self.event_row.eq(((index >> self.slots_log2) << 5) | bit)]
                m.d.sync += [cur.eq(rest), cur_word.eq(index), cur_live.eq(rest != 0)]
                with m.If((rest == 0) & (index + k >= self.in_words)):
                    m.d.sync += self.active.eq(0)
        return m

    @staticmethod
    def _queue(m, queue, queued, loaded, *, pop, push):
        """The words that arrived before they could start, oldest first (never more than two:
        the read-ahead limit)."""
        q0, q1 = queue
        m.d.sync += queued.eq(queued - pop + push)
        # The new word goes behind the ones that stay: slot 0 if none stays, else slot 1.
        stays = queued - pop
        with m.If(pop):
            m.d.sync += q0.eq(q1)
        with m.If(push & (stays == 0)):
            m.d.sync += q0.eq(loaded)
        with m.Elif(push):
            m.d.sync += q1.eq(loaded)
