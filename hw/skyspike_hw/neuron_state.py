"""Neuron state: the state memories and the update lanes that read, update and write them."""
from amaranth import Array, Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import MEMBRANE_BITS, CoreConfig, log2

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
        Update the group at ``state_addr`` this cycle (read, update and write back).
    first : In(1)
        Step 0 of the inference: the stored state is ignored.
    state_addr : In
        The group's address (state entry // update_lanes).
    neuron0 : In(16)
        Layer-local index of lane 0's neuron (lanes past ``desc.n_out`` are not written).
    desc : In(layouts.DESCRIPTOR)
        The layer's descriptor: n_out, beta (its low 9 bits), theta_high, theta_low,
        reset_sub and reset_zero are used.
    current : In(ArrayLayout(signed(acc_bits), update_lanes))
        Each lane's synaptic current.
    valid, spikes : Out(update_lanes)
        Lane u updates a neuron of the layer this cycle; it spiked.
    v : Out(ArrayLayout(signed(16), update_lanes))
        The lanes' new membranes.
    state_index : In ; state_data : Out(layouts.STATE_ENTRY)
        Control-side read of state entry ``state_index``, combinationally.
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        U = cfg.update_lanes
        super().__init__({
            "update": In(1), "first": In(1), "state_addr": In(range(max(2, cfg.state_neurons // U))),
            "neuron0": In(16), "desc": In(DESCRIPTOR),
            "current": In(data.ArrayLayout(signed(cfg.acc_bits), U)),
            "valid": Out(U), "spikes": Out(U), "v": Out(data.ArrayLayout(signed(MEMBRANE_BITS), U)),
            "state_index": In(range(cfg.state_neurons)), "state_data": Out(STATE_ENTRY),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        U = cfg.update_lanes
        d = self.desc
        bus_data = []
        for u in range(U):
            nl = m.submodules[f"neuron{u}"] = NeuronLane(cfg.acc_bits)
            mem = m.submodules[f"state{u}"] = Memory(shape=STATE_ENTRY, depth=cfg.state_neurons // U, init=[])
            rd = mem.read_port(domain="comb")
            bus_rd = mem.read_port(domain="comb")
            wr = mem.write_port()
            m.d.comb += [
                rd.addr.eq(self.state_addr), bus_rd.addr.eq(self.state_index >> log2(U)),
                self.valid[u].eq(self.update & (self.neuron0 + u < d.n_out)),
                nl.first.eq(self.first), nl.v_in.eq(rd.data.v), nl.armed_in.eq(rd.data.armed),
                nl.fired_in.eq(rd.data.fired), nl.current.eq(self.current[u]),
                nl.beta.eq(d.beta),   # its low 9 bits: VALIDATE rejected beta > 256
                nl.theta_high.eq(d.theta_high), nl.theta_low.eq(d.theta_low),
                nl.reset_sub.eq(d.reset_sub), nl.reset_zero.eq(d.reset_zero),
                wr.addr.eq(self.state_addr), wr.en.eq(self.valid[u]),
                wr.data.v.eq(nl.v_out), wr.data.armed.eq(nl.armed_out), wr.data.fired.eq(nl.spike),
                self.spikes[u].eq(nl.spike & self.valid[u]),
                self.v[u].eq(nl.v_out),
            ]
            bus_data.append(bus_rd.data.as_value())
        m.d.comb += self.state_data.eq(Array(bus_data)[self.state_index[:log2(U)]])
        return m
