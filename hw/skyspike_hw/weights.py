"""Weight fetch: every weight bank reads the row of its slot's event, and the synapse array
accumulates the weights that arrive three cycles later (the address register, the bank read,
then its dout register)."""
from amaranth import Array, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import LANES_PER_BANK, CoreConfig, log2

from .inputs import ROW_BITS
from .ports import SRAMReadSignature
from .synapse import SynapseArray

__all__ = ["WeightFetch"]


class WeightFetch(wiring.Component):
    """Bank addressing and the :class:`~skyspike_hw.synapse.SynapseArray`.

    Bank j belongs to slot j // (banks / k) and reads word ``chunk_base + row`` of its slot's
    event (registered first); the weights arrive ``LATENCY`` cycles after the event, with the
    slot's event flag delayed to match.

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    event : In(max_slots) ; event_row : In(ArrayLayout(ROW_BITS, max_slots))
        Each slot's input spike this cycle and its row (from the input router).
    chunk_base : In(16)
        Weight word of the chunk's row 0 (the same in every bank).
    slots_log2, bits_code, subword : In(2)
        The layer's slots, weight precision and the chunk's place in a packed word.
    clear : In(1)
        Zero the accumulators (at the start of a chunk).
    read_index : In
        Update group j: ``current[u]`` is chunk neuron j * update_lanes + u.
    w : Out(SRAMReadSignature(bank address bits)).array(banks)
        The read ports of the weight banks.
    current : Out(ArrayLayout(signed(acc_bits), update_lanes))
        The accumulated synaptic currents of the update group, combinationally.
    """

    #: Cycles from an event to its weights' accumulation (address register, read, dout register).
    LATENCY = 3

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.wa_bits = log2(cfg.bank_depth)
        groups = LANES_PER_BANK * cfg.banks // cfg.update_lanes
        super().__init__({
            "event": In(cfg.max_slots), "event_row": In(data.ArrayLayout(ROW_BITS, cfg.max_slots)),
            "chunk_base": In(16), "slots_log2": In(2), "bits_code": In(2), "subword": In(2),
            "clear": In(1), "read_index": In(range(groups)),
            "w": Out(SRAMReadSignature(self.wa_bits)).array(cfg.banks),
            "current": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.update_lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        B, K = cfg.banks, cfg.max_slots
        m.submodules.synapses = syn = SynapseArray(cfg)
        # Each slot's word address is registered: the banks' address pins are driven from flops
        # (through the slot select), not through the scanners and an adder.
        addr_q = [Signal(self.wa_bits, name=f"addr_q{s}") for s in range(K)]
        event_q = Signal(K)
        m.d.sync += [event_q.eq(self.event), *(a.eq(self.chunk_base + self.event_row[s]) for s, a in enumerate(addr_q))]
        events, addrs = Array(event_q[s] for s in range(K)), Array(addr_q)
        for j, port in enumerate(self.w):
            # Bank j's slot for each slot count 2**kl.
            s_of_bank = Array([j >> (log2(B) - kl) for kl in range(log2(K) + 1)])[self.slots_log2]
            m.d.comb += [port.en.eq(events[s_of_bank]), port.addr.eq(addrs[s_of_bank]),
                         syn.bank_data[j].eq(port.data)]
        # The weights come LATENCY cycles after the event: the address register, the bank
        # read, then its dout register.
        slot_valid_q = [Signal(K, name=f"slot_valid_q{d}") for d in range(self.LATENCY)]
        m.d.sync += [slot_valid_q[0].eq(self.event), *(b.eq(a) for a, b in zip(slot_valid_q, slot_valid_q[1:]))]
        m.d.comb += [syn.slot_valid.eq(slot_valid_q[-1]), syn.bits_code.eq(self.bits_code),
                     syn.slots_log2.eq(self.slots_log2), syn.subword.eq(self.subword),
                     syn.clear.eq(self.clear), syn.read_index.eq(self.read_index),
                     self.current.eq(syn.read_data)]
        return m
