"""The layer engine: validates the descriptor table, then for every time step and layer
streams input events through the synapse lanes and updates the neurons.

Schedule per step, per layer (cycles are predicted by ``skyspike.chip.golden.predict_cycles``)::

    LOAD                      1 cycle: latch the layer's decoded descriptor
    per chunk of neurons:
      START                   1 cycle: clear accumulators, request each slot's first word
      SCAN                    1 cycle: the first words are in flight (two-cycle reads)
                              max over slots of sum(max(1, spikes in word)) cycles
      (drain)                 4 cycles: the last event's address is registered, its weights
                              read, registered, merged and accumulated
      UPDATE                  ceil(chunk neurons / update_lanes) cycles
    FLUSH                     1 cycle: the last update group is written as done rises

A direct input (layer 0, descriptor in_mode 1) runs START and SCAN once per bit plane at
step 0, most significant first (START doubles the accumulators after the first), and UPDATE
stores the chunk's currents in :class:`InputCurrents`; at later steps its chunks go from
START straight to UPDATE, which takes the stored currents. A rate-coded input (in_mode 2)
goes from LOAD to ENCODE at every step: :class:`RateEncoder` draws the step's spikes into a
bitmap, which the scanners then read as a hidden layer's.

The datapath is four blocks in a row, each a component of its own: :class:`InputRouter`
(scanners and their word reads) -> :class:`WeightFetch` (bank addresses, synapse array) ->
:class:`NeuronState` (state memories, neuron lanes) -> :class:`OutputStage` (spike bitmaps,
counters), with :class:`DescriptorDecode` beside them. This module is the FSM that drives them.
"""
from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import LANES_PER_BANK, MEMBRANE_BITS, CoreConfig, log2
from skyspike.spec.memmap import ERROR_CODE

from .descriptor import DescriptorDecode, derived_layout
from .encoder import RateEncoder
from .input_current import InputCurrents
from .inputs import InputRouter
from .layouts import DESCRIPTOR, STATE_ENTRY
from .neuron_state import NeuronState
from .outputs import OutputStage
from .ports import SRAMReadSignature
from .weights import WeightFetch

__all__ = ["Engine"]

# FLUSH covers the neuron update's pipeline after the last UPDATE cycle (plus the DONE cycle).
assert NeuronState.LATENCY == 2


