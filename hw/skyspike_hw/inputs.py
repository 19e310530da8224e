"""Input routing: the slot scanners and the words they read, from the input buffer banks
(layer 0) or from the previous layer's spike bitmap (hidden layers)."""
from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import CoreConfig, log2

from .descriptor import WORD_BITS, derived_layout
from .ports import SRAMReadSignature
from .scanner import SpikeScanner

__all__ = ["InputRouter", "ROW_BITS"]

#: Width of an event's row within its slot: (word // k) * 32 + bit.
ROW_BITS = WORD_BITS + 5


class InputRouter(wiring.Component):
    """``max_slots`` :class:`~skyspike_hw.scanner.SpikeScanner` s and their word sources.

    Slot ``s`` of ``k`` scans words s, s+k, ... of the layer's input bitmap. For layer 0 its
    word w lives in input bank w mod input_banks at ``in_base + w // input_banks``; bank i
    serves slot i mod k. A hidden layer reads the previous layer's bitmap (a register).
    Both have two cycles of latency (the banks' read data comes through the dout registers
    of :class:`~skyspike_hw.core.SNNCore`), as the scanners expect.

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    start : In(1)
        Begin the scan of one chunk's inputs (one cycle).
    stop : In(1)
        Abandon the scan (soft reset).
    from_inputs : In(1)
        The layer is layer 0: read the input buffer, else ``hidden``. Set at least one cycle
        before ``start`` and held during the scan.
    slots_log2 : In(2)
        log2 of the layer's slot count (held during the scan).
    derived : In(derived_layout(cfg))
        The layer's decoded placement (``in_words`` and the bias-word masks are used).
    in_base : In(input address bits + 8)
        Input-buffer address of this step's word 0 in every bank.
    hidden : In(max(max_neurons, max_inputs))
        The previous layer's spike bitmap (bit n = neuron n spiked at this step), or a
        rate-coded layer 0's (the encoder's).
    inp : Out(SRAMReadSignature(input address bits)).array(input_banks)
        The read ports of the input buffer banks.
    event : Out(max_slots)
        Slot s has an input spike this cycle.
    event_row : Out(ArrayLayout(ROW_BITS, max_slots))
        Its row within the slot's weight rows.
    active : Out(1)
        Some slot has words left (the scan is not over).
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.ia_bits = log2(cfg.input_depth)
        super().__init__({
            "start": In(1), "stop": In(1), "from_inputs": In(1), "slots_log2": In(2),
            "derived": In(derived_layout(cfg)), "in_base": In(self.ia_bits + 8),
            "hidden": In(max(cfg.max_neurons, cfg.max_inputs)),
            "inp": Out(SRAMReadSignature(self.ia_bits)).array(cfg.input_banks),
            "event": Out(cfg.max_slots), "event_row": Out(data.ArrayLayout(ROW_BITS, cfg.max_slots)),
            "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        K, IB = cfg.max_slots, cfg.input_banks
        scanners = []
        for s in range(K):
            sc = m.submodules[f"scan{s}"] = SpikeScanner(s, WORD_BITS)
            scanners.append(sc)
        # A layer reads the bitmap past n_in when it has bias rows (up to index n_words, past
        # the Array): the scanners use only the real bits there, so what it reads is harmless.
        hidden_words = Array([self.hidden[32 * w: 32 * (w + 1)] for w in range(len(self.hidden) // 32)])
        in_sel = Array([port.data for port in self.inp])
        der = self.derived
        # The data source, registered: it fans out to every slot's 32 data bits, and the
        # layer index it comes from is settled a cycle before the scan starts (LOAD).
        from_inputs_q = Signal()
        m.d.sync += from_inputs_q.eq(self.from_inputs)
        for s, sc in enumerate(scanners):
            # Both sources answer two cycles after the request, as the banks' dout registers do.
            # The bitmap is read one cycle after the request: the neuron update writes the
            # previous layer's last group until then (NeuronState.LATENCY).
            ib_q = [Signal(range(max(2, IB)), name=f"ib_q{s}_{d}") for d in range(2)]
            req_q = Signal.like(sc.req_word, name=f"req_word_q{s}")
            word_q = Signal(32, name=f"word_q{s}")
            m.d.comb += [sc.start.eq(self.start), sc.stop.eq(self.stop), sc.slots_log2.eq(self.slots_log2),
                         sc.in_words.eq(der.in_words), sc.tail_word.eq(der.tail_word),
                         sc.tail_mask.eq(der.tail_mask), sc.tail_bias.eq(der.tail_bias),
                         sc.next_bias.eq(der.next_bias),
                         sc.data.eq(Mux(from_inputs_q, in_sel[ib_q[1]], word_q)),
                         self.event[s].eq(sc.event), self.event_row[s].eq(sc.event_row)]
            m.d.sync += [ib_q[0].eq(sc.req_word[:max(1, log2(IB))] if IB > 1 else 0), ib_q[1].eq(ib_q[0]),
                         req_q.eq(sc.req_word), word_q.eq(hidden_words[req_q])]
        m.d.comb += self.active.eq(Cat(sc.active for sc in scanners).any())

        # Bias-only words of layer 0 (w >= the step's input words) read the next step's words
        # or wrap around the bank: harmless, the scanners ignore their data.
        k_mask = Signal(3)
        m.d.comb += k_mask.eq((Const(1, 4) << self.slots_log2) - 1)
        for i, port in enumerate(self.inp):
            s_sel = Signal(range(max(2, K)), name=f"in_slot{i}")
            m.d.comb += s_sel.eq(i & k_mask)
            req = Array([sc.req for sc in scanners])[s_sel]
            w = Array([sc.req_word for sc in scanners])[s_sel]
            bank_of_w = w[:log2(IB)] if IB > 1 else 0
            m.d.comb += [port.en.eq(self.from_inputs & req & (bank_of_w == i)),
                         port.addr.eq(self.in_base + (w >> log2(IB)))]
        return m

