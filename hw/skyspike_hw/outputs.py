"""Output stage: the spike bitmaps that feed the next layer and the output spike counters."""
from amaranth import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from skyspike.spec.config import CoreConfig, log2

__all__ = ["OutputStage"]


class OutputStage(wiring.Component):
    """Two spike bitmaps (layer l writes map l % 2 and reads map (l - 1) % 2) and the spike
    counters of the last layer's neurons.

    Parameters
    ----------
    cfg : CoreConfig

    Attributes
    ----------
    update : In(1)
        An update group is written this cycle.
    layer_odd : In(1)
        The updated layer's index is odd (selects the map written).
    read_odd : In(1)
        The scanned layer's index is odd (selects the map read: the other one).
    is_last : In(1)
        The layer is the network's last one: its spikes are counted.
    neuron0 : In(16)
        Layer-local index of the group's first neuron (a multiple of update_lanes).
    spikes : In(update_lanes)
        The group's spikes (0 for lanes past the layer's neurons).
    clear : In(1)
        Zero the counters (at the start of an inference).
    hidden : Out(max_neurons)
        The previous layer's map, read by the input router.
    count_index : In ; count_data : Out(8)
        Control-side read of the spike counter of output neuron ``count_index``.
    """

    def __init__(self, cfg: CoreConfig):
        if not isinstance(cfg, CoreConfig):
            raise TypeError(f"cfg must be a CoreConfig, not {cfg!r}")
        self.cfg = cfg
        super().__init__({
            "update": In(1), "layer_odd": In(1), "read_odd": In(1), "is_last": In(1), "neuron0": In(16),
            "spikes": In(cfg.update_lanes), "clear": In(1), "hidden": Out(cfg.max_neurons),
            "count_index": In(range(max(2, cfg.max_outputs))), "count_data": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        U = cfg.update_lanes
        group = self.neuron0 >> log2(U)
        bitmaps = [Signal(cfg.max_neurons, name=f"bitmap{b}") for b in range(2)]
        # Spikes go to this layer's bitmap, one U-aligned group at a time.
        for b, bm in enumerate(bitmaps):
            for g in range(cfg.max_neurons // U):
                with m.If(self.update & (self.layer_odd == b) & (group == g)):
                    m.d.sync += bm[g * U: (g + 1) * U].eq(self.spikes)
        m.d.comb += self.hidden.eq(Mux(self.read_odd, bitmaps[0], bitmaps[1]))

        counts = [Signal(8, name=f"count{n}") for n in range(cfg.max_outputs)]
        for n, cnt in enumerate(counts):
            with m.If(self.update & self.is_last & (group == n // U) & self.spikes[n % U]):
                m.d.sync += cnt.eq(cnt + 1)
            with m.If(self.clear):
                m.d.sync += cnt.eq(0)
        m.d.comb += self.count_data.eq(Array(counts)[self.count_index])
        return m
