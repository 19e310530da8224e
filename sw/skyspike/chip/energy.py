"""Energy per inference, predicted from the golden model's events (docs/energy.md).

An inference's energy is a sum of per-event costs: :func:`count_events` counts, for each
sample, the events the core performs (exactly: the weight and input SRAM reads are the
gate-level simulation's chip-select counts), and an :class:`EnergyModel` weighs them with
costs fitted by least squares to activity-annotated gate-level measurements
(``python -m skyspike.apps.energycal``), stored as data beside this module
(``calibration/energy-<config>.json``).

A *synaptic operation* (SOP) is one weight accumulated because of one input event: an input
spike (or a set bit of a direct input's value, or a bias input) times the layer's outputs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from skyspike.errors import SkySpikeError
from skyspike.spec.config import CoreConfig, get_config
from skyspike.chip.golden import rate_spikes, run as golden_run, slot_words, with_bias
from skyspike.chip.network import ChipNetwork, as_inputs, input_bitmaps, place

__all__ = ["EVENTS", "Events", "count_events", "EnergyModel", "load_model", "CALIBRATION_DIR", "EnergyModelMissing"]

#: The events an inference's energy is the sum of (per sample), in the model's order.
EVENTS = ("cycles", "acc_group_cycles", "weight_reads", "input_reads", "sops", "updates", "layer_loads")
CALIBRATION_DIR = Path(__file__).with_name("calibration")


class EnergyModelMissing(SkySpikeError):
    """No calibrated energy model for this core configuration."""


@dataclass
class Events:
    """Per-sample event counts: ``counts[name]`` int (batch,) for each of :data:`EVENTS`;
    ``weight_bank_reads`` (batch, banks) and ``input_bank_reads`` (batch, input_banks): the
    reads of each macro's engine port."""

    counts: dict
    weight_bank_reads: np.ndarray
    input_bank_reads: np.ndarray

    def matrix(self) -> np.ndarray:
        """(batch, len(EVENTS)) float, columns in :data:`EVENTS` order."""
        return np.stack([self.counts[k] for k in EVENTS], axis=1).astype(float)