class Engine(wiring.Component):
    """The SNN compute engine (everything except the bus and the SRAM macros): the run FSM
    around :class:`DescriptorDecode`, :class:`InputRouter`, :class:`WeightFetch`,
    :class:`NeuronState` and :class:`OutputStage`.

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    start : In(1)
        Begin an inference (ignored while busy).
    seed : In(32)
        The rate encoder's seed (taken at ``start``).
    input_base : In(16)
        Input-buffer word (in every bank) where the run's frames start (held while busy).
    input_span : Out(16) ; input_span_known : Out(1)
        Words per bank of the run's frames from ``input_base`` (known from the third cycle of
        a run on): the part of the input buffer the run reads, which the bus must not change.
    abort : In(1)
        Soft reset: stop a run at once (back to idle, done and error cleared).
    n_layers, steps : In(8)
        The run's layer count and time steps (held while busy).
    desc_index : Out ; desc : In(layouts.DESCRIPTOR)
        The engine reads the descriptor of layer ``desc_index`` combinationally.
    busy, done : Out(1)
        Running; the last run finished (cleared by the next start).
    error, error_layer : Out(8)
        The last run's error code (0 = none) and the layer it concerns.
    cycles : Out(32)
        Cycles of the last run, start strobe to done.
    w : Out(SRAMReadSignature(log2(bank_depth))).array(banks)
        Port 1 of each weight bank.
    inp : Out(SRAMReadSignature(log2(input_depth))).array(input_banks)
        Port 1 of each input buffer bank.
    state_index : In ; state_data : Out(layouts.STATE_ENTRY)
        Control-side read of a neuron state entry: V[15:0], armed[16], fired[17].
    count_index : In ; count_data : Out(8)
        Control-side read of an output spike counter.
    dbg_valid, dbg_step, dbg_layer, dbg_neuron, dbg_lanes, dbg_spikes : Out ;
    dbg_v : Out(ArrayLayout(signed(16), update_lanes))
        One update group per cycle (for verification): neurons dbg_neuron + u for each lane
        u set in ``dbg_lanes``, their spikes and new membranes.
    """

    #: Cycles from a layer's VALIDATE cycle to its registered check (skyspike.chip.golden.VERDICT_CYCLES).
    VERDICT_CYCLES = 3

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        U = cfg.update_lanes
        self.wa_bits = log2(cfg.bank_depth)
        self.ia_bits = log2(cfg.input_depth)
        super().__init__({
            "start": In(1), "abort": In(1), "n_layers": In(8), "steps": In(8), "seed": In(32),
            "input_base": In(16), "input_span": Out(16), "input_span_known": Out(1),
            "desc_index": Out(range(max(2, cfg.max_layers))), "desc": In(DESCRIPTOR),
            "busy": Out(1), "done": Out(1), "error": Out(8), "error_layer": Out(8), "cycles": Out(32),
            "w": Out(SRAMReadSignature(self.wa_bits)).array(cfg.banks),
            "inp": Out(SRAMReadSignature(self.ia_bits)).array(cfg.input_banks),
            "state_index": In(range(cfg.state_neurons)), "state_data": Out(STATE_ENTRY),
            "count_index": In(range(max(2, cfg.max_outputs))), "count_data": Out(8),
            "dbg_valid": Out(1), "dbg_step": Out(8), "dbg_layer": Out(8), "dbg_neuron": Out(16),
            "dbg_lanes": Out(U), "dbg_spikes": Out(U), "dbg_v": Out(data.ArrayLayout(signed(MEMBRANE_BITS), U)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.decode = dec = DescriptorDecode(cfg)
        m.submodules.inputs = rt = InputRouter(cfg)
        m.submodules.weights = wf = WeightFetch(cfg)
        m.submodules.neurons = ns = NeuronState(cfg)
        m.submodules.outputs = out = OutputStage(cfg)
        m.submodules.currents = cur = InputCurrents(cfg)
        m.submodules.encoder = enc = RateEncoder(cfg)
        r = self._run_state()
        first_layer, last_layer = r.layer == 0, r.layer == self.n_layers - 1
        self._checker(m, r, first_layer, last_layer)
        # NeuronState's result is that of the group updated LATENCY cycles before: what the
        # output stage and the trace need of it, as late.
        b = self._delayed(m, NeuronState.LATENCY, update=r.update, layer=r.layer, last=last_layer,
                          neuron0=r.neuron0, step=r.step)
        m.d.comb += [
            dec.desc.eq(self.desc), self.desc_index.eq(r.layer), dec.first.eq(first_layer),
            dec.last.eq(last_layer), dec.prev_n_out.eq(r.prev_n_out), dec.steps.eq(self.steps),
            dec.input_base.eq(self.input_base),
            r.neuron0.eq(r.chunk_first + (r.group << log2(cfg.update_lanes))),
            # input routing -> weight fetch -> neuron state -> output stage
            rt.start.eq(r.scan_start), rt.stop.eq(self.abort), rt.from_inputs.eq(first_layer & ~r.rate),
            rt.slots_log2.eq(r.desc.slots_log2), rt.derived.eq(r.derived),
            rt.in_base.eq(Mux(r.direct, r.plane_base, r.in_base)),
            rt.hidden.eq(Mux(r.rate, enc.bitmap, out.hidden)), r.scanning.eq(rt.active | r.drain),
            wf.event.eq(rt.event), wf.event_row.eq(rt.event_row), wf.chunk_base.eq(r.chunk_base),
            wf.slots_log2.eq(r.desc.slots_log2), wf.fold_log2.eq(r.desc.fold_log2), wf.bits_code.eq(r.desc.bits_code), wf.subword.eq(r.subword),
            wf.clear.eq(r.scan_start & (r.plane == 0)), wf.shift.eq(r.scan_start & (r.plane != 0)),
            wf.read_index.eq(r.group), wf.active_groups.eq(r.active_groups),
            # a rate-coded input's spikes: drawn at each step
            enc.reseed.eq(r.run_start), enc.seed.eq(self.seed), enc.start.eq(r.encode_start),
            enc.bits_code.eq(r.desc.in_bits_code), enc.rows.eq(r.in_words_per_bank), r.encoder_busy.eq(enc.busy),
            enc.base.eq(self.input_base),
            # a direct input's currents: stored at step 0, taken from the store after
            cur.index.eq(r.neuron0 >> log2(cfg.update_lanes)), cur.current.eq(wf.current),
            cur.store.eq(r.update & r.direct & (r.step == 0)), cur.use_stored.eq(r.stored),
            ns.update.eq(r.update), ns.first.eq(r.step == 0), ns.state_addr.eq(r.state_addr),
            ns.neuron0.eq(r.neuron0), ns.desc.eq(r.desc), ns.current.eq(cur.out),
            out.update.eq(b.update), out.layer_odd.eq(b.layer[0]), out.read_odd.eq(r.layer[0]), out.is_last.eq(b.last),
            out.neuron0.eq(b.neuron0), out.spikes.eq(ns.spikes), out.clear.eq(r.run_start),
            # control side and trace
            ns.state_index.eq(self.state_index), self.state_data.eq(ns.state_data),
            out.count_index.eq(self.count_index), self.count_data.eq(out.count_data),
            self.dbg_valid.eq(b.update), self.dbg_step.eq(b.step), self.dbg_layer.eq(b.layer),
            self.dbg_neuron.eq(b.neuron0), self.dbg_lanes.eq(ns.valid), self.dbg_spikes.eq(ns.spikes),
            self.dbg_v.eq(ns.v),
        ]
        # The last event's weights accumulate WeightFetch.LATENCY cycles after it: SCAN lasts
        # that many cycles longer than the scanners (the last one is the cycle that leaves it).
        active = rt.active
        trail = []
        for i in range(WeightFetch.LATENCY - 1):
            reg = Signal(name=f"active_d{i + 1}")
            m.d.sync += reg.eq(active)
            trail.append(active := reg)
        m.d.comb += [r.drain.eq(Cat(trail).any()), r.stored.eq(r.direct & (r.step != 0))]
        # The span of the run's input, from registers (no path from the descriptor table to the bus).
        m.d.sync += self.input_span.eq(r.in_frames * r.in_words_per_bank)
        with m.If(r.span_due):
            m.d.sync += self.input_span_known.eq(1)
        for outer, inner in zip(self.w, wf.w):
            wiring.connect(m, wiring.flipped(outer), inner)
        # The input buffer: the scanners' reads, or the encoder's (never both at once).
        for outer, scan, encode in zip(self.inp, rt.inp, enc.inp):
            m.d.comb += [outer.en.eq(scan.en | encode.en), outer.addr.eq(Mux(encode.en, encode.addr, scan.addr)),
                         scan.data.eq(outer.data), encode.data.eq(outer.data)]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        self._fsm(m, r, dec)
        # Soft reset wins over everything the FSM did this cycle.
        with m.If(self.abort):
            m.d.sync += [self.busy.eq(0), self.done.eq(0), self.error.eq(0), self.error_layer.eq(0)]
        return m

    @staticmethod
    def _delayed(m: Module, cycles: int, **signals) -> SimpleNamespace:
        """Each of ``signals`` (name -> value) through ``cycles`` registers."""
        out = {}
        for name, value in signals.items():
            for i in range(cycles):
                reg = Signal.like(value, name=f"{name}_d{i + 1}")
                m.d.sync += reg.eq(value)
                value = reg
            out[name] = value
        return SimpleNamespace(**out)

    def _run_state(self) -> SimpleNamespace:
        """The FSM's registers (and the strobes it drives), by name."""
        cfg = self.cfg
        groups = LANES_PER_BANK * cfg.banks // cfg.update_lanes
        return SimpleNamespace(
            layer=Signal(range(max(2, cfg.max_layers))), step=Signal(8), prev_n_out=Signal(16),
            in_words_per_bank=Signal(12), in_base=Signal(self.ia_bits + 8),
            # the current layer, latched in LOAD
            desc=Signal(DESCRIPTOR, name="ly_desc"), derived=Signal(derived_layout(cfg), name="ly_derived"),
            chunk=Signal(16),
            # layer 0 with a direct input (latched in LOAD); the bit plane being scanned (step 0)
            # and its input-buffer address; stored: a later step, the currents are stored
            direct=Signal(), plane=Signal(3), plane_base=Signal(self.ia_bits + 8), stored=Signal(),
            rate=Signal(), encode_start=Signal(), encoder_busy=Signal(),   # layer 0 rate coded (latched in LOAD)
            # the run's input frames (layer 0's VALIDATE), and their span two cycles later
            in_frames=Signal(9), span_due=Signal(),
            chunk_base=Signal(16),     # weight word of this chunk's rows (same in every bank)
            subword=Signal(2),
            chunk_first=Signal(16),    # layer-local index of the chunk's first neuron
            group=Signal(range(max(2, groups))), groups=Signal(range(groups + 1)),
            active_groups=Signal(range(groups + 1)),   # this chunk's update groups (comb)
            state_addr=Signal(range(max(2, cfg.state_neurons // cfg.update_lanes))),
            neuron0=Signal(16),        # layer-local index of lane 0 this update cycle
            run_start=Signal(), scan_start=Signal(), scanning=Signal(), drain=Signal(), update=Signal(),
            checking=Signal(),         # VALIDATE: this layer's descriptor goes to the checker
            # the checker's result: the error code of layer verdict_layer (due: a layer was checked)
            verdict=Signal(8), verdict_layer=Signal(range(max(2, cfg.max_layers))), verdict_due=Signal(),
        )

    def _fsm(self, m: Module, r: SimpleNamespace, dec: DescriptorDecode) -> None:
        """IDLE -> VALIDATE (every layer) -> VERDICT0..2 -> per step, per layer: LOAD, then per chunk
        START, SCAN, UPDATE -> FLUSH -> DONE (an invalid table: VALIDATE or VERDICTn -> DONE).
        ``abort`` leaves any busy state for IDLE."""
        cfg = self.cfg
        U = cfg.update_lanes
        chunk_size = Signal(17)
        m.d.comb += chunk_size.eq(Const(1, 17) << r.derived.chunk_log2)
        remaining = Signal(16)
        m.d.comb += remaining.eq(r.desc.n_out - r.chunk_first)
        this_chunk = Mux(remaining < chunk_size, remaining, chunk_size)
        m.d.comb += r.active_groups.eq((this_chunk + U - 1) >> log2(U))

        def or_abort():
            with m.If(self.abort):
                m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += r.run_start.eq(1)
                    m.d.sync += [self.busy.eq(1), self.done.eq(0), self.error.eq(0), self.error_layer.eq(0),
                                 self.cycles.eq(1), r.layer.eq(0), r.step.eq(0), r.in_base.eq(self.input_base),
                                 self.input_span_known.eq(0), r.span_due.eq(0)]
                    m.next = "VALIDATE"
            with m.State("VALIDATE"):
                self._validate(m, r, dec)
                or_abort()
            for n in range(self.VERDICT_CYCLES):
                with m.State(f"VERDICT{n}"):
                    # The last layers' checks come out of the registered checker.
                    with m.If(self._verdict_fails(r)):
                        self._stop_with_verdict(m, r)
                    with m.Else():
                        if n == self.VERDICT_CYCLES - 1:
                            m.d.sync += r.layer.eq(0)
                            m.next = "LOAD"
                        else:
                            m.next = f"VERDICT{n + 1}"
                    or_abort()
            with m.State("LOAD"):
                m.d.sync += [r.desc.eq(dec.desc), r.derived.eq(dec.derived),
                             r.direct.eq((r.layer == 0) & (dec.desc.in_mode == 1)),
                             r.rate.eq((r.layer == 0) & (dec.desc.in_mode == 2))]
                m.d.sync += [r.chunk.eq(0), r.chunk_base.eq(dec.desc.w_base), r.subword.eq(0), r.chunk_first.eq(0),
                             r.plane.eq(0), r.plane_base.eq(self.input_base)]
                with m.If((r.layer == 0) & (dec.desc.in_mode == 2)):
                    m.next = "ENCODE"
                with m.Else():
                    m.next = "START"
                or_abort()
            with m.State("ENCODE"):
                m.d.comb += r.encode_start.eq(1)
                m.next = "ENCODE_WAIT"
                or_abort()
            with m.State("ENCODE_WAIT"):
                with m.If(~r.encoder_busy):
                    m.next = "START"
                or_abort()
            with m.State("START"):
                m.d.sync += [r.group.eq(0), r.groups.eq(r.active_groups),
                             r.state_addr.eq((r.desc.state_base + r.chunk_first) >> log2(U))]
                with m.If(r.stored):
                    m.next = "UPDATE"
                with m.Else():
                    m.d.comb += r.scan_start.eq(1)
                    m.next = "SCAN"
                or_abort()
            with m.State("SCAN"):
                # WeightFetch.LATENCY - 1 cycles after the last event (the drain): its weights
                # accumulate now.
                last_plane = r.plane == (Const(1, 4) << r.desc.in_bits_code) - 1
                with m.If(~r.scanning & r.direct & ~last_plane):
                    m.d.sync += [r.plane.eq(r.plane + 1), r.plane_base.eq(r.plane_base + r.in_words_per_bank)]
                    m.next = "START"
                with m.Elif(~r.scanning):
                    m.next = "UPDATE"
                or_abort()
            with m.State("UPDATE"):
                m.d.comb += r.update.eq(1)
                m.d.sync += [r.group.eq(r.group + 1), r.state_addr.eq(r.state_addr + 1)]
                with m.If(r.group == r.groups - 1):
                    self._next_chunk(m, r, chunk_size)
                or_abort()
            with m.State("FLUSH"):
                # The last update group is written as done rises (NeuronState.LATENCY == 2).
                m.next = "DONE"
                or_abort()
            with m.State("DONE"):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                m.next = "IDLE"

    def _validate(self, m: Module, r: SimpleNamespace, dec: DescriptorDecode) -> None:
        """One layer per cycle; each layer's check comes out of the registered checker
        (:meth:`_checker`) VERDICT_CYCLES cycles later, so the run stops then at the first
        error, and the last layers' verdicts are read in VERDICT0..2."""
        m.d.comb += r.checking.eq(1)
        with m.If((self.n_layers == 0) | (self.n_layers > self.cfg.max_layers)):
            m.d.sync += self.error.eq(ERROR_CODE["BAD_LAYER_COUNT"])
            m.next = "DONE"
        with m.Elif(self._verdict_fails(r)):
            self._stop_with_verdict(m, r)
        with m.Else():
            m.d.sync += r.prev_n_out.eq(dec.desc.n_out)
            with m.If(r.layer == 0):   # layer 0's input frames: steps, or graded input's bit planes
                graded = (dec.desc.in_mode == 1) | (dec.desc.in_mode == 2)
                m.d.sync += [r.in_words_per_bank.eq(dec.derived.in_words_per_bank), r.span_due.eq(1),
                             r.in_frames.eq(Mux(graded, Const(1, 9) << dec.desc.in_bits_code, self.steps))]
            with m.If(r.layer == self.n_layers - 1):
                m.next = "VERDICT0"
            with m.Else():
                m.d.sync += r.layer.eq(r.layer + 1)

    @staticmethod
    def _verdict_fails(r: SimpleNamespace) -> Value:
        return r.verdict_due & (r.verdict != 0)

    def _stop_with_verdict(self, m: Module, r: SimpleNamespace) -> None:
        """End the run with the failing layer's error (the checker's verdict)."""
        m.d.sync += [self.error.eq(r.verdict), self.error_layer.eq(r.verdict_layer)]
        m.next = "DONE"

    def _checker(self, m: Module, r: SimpleNamespace, first: Value, last: Value) -> None:
        """The descriptor checks on registered inputs (the layer's descriptor and context as
        VALIDATE saw them), with a register stage before the multipliers
        (``registered_checks``) and their result registered too: three stages, none with the
        descriptor table's read mux, the decode and the multipliers together. ``r.verdict`` is
        the check of layer ``r.verdict_layer``, made VERDICT_CYCLES cycles ago
        (``r.verdict_due``)."""
        m.submodules.checker = chk = DescriptorDecode(self.cfg, registered_checks=True)
        desc_q = Signal(DESCRIPTOR, name="check_desc")
        first_q, last_q = Signal(name="check_first"), Signal(name="check_last")
        prev_q = Signal.like(r.prev_n_out, name="check_prev")
        # Loaded only when a layer is validated (the verdict is used only then): the 200-odd
        # flops are clock-gated the rest of the time.
        with m.If(r.checking):
            m.d.sync += [desc_q.eq(self.desc), first_q.eq(first), last_q.eq(last), prev_q.eq(r.prev_n_out)]
        m.d.sync += r.verdict.eq(chk.error)
        # Which layer the verdict is of, and whether one was checked: as late as the verdict.
        tag = self._delayed(m, self.VERDICT_CYCLES - 1, layer=r.layer, due=r.checking)
        m.d.sync += [r.verdict_layer.eq(tag.layer), r.verdict_due.eq(tag.due)]
        m.d.comb += [chk.desc.eq(desc_q), chk.first.eq(first_q), chk.last.eq(last_q), chk.prev_n_out.eq(prev_q),
                     chk.steps.eq(self.steps), chk.input_base.eq(self.input_base)]

    def _next_chunk(self, m: Module, r: SimpleNamespace, chunk_size: Signal) -> None:
        """After a chunk's last update group: the next chunk, layer, step, or DONE."""
        last_sub = r.subword == (Const(1, 4) << r.derived.sub_log2) - 1
        m.d.sync += [r.chunk.eq(r.chunk + 1), r.chunk_first.eq(r.chunk_first + chunk_size),
                     r.plane.eq(0), r.plane_base.eq(self.input_base),
                     r.subword.eq(Mux(last_sub, 0, r.subword + 1)),
                     r.chunk_base.eq(Mux(last_sub, r.chunk_base + r.derived.rows, r.chunk_base))]
        with m.If(r.chunk + 1 < r.derived.chunks):
            m.next = "START"
        with m.Elif(r.layer + 1 < self.n_layers):
            m.d.sync += r.layer.eq(r.layer + 1)
            m.next = "LOAD"
        with m.Elif(r.step + 1 < self.steps):
            m.d.sync += [r.layer.eq(0), r.step.eq(r.step + 1), r.in_base.eq(r.in_base + r.in_words_per_bank)]
            m.next = "LOAD"
        with m.Else():
            m.next = "FLUSH"
