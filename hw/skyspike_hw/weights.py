"""Weight fetch: the banks of the fold that holds each slot's event row read it, and the
synapse array accumulates the weights that arrive three cycles later (the address register,
the bank read, then its dout register), one cycle after that (its merge register)."""
from amaranth import Array, Const, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import LANES_PER_BANK, CoreConfig, log2

from .inputs import ROW_BITS
from .ports import SRAMReadSignature
from .synapse import SynapseArray

__all__ = ["WeightFetch"]


class WeightFetch(wiring.Component):
    """Bank addressing and the :class:`~skyspike_hw.synapse.SynapseArray`.

    Bank j belongs to slot s = j >> (log2(banks) - kl) and fold f = (j >> (log2(banks) - kl - fl))
    mod F of it (k = 2^kl slots, F = 2^fl folds). It reads when slot s has an event whose row r
    has r mod F == f, at word ``chunk_base + (r >> fl)`` (per slot, the address and the fold are
    registered first); the weights arrive ``DATA_LATENCY`` cycles after the event, with each
    bank's read enable delayed to match (the synapse array's ``bank_valid``), and are
    accumulated ``LATENCY`` cycles after it.

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
    fold_log2 : In(3)
        log2 of the layer's row folds (slots_log2 + fold_log2 <= log2(banks)).
    clear, shift : In(1)
        Zero the accumulators (at the start of a chunk); double them (at the start of a
        direct input's next bit plane).
    read_index : In
        Update group j: ``current[u]`` is chunk neuron j * update_lanes + u.
    active_groups : In(range(groups + 1)), init groups
        The chunk's update groups: only their accumulators are clocked (SynapseArray).
    w : Out(SRAMReadSignature(bank address bits)).array(banks)
        The read ports of the weight banks.
    current : Out(ArrayLayout(signed(acc_bits), update_lanes))
        The accumulated synaptic currents of the update group, combinationally.
    """

    #: Cycles from an event to its weights at the synapse array (address register, bank read,
    #: dout register).
    DATA_LATENCY = 3
    #: Cycles from an event to its weights' accumulation (and the array's merge register).
    LATENCY = DATA_LATENCY + SynapseArray.LATENCY

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.wa_bits = log2(cfg.bank_depth)
        groups = LANES_PER_BANK * cfg.banks // cfg.update_lanes
        super().__init__({
            "event": In(cfg.max_slots), "event_row": In(data.ArrayLayout(ROW_BITS, cfg.max_slots)),
            "chunk_base": In(16), "slots_log2": In(2), "fold_log2": In(3), "bits_code": In(2), "subword": In(2),
            "clear": In(1), "shift": In(1), "read_index": In(range(groups)),
            "active_groups": In(range(groups + 1), init=groups),
            "w": Out(SRAMReadSignature(self.wa_bits)).array(cfg.banks),
            "current": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.update_lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        B, K = cfg.banks, cfg.max_slots
        m.submodules.synapses = syn = SynapseArray(cfg)
        lb = log2(B)
        # Each slot's word address and fold are registered: the banks' address pins are driven
        # from flops (through the slot select), not through the scanners and an adder.
        addr_q = [Signal(self.wa_bits, name=f"addr_q{s}") for s in range(K)]
        fold_q = [Signal(max(1, lb), name=f"fold_q{s}") for s in range(K)]   # event row mod F
        fold_mask = Signal(max(1, lb))
        event_q = Signal(K)
        m.d.comb += fold_mask.eq((Const(1, lb + 1) << self.fold_log2) - 1)
        m.d.sync += [event_q.eq(self.event),
                     *(a.eq(self.chunk_base + (self.event_row[s] >> self.fold_log2)) for s, a in enumerate(addr_q)),
                     *(f.eq(self.event_row[s] & fold_mask) for s, f in enumerate(fold_q))]
        events, addrs, folds = Array(event_q[s] for s in range(K)), Array(addr_q), Array(fold_q)
        bank_en = Signal(B)
        for j, port in enumerate(self.w):
            # Bank j's slot and fold for each slot count 2**kl and fold count 2**fl.
            s_of_bank = Signal(range(max(2, K)), name=f"slot_of_bank{j}")
            f_of_bank = Signal(max(1, lb), name=f"fold_of_bank{j}")
            with m.Switch(self.slots_log2):
                for kl in range(log2(K) + 1):
                    with m.Case(kl):
                        m.d.comb += s_of_bank.eq(j >> (lb - kl))
                        with m.Switch(self.fold_log2):
                            for fl in range(1, lb - kl + 1):
                                with m.Case(fl):
                                    m.d.comb += f_of_bank.eq((j >> (lb - kl - fl)) & ((1 << fl) - 1))
            m.d.comb += [bank_en[j].eq(events[s_of_bank] & (folds[s_of_bank] == f_of_bank)),
                         port.en.eq(bank_en[j]), port.addr.eq(addrs[s_of_bank]), syn.bank_data[j].eq(port.data)]
        # The weights come DATA_LATENCY cycles after the event: the address register, the bank
        # read, then its dout register; each bank's enable is delayed to match.
        bank_valid_q = [Signal(B, name=f"bank_valid_q{d}") for d in range(self.DATA_LATENCY - 1)]
        m.d.sync += [bank_valid_q[0].eq(bank_en), *(b.eq(a) for a, b in zip(bank_valid_q, bank_valid_q[1:]))]
        m.d.comb += [syn.bank_valid.eq(bank_valid_q[-1]), syn.bits_code.eq(self.bits_code),
                     syn.slots_log2.eq(self.slots_log2), syn.fold_log2.eq(self.fold_log2), syn.subword.eq(self.subword),
                     syn.clear.eq(self.clear), syn.shift.eq(self.shift), syn.read_index.eq(self.read_index),
                     syn.active_groups.eq(self.active_groups),
                     self.current.eq(syn.read_data)]
        return m
