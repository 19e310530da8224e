"""Synapse lanes: unpack the weights of all banks, merge the folds and sum the slots'
events per neuron, and accumulate one chunk's synaptic currents.

Bank j of ``banks`` belongs to slot s = j // G (G = banks / k banks per group) and, with F
row folds, to fold f = (j mod G) // G' of it (G' = G / F banks per fold). Every cycle each
bank yields up to 8 signed weights (4 at 8-bit); lane p of a bank feeds neuron
(j mod G') * lanes + p of the chunk. Only one fold of a slot holds an event's weights (the
others are masked to 0), so an OR stage merges the folds, and the k slots' weights for the
same neuron are added by a small tree. The reference is ``skyspike.chip.golden.synapse_current``
(tests/hw/test_synapse.py).
"""
from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import LANES_PER_BANK, CoreConfig, log2


class SynapseArray(wiring.Component):
    """Weight unpacking, fold merging, slot reduction and the chunk accumulators.

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    bank_data : In(ArrayLayout(32, banks))
        Port-1 read data of every weight bank this cycle.
    bank_valid : In(banks)
        Bank j holds the weights of a real event this cycle (else it is ignored); at most
        one fold of each slot at a time.
    bits_code, slots_log2 : In(2)
        The layer's weight precision code (1, 2, 4, 8 bits) and log2 of its slots.
    fold_log2 : In(3)
        log2 of the layer's row folds (slots_log2 + fold_log2 <= log2(banks)).
    subword : In(2)
        Which chunk of a packed word this chunk is (1- and 2-bit weights).
    clear : In(1)
        Zero all accumulators (at the start of a chunk).
    shift : In(1)
        Double all accumulators instead (at the start of a direct input's next bit plane:
        Horner's rule over the planes, most significant first).
    active_groups : In(range(groups + 1)), init groups
        The chunk's update groups (ceil(chunk neurons / update_lanes)). Only the accumulators
        of groups below it are cleared, shifted and accumulated; the others are not read in
        this chunk, so their clocks stay gated.
    read_index : In
        Update group j: lane u reads the accumulator of chunk neuron j * update_lanes + u.
    read_data : Out(ArrayLayout(signed(acc_bits), update_lanes))
        Those accumulators, combinationally.
    """

    #: Cycles from ``bank_data`` / ``bank_valid`` to the accumulators holding them (a register
    #: stage after the fold merge).
    LATENCY = 1

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.n_acc = LANES_PER_BANK * cfg.banks
        super().__init__({
            "bank_data": In(data.ArrayLayout(32, cfg.banks)), "bank_valid": In(cfg.banks),
            "bits_code": In(2), "slots_log2": In(2), "fold_log2": In(3), "subword": In(2), "clear": In(1),
            "shift": In(1), "read_index": In(range(self.n_acc // cfg.update_lanes)),
            "active_groups": In(range(self.n_acc // cfg.update_lanes + 1), init=self.n_acc // cfg.update_lanes),
            "read_data": Out(data.ArrayLayout(signed(cfg.acc_bits), cfg.update_lanes)),
        })

    def _unpack(self, m, word, p):
        """Lane p's signed weight from one bank word, at the layer's precision."""
        w = Signal(signed(8))
        u = self.subword
        with m.Switch(self.bits_code):
            with m.Case(0):   # 1 bit: 1 -> +1, 0 -> -1
                m.d.comb += w.eq(Mux(word.bit_select(u * 8 + p, 1), 1, -1))
            with m.Case(1):   # 2 bits
                m.d.comb += w.eq(word.bit_select((u[0] * 8 + p) * 2, 2).as_signed())
            with m.Case(2):   # 4 bits
                m.d.comb += w.eq(word[4 * p: 4 * p + 4].as_signed())
            with m.Case(3):   # 8 bits: only 4 lanes
                if p < 4:
                    m.d.comb += w.eq(word[8 * p: 8 * p + 8].as_signed())
        return w

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        B, Q = cfg.banks, LANES_PER_BANK
        levels = log2(cfg.max_slots)

        # Each bank's lanes, zeroed unless the bank holds an event's weights.
        y = [[Mux(self.bank_valid[j], self._unpack(m, self.bank_data[j], p), 0) for p in range(Q)]
             for j in range(B)]
        # yv[j]: position j holds an event's weights (else its lanes are 0), merged like y.
        yv = [self.bank_valid[j] for j in range(B)]
        # Fold merging: the bits of j below the slot's (log2(B) - kl) and above the fold's
        # (log2(B) - kl - fl) number the folds. Level L (absolute, log2(B) down to 1) ORs
        # position j + 2^(log2(B) - L) into j when kl < L <= kl + fl; only one fold of a slot
        # is non-zero, so OR == sum. Position s * G + g' (g' < G') then holds the slot's weights.
        lb = log2(B)
        for L in range(lb, 0, -1):
            stride = 1 << (lb - L)
            merge = Signal(name=f"fold_merge{L}")
            m.d.comb += merge.eq((self.slots_log2 < L) & (self.slots_log2 + self.fold_log2 >= L))
            nxt, nxt_v = [], []
            for j in range(B):
                if j & stride:
                    nxt.append(y[j])
                    nxt_v.append(yv[j])
                    continue
                nxt_v.append(yv[j] | (merge & yv[j + stride]))
                lanes = []
                for p in range(Q):
                    v = Signal(signed(8), name=f"fold{L}_{j}_{p}")
                    m.d.comb += v.eq(Mux(merge, y[j][p] | y[j + stride][p], y[j][p]))
                    lanes.append(v)
                nxt.append(lanes)
            y, yv = nxt, nxt_v
        # A register stage between the merge and the adders: unpack, mask and merge take one
        # cycle, the slot tree and the accumulation the next (LATENCY). The accumulators add
        # only in cycles with an event (``merged_valid``). A position's register loads only
        # with an event in it, or in the cycle after one (to load its zeros): it holds 0
        # otherwise, so its clock is gated while its banks are idle.
        any_valid, valid_q = Signal(), Signal(name="merged_valid")
        m.d.comb += any_valid.eq(self.bank_valid.any())
        m.d.sync += valid_q.eq(any_valid)
        y_q = []
        for j, lanes in enumerate(y):
            held = Signal(name=f"merged_held{j}")   # its register took an event last cycle
            m.d.sync += held.eq(yv[j])
            row = []
            for p, v in enumerate(lanes):
                reg = Signal(signed(8), name=f"merged_q{j}_{p}")
                with m.If(yv[j] | held):
                    m.d.sync += reg.eq(v)
                row.append(reg)
            y_q.append(row)
        # Level 0 of the slot tree: the merged banks, registered.
        tree = [y_q]
        # Level r: neuron g of the first B/2^r banks adds its partner B/2^r banks away.
        for r in range(1, levels + 1):
            half = B >> r
            level = []
            for g in range(half):
                lanes = []
                for p in range(Q):
                    s = Signal(signed(8 + r), name=f"sum{r}_{g}_{p}")
                    m.d.comb += s.eq(tree[r - 1][g][p] + tree[r - 1][g + half][p])
                    lanes.append(s)
                level.append(lanes)
            tree.append(level)

        def reduced(g, p):
            """Neuron (g, p)'s summed weight for the layer's slot count."""
            opts = [tree[kl][g][p] if g < (B >> kl) else 0 for kl in range(levels + 1)]
            return Array(opts)[self.slots_log2] if levels else opts[0]

        # Accumulator a holds chunk neuron a: bank-in-fold a // lanes, lane a % lanes (those
        # past the chunk are never read).
        U = cfg.update_lanes
        group_on = [Signal(name=f"acc_group_on{g}") for g in range(self.n_acc // U)]
        m.d.comb += [on.eq(self.active_groups > g) for g, on in enumerate(group_on)]
        acc = [Signal(signed(cfg.acc_bits), name=f"acc{a}") for a in range(self.n_acc)]
        for a, reg in enumerate(acc):
            src8 = reduced(a >> 3, a & 7)
            src4 = reduced(a >> 2, a & 3) if a < 4 * B else 0
            with m.If(group_on[a // U]):
                with m.If(self.clear):
                    m.d.sync += reg.eq(0)
                with m.Elif(self.shift):
                    m.d.sync += reg.eq(reg << 1)
                with m.Elif(valid_q):
                    m.d.sync += reg.eq(reg + Mux(self.bits_code == 3, src4, src8))

        for u in range(U):
            sel = Array([acc[j * U + u] for j in range(self.n_acc // U)])[self.read_index]
            m.d.comb += self.read_data[u].eq(sel)
        return m
