"""The neuron lanes' current: the synapse array's, saturated, or layer 0's stored direct-input
current (docs/semantics.md, "Inputs")."""
from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import CURRENT_BITS, CoreConfig

__all__ = ["InputCurrents", "saturate"]


def saturate(m: Module, value, bits: int) -> Signal:
    """``value`` clamped to the range of a signed ``bits``-bit number."""
    hi, lo = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    out = Signal(signed(bits))
    m.d.comb += out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
    return out


class InputCurrents(wiring.Component):
    """A direct input's current is the same at every step: the engine computes it at step 0
    (the bit planes' scans, one chunk at a time) and stores it here, one entry per update
    group of layer 0, so that later steps skip layer 0's scan.

    Stored currents are saturated to CURRENT_BITS like every current the lanes take, which never
    changes a membrane (skyspike.spec.config.CURRENT_BITS).

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    index : In(range(max_neurons // update_lanes))
        Layer 0's update group (its first neuron // update_lanes).
    current : In(ArrayLayout(signed(acc_bits), update_lanes))
        The synapse array's currents of the group.
    store : In(1)
        Write the group's saturated ``current`` at ``index`` (step 0 of a direct input).
    use_stored : In(1)
        ``out`` is the stored entry at ``index`` (later steps), else ``current`` saturated.
    out : Out(ArrayLayout(signed(CURRENT_BITS), update_lanes))
        The lanes' currents, combinationally.
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        self.groups = cfg.max_neurons // cfg.update_lanes
        super().__init__({
            "index": In(range(max(2, self.groups))),
            "current": In(data.ArrayLayout(signed(cfg.acc_bits), cfg.update_lanes)),
            "store": In(1), "use_stored": In(1),
            "out": Out(data.ArrayLayout(signed(CURRENT_BITS), cfg.update_lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        U = self.cfg.update_lanes
        layout = data.ArrayLayout(signed(CURRENT_BITS), U)
        # Registers with a reset, not a memory: nothing reads as X in a gate-level simulation
        # (a stored entry is read only after step 0 wrote it, but the read mux sees them all).
        stored = Array(Signal(layout, name=f"stored{g}") for g in range(self.groups))
        fresh = Signal(layout)
        for u in range(U):
            m.d.comb += fresh[u].eq(saturate(m, self.current[u], CURRENT_BITS))
        with m.If(self.store):
            m.d.sync += stored[self.index].eq(fresh)
        m.d.comb += self.out.eq(Mux(self.use_stored, stored[self.index], fresh))
        return m
