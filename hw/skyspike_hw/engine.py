"""The layer engine: validates the descriptor table, then for every time step and layer
streams input events through the synapse lanes and updates the neurons.

Schedule per step, per layer (cycles are predicted by ``skyspike.chip.golden.predict_cycles``)::

    LOAD                      1 cycle: latch the layer's decoded descriptor
    per chunk of neurons:
      START                   1 cycle: clear accumulators, request each slot's first word
      SCAN                    max over slots of sum(max(1, spikes in word)) cycles
      (drain)                 1 cycle: the last event's weights arrive and accumulate
      UPDATE                  ceil(chunk neurons / update_lanes) cycles
"""
from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import MEMBRANE_BITS, CoreConfig, log2
from skyspike.spec.memmap import ERROR_CODE

from .descriptor import STORED_WORDS, DescriptorDecode
from .neuron import NeuronLane
from .scanner import SpikeScanner
from .synapse import SynapseArray

STATE_BITS = MEMBRANE_BITS + 2  # V, armed, fired


class Engine(wiring.Component):
    """The SNN compute engine (everything except the bus and the SRAM macros).

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    start : In(1)
        Begin an inference (ignored while busy).
    abort : In(1)
        Soft reset: stop a run at once (back to idle, done and error cleared).
    n_layers, steps : In
        The run's layer count and time steps (held while busy).
    desc_index : Out ; desc_words : In(32 * 7)
        The engine reads the descriptor of layer ``desc_index`` combinationally.
    busy, done : Out(1)
        Running; the last run finished (cleared by the next start).
    error, error_layer : Out(8)
        The last run's error code (0 = none) and the layer it concerns.
    cycles : Out(32)
        Cycles of the last run, start strobe to done.
    w_en, w_addr : Out ; w_data : In
        Port 1 of each weight bank (per-bank fields concatenated).
    in_en, in_addr : Out ; in_data : In
        Port 1 of each input buffer bank.
    state_index : In ; state_data : Out(18)
        Control-side read of a neuron state entry: V[15:0], armed[16], fired[17].
    count_index : In ; count_data : Out(8)
        Control-side read of an output spike counter.
    dbg_valid, dbg_step, dbg_layer, dbg_neuron, dbg_lanes, dbg_spikes, dbg_v : Out
        One update group per cycle (for verification): neurons dbg_neuron + u for each lane
        u set in ``dbg_lanes``, their spikes and new membranes.
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        U = cfg.update_lanes
        self.wa_bits = log2(cfg.bank_depth)
        self.ia_bits = log2(cfg.input_depth)
        super().__init__({
            "start": In(1), "abort": In(1), "n_layers": In(8), "steps": In(8),
            "desc_index": Out(range(max(2, cfg.max_layers))), "desc_words": In(32 * STORED_WORDS),
            "busy": Out(1), "done": Out(1), "error": Out(8), "error_layer": Out(8), "cycles": Out(32),
            "w_en": Out(cfg.banks), "w_addr": Out(self.wa_bits * cfg.banks), "w_data": In(32 * cfg.banks),
            "in_en": Out(cfg.input_banks), "in_addr": Out(self.ia_bits * cfg.input_banks),
            "in_data": In(32 * cfg.input_banks),
            "state_index": In(range(cfg.state_neurons)), "state_data": Out(STATE_BITS),
            "count_index": In(range(max(2, cfg.max_outputs))), "count_data": Out(8),
            "dbg_valid": Out(1), "dbg_step": Out(8), "dbg_layer": Out(8), "dbg_neuron": Out(16),
            "dbg_lanes": Out(U), "dbg_spikes": Out(U), "dbg_v": Out(MEMBRANE_BITS * U),
        })

    def elaborate(self, platform):  # noqa: C901 (one FSM, kept in one place on purpose)
        m = Module()
        cfg = self.cfg
        U, K, IB = cfg.update_lanes, cfg.max_slots, cfg.input_banks
        word_bits = 12

        m.submodules.decode = dec = DescriptorDecode(cfg)
        m.submodules.synapses = syn = SynapseArray(cfg)
        scanners = []
        for s in range(K):
            sc = SpikeScanner(s, word_bits)
            m.submodules[f"scan{s}"] = sc
            scanners.append(sc)
        lanes = []
        for u in range(U):
            nl = NeuronLane(cfg.acc_bits)
            m.submodules[f"neuron{u}"] = nl
            lanes.append(nl)

        # -- run state ------------------------------------------------------------------
        layer = Signal(range(max(2, cfg.max_layers)))
        step = Signal(8)
        prev_n_out = Signal(16)
        in_words_per_bank = Signal(12)
        in_base = Signal(self.ia_bits + 8)
        m.d.comb += [dec.words.eq(self.desc_words), self.desc_index.eq(layer),
                     dec.first.eq(layer == 0), dec.last.eq(layer == self.n_layers - 1),
                     dec.prev_n_out.eq(prev_n_out), dec.steps.eq(self.steps)]

        # The current layer, latched in LOAD.
        L = {name: Signal.like(getattr(dec, name), name=f"ly_{name}") for name in (
            "n_out", "bits_code", "slots_log2", "reset_zero", "w_base", "state_base", "beta",
            "theta_high", "theta_low", "reset_sub", "sub_log2", "chunk_log2", "chunks",
            "in_words", "rows", "tail_word", "tail_mask", "tail_bias", "next_bias")}
        chunk = Signal(16)
        chunk_base = Signal(16)       # weight word of this chunk's rows (same in every bank)
        subword = Signal(2)
        chunk_first = Signal(16)      # layer-local index of the chunk's first neuron
        group = Signal(range(max(2, syn.n_acc // U)))
        groups = Signal(range(syn.n_acc // U + 1))
        state_addr = Signal(range(max(2, cfg.state_neurons // U)))

        # -- spike bitmaps of hidden layers (layer l writes map l%2, reads map (l-1)%2) --
        # A layer reads its map past n_in when it has bias rows (up to index n_words, which
        # reads 0): the scanners use only the real bits, so stale bits there are harmless.
        n_words = cfg.max_neurons // 32
        bitmaps = [Signal(cfg.max_neurons, name=f"bitmap{b}") for b in range(2)]
        src_words = Array([Array([bm[32 * w: 32 * (w + 1)] for w in range(n_words)]) for bm in bitmaps])

        # -- scanners and their word sources ----------------------------------------------
        k_mask = Signal(3)
        m.d.comb += k_mask.eq((Const(1, 4) << L["slots_log2"]) - 1)
        scan_start = Signal()
        from_inputs = layer == 0
        ib_q = [Signal(range(max(2, IB)), name=f"ib_q{s}") for s in range(K)]
        word_q = [Signal(32, name=f"word_q{s}") for s in range(K)]
        in_sel = Array([self.in_data[32 * i: 32 * (i + 1)] for i in range(IB)])
        for s, sc in enumerate(scanners):
            m.d.comb += [sc.start.eq(scan_start), sc.stop.eq(self.abort), sc.slots_log2.eq(L["slots_log2"]),
                         sc.in_words.eq(L["in_words"]), sc.tail_word.eq(L["tail_word"]),
                         sc.tail_mask.eq(L["tail_mask"]), sc.tail_bias.eq(L["tail_bias"]),
                         sc.next_bias.eq(L["next_bias"]),
                         sc.data.eq(Mux(from_inputs, in_sel[ib_q[s]], word_q[s]))]
            m.d.sync += [ib_q[s].eq(sc.req_word[:max(1, log2(IB))] if IB > 1 else 0),
                         word_q[s].eq(src_words[~layer[0]][sc.req_word])]
        # Input bank i serves the slot s = i mod k; the slot's word w lives in bank w mod IB.
        # Bias-only words of layer 0 (w >= the step's input words) read the next step's words
        # or wrap around the bank: harmless, the scanners ignore their data.
        for i in range(IB):
            s_sel = Signal(range(max(2, K)), name=f"in_slot{i}")
            m.d.comb += s_sel.eq(i & k_mask)
            req = Array([sc.req for sc in scanners])[s_sel]
            w = Array([sc.req_word for sc in scanners])[s_sel]
            bank_of_w = w[:log2(IB)] if IB > 1 else 0
            m.d.comb += [
                self.in_en[i].eq(from_inputs & req & (bank_of_w == i)),
                self.in_addr[self.ia_bits * i: self.ia_bits * (i + 1)].eq(in_base + (w >> log2(IB))),
            ]

        # -- weight fetch: bank j reads for its slot's event ----------------------------------
        B = cfg.banks
        slot_valid_q = Signal(K)
        for j in range(B):
            s_of_bank = Array([j >> (log2(B) - kl) for kl in range(log2(K) + 1)])[L["slots_log2"]]
            ev = Array([sc.event for sc in scanners])[s_of_bank]
            row = Array([sc.event_row for sc in scanners])[s_of_bank]
            m.d.comb += [
                self.w_en[j].eq(ev),
                self.w_addr[self.wa_bits * j: self.wa_bits * (j + 1)].eq(chunk_base + row),
            ]
        m.d.sync += slot_valid_q.eq(Cat(sc.event for sc in scanners))
        m.d.comb += [syn.bank_data.eq(self.w_data), syn.slot_valid.eq(slot_valid_q),
                     syn.bits_code.eq(L["bits_code"]), syn.slots_log2.eq(L["slots_log2"]),
                     syn.subword.eq(subword), syn.clear.eq(scan_start), syn.read_index.eq(group)]

        # -- neuron state: update_lanes banks, entry e in bank e % U at address e // U ---------
        update = Signal()
        neuron0 = Signal(16)   # layer-local index of lane 0 this update cycle
        m.d.comb += neuron0.eq(chunk_first + (group << log2(U)))
        lane_valid = Signal(U)
        spikes = Signal(U)
        bus_sel = Array([Signal(STATE_BITS, name=f"bus_state{u}") for u in range(U)])
        for u, nl in enumerate(lanes):
            mem = Memory(shape=STATE_BITS, depth=cfg.state_neurons // U, init=[])
            m.submodules[f"state{u}"] = mem
            rd = mem.read_port(domain="comb")
            bus_rd = mem.read_port(domain="comb")
            wr = mem.write_port()
            m.d.comb += [
                rd.addr.eq(state_addr), bus_rd.addr.eq(self.state_index >> log2(U)), bus_sel[u].eq(bus_rd.data),
                lane_valid[u].eq(update & (neuron0 + u < L["n_out"])),
                nl.first.eq(step == 0), nl.v_in.eq(rd.data[:MEMBRANE_BITS]),
                nl.armed_in.eq(rd.data[MEMBRANE_BITS]), nl.fired_in.eq(rd.data[MEMBRANE_BITS + 1]),
                nl.current.eq(syn.read_data[cfg.acc_bits * u: cfg.acc_bits * (u + 1)].as_signed()),
                nl.beta.eq(L["beta"]), nl.theta_high.eq(L["theta_high"]), nl.theta_low.eq(L["theta_low"]),
                nl.reset_sub.eq(L["reset_sub"]), nl.reset_zero.eq(L["reset_zero"]),
                wr.addr.eq(state_addr), wr.en.eq(lane_valid[u]),
                wr.data.eq(Cat(nl.v_out, nl.armed_out, nl.spike)),
                spikes[u].eq(nl.spike & lane_valid[u]),
                self.dbg_v[MEMBRANE_BITS * u: MEMBRANE_BITS * (u + 1)].eq(nl.v_out),
            ]
        m.d.comb += self.state_data.eq(bus_sel[self.state_index[:log2(U)]])
        m.d.comb += [self.dbg_valid.eq(update), self.dbg_step.eq(step), self.dbg_layer.eq(layer),
                     self.dbg_neuron.eq(neuron0), self.dbg_lanes.eq(lane_valid), self.dbg_spikes.eq(spikes)]

        # Spikes go to this layer's bitmap (U-aligned groups) and, for the last layer, to the counters.
        for b, bm in enumerate(bitmaps):
            for g in range(cfg.max_neurons // U):
                with m.If(update & (layer[0] == b) & ((neuron0 >> log2(U)) == g)):
                    m.d.sync += bm[g * U: (g + 1) * U].eq(spikes)
        counts = [Signal(8, name=f"count{n}") for n in range(cfg.max_outputs)]
        is_last = layer == self.n_layers - 1
        for n, cnt in enumerate(counts):
            with m.If(update & is_last & ((neuron0 >> log2(U)) == n // U) & spikes[n % U]):
                m.d.sync += cnt.eq(cnt + 1)
        m.d.comb += self.count_data.eq(Array(counts)[self.count_index])

        # -- control ------------------------------------------------------------------------
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        chunk_size = Signal(17)
        m.d.comb += chunk_size.eq(Const(1, 17) << L["chunk_log2"])
        remaining = Signal(16)
        m.d.comb += remaining.eq(L["n_out"] - chunk_first)
        this_chunk = Mux(remaining < chunk_size, remaining, chunk_size)

        def or_abort():
            with m.If(self.abort):
                m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), self.done.eq(0), self.error.eq(0), self.error_layer.eq(0),
                                 self.cycles.eq(1), layer.eq(0), step.eq(0), in_base.eq(0)]
                    m.d.sync += [cnt.eq(0) for cnt in counts]
                    m.next = "VALIDATE"
            with m.State("VALIDATE"):
                with m.If((self.n_layers == 0) | (self.n_layers > cfg.max_layers)):
                    m.d.sync += self.error.eq(ERROR_CODE["BAD_LAYER_COUNT"])
                    m.next = "DONE"
                with m.Elif(dec.error != 0):
                    m.d.sync += [self.error.eq(dec.error), self.error_layer.eq(layer)]
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += prev_n_out.eq(dec.n_out)
                    with m.If(layer == 0):
                        m.d.sync += in_words_per_bank.eq(dec.in_words_per_bank)
                    with m.If(layer == self.n_layers - 1):
                        m.d.sync += layer.eq(0)
                        m.next = "LOAD"
                    with m.Else():
                        m.d.sync += layer.eq(layer + 1)
                or_abort()
            with m.State("LOAD"):
                m.d.sync += [sig.eq(getattr(dec, name)) for name, sig in L.items()]
                m.d.sync += [chunk.eq(0), chunk_base.eq(dec.w_base), subword.eq(0), chunk_first.eq(0)]
                m.next = "START"
                or_abort()
            with m.State("START"):
                m.d.comb += scan_start.eq(1)
                m.d.sync += [group.eq(0), groups.eq((this_chunk + U - 1) >> log2(U)),
                             state_addr.eq((L["state_base"] + chunk_first) >> log2(U))]
                m.next = "SCAN"
                or_abort()
            with m.State("SCAN"):
                # The cycle after the last event is the drain: its weights accumulate now.
                with m.If(~Cat(sc.active for sc in scanners).any()):
                    m.next = "UPDATE"
                or_abort()
            with m.State("UPDATE"):
                m.d.comb += update.eq(1)
                m.d.sync += [group.eq(group + 1), state_addr.eq(state_addr + 1)]
                with m.If(group == groups - 1):
                    last_sub = subword == (Const(1, 4) << L["sub_log2"]) - 1
                    m.d.sync += [chunk.eq(chunk + 1), chunk_first.eq(chunk_first + chunk_size),
                                 subword.eq(Mux(last_sub, 0, subword + 1)),
                                 chunk_base.eq(Mux(last_sub, chunk_base + L["rows"], chunk_base))]
                    with m.If(chunk + 1 < L["chunks"]):
                        m.next = "START"
                    with m.Elif(layer + 1 < self.n_layers):
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "LOAD"
                    with m.Elif(step + 1 < self.steps):
                        m.d.sync += [layer.eq(0), step.eq(step + 1), in_base.eq(in_base + in_words_per_bank)]
                        m.next = "LOAD"
                    with m.Else():
                        m.next = "DONE"
                or_abort()
            with m.State("DONE"):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                m.next = "IDLE"
        # Soft reset wins over everything the FSM did this cycle.
        with m.If(self.abort):
            m.d.sync += [self.busy.eq(0), self.done.eq(0), self.error.eq(0), self.error_layer.eq(0)]
        return m
