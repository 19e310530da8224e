"""Neuron state: the state memories and the update lanes that read, update and write them."""
from amaranth import Array, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import CURRENT_BITS, MEMBRANE_BITS, CoreConfig, log2

from .layouts import DESCRIPTOR, STATE_ENTRY
from .neuron import NeuronLane

__all__ = ["NeuronState"]


class NeuronState(wiring.Component):
    """``update_lanes`` :class:`~skyspike_hw.neuron.NeuronLane` s over ``update_lanes`` state
    memories: entry e lives in memory e % update_lanes at address e // update_lanes, so one
    aligned update group is one address in every memory.

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    update : In(1)
        Update the group at ``state_addr``: its state and ``current`` are read (registered)
        this cycle, leaked in the next, integrated and written back in the one after
        (``LATENCY`` cycles later), where ``valid``, ``spikes`` and ``v`` show the result.
        ``desc`` must still be the layer's in the cycle after ``update``.
    first : In(1)
        Step 0 of the inference: the stored state is ignored.
    state_addr : In
        The group's address (state entry // update_lanes).
    neuron0 : In(16)
        Layer-local index of lane 0's neuron (lanes past ``desc.n_out`` are not written).
    desc : In(layouts.DESCRIPTOR)
        The layer's descriptor: n_out, beta (its low 9 bits), theta_high, theta_low,
        reset_sub and reset_zero are used.
    current : In(ArrayLayout(signed(CURRENT_BITS), update_lanes))
        Each lane's synaptic current, saturated to CURRENT_BITS (which never changes a membrane).
    valid, spikes : Out(update_lanes)
        Lane u updates a neuron of the layer this cycle (``LATENCY`` cycles after ``update``); it spiked.
    v : Out(ArrayLayout(signed(16), update_lanes))
        The lanes' new membranes.
    state_index : In ; state_data : Out(layouts.STATE_ENTRY)
        Control-side read of state entry ``state_index``, combinationally.
    """

    #: Cycles from ``update`` to the group's result (and its write).
    LATENCY = 2

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        U = cfg.update_lanes
        super().__init__({
            "update": In(1), "first": In(1), "state_addr": In(range(max(2, cfg.state_neurons // U))),
            "neuron0": In(16), "desc": In(DESCRIPTOR),
            "current": In(data.ArrayLayout(signed(CURRENT_BITS), U)),
            "valid": Out(U), "spikes": Out(U), "v": Out(data.ArrayLayout(signed(MEMBRANE_BITS), U)),
            "state_index": In(range(cfg.state_neurons)), "state_data": Out(STATE_ENTRY),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        U = cfg.update_lanes
        d = self.desc
        # Three stages, a group entering every cycle: (A) read the group's state and currents
        # into registers; (B) leak; (C) integrate, fire and write back. The groups of a chunk
        # have distinct addresses, so no read meets a pending write of its own entry.
        first_a, update_a = Signal(), Signal()
        addr = [Signal.like(self.state_addr, name=f"addr_{s}") for s in "ab"]
        theta_high_b, theta_low_b = Signal.like(d.theta_high), Signal.like(d.theta_low)
        m.d.sync += [first_a.eq(self.first), update_a.eq(self.update), addr[0].eq(self.state_addr), addr[1].eq(addr[0]),
                     theta_high_b.eq(d.theta_high), theta_low_b.eq(d.theta_low)]
        bus_data = []
        for u in range(U):
            nl = m.submodules[f"neuron{u}"] = NeuronLane(CURRENT_BITS, split=True)
            mem = m.submodules[f"state{u}"] = Memory(shape=STATE_ENTRY, depth=cfg.state_neurons // U, init=[])
            rd = mem.read_port(domain="comb")
            bus_rd = mem.read_port(domain="comb")
            wr = mem.write_port()
            state_a = Signal(STATE_ENTRY, name=f"state_a{u}")
            current = [Signal.like(self.current[u], name=f"current_{s}{u}") for s in "ab"]
            valid = [Signal(name=f"valid_{s}{u}") for s in "ab"]
            m.d.sync += [valid[0].eq(self.update & (self.neuron0 + u < d.n_out)), valid[1].eq(valid[0])]
            # The stages' registers load only with a group in them: most cycles of a layer have
            # none, and these registers' clocks are then gated.
            with m.If(self.update):
                m.d.sync += [state_a.eq(rd.data), current[0].eq(self.current[u])]
            with m.If(update_a):
                m.d.sync += current[1].eq(current[0])
            m.d.comb += [
                rd.addr.eq(self.state_addr), bus_rd.addr.eq(self.state_index >> log2(U)),
                self.valid[u].eq(valid[1]),
                nl.first.eq(first_a), nl.v_in.eq(state_a.v), nl.armed_in.eq(state_a.armed),
                nl.fired_in.eq(state_a.fired), nl.current.eq(current[1]), nl.load.eq(update_a),
                nl.beta.eq(d.beta),   # its low 9 bits: VALIDATE rejected beta > 256
                nl.reset_sub.eq(d.reset_sub), nl.reset_zero.eq(d.reset_zero),
                nl.theta_high.eq(theta_high_b), nl.theta_low.eq(theta_low_b),
                wr.addr.eq(addr[1]), wr.en.eq(valid[1]),
                wr.data.v.eq(nl.v_out), wr.data.armed.eq(nl.armed_out), wr.data.fired.eq(nl.spike),
                self.spikes[u].eq(nl.spike & valid[1]),
                self.v[u].eq(nl.v_out),
            ]
            bus_data.append(bus_rd.data.as_value())
        m.d.comb += self.state_data.eq(Array(bus_data)[self.state_index[:log2(U)]])
        return m