def _slot_fold_events(bits: np.ndarray, slots: int, fold: int) -> np.ndarray:
    """Events of a bitmap bool (batch, n) per slot and row fold: int (batch, slots, fold).
    Slot s scans words s, s + slots, ...; an event's row is (w // slots) * 32 + b, its fold
    the row mod ``fold``."""
    words = slot_words(bits)                      # (batch, W, 32)
    batch, n_words = words.shape[:2]
    out = np.zeros((batch, slots, fold), np.int64)
    for w in range(n_words):
        rows = (w // slots) * 32 + np.arange(32)
        for f in range(fold):
            out[:, w % slots, f] += words[:, w, rows % fold == f].sum(axis=1)
    return out


def _event_cycles(bits: np.ndarray, slots: int) -> np.ndarray:
    """Cycles of one scan of a bitmap bool (batch, n) in which at least one slot scanner
    emits an event: int (batch,). The scanners start together; slot s spends max(1, set
    bits) cycles on each of its words (s, s + slots, ...), one event a cycle."""
    per_word = slot_words(bits).sum(axis=-1)              # (batch, words)
    cost = np.maximum(1, per_word)
    length = max(int(cost[:, s::slots].sum(axis=1).max(initial=0)) for s in range(slots))
    edges = np.zeros((bits.shape[0], length + 1), np.int64)   # +1 where a slot's run of events starts, -1 after
    for s in range(slots):
        events, start = per_word[:, s::slots], np.cumsum(cost[:, s::slots], axis=1) - cost[:, s::slots]
        b, w = np.nonzero(events)
        np.add.at(edges, (b, start[b, w]), 1)
        np.add.at(edges, (b, start[b, w] + events[b, w]), -1)
    return (np.cumsum(edges, axis=1) > 0).sum(axis=1)


def _chunk_groups(n_out: int, lp, lanes: int) -> int:
    """The accumulator groups (update groups) of all the chunks of a layer of ``n_out``."""
    last = n_out - (lp.chunks - 1) * lp.chunk
    return (lp.chunks - 1) * -(-lp.chunk // lanes) + -(-last // lanes)


def count_events(net: ChipNetwork, inputs, cfg: CoreConfig | str) -> Events:
    """The events of each inference of ``inputs`` (as :func:`skyspike.chip.golden.run` takes
    them) on ``net`` placed on ``cfg``."""
    cfg = get_config(cfg)
    gold = golden_run(net, inputs, cfg)
    x = as_inputs(inputs, net)
    batch = x.shape[0]
    pl = place(net, cfg)
    wreads = np.zeros((batch, cfg.banks), np.int64)
    ireads = np.zeros((batch, cfg.input_banks), np.int64)
    sops = np.zeros(batch, np.int64)
    acc_group_cycles = np.zeros(batch, np.int64)
    updates = sum(ly.n_out for ly in net.layers) * net.steps
    spikes_in = rate_spikes(x, net) if net.input_mode == "rate" else x
    for i, (ly, lp) in enumerate(zip(net.layers, pl.layers)):
        if i == 0 and net.direct:     # step 0: each bit plane, once; then the stored current
            planes = input_bitmaps(x, net)
            scans = [with_bias(planes[:, f], ly.n_bias) for f in range(net.input_bits)]
        elif i == 0:
            scans = [with_bias(spikes_in[:, t], ly.n_bias) for t in range(net.steps)]
        else:
            scans = [with_bias(gold.spikes[i - 1][:, t], ly.n_bias) for t in range(net.steps)]
        for bits in scans:
            ev = _slot_fold_events(bits, lp.slots, lp.fold)          # (batch, slots, fold)
            sops += ev.sum(axis=(1, 2)) * ly.n_out
            # A chunk's accumulator groups (one clock gate each) are clocked at its start (clear,
            # or a direct input's shift to its next bit plane) and in each cycle with an event.
            acc_group_cycles += _chunk_groups(ly.n_out, lp, cfg.update_lanes) * (1 + _event_cycles(bits, lp.slots))
            # Every chunk re-scans the events; an event reads its group's banks of its fold.
            per_bank = np.repeat(ev.reshape(batch, -1), lp.fold_banks, axis=1) * lp.chunks
            wreads[:, :per_bank.shape[1]] += per_bank
            if i == 0 and net.input_mode != "rate":   # the scanners read layer 0's words from the input banks
                for w in range(lp.in_words):
                    ireads[:, w % cfg.input_banks] += lp.chunks
        if i == 0 and net.input_mode == "rate":       # the encoder reads every bank's words, every step
            ireads += net.steps * pl.input_words_per_bank * net.input_bits
    counts = {"cycles": gold.cycles.astype(np.int64), "acc_group_cycles": acc_group_cycles, "weight_reads": wreads.sum(axis=1),
              "input_reads": ireads.sum(axis=1), "sops": sops,
              "updates": np.full(batch, updates, np.int64),
              "layer_loads": np.full(batch, net.steps * len(net.layers), np.int64)}
    return Events(counts, wreads, ireads)


@dataclass
class EnergyModel:
    """Energy per inference = sum of ``pj[event] * count`` (:data:`EVENTS`), for ``config``
    clocked at ``period_ns``; ``fit``: how it was calibrated (runs, errors, commands)."""

    config: str
    period_ns: float
    pj: dict
    fit: dict = field(default_factory=dict)

    def predict_pj(self, events: Events) -> np.ndarray:
        """Energy of each sample, pJ (batch,)."""
        return self.predict_pj_matrix(events.matrix())

    def predict_pj_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Energy of event counts (runs, len(EVENTS)) in :data:`EVENTS` order, pJ (runs,)."""
        return np.asarray(matrix, float) @ np.array([self.pj[k] for k in EVENTS], float)

    def predict_uj(self, net: ChipNetwork, inputs) -> np.ndarray:
        """Energy of each inference of ``inputs`` on ``net``, uJ (batch,)."""
        return self.predict_pj(count_events(net, inputs, self.config)) * 1e-6

    def to_json(self) -> str:
        return json.dumps({"config": self.config, "period_ns": self.period_ns, "pj": self.pj, "fit": self.fit},
                          indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> EnergyModel:
        d = json.loads(text)
        return cls(d["config"], float(d["period_ns"]), {k: float(d["pj"][k]) for k in EVENTS}, d.get("fit", {}))


def load_model(config: str | CoreConfig) -> EnergyModel:
    """The calibrated energy model of ``config`` (EnergyModelMissing if there is none)."""
    from skyspike.spec.config import config_name

    name = config if isinstance(config, str) else config_name(config)
    path = CALIBRATION_DIR / f"energy-{name}.json"
    if not path.is_file():
        known = sorted(p.stem.removeprefix("energy-") for p in CALIBRATION_DIR.glob("energy-*.json"))
        raise EnergyModelMissing(f"no energy model for configuration {name!r} (calibrated: {', '.join(known) or 'none'}; "
                                 f"python -m skyspike.apps.energycal --config {name} makes one)")
    return EnergyModel.from_json(path.read_text())
